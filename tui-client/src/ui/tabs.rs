//! The room tabs: number (for Alt-1…9), name and unread count.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Modifier, Style},
};

use crate::app::App;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let mut x = area.x;
    for (i, room) in app.rooms.iter().enumerate() {
        let unread = if room.unread > 0 { format!("({})", room.unread) } else { String::new() };
        let label = format!(" {}:{}{unread} ", i + 1, crate::wrap::sanitize(&room.name));
        let mut style = Style::default();
        if i == app.active {
            style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
        } else if room.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if !room.joined {
            style = style.add_modifier(Modifier::DIM);
        }
        let max = usize::from(area.right().saturating_sub(x));
        x = buf.set_stringn(x, area.y, &label, max, style).0;
        if x >= area.right() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{app::Event, keymap::Action, net::NetEvent};

    #[test]
    fn tabs_show_unread_counts() {
        let mut app = App::new("s", "ann", "public", 100);
        app.update(Event::Net(NetEvent::Connected { socket_id: None }));
        for c in "/join dev".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        app.update(Event::Action(Action::Submit));
        app.update(Event::Net(NetEvent::Message(shared::payload::ChatMessage {
            username: "bob".into(),
            message: "x".into(),
            room: "public".into(),
            sent: String::new(),
            id: "1".into(),
            replayed: false,
        })));
        let mut buf = Buffer::empty(Rect::new(0, 0, 24, 1));
        render(&app, buf.area, &mut buf);
        assert_eq!(crate::ui::buffer_rows(&buf), [" 1:public(1)  2:dev     "]);
        assert!(buf[(13, 0)].modifier.contains(Modifier::REVERSED), "the shown room is highlighted");
    }
}
