//! How one scrollback line is laid out in rows, weechat style: time, a right-aligned nick
//! column and the wrapped text, its continuation rows indented under the text. Narrow panes
//! drop the columns and wrap everything at full width. Scrolling (in `app`) measures with
//! [`height`] exactly what drawing (in `messages`) shows.

use chrono::Local;
use ratatui::style::{Color, Modifier, Style};

use crate::{
    scrollback::{Delivery, Line, LineKind},
    wrap::{self, Row},
};

/// Columns for the nick; longer nicks are cut with `…`.
const NICK_WIDTH: usize = 12;
/// Below this width the columns would leave too little room for text.
const COLUMNS_MIN_WIDTH: usize = 40;

const MARKER: &str = " history above · live below ";

/// Nick colours: 24 of the xterm-256 palette that read on dark and light backgrounds alike
/// (no near-black, near-white or greys), so that a room's regulars rarely share one.
const PALETTE: [u8; 24] =
    [1, 2, 3, 4, 5, 6, 9, 10, 12, 13, 14, 31, 33, 37, 41, 64, 70, 98, 130, 133, 136, 166, 168, 172];

/// How lines look (the config file's `time_format` and `nick_colors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// strftime pattern of the time column.
    pub time_format: String,
    /// Columns the time takes in that format.
    pub time_width: usize,
    /// xterm-256 colour numbers nicks are drawn in.
    pub nick_colors: Vec<u8>,
    /// Web addresses become OSC 8 hyperlinks (off on terminals known not to take them).
    pub hyperlinks: bool,
}

impl Look {
    pub fn new(time_format: Option<&str>, nick_colors: &[u8]) -> Self {
        let time_format = time_format.unwrap_or("%H:%M").to_owned();
        let sample = chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default();
        let time_width = wrap::width(&sample.format(&time_format).to_string());
        let nick_colors = if nick_colors.is_empty() { PALETTE.to_vec() } else { nick_colors.to_vec() };
        Look { time_format, time_width, nick_colors, hyperlinks: true }
    }

    /// The nick colour of `username`.
    pub fn nick_color(&self, username: &str) -> Color {
        nick_color(username, &self.nick_colors)
    }
}

impl Default for Look {
    fn default() -> Self {
        Look::new(None, &[])
    }
}

/// FNV-1a (32 bits) of `text`: stable across runs and machines.
pub fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The same colour for a user on every run and every machine: FNV-1a of the name, mixed with
/// MurmurHash3's finaliser so that names differing in one letter land far apart.
pub fn nick_color(username: &str, palette: &[u8]) -> Color {
    let mut h = fnv1a(username);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    let palette = if palette.is_empty() { &PALETTE[..] } else { palette };
    Color::Indexed(palette[h as usize % palette.len()])
}

/// Rows `line` takes at `width` columns (at least one).
pub fn height(line: &Line, width: usize, look: &Look) -> usize {
    rows(line, width, look).len()
}

