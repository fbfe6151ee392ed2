//! Drawing: one file per pane, each rendering from `&App` only. The screen, top to bottom:
//! room tabs, messages (with the user info pane at the right when there is room), the status
//! bar and the input line; the help overlay sits on top when open.

pub mod help;
pub mod info;
pub mod lines;
pub mod login;
pub mod messages;
pub mod prompt;
pub mod status;
pub mod tabs;

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
};

use crate::app::App;

/// The info pane is shown only from this terminal width on.
const INFO_MIN_WIDTH: u16 = 72;
/// Width of the info pane, its left border included.
const INFO_WIDTH: u16 = 26;

/// Where each pane goes on a screen of `area`.
pub struct Areas {
    pub tabs: Rect,
    pub messages: Rect,
    pub info: Option<Rect>,
    pub status: Rect,
    pub input: Rect,
}

/// On a short terminal the input line goes first, then the status bar, then the tabs; the
/// messages get what is left (possibly nothing).
pub fn areas(area: Rect) -> Areas {
    let row = |from_bottom: u16, needs: u16| {
        let y = area.bottom().saturating_sub(from_bottom);
        Rect::new(area.x, y, area.width, u16::from(area.height >= needs))
    };
    let (input, status) = (row(1, 1), row(2, 2));
    let tabs = Rect::new(area.x, area.y, area.width, u16::from(area.height >= 3));
    let body = Rect::new(area.x, area.y + tabs.height, area.width, area.height.saturating_sub(3));
    if area.width >= INFO_MIN_WIDTH {
        let [messages, info] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(INFO_WIDTH)]).areas(body);
        Areas { tabs, messages, info: Some(info), status, input }
    } else {
        Areas { tabs, messages: body, info: None, status, input }
    }
}

/// An overlay box of `width` × `height` (cut to the screen) in the middle of `screen`, cleared
/// and framed with `title`: the area inside the frame.
pub fn overlay(
    screen: Rect,
    width: u16,
    height: u16,
    title: &str,
    buf: &mut ratatui::buffer::Buffer,
) -> Rect {
    use ratatui::widgets::{Block, Borders, Clear, Widget};
    let (width, height) = (width.min(screen.width), height.min(screen.height));
    let area = Rect::new(
        screen.x + (screen.width - width) / 2,
        screen.y + (screen.height - height) / 2,
        width,
        height,
    );
    Clear.render(area, buf);
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// The message pane's size on a terminal of `width` × `height`, for the app's scrolling.
pub fn message_pane_size(width: u16, height: u16) -> (u16, u16) {
    let m = areas(Rect::new(0, 0, width, height)).messages;
    (m.width, m.height)
}

pub fn draw(frame: &mut Frame, app: &App) {
    let screen = frame.area();
    let a = areas(screen);
    let buf = frame.buffer_mut();
    if !a.tabs.is_empty() {
        tabs::render(app, a.tabs, buf);
    }
    if !a.messages.is_empty() {
        messages::render(app, a.messages, buf);
    }
    if let Some(info) = a.info.filter(|i| !i.is_empty()) {
        info::render(app, info, buf);
    }
    if !a.status.is_empty() {
        status::render(app, a.status, buf);
    }
    let mut cursor = (!a.input.is_empty()).then(|| prompt::render(app, a.input, buf));
    if let Some(form) = &app.login {
        cursor = login::render(form, &app.server, screen, buf);
    }
    if app.show_help {
        help::render(screen, buf);
    } else if let Some(cursor) = cursor {
        frame.set_cursor_position(cursor);
    }
}

/// The text of each row of `buf`, wide characters once (for rendering tests).
#[cfg(test)]
pub fn buffer_rows(buf: &ratatui::buffer::Buffer) -> Vec<String> {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            let mut row = String::new();
            let mut skip = 0;
            for x in area.left()..area.right() {
                let symbol = buf[(x, y)].symbol();
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                skip = crate::wrap::width(symbol).saturating_sub(1);
                row.push_str(symbol);
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ratatui::{Terminal, backend::TestBackend};

    use super::*;
    use crate::{app::Event, net::NetEvent};

    fn screen(app: &App, w: u16, h: u16) -> Vec<String> {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
        term.draw(|f| draw(f, app)).expect("draw");
        buffer_rows(term.backend().buffer())
    }

    #[test]
    fn whole_screen_has_tabs_messages_info_status_and_input() {
        let mut app = App::new("http://localhost:3001", "ann", "public", 100);
        app.update(Event::Resize { width: 54, height: 6 });
        app.update(Event::Net(NetEvent::Connected { socket_id: Some("s1".into()) }));
        app.update(Event::Net(NetEvent::Message(shared::payload::ChatMessage {
            username: "bob".into(),
            message: "hi ann".into(),
            room: "public".into(),
            sent: String::new(),
            id: "m1".into(),
            replayed: false,
            ..Default::default()
        })));
        let rows = screen(&app, 80, 9);
        assert!(rows[0].starts_with(" 1:public "), "{rows:?}");
        assert!(rows[6].contains("bob │ hi ann"), "{rows:?}");
        assert!(rows[1].contains("│ ann") || rows.iter().any(|r| r.contains("ann")), "{rows:?}");
        assert!(rows[7].contains("connected") && rows[7].contains("#public") && rows[7].contains("ann"));
        assert!(rows[8].starts_with("› "), "{rows:?}");
        // A narrow terminal drops the info pane and the columns.
        let rows = screen(&app, 30, 6);
        assert!(rows[3].starts_with("bob: hi ann"), "{rows:?}");
        assert_eq!(message_pane_size(30, 6), (30, 3));
        assert_eq!(message_pane_size(80, 9), (54, 6));
    }

    #[test]
    fn a_short_terminal_keeps_the_input_line_then_the_status_bar() {
        let app = App::new("http://localhost:3001", "ann", "public", 100);
        let rows = screen(&app, 30, 1);
        assert!(rows[0].starts_with("› "), "{rows:?}");
        let rows = screen(&app, 30, 2);
        assert!(rows[1].starts_with("› ") && rows[0].contains("connecting"), "{rows:?}");
        assert_eq!(message_pane_size(30, 2), (30, 0));
        for (w, h) in [(1, 1), (2, 1), (1, 5), (0, 0)] {
            screen(&app, w, h);
        }
    }
}
