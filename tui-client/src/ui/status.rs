//! The status bar: the connection state in words and colour.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Color, Modifier, Style},
};

use crate::app::{App, ConnState, is_auth_failure};

/// The bar's text and colour for the current state.
pub fn text(app: &App) -> (String, Color) {
    let room = app.active_room().map(|r| crate::wrap::sanitize(&r.name).into_owned()).unwrap_or_default();
    match &app.conn {
        ConnState::Connecting => (format!(" ◌ connecting to {} …", app.server), Color::Yellow),
        ConnState::Connected => {
            (format!(" ● connected · {} · #{room} · {}", app.server, app.username), Color::Green)
        }
        ConnState::Reconnecting { attempt, retry_in } => (
            format!(
                " ◌ reconnecting (attempt {attempt}, next try in {} s) · {}",
                retry_in.as_secs(),
                app.server
            ),
            Color::Yellow,
        ),
        ConnState::Rejected { message } => {
            let hint = if is_auth_failure(message) { " · /login to log in again" } else { "" };
            (format!(" ✗ rejected: {message}{hint}"), Color::Red)
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
        assert_eq!(bar(&app), " ◌ connecting to http://localhost:3001 …");
        app.update(Event::Net(NetEvent::Connected { socket_id: None }));
        assert_eq!(bar(&app), " ● connected · http://localhost:3001 · #test · ann");
        app.update(Event::Net(NetEvent::Reconnecting { attempt: 3, delay: Duration::from_secs(8) }));
        assert_eq!(bar(&app), " ◌ reconnecting (attempt 3, next try in 8 s) · http://localhost:3001");
        app.update(Event::Net(NetEvent::Rejected { message: shared::errors::AUTH_INVALID_TOKEN.into() }));
        assert_eq!(bar(&app), " ✗ rejected: Authentication failed: invalid token · /login to log in again");
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 1));
        render(&app, buf.area, &mut buf);
        assert_eq!(buf[(9, 0)].bg, Color::Red);
    }
}