/// The styled rows of `line` at `width` columns.
pub fn rows(line: &Line, width: usize, look: &Look) -> Vec<Row> {
    let width = width.max(1);
    let time =
        line.time.map(|t| t.with_timezone(&Local).format(&look.time_format).to_string()).unwrap_or_default();
    let dim = Style::default().add_modifier(Modifier::DIM);
    match &line.kind {
        LineKind::HistoryMarker => vec![centred(MARKER, width, dim)],
        LineKind::DayChange(day) => vec![centred(&day.format(" %a %-d %b %Y ").to_string(), width, dim)],
        LineKind::System { text, error } => {
            let text = wrap::sanitize(text);
            let style =
                if *error { Style::default().fg(Color::Red) } else { Style::default().fg(Color::Cyan) };
            let mark = if *error { "!" } else { "*" };
            layout(width, look.time_width, &time, (mark, style), &[(&text, style)])
        }
        LineKind::Chat { username, text, own, replayed, delivery, mention, action } => {
            let text = wrap::sanitize(text);
            let name = wrap::sanitize(username);
            let mut nick = Style::default().fg(look.nick_color(username)).add_modifier(Modifier::BOLD);
            if *own {
                nick = nick.add_modifier(Modifier::REVERSED);
            }
            // A line that names you stands out, as weechat's highlights do.
            let body = if *mention {
                Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            let (suffix, suffix_style) = match delivery {
                Delivery::Received | Delivery::Confirmed => (String::new(), dim),
                Delivery::Pending => (" (sending)".to_owned(), dim),
                Delivery::Unconfirmed => (" (unconfirmed)".to_owned(), dim),
                Delivery::Failed(err) => {
                    (format!(" ✗ {}", wrap::sanitize(err)), Style::default().fg(Color::Red))
                }
            };
            // An action reads as a sentence, as irssi and weechat show it: `* alice waves`.
            let acted = format!("{name} {text}");
            let (mark, spans) = if *action {
                (("*", nick), [(acted.as_str(), body), (suffix.as_str(), suffix_style)])
            } else {
                ((&*name, nick), [(&*text, body), (suffix.as_str(), suffix_style)])
            };
            let mut out = layout(width, look.time_width, &time, mark, &spans);
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

/// The column where the text of every row starts when the time and nick stand in columns
/// (`time, space, nick, " │ "`); `None` when the pane is too narrow for them and the text
/// wraps at full width.
pub fn body_column(width: usize, time_width: usize) -> Option<usize> {
    let prefix = time_width + 1 + NICK_WIDTH + 3;
    (width >= COLUMNS_MIN_WIDTH && width >= prefix + 10).then_some(prefix)
}

fn layout(
    width: usize,
    time_width: usize,
    time: &str,
    nick: (&str, Style),
    body: &[(&str, Style)],
) -> Vec<Row> {
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
    let Some(prefix_width) = body_column(width, time_width) else {
        let head = format!("{time} ");
        let mut pieces = vec![(head.as_str(), dim), (nick.0, nick.1), (": ", Style::default())];
        pieces.extend_from_slice(body);
        return wrap::wrap(&pieces, width);
    };
    let mut rows = wrap::wrap(body, width - prefix_width);
    for (i, row) in rows.iter_mut().enumerate() {
        let mut prefix = if i == 0 {
            vec![
                Span::styled(format!("{time:>time_width$} "), dim),
                Span::raw(pad.clone()),
                Span::styled(nick_text.clone(), nick.1),
            ]
        } else {
            vec![Span::raw(" ".repeat(time_width + 1 + NICK_WIDTH))]
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
                mention: false,
                action: false,
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
        let rows = texts(&rows(&chat("bob", "one two three four five"), 40, &Look::default()));
        assert_eq!(rows, ["               bob │ one two three four", "                   │ five"]);
    }

    #[test]
    fn narrow_panes_wrap_at_full_width() {
        let rows = texts(&rows(&chat("bob", "你好世界你好"), 12, &Look::default()));
        assert_eq!(rows, ["bob: 你好世", "界你好"]);
        for row in &rows {
            assert!(wrap::width(row) <= 12);
        }
    }

    #[test]
    fn the_time_column_follows_the_configured_format() {
        let mut line = chat("bob", "hi");
        line.time = chrono::DateTime::parse_from_rfc3339("2026-11-25T12:34:56Z")
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc));
        let seconds = Look::new(Some("%H:%M:%S"), &[]);
        let text = texts(&rows(&line, 60, &seconds))[0].clone();
        let expected = line.time.unwrap().with_timezone(&Local).format("%H:%M:%S").to_string();
        assert!(text.starts_with(&format!("{expected}          bob │ hi")), "{text:?}");
        assert_eq!(Look::new(None, &[7]).nick_color("anyone"), Color::Indexed(7));
    }

    #[test]
    fn nick_colours_are_stable() {
        assert_eq!(nick_color("ann", &PALETTE), nick_color("ann", &PALETTE));
        assert_ne!(nick_color("alice", &PALETTE), nick_color("bob", &PALETTE), "they used to share magenta");
        // Twelve common names: nearly all apart (24 colours).
        let names = [
            "alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi", "ivan", "judy", "mallory",
            "oscar",
        ];
        let distinct: std::collections::HashSet<_> = names.iter().map(|n| nick_color(n, &PALETTE)).collect();
        assert!(distinct.len() >= 9, "{} colours for 12 names", distinct.len());
    }
}
