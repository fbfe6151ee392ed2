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

/// The part of `text` to show in `avail` cells with the cursor (a byte offset into `text`)
/// visible, and the cursor's column in it. Each grapheme is drawn sanitised (a control
/// character as U+FFFD, a newline of a multi-line message as `↵`), but offsets stay those of
/// `text`.
fn visible(text: &str, cursor: usize, avail: usize) -> (String, usize) {
    let shown: Vec<(usize, String)> =
        text.grapheme_indices(true).map(|(at, g)| (at, wrap::sanitize(g).replace('\n', "↵"))).collect();
    let mut col: usize = shown.iter().take_while(|(at, _)| *at < cursor).map(|(_, g)| wrap::width(g)).sum();
    let mut start = 0;
    while col >= avail && start < shown.len() {
        col -= wrap::width(&shown[start].1);
        start += 1;
    }
    (shown[start..].iter().map(|(_, g)| g.as_str()).collect(), col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{action::Action, app::Event};

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

    #[test]
    fn control_characters_are_drawn_replaced_with_the_cursor_where_it_belongs() {
        // ESC, BEL and a C1 control before wide text: offsets are the raw text's.
        let text = "a\u{1b}[31m你\u{7}\u{9b}b";
        let cursor = text.find('b').expect("b");
        let (shown, col) = visible(text, cursor, 40);
        assert_eq!(shown, "a\u{fffd}[31m你\u{fffd}\u{fffd}b");
        assert_eq!(col, wrap::width("a\u{fffd}[31m你\u{fffd}\u{fffd}"));
        assert_eq!(visible("x\ny", 3, 10), ("x↵y".to_owned(), 3));
    }
}
