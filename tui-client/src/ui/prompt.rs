//! The input line. Long lines scroll sideways so the cursor always shows.

use ratatui::{
    buffer::Buffer,
    layout::{Position, Rect},
    style::{Modifier, Style},
};
use unicode_segmentation::UnicodeSegmentation;

use crate::{app::App, wrap};

const PROMPT: &str = "› ";

/// Draws the line; returns where the terminal cursor belongs.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) -> Position {
    let prompt_width = wrap::width(PROMPT) as u16;
    buf.set_stringn(
        area.x,
        area.y,
        PROMPT,
        usize::from(area.width),
        Style::default().add_modifier(Modifier::BOLD),
    );
    let avail = usize::from(area.width.saturating_sub(prompt_width)).max(1);
    let (shown, cursor) = visible(app.input.text(), app.input.before_cursor().len(), avail);
    let x = area.x + prompt_width;
    buf.set_stringn(x, area.y, &shown, avail, Style::default());
    Position::new((x + cursor as u16).min(area.right().saturating_sub(1)), area.y)
}

/// The part of `text` to show in `avail` cells with the cursor (a byte offset) visible, and
/// the cursor's column in it.
fn visible(text: &str, cursor: usize, avail: usize) -> (String, usize) {
    let text = wrap::sanitize(text);
    let mut start = 0;
    let mut col = wrap::width(&text[..cursor]);
    for g in text.graphemes(true) {
        if col < avail {
            break;
        }
        start += g.len();
        col -= wrap::width(g);
    }
    (text[start..].to_owned(), col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{app::Event, keymap::Action};

    #[test]
    fn cursor_follows_wide_characters_and_long_lines_scroll() {
        let mut app = App::new("s", "ann", "public", 10);
        for c in "你好ab".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        app.update(Event::Action(Action::Left));
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 1));
        let pos = render(&app, buf.area, &mut buf);
        assert_eq!(crate::ui::buffer_rows(&buf), ["› 你好ab    "]);
        assert_eq!(pos, Position::new(7, 0));
        assert_eq!(visible("abcdefghij", 10, 4), ("hij".to_owned(), 3));
        assert_eq!(visible("你好世界", 12, 5), ("世界".to_owned(), 4));
    }
}
