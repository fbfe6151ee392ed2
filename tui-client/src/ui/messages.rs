//! The message pane: the shown room's scrollback, newest at the bottom.
//!
//! Only what fits is laid out: starting at the anchor line (the newest one when following),
//! lines are wrapped upwards until the pane is full, so a frame costs the same with ten
//! messages or a hundred thousand.

use std::num::NonZeroU16;

use ratatui::{
    buffer::{Buffer, CellDiffOption},
    layout::Rect,
    style::{Color, Modifier, Style},
};

use super::lines;
use crate::{
    app::App,
    scrollback::{Anchor, LineKind},
    wrap::{self, Row},
};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(room) = app.active_room() else { return };
    if area.is_empty() {
        return;
    }
    let width = usize::from(area.width);
    let height = usize::from(area.height);
    // Each row with the line it belongs to; each line drawn with the links in its text.
    let mut visible: Vec<(Row, usize)> = Vec::with_capacity(height);
    let mut links: Vec<Vec<&str>> = Vec::new();
    if let Some(last) = room.last_seq() {
        let Anchor { seq, rows_below } = room.scroll.unwrap_or(Anchor { seq: last, rows_below: 0 });
        let mut skip = rows_below;
        let mut seq = Some(seq);
        while let Some(s) = seq.filter(|s| *s >= room.first_seq && visible.len() < height) {
            if let Some(line) = room.line(s) {
                let mut rows = lines::rows(line, width, &app.look);
                rows.truncate(rows.len().saturating_sub(std::mem::take(&mut skip)));
                let group = links.len();
                links.push(match &line.kind {
                    LineKind::Chat { text, .. } if app.look.hyperlinks => urls(text),
                    _ => Vec::new(),
                });
                for row in rows.into_iter().rev() {
                    if visible.len() == height {
                        break;
                    }
                    visible.push((row, group));
                }
            }
            seq = s.checked_sub(1);
        }
    }
    // Where each line's rows were drawn, top to bottom: (y, first x, end x).
    let mut drawn: Vec<Vec<(u16, u16, u16)>> = vec![Vec::new(); links.len()];
    for (i, (row, group)) in visible.iter().enumerate() {
        let y = area.bottom() - 1 - i as u16;
        let mut x = area.x;
        for span in row {
            let max = usize::from(area.right().saturating_sub(x));
            x = buf.set_stringn(x, y, &span.content, max, span.style).0;
        }
        drawn[*group].insert(0, (y, area.x, x));
    }
    // In columns, every row's text starts after the time and nick (or their indent).
    let body = lines::body_column(width, app.look.time_width).unwrap_or(0) as u16;
    for (urls, rows) in links.iter().zip(&drawn) {
        if !urls.is_empty() {
            let rows: Vec<(u16, u16, u16)> =
                rows.iter().map(|&(y, x, end)| (y, (x + body).min(end), end)).collect();
            link(buf, &rows, urls);
        }
    }
    if room.scroll.is_some() {
        let text = match room.new_below {
            0 => " ▼ more below (PgDn) ".to_owned(),
            1 => " ▼ 1 new message below (PgDn) ".to_owned(),
            n => format!(" ▼ {n} new messages below (PgDn) "),
        };
        let style = Style::default().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD);
        let y = area.bottom() - 1;
        buf.set_style(Rect::new(area.x, y, area.width, 1), style);
        let text = wrap::truncate(&text, width);
        let x = area.x + ((width - wrap::width(&text)) / 2) as u16;
        buf.set_stringn(x, y, &text, width, style);
    }
}

/// The web addresses in `text`: `http://` or `https://` up to the next space, without closing
/// punctuation, and only printable ASCII (nothing that could end the escape sequence).
fn urls(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter_map(|word| {
            let start = word.find("https://").or_else(|| word.find("http://"))?;
            let url =
                word[start..].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '>', '"', '\'']);
            (url.len() > "https://".len() && url.bytes().all(|b| b.is_ascii_graphic())).then_some(url)
        })
        .collect()
}

