//! The input line: a small line editor that moves by grapheme (what a user calls a character),
//! never by byte, plus the history of sent lines.

use unicode_segmentation::UnicodeSegmentation;

/// Sent lines remembered for Up/Down.
const HISTORY_LEN: usize = 100;

#[derive(Debug, Default, Clone)]
pub struct Input {
    text: String,
    /// Byte offset, always on a grapheme boundary.
    cursor: usize,
    history: Vec<String>,
    /// `Some(i)` while browsing `history[i]`; the draft is kept aside until Down returns to it.
    browsing: Option<usize>,
    draft: String,
    /// The last text Ctrl-W, Ctrl-U or Ctrl-K took, for Ctrl-Y.
    killed: String,
}

impl Input {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Text before the cursor (its display width is the cursor column).
    pub fn before_cursor(&self) -> &str {
        &self.text[..self.cursor]
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn insert(&mut self, text: &str) {
        self.text.insert_str(self.cursor, text);
        self.cursor += text.len();
    }

    fn prev_boundary(&self) -> usize {
        self.text[..self.cursor].grapheme_indices(true).next_back().map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self) -> usize {
        self.text[self.cursor..].graphemes(true).next().map_or(self.cursor, |g| self.cursor + g.len())
    }

    pub fn left(&mut self) {
        self.cursor = self.prev_boundary();
    }

    pub fn right(&mut self) {
        self.cursor = self.next_boundary();
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.len();
    }

    pub fn backspace(&mut self) {
        let start = self.prev_boundary();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    pub fn delete(&mut self) {
        let end = self.next_boundary();
        self.text.replace_range(self.cursor..end, "");
    }

    /// Byte offset of the start of the word before the cursor (readline's backward-word).
    fn word_start(&self) -> usize {
        let blank = |g: &str| g.chars().all(char::is_whitespace);
        let mut graphemes = self.text[..self.cursor].grapheme_indices(true).rev().peekable();
        while graphemes.next_if(|(_, g)| blank(g)).is_some() {}
        let mut start = 0;
        for (at, g) in graphemes {
            if blank(g) {
                start = at + g.len();
                break;
            }
        }
        start
    }

    /// Ctrl-Left, Alt-B: to the start of this or the previous word.
    pub fn word_left(&mut self) {
        self.cursor = self.word_start();
    }

    /// Ctrl-Right, Alt-F: to the end of this or the next word.
    pub fn word_right(&mut self) {
        let blank = |g: &str| g.chars().all(char::is_whitespace);
        let mut graphemes = self.text[self.cursor..].grapheme_indices(true).peekable();
        while graphemes.next_if(|(_, g)| blank(g)).is_some() {}
        let end = graphemes.find(|(_, g)| blank(g)).map_or(self.text.len(), |(at, _)| self.cursor + at);
        self.cursor = end;
    }

    /// Ctrl-K: everything after the cursor, kept for Ctrl-Y.
    pub fn kill_to_end(&mut self) {
        self.killed = self.text.split_off(self.cursor);
    }

    /// Ctrl-Y: puts back what was last killed.
    pub fn yank(&mut self) {
        let killed = self.killed.clone();
        self.insert(&killed);
    }

    /// Replaces the text from `start` (a byte offset before the cursor) to the cursor.
    pub fn replace_before_cursor(&mut self, start: usize, with: &str) {
        let start = start.min(self.cursor);
        self.text.replace_range(start..self.cursor, with);
        self.cursor = start + with.len();
    }

    /// Ctrl-W: the word before the cursor and the spaces after it, kept for Ctrl-Y.
    pub fn delete_word_back(&mut self) {
        let start = self.word_start();
        self.killed = self.text[start..self.cursor].to_owned();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Ctrl-U: everything before the cursor, kept for Ctrl-Y.
    pub fn delete_to_start(&mut self) {
        self.killed = self.text[..self.cursor].to_owned();
        self.text.replace_range(..self.cursor, "");
        self.cursor = 0;
    }

    /// Empties the line and remembers it for Up.
    pub fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
            if self.history.len() > HISTORY_LEN {
                self.history.remove(0);
            }
        }
        text
    }

    fn set(&mut self, text: String) {
        self.text = text;
        self.cursor = self.text.len();
    }

    pub fn history_prev(&mut self) {
        let i = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.browsing = Some(i);
        self.set(self.history[i].clone());
    }

    pub fn history_next(&mut self) {
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.history.len() => {
                self.browsing = Some(i + 1);
                self.set(self.history[i + 1].clone());
            }
            Some(_) => {
                self.browsing = None;
                let draft = std::mem::take(&mut self.draft);
                self.set(draft);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Input {
        let mut i = Input::default();
        i.insert(text);
        i
    }

    #[test]
    fn cursor_moves_by_character_not_byte() {
        let mut i = typed("aé你👍");
        i.left();
        assert_eq!(i.before_cursor(), "aé你");
        i.left();
        i.left();
        assert_eq!(i.before_cursor(), "a");
        i.insert("x");
        assert_eq!(i.text(), "axé你👍");
        i.right();
        i.backspace();
        assert_eq!(i.text(), "ax你👍");
        i.delete();
        assert_eq!(i.text(), "ax👍");
        i.end();
        i.backspace();
        assert_eq!(i.text(), "ax");
        i.home();
        i.backspace();
        i.delete();
        assert_eq!(i.text(), "x");
    }

    #[test]
    fn combining_sequences_are_one_character() {
        let mut i = typed("e\u{301}");
        i.left();
        assert_eq!(i.before_cursor(), "");
        i.delete();
        assert!(i.is_empty());
    }

    #[test]
    fn ctrl_w_and_ctrl_u() {
        let mut i = typed("hello big  world");
        i.delete_word_back();
        assert_eq!(i.text(), "hello big  ");
        i.delete_word_back();
        assert_eq!(i.text(), "hello ");
        i.insert("there");
        i.left();
        i.left();
        i.delete_to_start();
        assert_eq!((i.text(), i.before_cursor()), ("re", ""));
    }

    #[test]
    fn history_walks_back_and_restores_the_draft() {
        let mut i = Input::default();
        for line in ["one", "two"] {
            i.insert(line);
            assert_eq!(i.take(), line);
        }
        i.insert("dra");
        i.history_prev();
        assert_eq!(i.text(), "two");
        i.history_prev();
        i.history_prev();
        assert_eq!(i.text(), "one");
        i.history_next();
        assert_eq!(i.text(), "two");
        i.history_next();
        assert_eq!(i.text(), "dra");
        i.history_next();
        assert_eq!(i.text(), "dra");
    }

    #[test]
    fn readline_word_motions_kill_and_yank() {
        let mut input = Input::default();
        input.insert("hello big   world");
        input.word_left();
        assert_eq!(input.before_cursor(), "hello big   ");
        input.word_left();
        assert_eq!(input.before_cursor(), "hello ");
        input.word_right();
        assert_eq!(input.before_cursor(), "hello big");
        input.kill_to_end();
        assert_eq!(input.text(), "hello big");
        input.home();
        input.yank();
        assert_eq!(input.text(), "   worldhello big");
        input.end();
        input.delete_word_back();
        input.home();
        input.yank();
        assert_eq!(input.text(), "big   worldhello ");
    }
}
