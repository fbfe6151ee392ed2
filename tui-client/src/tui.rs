//! The terminal: raw mode, alternate screen, mouse and bracketed paste on the way in, all of
//! it undone on the way out — on every path, panics included (the hook restores first, then
//! lets the panic message print on a sane screen).

use std::io::{self, Stdout};

use crossterm::{
    cursor::Show,
    event::{
        DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event,
        EventStream,
    },
    execute,
    terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
};
use futures_util::StreamExt;
use ratatui::{Terminal, backend::CrosstermBackend};

use crate::app::App;

/// Restores the terminal before any panic message is printed.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

fn enter() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste)
}

/// Undoes [`enter`]; safe to call more than once and when nothing was entered.
pub fn restore() {
    let _ = execute!(io::stdout(), DisableBracketedPaste, DisableMouseCapture, LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
}

/// The full-screen terminal and its input events. Dropping it restores the terminal.
pub struct Tui {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    events: EventStream,
}

impl Tui {
    pub fn new() -> io::Result<Self> {
        enter()?;
        let mut tui =
            Tui { terminal: Terminal::new(CrosstermBackend::new(io::stdout()))?, events: EventStream::new() };
        tui.terminal.clear()?;
        Ok(tui)
    }

    pub fn size(&self) -> io::Result<(u16, u16)> {
        let size = self.terminal.size()?;
        Ok((size.width, size.height))
    }

    pub fn draw(&mut self, app: &App) -> io::Result<()> {
        self.terminal.draw(|frame| crate::ui::draw(frame, app)).map(|_| ())
    }

    /// The next key, mouse, paste or resize event; `None` when input has ended.
    pub async fn next_event(&mut self) -> Option<io::Result<Event>> {
        self.events.next().await
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}