/// Makes every cell of each of `urls` where it was drawn (across rows, when it wraps) an OSC 8
/// hyperlink, so that a terminal that has them opens the whole address whichever part is
/// clicked. Each cell keeps its width (`ForcedWidth`), as the escape codes take none.
fn link(buf: &mut Buffer, rows: &[(u16, u16, u16)], urls: &[&str]) {
    let mut cells: Vec<(u16, u16)> = Vec::new();
    let mut text = String::new();
    let mut starts: Vec<usize> = Vec::new();
    for &(y, from, to) in rows {
        for x in from..to {
            let symbol = buf[(x, y)].symbol();
            if symbol.is_empty() {
                continue;
            }
            starts.push(text.len());
            text.push_str(symbol);
            cells.push((x, y));
        }
    }
    for url in urls {
        // One id per address: terminals then treat its cells as one link.
        let id = format!("{:08x}", lines::fnv1a(url));
        for (at, _) in text.match_indices(url) {
            for (cell, &start) in cells.iter().zip(&starts) {
                if start < at || start >= at + url.len() {
                    continue;
                }
                let symbol = buf[*cell].symbol().to_owned();
                let width = NonZeroU16::new(wrap::width(&symbol).max(1) as u16).unwrap_or(NonZeroU16::MIN);
                buf[*cell]
                    .set_symbol(&format!("\x1b]8;id={id};{url}\x07{symbol}\x1b]8;;\x07"))
                    .set_diff_option(CellDiffOption::ForcedWidth(width));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Local;
    use shared::payload::{ChatMessage, SystemMessage};

    use super::*;
    use crate::{
        action::Action,
        app::Event,
        net::{AckOutcome, NetEvent},
        ui::buffer_rows,
    };

    fn app(w: u16, h: u16) -> App {
        let mut app = App::new("s", "ann", "public", 200_000);
        app.update(Event::Resize { width: w, height: h });
        app.update(Event::Net(NetEvent::Connected { socket_id: None }));
        app
    }

    fn receive(app: &mut App, user: &str, text: &str, id: &str, replayed: bool) {
        app.update(Event::Net(NetEvent::Message(ChatMessage {
            username: user.into(),
            message: text.into(),
            room: "public".into(),
            sent: "2026-11-25T12:34:56.000Z".into(),
            id: id.into(),
            replayed,
            ..Default::default()
        })));
    }

    fn draw(app: &App) -> (Buffer, Vec<String>) {
        let (w, h) = app.view;
        let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
        render(app, buf.area, &mut buf);
        let rows = buffer_rows(&buf);
        (buf, rows)
    }

    fn hhmm() -> String {
        chrono::DateTime::parse_from_rfc3339("2026-11-25T12:34:56.000Z")
            .expect("valid")
            .with_timezone(&Local)
            .format("%H:%M")
            .to_string()
    }

    #[test]
    fn web_addresses_are_hyperlinks_across_the_rows_they_wrap_over() {
        let mut app = app(40, 6);
        let url = "https://example.org/a/rather/long/path/that/wraps?q=1";
        receive(&mut app, "bob", &format!("see {url}."), "1", false);
        let (buf, _) = draw(&app);
        let linked: Vec<(u16, u16)> = (0..6u16)
            .flat_map(|y| (0..40u16).map(move |x| (x, y)))
            .filter(|&(x, y)| buf[(x, y)].symbol().contains(&format!(";{url}\x07")))
            .collect();
        assert_eq!(linked.len(), url.len(), "every character of the address, and only those");
        let rows: std::collections::HashSet<u16> = linked.iter().map(|&(_, y)| y).collect();
        assert!(rows.len() > 1, "the address wraps and stays one link: {linked:?}");
        assert!(
            linked
                .iter()
                .all(|c| matches!(buf[*c].diff_option, CellDiffOption::ForcedWidth(w) if w.get() == 1))
        );
        assert_eq!(urls("x (https://a.b/c), http://d.e!"), ["https://a.b/c", "http://d.e"]);
        assert!(urls("https:// nothing \u{1b}https://x\u{7}y").is_empty());
    }

    #[test]
    fn messages_sit_at_the_bottom_with_time_nick_and_text() {
        let mut app = app(40, 4);
        receive(&mut app, "bob", "hello", "1", false);
        let (buf, rows) = draw(&app);
        let t = hhmm();
        let rows: Vec<&str> = rows.iter().map(|r| r.trim_end()).collect();
        assert_eq!(rows[..2], ["", ""]);
        assert!(rows[2].starts_with('─') && rows[2].contains(" 2026 "), "a day line: {rows:?}");
        assert_eq!(rows[3], format!("{t}          bob │ hello"));
        assert_eq!(buf[(15, 3)].fg, app.look.nick_color("bob"));
    }

    #[test]
    fn cjk_and_emoji_wrap_inside_the_pane() {
        // Narrow pane (< 40 columns): no columns; the text wraps at full width, wide characters whole.
        let mut app = app(30, 6);
        receive(&mut app, "李小龙", "你好世界，这是一个很长的中文消息😀👍", "1", false);
        let (_, rows) = draw(&app);
        assert!(rows.iter().all(|r| wrap::width(r) == 30), "{rows:?}");
        assert_eq!(rows[4].trim_end(), format!("{} 李小龙: 你好世界，这是一", hhmm()));
        assert_eq!(rows[5].trim_end(), "个很长的中文消息😀👍");
        // Wide pane: continuation rows line up under the text column.
        app.update(Event::Resize { width: 50, height: 6 });
        receive(&mut app, "bob", "日本語のテキストと絵文字🎉🎉がここで折り返されます", "2", false);
        let (_, rows) = draw(&app);
        assert!(rows.iter().all(|r| wrap::width(r) == 50), "{rows:?}");
        assert_eq!(rows[4].trim_end(), format!("{}          bob │ 日本語のテキストと絵文字🎉🎉", hhmm()));
        assert_eq!(rows[5].trim_end(), "                   │ がここで折り返されます");
        assert_eq!(rows[2].trim_end(), format!("{}       李小龙 │ 你好世界，这是一个很长的中文", hhmm()));
        assert_eq!(rows[3].trim_end(), "                   │ 消息😀👍");
    }

    #[test]
    fn replayed_history_is_dim_and_separated_own_lines_show_delivery() {
        let mut app = app(60, 5);
        receive(&mut app, "bob", "old", "1", true);
        for c in "mine".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        app.update(Event::Action(Action::Submit));
        let (buf, rows) = draw(&app);
        assert!(rows[2].contains("bob │ old"), "{rows:?}");
        assert!(buf[(20, 2)].modifier.contains(Modifier::DIM), "replayed lines are dim");
        assert!(rows[3].contains("history above · live below"), "{rows:?}");
        assert!(rows[4].contains("ann │ mine (sending)"), "{rows:?}");
        assert!(buf[(15, 4)].modifier.contains(Modifier::REVERSED), "own nick is set apart");
        app.update(Event::Net(NetEvent::MessageAck {
            local_id: 1,
            outcome: AckOutcome::Failed("Too many messages: slow down".into()),
        }));
        let (_, rows) = draw(&app);
        assert!(rows[4].contains("mine ✗ Too many messages: slow"), "{rows:?}");
    }

    #[test]
    fn a_notice_is_a_system_line_without_a_nick() {
        let mut app = app(60, 3);
        let message = shared::notices::user_joined("bob", "public");
        let sent = chrono::Utc::now().to_rfc3339();
        app.update(Event::Net(NetEvent::Notice(SystemMessage {
            message,
            room: "public".into(),
            sent,
            ..SystemMessage::default()
        })));
        let (_, rows) = draw(&app);
        let last = rows[2].trim_end();
        assert!(last.ends_with("* │ User \"bob\" joined room \"public\""), "{rows:?}");
        assert!(!last.contains(": User"), "no empty nick: {last}");
    }

    #[test]
    fn scrolled_up_view_marks_new_messages() {
        let mut app = app(40, 5);
        for i in 0..20 {
            receive(&mut app, "bob", &format!("m{i}"), &i.to_string(), false);
        }
        app.update(Event::Action(Action::PageUp));
        receive(&mut app, "bob", "fresh", "new", false);
        let (_, rows) = draw(&app);
        assert!(rows[0].contains("bob │ m11"), "{rows:?}");
        assert!(rows[4].contains("▼ 1 new message below"), "{rows:?}");
    }

    #[test]
    fn a_hundred_thousand_messages_render_fast() {
        let mut app = app(100, 40);
        for i in 0..100_000 {
            receive(
                &mut app,
                if i % 2 == 0 { "bob" } else { "李小龙" },
                &format!("message number {i}"),
                &i.to_string(),
                false,
            );
        }
        let start = std::time::Instant::now();
        for _ in 0..100 {
            draw(&app);
        }
        app.update(Event::Action(Action::ScrollTop));
        let (_, rows) = draw(&app);
        assert!(rows[1].contains("message number 0"), "under the day line: {rows:?}");
        for _ in 0..100 {
            app.update(Event::Action(Action::PageDown));
            draw(&app);
        }
        let elapsed = start.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(2), "200 frames took {elapsed:?}");
    }
}
