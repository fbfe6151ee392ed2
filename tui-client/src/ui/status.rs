//! The status bar: the connection state in words and colour.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Color, Modifier, Style},
};

use crate::app::{App, ConnState, is_auth_failure};

/// The bar's text and colour for the current state: the room and nick first, so a narrow
/// terminal keeps them, then the state and why, then the server.
pub fn text(app: &App) -> (String, Color) {
    let room = app.active_room().map(|r| crate::wrap::sanitize(&r.name).into_owned()).unwrap_or_default();
    let who = format!("{} · {}", crate::app::window_label(&room), app.username);
    match &app.conn {
        ConnState::LoggedOut => (format!(" ○ not logged in · {}", app.server), Color::Yellow),
        ConnState::Connecting => (format!(" ◌ {who} · connecting to {} …", app.server), Color::Yellow),
        ConnState::Connected => match app.typing_line() {
            Some(typing) => (format!(" ● {who} · {typing} · connected · {}", app.server), Color::Green),
            None => (format!(" ● {who} · connected · {}", app.server), Color::Green),
        },
        ConnState::Reconnecting { attempt, retry_in, reason } => (
            format!(
                " ◌ {who} · {reason}: reconnecting in {} s (attempt {attempt}; /reconnect now) · {}",
                retry_in.as_secs(),
                app.server
            ),
            Color::Yellow,
        ),
        ConnState::Rejected { message } => {
            let hint = if is_auth_failure(message) { " · /login to log in again" } else { "" };
            (format!(" ✗ {who} · rejected: {message}{hint}"), Color::Red)
        }
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (text, color) = text(app);
    let style = Style::default().fg(Color::Black).bg(color).add_modifier(Modifier::BOLD);
    buf.set_style(area, style);
    buf.set_stringn(area.x, area.y, crate::wrap::sanitize(&text), usize::from(area.width), style);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{app::Event, net::NetEvent};

    fn bar(app: &App) -> String {
        let mut buf = Buffer::empty(Rect::new(0, 0, 90, 1));
        render(app, buf.area, &mut buf);
        crate::ui::buffer_rows(&buf)[0].trim_end().to_owned()
    }

    #[test]
    fn each_connection_state_reads_clearly() {
        let mut app = App::new("http://localhost:3001", "ann", "test", 10);
        assert_eq!(bar(&app), " ◌ #test · ann · connecting to http://localhost:3001 …");
        app.update(Event::Net(NetEvent::Connected { socket_id: None }));
        assert_eq!(bar(&app), " ● #test · ann · connected · http://localhost:3001");
        let reason = "Connection refused (os error 111)".to_owned();
        app.update(Event::Net(NetEvent::Reconnecting { attempt: 3, delay: Duration::from_secs(8), reason }));
        let text = text(&app).0;
        assert_eq!(
            text,
            " ◌ #test · ann · Connection refused (os error 111): reconnecting in 8 s (attempt 3; /reconnect now) · http://localhost:3001"
        );
        app.update(Event::Net(NetEvent::Rejected { message: shared::errors::AUTH_INVALID_TOKEN.into() }));
        assert_eq!(
            bar(&app),
            " ✗ #test · ann · rejected: Authentication failed: invalid token · /login to log in again"
        );
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 1));
        render(&app, buf.area, &mut buf);
        assert_eq!(buf[(9, 0)].bg, Color::Red);
    }

    #[test]
    fn forty_columns_keep_the_room_and_the_nick() {
        let mut app = App::new("http://a-rather-long-host-name.example:3001", "ann", "test", 10);
        app.update(Event::Net(NetEvent::Connected { socket_id: None }));
        let mut buf = Buffer::empty(Rect::new(0, 0, 40, 1));
        render(&app, buf.area, &mut buf);
        assert!(crate::ui::buffer_rows(&buf)[0].starts_with(" ● #test · ann · connected"));
    }
}
