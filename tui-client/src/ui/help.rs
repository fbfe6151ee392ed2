//! The help overlay (`/help`, F1): keys and commands, over the middle of the screen.

use ratatui::{
    buffer::Buffer,
    layout::Rect,
    style::{Modifier, Style},
};

use crate::{commands, keymap, wrap};

/// Left column width for keys and commands.
const KEY_WIDTH: usize = 20;

/// One column when everything fits in height, else keys and commands side by side (an 80×24
/// terminal shows all of both); what still does not fit is cut, never drawn outside the box.
pub fn render(screen: Rect, buf: &mut Buffer) {
    let section = |title: &'static str, items: &[(&'static str, &'static str)]| {
        let mut rows = vec![(title, "")];
        rows.extend_from_slice(items);
        rows
    };
    let (keys, cmds) = (section("Keys", keymap::HELP), section("Commands", commands::HELP));
    let one_column = keys.len() + 1 + cmds.len() + 2 <= usize::from(screen.height) || screen.width < 60;
    let columns: Vec<Vec<(&str, &str)>> = if one_column {
        vec![keys.iter().copied().chain([("", "")]).chain(cmds.iter().copied()).collect()]
    } else {
        vec![keys, cmds]
    };
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0);
    let width = screen.width.saturating_sub(4).min(if one_column { 72 } else { 110 });
    let inner = super::overlay(screen, width, tallest as u16 + 2, " help · Esc or F1 closes ", buf);
    let column_width = usize::from(inner.width) / columns.len();
    let key_width = KEY_WIDTH.min(column_width * 2 / 5);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    for (c, rows) in columns.iter().enumerate() {
        let x = inner.x + (c * column_width) as u16;
        for (y, (key, what)) in (inner.top()..inner.bottom()).zip(rows) {
            let text = if what.is_empty() { (*key).to_owned() } else { format!("{key:<key_width$} {what}") };
            let style = if what.is_empty() { bold } else { Style::default() };
            let w = column_width.saturating_sub(1).max(1);
            buf.set_stringn(x, y, wrap::truncate(&text, w), w, style);
        }
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
        // 80×24: keys and commands side by side, every entry on screen.
        let mut buf = Buffer::empty(Rect::new(0, 0, 80, 24));
        render(buf.area, &mut buf);
        let text = crate::ui::buffer_rows(&buf).join("\n");
        for (key, _) in keymap::HELP.iter().chain(commands::HELP) {
            let shown = wrap::truncate(key, 14);
            assert!(text.contains(shown.trim_end_matches('…')), "{key} missing at 80×24 in\n{text}");
        }
        // Small terminals cut the box, they do not overflow it.
        let mut small = Buffer::empty(Rect::new(0, 0, 20, 6));
        render(small.area, &mut small);
        assert!(crate::ui::buffer_rows(&small)[0].contains("┌ help"));
    }
}
