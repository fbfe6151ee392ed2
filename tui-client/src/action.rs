//! What the user asks for, independent of the key that asked: the keymap makes these, the app
//! and the login form take them.

/// Something the user asked for, independent of the key that asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    Submit,
    Insert(char),
    Paste(String),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    DeleteWordBack,
    DeleteToStart,
    HistoryPrev,
    HistoryNext,
    PageUp,
    PageDown,
    WheelUp,
    WheelDown,
    ScrollTop,
    ScrollBottom,
    SwitchRoom(usize),
    NextRoom,
    PrevRoom,
    ToggleHelp,
    /// F2: the member list pane.
    ToggleMembers,
    /// Esc on an overlay (help, the login form): close it.
    CloseHelp,
    /// Readline: word left and right, kill to the end, yank.
    WordLeft,
    WordRight,
    KillToEnd,
    Yank,
    /// Tab: complete a nick, a /command or a #room; again for the next candidate.
    Complete,
    /// Ctrl-R: search back in the room for the line's text (again: the match before).
    SearchBack,
    /// The login form: next and previous field, login or sign up.
    NextField,
    PrevField,
    ToggleSignup,
}
