//! How text becomes terminal rows: sanitising, display widths and word wrapping.
//!
//! Widths come from ratatui's own [`CellWidth`], per grapheme cluster, so what we measure here
//! is exactly what `Buffer::set_stringn` will draw: a CJK character or an emoji takes two
//! cells and is never split across rows, a combining accent takes none.

use std::borrow::Cow;

use ratatui::{buffer::CellWidth, style::Style, text::Span};
use unicode_segmentation::UnicodeSegmentation;

/// One drawn row: styled pieces left to right.
pub type Row = Vec<Span<'static>>;

/// Display width of `text` in terminal cells.
pub fn width(text: &str) -> usize {
    text.graphemes(true).map(grapheme_width).sum()
}

fn grapheme_width(g: &str) -> usize {
    if g.chars().any(char::is_control) { 0 } else { usize::from(g.cell_width()) }
}

/// Makes text from the network safe to draw: tabs become spaces and other control characters
/// (escape sequences above all) become U+FFFD, so a message can never drive the terminal.
/// Newlines are kept; [`wrap`] breaks rows there.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' => '\n',
                '\t' => ' ',
                c if c.is_control() => '\u{FFFD}',
                c => c,
            })
            .collect(),
    )
}

/// Cuts `text` to at most `max` cells, ending with `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = grapheme_width(g);
        if used + w + 1 > max {
            break;
        }
        out.push_str(g);
        used += w;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// Word-wraps styled pieces into rows at most `max_width` cells wide.
///
/// Breaks at spaces when it can, inside a word only when the word alone is wider than a row,
/// and always at `\n`. Spaces that would start a continuation row are dropped. Always returns
/// at least one row.
pub fn wrap(pieces: &[(&str, Style)], max_width: usize) -> Vec<Row> {
    let max_width = max_width.max(1);
    let mut out = Wrapper { rows: vec![Vec::new()], row_width: 0, max_width };
    for (text, style) in pieces {
        for (i, paragraph) in text.split('\n').enumerate() {
            if i > 0 {
                out.new_row();
            }
            for token in split_words(paragraph) {
                out.push_token(token, *style);
            }
        }
    }
    out.rows
}

/// Break opportunities, in order: runs of spaces, runs of narrow non-space graphemes (words),
/// and each wide grapheme alone, since CJK text and emoji may break between any two.
fn split_words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let mut graphemes = rest.grapheme_indices(true);
        let (_, first) = graphemes.next()?;
        let kind = |g: &str| {
            if g == " " {
                0
            } else if grapheme_width(g) > 1 {
                2
            } else {
                1
            }
        };
        let first_kind = kind(first);
        let end = if first_kind == 2 {
            first.len()
        } else {
            graphemes.find(|(_, g)| kind(g) != first_kind).map_or(rest.len(), |(i, _)| i)
        };
        let (token, tail) = rest.split_at(end);
        rest = tail;
        Some(token)
    })
}

struct Wrapper {
    rows: Vec<Row>,
    row_width: usize,
    max_width: usize,
}

impl Wrapper {
    /// Starts a row; the one it ends loses its trailing spaces.
    fn new_row(&mut self) {
        if let Some(last) = self.rows.last_mut().and_then(|row| row.last_mut()) {
            let kept = last.content.trim_end_matches(' ').len();
            last.content.to_mut().truncate(kept);
        }
        self.rows.push(Vec::new());
        self.row_width = 0;
    }

    fn push_str(&mut self, text: &str, w: usize, style: Style) {
        let row = self.rows.last_mut().expect("wrapper always has a row");
        match row.last_mut() {
            Some(last) if last.style == style => last.content.to_mut().push_str(text),
            _ => row.push(Span::styled(text.to_owned(), style)),
        }
        self.row_width += w;
    }

    fn push_token(&mut self, token: &str, style: Style) {
        let w = width(token);
        let room = self.max_width.saturating_sub(self.row_width);
        if token.starts_with(' ') {
            if self.row_width == 0 && self.rows.len() > 1 {
                return;
            }
            if w <= room {
                self.push_str(token, w, style);
            } else {
                self.new_row();
            }
            return;
        }
        if w <= room {
            self.push_str(token, w, style);
            return;
        }
        if w <= self.max_width && self.row_width > 0 {
            self.new_row();
            self.push_str(token, w, style);
            return;
        }
        for g in token.graphemes(true) {
            let gw = grapheme_width(g);
            if self.row_width + gw > self.max_width && self.row_width > 0 {
                self.new_row();
            }
            self.push_str(g, gw, style);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rows: &[Row]) -> Vec<String> {
        rows.iter().map(|r| r.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    fn plain(text: &str, w: usize) -> Vec<String> {
        texts(&wrap(&[(text, Style::default())], w))
    }

    #[test]
    fn words_wrap_at_spaces() {
        assert_eq!(plain("hello brave new world", 11), ["hello brave", "new world"]);
        assert_eq!(plain("", 5), [""]);
        assert_eq!(plain("a\nb", 5), ["a", "b"]);
    }

    #[test]
    fn long_words_break_inside() {
        assert_eq!(plain("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn wide_characters_never_split_or_overflow() {
        // Five CJK characters are ten cells: in a row of five cells only two fit.
        assert_eq!(plain("你好世界啊", 5), ["你好", "世界", "啊"]);
        assert_eq!(plain("日本語テキスト", 6), ["日本語", "テキス", "ト"]);
        // Emoji (including a ZWJ family and a flag) are single graphemes of width 2.
        let rows = plain("👍🎉👨‍👩‍👧🇯🇵", 4);
        assert_eq!(rows, ["👍🎉", "👨‍👩‍👧🇯🇵"]);
        for row in &rows {
            assert!(width(row) <= 4, "{row}");
        }
    }

    #[test]
    fn widths_match_ratatui() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("你好"), 4);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(width("👍"), 2);
    }

    #[test]
    fn sanitize_removes_escapes() {
        assert_eq!(sanitize("plain"), "plain");
        assert_eq!(sanitize("a\u{1b}[2Jb\tc\nd"), "a\u{FFFD}[2Jb c\nd");
    }

    #[test]
    fn truncate_marks_cuts() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdefghijkl", 6), "abcde…");
        assert_eq!(truncate("你好世界", 5), "你好…");
    }

    #[test]
    fn styles_are_kept_per_piece() {
        let bold = Style::default().add_modifier(ratatui::style::Modifier::BOLD);
        let rows = wrap(&[("ann:", bold), (" hi there", Style::default())], 8);
        assert_eq!(texts(&rows), ["ann: hi", "there"]);
        assert_eq!(rows[0][0].style, bold);
        assert_eq!(rows[0][1].style, Style::default());
    }
}
