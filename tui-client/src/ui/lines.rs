//! How one scrollback line is laid out in rows, weechat style: time, a right-aligned nick
//! column and the wrapped text, its continuation rows indented under the text. Narrow panes
//! drop the columns and wrap everything at full width. Scrolling (in `app`) measures with
//! [`height`] exactly what drawing (in `messages`) shows.

use chrono::Local;
use ratatui::style::{Color, Modifier, Style};

use crate::{
    app::{Delivery, Line, LineKind},
    wrap::{self, Row},
};

/// Columns for `HH:MM`.
const TIME_WIDTH: usize = 5;
/// Columns for the nick; longer nicks are cut with `…`.
const NICK_WIDTH: usize = 12;
/// `time + space + nick + " │ "`.
const PREFIX_WIDTH: usize = TIME_WIDTH + 1 + NICK_WIDTH + 3;
/// Below this width the columns would leave too little room for text.
const COLUMNS_MIN_WIDTH: usize = 40;

const MARKER: &str = " history above · live below ";

/// Nick colours: 24 of the xterm-256 palette that read on dark and light backgrounds alike
/// (no near-black, near-white or greys), so that a room's regulars rarely share one.
const PALETTE: [u8; 24] =
    [1, 2, 3, 4, 5, 6, 9, 10, 12, 13, 14, 31, 33, 37, 41, 64, 70, 98, 130, 133, 136, 166, 168, 172];

/// The same colour for a user on every run and every machine: FNV-1a of the name, mixed with
/// MurmurHash3's finaliser so that names differing in one letter land far apart.
pub fn nick_color(username: &str) -> Color {
    let mut h = username.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    Color::Indexed(PALETTE[h as usize % PALETTE.len()])
}

/// Rows `line` takes at `width` columns (at least one).
pub fn height(line: &Line, width: usize) -> usize {
    rows(line, width).len()
}

/// The styled rows of `line` at `width` columns.
pub fn rows(line: &Line, width: usize) -> Vec<Row> {
    let width = width.max(1);
    let time = line.time.map(|t| t.with_timezone(&Local).format("%H:%M").to_string()).unwrap_or_default();
    let dim = Style::default().add_modifier(Modifier::DIM);
    match &line.kind {
        LineKind::HistoryMarker => vec![centred(MARKER, width, dim)],
        LineKind::DayChange(day) => vec![centred(&day.format(" %a %-d %b %Y ").to_string(), width, dim)],
        LineKind::System { text, error } => {
            let text = wrap::sanitize(text);
            let style =
                if *error { Style::default().fg(Color::Red) } else { Style::default().fg(Color::Cyan) };
            let mark = if *error { "!" } else { "*" };
            layout(width, &time, (mark, style), &[(&text, style)])
        }
        LineKind::Chat { username, text, own, replayed, delivery } => {
            let text = wrap::sanitize(text);
            let name = wrap::sanitize(username);
            let mut nick = Style::default().fg(nick_color(username)).add_modifier(Modifier::BOLD);
            if *own {
                nick = nick.add_modifier(Modifier::REVERSED);
            }
            let body = Style::default();
            let (suffix, suffix_style) = match delivery {
                Delivery::Received | Delivery::Confirmed => (String::new(), dim),
                Delivery::Pending => (" (sending)".to_owned(), dim),
                Delivery::Unconfirmed => (" (unconfirmed)".to_owned(), dim),
                Delivery::Failed(err) => {
                    (format!(" ✗ {}", wrap::sanitize(err)), Style::default().fg(Color::Red))
                }
            };
            let mut out = layout(width, &time, (&name, nick), &[(&text, body), (&suffix, suffix_style)]);
            if *replayed {
                for span in out.iter_mut().flatten() {
                    span.style = span.style.add_modifier(Modifier::DIM);
                }
            }
            out
        }
    }
}

/// `text` in the middle of a rule as wide as the pane.
fn centred(text: &str, width: usize, style: Style) -> Row {
    let side = width.saturating_sub(wrap::width(text)) / 2;
    let line = format!("{}{text}{}", "─".repeat(side), "─".repeat(side));
    vec![ratatui::text::Span::styled(wrap::truncate(&line, width), style)]
}

fn layout(width: usize, time: &str, nick: (&str, Style), body: &[(&str, Style)]) -> Vec<Row> {
    use ratatui::text::Span;
    let dim = Style::default().add_modifier(Modifier::DIM);
    if width < COLUMNS_MIN_WIDTH {
        let head = format!("{time}{}", if time.is_empty() { "" } else { " " });
        let sep = if nick.0.len() == 1 { " " } else { ": " };
        let mut pieces = vec![(head.as_str(), dim), (nick.0, nick.1), (sep, Style::default())];
        pieces.extend_from_slice(body);
        return wrap::wrap(&pieces, width);
    }
    let nick_text = wrap::truncate(nick.0, NICK_WIDTH);
    let pad = " ".repeat(NICK_WIDTH - wrap::width(&nick_text));
    let mut rows = wrap::wrap(body, width - PREFIX_WIDTH);
    for (i, row) in rows.iter_mut().enumerate() {
        let mut prefix = if i == 0 {
            vec![
                Span::styled(format!("{time:>TIME_WIDTH$} "), dim),
                Span::raw(pad.clone()),
                Span::styled(nick_text.clone(), nick.1),
            ]
        } else {
            vec![Span::raw(" ".repeat(TIME_WIDTH + 1 + NICK_WIDTH))]
        };
        prefix.push(Span::styled(" │ ", dim));
        prefix.append(row);
        *row = prefix;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(user: &str, text: &str) -> Line {
        Line {
            kind: LineKind::Chat {
                username: user.into(),
                text: text.into(),
                own: false,
                replayed: false,
                delivery: Delivery::Received,
            },
            time: None,
            id: None,
            local_id: None,
        }
    }

    fn texts(rows: &[Row]) -> Vec<String> {
        rows.iter().map(|r| r.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn columns_align_continuation_rows_under_the_text() {
        let rows = texts(&rows(&chat("bob", "one two three four five"), 40));
        assert_eq!(rows, ["               bob │ one two three four", "                   │ five"]);
    }

    #[test]
    fn narrow_panes_wrap_at_full_width() {
        let rows = texts(&rows(&chat("bob", "你好世界你好"), 12));
        assert_eq!(rows, ["bob: 你好世", "界你好"]);
        for row in &rows {
            assert!(wrap::width(row) <= 12);
        }
    }

    #[test]
    fn nick_colours_are_stable() {
        assert_eq!(nick_color("ann"), nick_color("ann"));
        assert_ne!(nick_color("alice"), nick_color("bob"), "they used to share magenta");
        // Twelve common names: nearly all apart (24 colours).
        let names = [
            "alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi", "ivan", "judy", "mallory",
            "oscar",
        ];
        let distinct: std::collections::HashSet<_> = names.iter().map(|n| nick_color(n)).collect();
        assert!(distinct.len() >= 9, "{} colours for 12 names", distinct.len());
    }
}
