//! The side pane: who we are on the server (from `user.info` on our own socket id) and the
//! answer to the last `/info`; or, toggled with F2, who is in the room shown.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Modifier, Style},
    widgets::{Block, Borders, Widget},
};

use crate::{app::App, wrap};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let title = if app.show_members { " members " } else { " info " };
    let block = Block::default().borders(Borders::LEFT).title(title);
    let inner = block.inner(area);
    block.render(area, buf);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let dim = Style::default().add_modifier(Modifier::DIM);
    let rows = if app.show_members { members(app, bold, dim) } else { info(app, bold, dim) };
    let width = usize::from(inner.width);
    for (y, (text, style)) in (inner.top()..inner.bottom()).zip(rows) {
        buf.set_stringn(inner.x, y, wrap::truncate(&wrap::sanitize(&text), width), width, style);
    }
}

/// The room's members, nicks in their colours would need spans: bold for us, plain others.
fn members(app: &App, bold: Style, dim: Style) -> Vec<(String, Style)> {
    let Some(room) = app.active_room() else { return Vec::new() };
    match app.members.get(&room.name) {
        Some(names) => {
            let mut rows = vec![(format!("{} in #{}", names.len(), room.name), dim)];
            rows.extend(
                names
                    .iter()
                    .map(|n| (format!(" {n}"), if *n == app.username { bold } else { Style::default() })),
            );
            rows
        }
        None => vec![("asking the server…".into(), dim)],
    }
}

fn info(app: &App, bold: Style, dim: Style) -> Vec<(String, Style)> {
    let mut rows: Vec<(String, Style)> = vec![
        ("user".into(), dim),
        (format!(" {}", app.username), bold),
        ("socket id".into(), dim),
        (format!(" {}", app.own_sid.as_deref().unwrap_or("–")), Style::default()),
        ("rooms".into(), dim),
    ];
    match &app.own_info {
        Some(info) => rows.extend(info.rooms.iter().map(|r| (format!(" #{r}"), Style::default()))),
        None => rows.push((" –".into(), Style::default())),
    }
    if let Some(lookup) = &app.lookup {
        rows.push((String::new(), Style::default()));
        rows.push((format!("/info {}", lookup.socket_id), dim));
        match &lookup.info {
            Some(info) => {
                rows.push((format!(" {}", info.user.username), bold));
                rows.extend(info.rooms.iter().map(|r| (format!(" #{r}"), Style::default())));
            }
            None => rows.push((" no such user".into(), Style::default())),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use shared::payload::{UserInfo, UserSummary};

    use super::*;
    use crate::{app::Event, net::NetEvent};

    #[test]
    fn shows_own_user_socket_rooms_and_lookups() {
        let mut app = App::new("s", "ann", "public", 10);
        app.update(Event::Net(NetEvent::Connected { socket_id: Some("abcdef123456".into()) }));
        let info = |user: &str, rooms: &[&str]| UserInfo {
            socket_id: "x".into(),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            user: UserSummary { username: user.into() },
        };
        app.update(Event::Net(NetEvent::UserInfo {
            socket_id: "abcdef123456".into(),
            own: true,
            info: Some(info("ann", &["public", "dev"])),
        }));
        app.update(Event::Net(NetEvent::UserInfo { socket_id: "zzz".into(), own: false, info: None }));
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 12));
        render(&app, buf.area, &mut buf);
        let rows: Vec<String> =
            crate::ui::buffer_rows(&buf).iter().map(|r| r.trim_end().to_owned()).collect();
        assert_eq!(
            rows,
            [
                "│ info",
                "│user",
                "│ ann",
                "│socket id",
                "│ abcdef123…",
                "│rooms",
                "│ #public",
                "│ #dev",
                "│",
                "│/info zzz",
                "│ no such u…",
                "│",
            ]
        );
    }
}
