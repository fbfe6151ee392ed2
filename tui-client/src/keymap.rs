//! Terminal input → [`Action`]: the only place that knows which key does what.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use crate::{action::Action, app::App};

/// Keys for the help overlay: (keys, what they do).
pub const HELP: &[(&str, &str)] = &[
    ("Enter", "send the line (or run a /command)"),
    ("Esc, Ctrl-C", "quit (Esc first closes this help)"),
    ("PgUp/PgDn, wheel", "scroll messages"),
    ("Home/End", "move in the line; on an empty line: oldest/newest"),
    ("Ctrl-Home/Ctrl-End", "oldest/newest message"),
    ("Left/Right", "move by character"),
    ("Ctrl-A/Ctrl-E", "start/end of the line"),
    ("Backspace/Del", "delete a character"),
    ("Ctrl-W, Ctrl-U", "delete a word, delete to start"),
    ("Ctrl-K, Ctrl-Y", "delete to end, paste what was deleted"),
    ("Ctrl-←/→, Alt-B/F", "move by word"),
    ("Tab", "complete a nick, /command or #room"),
    ("Ctrl-R", "search this room for the typed text"),
    ("Up/Down", "previous/next sent line"),
    ("Alt-1…9", "show room 1…9"),
    ("Ctrl-N/Ctrl-P", "next/previous room"),
    ("F1", "toggle this help"),
    ("F2", "show or hide the member list"),
];

/// Maps one terminal event; `None` for events that do nothing.
pub fn map(event: &Event, app: &App) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => map_key(key, app),
        Event::Paste(text) => Some(Action::Paste(text.clone())),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp => Some(Action::WheelUp),
            MouseEventKind::ScrollDown => Some(Action::WheelDown),
            _ => None,
        },
        _ => None,
    }
}

fn map_key(key: &KeyEvent, app: &App) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let action = match key.code {
        KeyCode::Esc if app.show_help || app.login.is_some() => Action::CloseHelp,
        KeyCode::Tab if app.login.is_some() => Action::NextField,
        KeyCode::BackTab if app.login.is_some() => Action::PrevField,
        KeyCode::F(2) if app.login.is_some() => Action::ToggleSignup,
        KeyCode::Esc => Action::Quit,
        KeyCode::Char('c') if ctrl => Action::Quit,
        KeyCode::F(1) => Action::ToggleHelp,
        KeyCode::F(2) => Action::ToggleMembers,
        KeyCode::Enter => Action::Submit,
        KeyCode::Char('w') if ctrl => Action::DeleteWordBack,
        KeyCode::Char('u') if ctrl => Action::DeleteToStart,
        KeyCode::Char('a') if ctrl => Action::Home,
        KeyCode::Char('e') if ctrl => Action::End,
        KeyCode::Char('n') if ctrl => Action::NextRoom,
        KeyCode::Char('p') if ctrl => Action::PrevRoom,
        KeyCode::Char(c @ '1'..='9') if alt => Action::SwitchRoom(c as usize - '1' as usize),
        KeyCode::Char('k') if ctrl => Action::KillToEnd,
        KeyCode::Char('y') if ctrl => Action::Yank,
        KeyCode::Char('r') if ctrl => Action::SearchBack,
        KeyCode::Char('b') if alt => Action::WordLeft,
        KeyCode::Char('f') if alt => Action::WordRight,
        KeyCode::Left if ctrl => Action::WordLeft,
        KeyCode::Right if ctrl => Action::WordRight,
        KeyCode::Tab => Action::Complete,
        KeyCode::Char(_) if ctrl || alt => return None,
        KeyCode::Char(c) => Action::Insert(c),
        KeyCode::Backspace if ctrl || alt => Action::DeleteWordBack,
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Delete => Action::Delete,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        KeyCode::Home if ctrl || app.input.is_empty() => Action::ScrollTop,
        KeyCode::End if ctrl || app.input.is_empty() => Action::ScrollBottom,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        KeyCode::Up => Action::HistoryPrev,
        KeyCode::Down => Action::HistoryNext,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        _ => return None,
    };
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEventState, MouseEvent};

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Event {
        Event::Key(KeyEvent { code, modifiers, kind: KeyEventKind::Press, state: KeyEventState::NONE })
    }

    fn app() -> App {
        App::new("s", "ann", "public", 100)
    }

    #[test]
    fn quitting_and_help() {
        let mut app = app();
        assert_eq!(map(&key(KeyCode::Esc, KeyModifiers::NONE), &app), Some(Action::Quit));
        assert_eq!(map(&key(KeyCode::Char('c'), KeyModifiers::CONTROL), &app), Some(Action::Quit));
        app.show_help = true;
        assert_eq!(map(&key(KeyCode::Esc, KeyModifiers::NONE), &app), Some(Action::CloseHelp));
        assert_eq!(map(&key(KeyCode::F(1), KeyModifiers::NONE), &app), Some(Action::ToggleHelp));
    }

    #[test]
    fn editing_keys() {
        let app = app();
        let none = KeyModifiers::NONE;
        assert_eq!(map(&key(KeyCode::Char('é'), none), &app), Some(Action::Insert('é')));
        assert_eq!(map(&key(KeyCode::Char('A'), KeyModifiers::SHIFT), &app), Some(Action::Insert('A')));
        assert_eq!(map(&key(KeyCode::Char('w'), KeyModifiers::CONTROL), &app), Some(Action::DeleteWordBack));
        assert_eq!(map(&key(KeyCode::Char('u'), KeyModifiers::CONTROL), &app), Some(Action::DeleteToStart));
        assert_eq!(map(&key(KeyCode::Up, none), &app), Some(Action::HistoryPrev));
        assert_eq!(map(&key(KeyCode::Char('x'), KeyModifiers::CONTROL), &app), None);
        assert_eq!(map(&Event::Paste("p".into()), &app), Some(Action::Paste("p".into())));
    }

    #[test]
    fn home_and_end_edit_a_line_or_scroll_when_it_is_empty() {
        let mut app = app();
        assert_eq!(map(&key(KeyCode::Home, KeyModifiers::NONE), &app), Some(Action::ScrollTop));
        assert_eq!(map(&key(KeyCode::End, KeyModifiers::NONE), &app), Some(Action::ScrollBottom));
        app.input.insert("text");
        assert_eq!(map(&key(KeyCode::Home, KeyModifiers::NONE), &app), Some(Action::Home));
        assert_eq!(map(&key(KeyCode::Home, KeyModifiers::CONTROL), &app), Some(Action::ScrollTop));
    }

    #[test]
    fn rooms_and_scrolling() {
        let app = app();
        assert_eq!(map(&key(KeyCode::Char('3'), KeyModifiers::ALT), &app), Some(Action::SwitchRoom(2)));
        assert_eq!(map(&key(KeyCode::Char('n'), KeyModifiers::CONTROL), &app), Some(Action::NextRoom));
        assert_eq!(map(&key(KeyCode::Char('p'), KeyModifiers::CONTROL), &app), Some(Action::PrevRoom));
        assert_eq!(map(&key(KeyCode::PageUp, KeyModifiers::NONE), &app), Some(Action::PageUp));
        let wheel =
            |kind| Event::Mouse(MouseEvent { kind, column: 0, row: 0, modifiers: KeyModifiers::NONE });
        assert_eq!(map(&wheel(MouseEventKind::ScrollUp), &app), Some(Action::WheelUp));
        assert_eq!(map(&wheel(MouseEventKind::ScrollDown), &app), Some(Action::WheelDown));
    }
}
