//! The terminal: raw mode, alternate screen, mouse and bracketed paste on the way in, all of
//! it undone on the way out — on every path, panics included (the hook restores first, then
//! lets the panic message print on a sane screen).

use std::io::{self, Stdout, Write};

use crossterm::{
    cursor::Show,
    event::{
        DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event,
        EventStream,
    },
    execute,
    terminal::{EnterAlternateScreen, LeaveAlternateScreen, SetTitle, disable_raw_mode, enable_raw_mode},
};
use futures_util::StreamExt;
use ratatui::{Terminal, backend::CrosstermBackend};

use crate::app::App;

/// Text from the network made safe inside an escape sequence: no control characters, at most
/// 200 characters.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Restores the terminal before any panic message is printed.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

fn enter(mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
    if mouse {
        execute!(io::stdout(), EnableMouseCapture)?;
    }
    Ok(())
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
    /// Takes the terminal; `mouse` also takes the mouse (wheel scrolling).
    pub fn new(mouse: bool) -> io::Result<Self> {
        enter(mouse)?;
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

    /// The window title (OSC 2).
    pub fn set_title(&mut self, title: &str) {
        let _ = execute!(io::stdout(), SetTitle(clean(title)));
    }

    /// A line named the user: the bell, and a desktop notification for terminals that show
    /// OSC 777 (foot, kitty, rxvt, VTE) or OSC 9 (iTerm2, Windows Terminal, ConEmu); others
    /// ignore both.
    pub fn alert(&mut self, bell: bool, notify: bool, title: &str, body: &str) {
        let mut out = io::stdout();
        if bell {
            let _ = out.write_all(b"\x07");
        }
        if notify {
            let (title, body) = (clean(title).replace(';', ","), clean(body));
            let _ = write!(out, "\x1b]777;notify;{title};{body}\x07\x1b]9;{title}: {body}\x07");
        }
        let _ = out.flush();
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
