//! The help overlay (`/help`, F1): keys and commands, over the middle of the screen.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Modifier, Style},
    widgets::{Block, Borders, Clear, Widget},
};

use crate::{commands, keymap, wrap};

/// Left column width for keys and commands.
const KEY_WIDTH: usize = 20;

pub fn render(screen: Rect, buf: &mut Buffer) {
    let mut rows: Vec<(&str, &str)> = vec![("Keys", "")];
    rows.extend_from_slice(keymap::HELP);
    rows.push(("", ""));
    rows.push(("Commands", ""));
    rows.extend_from_slice(commands::HELP);
    let width = screen.width.saturating_sub(4).min(72);
    let height = (rows.len() as u16 + 2).min(screen.height);
    let area = Rect::new(
        screen.x + (screen.width - width) / 2,
        screen.y + (screen.height - height) / 2,
        width,
        height,
    );
    Clear.render(area, buf);
    let block = Block::default().borders(Borders::ALL).title(" help · Esc or F1 closes ");
    let inner = block.inner(area);
    block.render(area, buf);
    let w = usize::from(inner.width);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    for (y, (key, what)) in (inner.top()..inner.bottom()).zip(rows) {
        let text = if what.is_empty() { key.to_owned() } else { format!("{key:<KEY_WIDTH$} {what}") };
        let style = if what.is_empty() { bold } else { Style::default() };
        buf.set_stringn(inner.x, y, wrap::truncate(&text, w), w, style);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keys_and_commands_in_a_box() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 80, 30));
        render(buf.area, &mut buf);
        let rows = crate::ui::buffer_rows(&buf);
        let text = rows.join("\n");
        assert!(rows.iter().any(|r| r.contains("┌ help ")), "{text}");
        for needle in [
            "Keys",
            "Esc, Ctrl-C",
            "PgUp/PgDn",
            "Alt-1…9",
            "Commands",
            "/join <room>",
            "/leave [room]",
            "/info <socketId>",
            "/quit",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        // Small terminals cut the box, they do not overflow it.
        let mut small = Buffer::empty(Rect::new(0, 0, 20, 6));
        render(small.area, &mut small);
        assert!(crate::ui::buffer_rows(&small)[0].contains("┌ help"));
    }
}
