//! The room tabs: number (for Alt-1…9), name and unread count.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Modifier, Style},
};

use crate::app::App;

/// More tabs than fit: the row scrolls so the active one shows, `‹` and `›` saying that
/// others are off to the left or right.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let labels: Vec<(String, Style)> = app
        .rooms
        .iter()
        .enumerate()
        .map(|(i, room)| {
            let unread = match (room.unread, room.mentions) {
                (0, _) => String::new(),
                (n, 0) => format!("({n})"),
                (n, m) => format!("({n},@{m})"),
            };
            let name = crate::wrap::truncate(&crate::wrap::sanitize(&room.name), 24);
            let mut style = Style::default();
            if i == app.active {
                style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
            } else if room.mentions > 0 {
                style = style.fg(ratatui::style::Color::Yellow).add_modifier(Modifier::BOLD);
            } else if room.unread > 0 {
                style = style.add_modifier(Modifier::BOLD);
            }
            if !room.joined {
                style = style.add_modifier(Modifier::DIM);
            }
            (format!(" {}:{name}{unread} ", i + 1), style)
        })
        .collect();
    let width =
        |from: usize, to: usize| labels[from..=to].iter().map(|(l, _)| crate::wrap::width(l)).sum::<usize>();
    let avail = usize::from(area.width);
    let active = app.active.min(labels.len().saturating_sub(1));
    // The first tab shown: as far left as lets the active one (and the arrows) fit.
    let mut first = 0;
    while first < active && width(first, active) + 4 > avail {
        first += 1;
    }
    let mut x = area.x;
    let dim = Style::default().add_modifier(Modifier::DIM);
    if first > 0 {
        x = buf.set_stringn(x, area.y, "‹ ", avail, dim).0;
    }
    for (i, (label, style)) in labels.iter().enumerate().skip(first) {
        let left = usize::from(area.right().saturating_sub(x));
        let more_after = i + 1 < labels.len();
        if crate::wrap::width(label) + if more_after { 2 } else { 0 } > left && i > active {
            buf.set_stringn(x, area.y, " ›", left, dim);
            break;
        }
        x = buf.set_stringn(x, area.y, label, left, *style).0;
        if x >= area.right() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{action::Action, app::Event, net::NetEvent};

    #[test]
    fn with_twelve_rooms_the_active_tab_stays_on_screen() {
        let mut app = App::new("s", "ann", "room-0", 100);
        app.update(Event::Net(NetEvent::Connected { socket_id: None }));
        for i in 1..12 {
            for c in format!("/join room-{i}").chars() {
                app.update(Event::Action(Action::Insert(c)));
            }
            app.update(Event::Action(Action::Submit));
        }
        for active in [0, 5, 11] {
            // Alt-1…9 reach the first nine; Ctrl-N/Ctrl-P the rest.
            app.update(Event::Action(Action::SwitchRoom(active.min(8))));
            for _ in 8..active {
                app.update(Event::Action(Action::NextRoom));
            }
            assert_eq!(app.active, active);
            let mut buf = Buffer::empty(Rect::new(0, 0, 80, 1));
            render(&app, buf.area, &mut buf);
            let row = crate::ui::buffer_rows(&buf)[0].clone();
            let label = format!("{}:room-{}", app.active + 1, app.active);
            assert!(row.contains(&label), "{label} in {row:?}");
            assert_eq!(row.contains('‹'), active == 11, "{row:?}");
            assert_eq!(row.contains('›'), active != 11, "{row:?}");
        }
    }

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
            ..Default::default()
        })));
        let mut buf = Buffer::empty(Rect::new(0, 0, 24, 1));
        render(&app, buf.area, &mut buf);
        assert_eq!(crate::ui::buffer_rows(&buf), [" 1:public(1)  2:dev     "]);
        assert!(buf[(13, 0)].modifier.contains(Modifier::REVERSED), "the shown room is highlighted");
    }
}
