//! The client's whole state and its one pure update function: actions (from keys) and network
//! events go in, the state changes and [`Effect`]s come out for the caller to perform. Nothing
//! here does I/O, so every behaviour is a unit test.

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use chrono::{DateTime, Utc};
use shared::{
    defaults::{TYPING_EVERY_SECS, TYPING_EXPIRES_SECS},
    payload::{ChatMessage, Gap, Page, Presence, SystemMessage, Typing, UserInfo},
};

pub use crate::event::{Effect, Event};
use crate::{
    action::Action,
    commands::{self, Command},
    input::Input,
    login_form::{FormOutcome, LoginForm},
    net::{AckOutcome, NetCommand, NetEvent, QUERY_PREFIX},
    scrollback::{Anchor, Delivery, Line, LineKind, Room},
    ui::lines::{self, Look},
};

/// Rows the mouse wheel scrolls per notch.
const WHEEL_ROWS: usize = 3;
/// Shown where the server said a resume skipped messages (`chat.gap`).
pub const GAP_NOTICE: &str =
    "Messages are missing here: more came while you were away than the server replays";

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// No login yet: the login form is open and nothing is connected.
    LoggedOut,
    Connecting,
    Connected,
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        reason: String,
    },
    Rejected {
        message: String,
    },
}

/// A live echo of one of our messages, taken for the line sent as `local_id` until the ack
/// (which names the stored id) says whether it was.
#[derive(Debug, Clone)]
struct Echo {
    id: String,
    username: String,
    text: String,
    time: Option<DateTime<Utc>>,
}

/// Tab completion in progress: the candidates for the word that starts at `start`.
#[derive(Debug, Clone)]
struct Completion {
    start: usize,
    candidates: Vec<String>,
    index: usize,
}

/// What a live echo of ours turned out to answer.
enum EchoMatch {
    /// Taken for the line sent as this `local_id`, until its ack.
    Waiting(u64),
    /// Confirmed a line whose ack never came.
    Confirmed,
    /// No line of ours: shown as a line of its own.
    Unmatched,
}

/// The answer to the last `/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub socket_id: String,
    pub info: Option<UserInfo>,
}

#[derive(Debug)]
pub struct App {
    pub server: String,
    pub username: String,
    /// The room in the connection's query string; its messages may carry no room (classic).
    pub handshake_room: String,
    pub conn: ConnState,
    pub rooms: Vec<Room>,
    pub active: usize,
    pub input: Input,
    pub own_sid: Option<String>,
    pub own_info: Option<UserInfo>,
    pub lookup: Option<Lookup>,
    pub show_help: bool,
    /// Esc or Ctrl-C was pressed once: the next one quits.
    quit_armed: bool,
    /// Tab was pressed: the word being completed and the candidates.
    completion: Option<Completion>,
    /// The last `/search` or Ctrl-R query, for Ctrl-R on an empty line.
    last_search: Option<String>,
    /// The login form, while open (over everything but the help).
    pub login: Option<LoginForm>,
    /// Time format and nick colours (the config file's).
    pub look: Look,
    /// Message pane size, for scrolling by screenfuls.
    pub view: (u16, u16),
    /// The time of the last tick, for lines we make ourselves.
    now: Option<DateTime<Utc>>,
    scrollback: usize,
    next_local_id: u64,
    /// Where each sent message's line lives, until its ack.
    pending: HashMap<u64, String>,
    /// Echoes of our own messages whose ack has not come yet, by the line they were taken for.
    echoes: HashMap<u64, Echo>,
    /// Who is in each room, as far as `/names` and presence events tell.
    pub members: HashMap<String, BTreeSet<String>>,
    /// Who is typing where, until when.
    typing: Vec<(String, String, DateTime<Utc>)>,
    /// When we last said we were typing, per room.
    typing_sent: HashMap<String, DateTime<Utc>>,
    /// Show join and part lines (the config's `join_part_lines`).
    pub show_join_part: bool,
    /// Send and show typing indicators (the config's `typing`).
    pub show_typing: bool,
    /// The member list pane is shown (F2, `/members`).
    pub show_members: bool,
    ever_connected: bool,
}

impl App {
    pub fn new(server: &str, username: &str, room: &str, scrollback: usize) -> Self {
        App {
            server: server.to_owned(),
            username: username.to_owned(),
            handshake_room: room.to_owned(),
            conn: ConnState::Connecting,
            rooms: vec![Room::new(room, false)],
            active: 0,
            input: Input::default(),
            own_sid: None,
            own_info: None,
            lookup: None,
            show_help: false,
            quit_armed: false,
            completion: None,
            last_search: None,
            login: None,
            look: Look::default(),
            view: (80, 20),
            now: None,
            scrollback: scrollback.max(1),
            next_local_id: 1,
            pending: HashMap::new(),
            echoes: HashMap::new(),
            members: HashMap::new(),
            typing: Vec::new(),
            typing_sent: HashMap::new(),
            show_join_part: true,
            show_typing: true,
            show_members: false,
            ever_connected: false,
        }
    }

    pub fn active_room(&self) -> Option<&Room> {
        self.rooms.get(self.active)
    }

    fn room_index(&self, name: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.name == name)
    }

    /// Says something in the shown room (hints, errors, command answers).
    fn note(&mut self, text: impl Into<String>, error: bool) {
        let (cap, now) = (self.scrollback, self.now);
        if let Some(room) = self.rooms.get_mut(self.active) {
            room.push(Line::system(text, error, now), cap);
        }
    }

    fn note_in(&mut self, room: usize, text: impl Into<String>, error: bool) {
        let (cap, now) = (self.scrollback, self.now);
        self.rooms[room].push(Line::system(text, error, now), cap);
    }

    fn refresh_own_info(&self) -> Vec<Effect> {
        match &self.own_sid {
            Some(sid) => vec![Effect::Net(NetCommand::UserInfo { socket_id: sid.clone(), own: true })],
            None => Vec::new(),
        }
    }

    /// Applies one event; returns what the caller must do.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Action(action) => self.on_action(action),
            Event::Net(net) => self.on_net(net),
            Event::Tick(now) => {
                self.now = Some(now);
                self.typing.retain(|(_, _, until)| *until > now);
                if let ConnState::Reconnecting { retry_in, .. } = &mut self.conn {
                    *retry_in = retry_in.saturating_sub(Duration::from_secs(1));
                }
                Vec::new()
            }
            Event::Resize { width, height } => {
                self.view = (width, height);
                self.clamp_scroll();
                Vec::new()
            }
            Event::LoggedIn(Ok(username)) => {
                self.login = None;
                self.note(format!("Logged in as {username}"), false);
                self.username = username;
                self.conn = ConnState::Connecting;
                Vec::new()
            }
            Event::Reachable(Err(why)) => {
                match &mut self.login {
                    Some(form) if !form.busy => form.error = Some(why),
                    _ => self.note(why, true),
                }
                Vec::new()
            }
            Event::Reachable(Ok(())) => Vec::new(),
            Event::LoggedIn(Err(err)) => {
                match &mut self.login {
                    Some(form) => form.failed(err),
                    None => self.note(format!("Login failed: {err}. /login to try again."), true),
                }
                Vec::new()
            }
        }
    }

    fn on_action(&mut self, action: Action) -> Vec<Effect> {
        if action != Action::Quit {
            self.quit_armed = false;
        }
        if action != Action::Complete {
            self.completion = None;
        }
        if let Some(form) =
            self.login.as_mut().filter(|_| !matches!(action, Action::Quit | Action::ToggleHelp))
        {
            if self.show_help && action == Action::CloseHelp {
                self.show_help = false;
                return Vec::new();
            }
            return match form.update(action) {
                FormOutcome::Stay => Vec::new(),
                FormOutcome::Cancel => {
                    self.login = None;
                    Vec::new()
                }
                FormOutcome::Submit { credentials, signup } => vec![Effect::Login { credentials, signup }],
            };
        }
        match action {
            Action::Quit => return self.ask_to_quit(),
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::ToggleMembers => return self.toggle_members(),
            Action::CloseHelp => self.show_help = false,
            // Only the login form has fields.
            Action::NextField | Action::PrevField | Action::ToggleSignup => {}
            Action::WordLeft => self.input.word_left(),
            Action::WordRight => self.input.word_right(),
            Action::KillToEnd => self.input.kill_to_end(),
            Action::Yank => self.input.yank(),
            Action::Complete => self.complete(),
            Action::SearchBack => {
                let typed = self.input.text().trim().to_owned();
                match (typed.is_empty(), self.last_search.clone()) {
                    (false, _) => self.search(typed, false),
                    (true, Some(query)) => self.search(query, true),
                    (true, None) => self.note("Type what to look for, then Ctrl-R", false),
                }
            }
            Action::Submit => return self.submit(),
            Action::Insert(c) => {
                self.input.insert(c.encode_utf8(&mut [0; 4]));
                return self.typing_now();
            }
            // A multi-line paste stays multi-line: it is sent as one message with its newlines.
            Action::Paste(text) => {
                self.input.insert(text.replace("\r\n", "\n").replace('\r', "\n").trim_end_matches('\n'))
            }
            Action::Backspace => self.input.backspace(),
            Action::Delete => self.input.delete(),
            Action::Left => self.input.left(),
            Action::Right => self.input.right(),
            Action::Home => self.input.home(),
            Action::End => self.input.end(),
            Action::DeleteWordBack => self.input.delete_word_back(),
            Action::DeleteToStart => self.input.delete_to_start(),
            Action::HistoryPrev => self.input.history_prev(),
            Action::HistoryNext => self.input.history_next(),
            Action::PageUp => {
                self.scroll_up(usize::from(self.view.1.saturating_sub(1)).max(1));
                return self.load_older();
            }
            Action::PageDown => self.scroll_down(usize::from(self.view.1.saturating_sub(1)).max(1)),
            Action::WheelUp => {
                self.scroll_up(WHEEL_ROWS);
                return self.load_older();
            }
            Action::WheelDown => self.scroll_down(WHEEL_ROWS),
            Action::ScrollTop => {
                self.scroll_top();
                return self.load_older();
            }
            Action::ScrollBottom => self.scroll_bottom(),
            Action::SwitchRoom(i) => {
                self.switch_to(i);
                return self.members_if_shown();
            }
            Action::NextRoom => {
                self.switch_to((self.active + 1) % self.rooms.len().max(1));
                return self.members_if_shown();
            }
            Action::PrevRoom => {
                let n = self.rooms.len().max(1);
                self.switch_to((self.active + n - 1) % n);
                return self.members_if_shown();
            }
        }
        Vec::new()
    }

    /// Opens tabs for `rooms` (the config file's), to be joined once connected
    /// ([`Self::rooms_to_join`]); names that are no rooms are said and skipped.
    pub fn open_rooms(&mut self, rooms: &[String]) {
        for name in rooms {
            match commands::room_name(name) {
                Ok(room) if self.room_index(&room).is_none() => {
                    self.rooms.push(Room::new(&room, false));
                    let last = self.rooms.len() - 1;
                    self.note_in(last, format!("Joining #{room}…"), false);
                }
                Ok(_) => {}
                Err(e) => self.note(format!("config file: rooms: {e}"), true),
            }
        }
    }

    /// Open rooms not joined yet, besides the handshake's (the server puts us in that one).
    pub fn rooms_to_join(&self) -> Vec<String> {
        self.rooms
            .iter()
            .filter(|r| !r.joined && r.name != self.handshake_room)
            .map(|r| r.name.clone())
            .collect()
    }

    /// The terminal's title: the room shown and what waits elsewhere.
    pub fn title(&self) -> String {
        let room = self.active_room().map(|r| r.name.as_str()).unwrap_or_default();
        let unread: usize = self.rooms.iter().map(|r| r.unread).sum();
        let mentions: usize = self.rooms.iter().map(|r| r.mentions).sum();
        match (unread, mentions) {
            (0, _) => format!("chat-tui · {}", window_label(room)),
            (n, 0) => format!("chat-tui · {} · {n} unread", window_label(room)),
            (n, m) => format!("chat-tui · {} · {n} unread, {m} for you", window_label(room)),
        }
    }

    /// Nothing stored to log in with: the form first, the network once it has a token.
    pub fn start_logged_out(&mut self, username: Option<&str>, signup: bool) {
        self.conn = ConnState::LoggedOut;
        let mut form = LoginForm::new(username.unwrap_or_default());
        form.signup = signup;
        self.login = Some(form);
    }

    fn open_login_form(&mut self) {
        if self.login.is_none() {
            self.login = Some(LoginForm::new(&self.username));
        }
    }

    fn switch_to(&mut self, index: usize) {
        if let Some(room) = self.rooms.get_mut(index) {
            room.unread = 0;
            room.mentions = 0;
            self.active = index;
        }
    }

    /// Tab: the word before the cursor completed to a /command (at the start of the line), a
    /// #room, or a nick of the room (with `: ` at the start of the line, as irssi does); Tab
    /// again cycles through the candidates.
    fn complete(&mut self) {
        if let Some(c) = &mut self.completion {
            if c.candidates.is_empty() {
                return;
            }
            c.index = (c.index + 1) % c.candidates.len();
            let next = c.candidates[c.index].clone();
            self.input.replace_before_cursor(c.start, &next);
            return;
        }
        let before = self.input.before_cursor();
        let start = before
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + before[i..].chars().next().map_or(1, char::len_utf8));
        let word = before[start..].to_lowercase();
        let at_start = start == 0;
        let mut candidates: Vec<String> = if at_start && word.starts_with('/') {
            commands::HELP
                .iter()
                .filter_map(|(usage, _)| usage.split_whitespace().next())
                .filter(|c| c.len() > 2)
                .map(|c| format!("{c} "))
                .collect()
        } else if word.starts_with('#') {
            self.rooms.iter().map(|r| format!("#{} ", r.name)).collect()
        } else {
            let mut nicks: Vec<String> = Vec::new();
            if let Some(room) = self.active_room() {
                for line in room.lines.iter().rev() {
                    if let LineKind::Chat { username, own: false, .. } = &line.kind
                        && !nicks.contains(username)
                    {
                        nicks.push(username.clone());
                    }
                }
            }
            let suffix = if at_start { ": " } else { " " };
            nicks.into_iter().map(|n| format!("{n}{suffix}")).collect()
        };
        candidates.retain(|c| c.to_lowercase().starts_with(&word) && !word.is_empty());
        if let Some(first) = candidates.first().cloned() {
            self.input.replace_before_cursor(start, &first);
        }
        self.completion = Some(Completion { start, candidates, index: 0 });
    }

    /// Scrolls the room to the newest line above the view (or above the last match, when
    /// `again`) whose text contains `query`, in any case.
    fn search(&mut self, query: String, again: bool) {
        let needle = query.to_lowercase();
        let Some(room) = self.rooms.get_mut(self.active) else { return };
        let below = match (again, room.scroll) {
            (true, Some(anchor)) => anchor.seq,
            _ => room.last_seq().map_or(0, |s| s + 1),
        };
        let found = (room.first_seq..below).rev().find(|&seq| {
            room.line(seq).is_some_and(|l| match &l.kind {
                LineKind::Chat { text, username, .. } => {
                    text.to_lowercase().contains(&needle) || username.to_lowercase().contains(&needle)
                }
                LineKind::System { text, .. } => text.to_lowercase().contains(&needle),
                _ => false,
            })
        });
        self.last_search = Some(query.clone());
        match found {
            Some(seq) => {
                room.scroll = Some(Anchor { seq, rows_below: 0 });
                if !again {
                    self.input.take();
                }
            }
            None => self.note(
                format!("No {}match for {query:?} in this room", if again { "earlier " } else { "" }),
                true,
            ),
        }
    }

    /// Esc or Ctrl-C: quits on the second press in a row, as irssi and weechat never quit on
    /// one key; the first says what would be lost.
    fn ask_to_quit(&mut self) -> Vec<Effect> {
        if std::mem::take(&mut self.quit_armed) {
            return vec![Effect::Quit];
        }
        self.quit_armed = true;
        let unsent = self.pending.len();
        let typed = !self.input.is_empty();
        let lost = match (unsent, typed) {
            (0, false) => String::new(),
            (0, true) => " (the line you are typing is lost)".into(),
            (n, _) => format!(" ({n} message{} not confirmed yet)", if n == 1 { "" } else { "s" }),
        };
        self.note(format!("Press Esc or Ctrl-C again to quit{lost}; any other key stays"), !lost.is_empty());
        Vec::new()
    }

    fn submit(&mut self) -> Vec<Effect> {
        if self.input.text().trim().is_empty() {
            self.input.take();
            return Vec::new();
        }
        // A message the server would refuse stays in the line, to be shortened.
        let max = shared::defaults::MAX_MESSAGE_BYTES;
        if let Ok(Command::Say(text)) = commands::parse(self.input.text())
            && text.len() > max
        {
            self.note(format!("{} (now {} bytes)", shared::errors::message_too_long(max), text.len()), true);
            return Vec::new();
        }
        let line = self.input.take();
        match commands::parse(&line) {
            Err(hint) => {
                self.note(hint.to_string(), true);
                Vec::new()
            }
            Ok(command) => self.run(command),
        }
    }

    fn run(&mut self, command: Command) -> Vec<Effect> {
        match command {
            Command::Say(text) => self.send(text, false),
            Command::Me(text) => self.send(text, true),
            Command::Names => match self.active_room() {
                Some(room) => vec![Effect::Net(NetCommand::Members(room.name.clone()))],
                None => Vec::new(),
            },
            Command::Join(room) => {
                if let Some(i) = self.room_index(&room) {
                    self.switch_to(i);
                    return Vec::new();
                }
                self.rooms.push(Room::new(&room, false));
                self.switch_to(self.rooms.len() - 1);
                self.note(format!("Joining #{room}…"), false);
                vec![Effect::Net(NetCommand::Join(room))]
            }
            Command::Leave(room) => {
                let Some(name) = room.or_else(|| self.active_room().map(|r| r.name.clone())) else {
                    return Vec::new();
                };
                if self.room_index(&name).is_none() {
                    self.note(format!("You are not in #{name}"), true);
                    Vec::new()
                } else if self.rooms.len() == 1 {
                    self.note("This is your only room: /join another first, or /quit", true);
                    Vec::new()
                } else {
                    vec![Effect::Net(NetCommand::Leave(name))]
                }
            }
            Command::Info(socket_id) => vec![Effect::Net(NetCommand::UserInfo { socket_id, own: false })],
            Command::Clear => {
                if let Some(room) = self.rooms.get_mut(self.active) {
                    room.clear();
                }
                Vec::new()
            }
            Command::Search(query) => match self.active_room().map(|r| r.name.clone()) {
                Some(room) if !room.starts_with(QUERY_PREFIX) => {
                    self.note(format!("Searching #{room} for {query:?}…"), false);
                    vec![Effect::Net(NetCommand::Search { room, query })]
                }
                _ => {
                    self.note("/search looks in a room's history; Ctrl-R searches this window", true);
                    Vec::new()
                }
            },
            Command::Msg { to, text } => {
                let mut effects = self.open_query(&to);
                effects.extend(self.send(text, false));
                effects
            }
            Command::Query(to) => self.open_query(&to),
            Command::Members => self.toggle_members(),
            Command::Reconnect => {
                self.note("Reconnecting now…", false);
                vec![Effect::Net(NetCommand::Reconnect)]
            }
            Command::Login => {
                self.open_login_form();
                Vec::new()
            }
            Command::Logout => vec![Effect::Logout],
            Command::Quit => vec![Effect::Quit],
            Command::Help => {
                self.show_help = true;
                Vec::new()
            }
        }
    }

    /// Switches to the query window for `user` (`@user`), opening it with its history.
    fn open_query(&mut self, user: &str) -> Vec<Effect> {
        let name = format!("{QUERY_PREFIX}{user}");
        if let Some(i) = self.room_index(&name) {
            self.switch_to(i);
            return Vec::new();
        }
        let effects = self.add_query(&name);
        self.switch_to(self.rooms.len() - 1);
        effects
    }

    /// Adds the query window `name` (`@user`) and asks for its latest messages.
    fn add_query(&mut self, name: &str) -> Vec<Effect> {
        self.rooms.push(Room::new(name, true));
        let last = self.rooms.len() - 1;
        self.rooms[last].loading = true;
        vec![Effect::Net(NetCommand::History { window: name.to_owned(), before: None })]
    }

    /// Scrolled to the top of a window whose server has older messages: asks for them.
    fn load_older(&mut self) -> Vec<Effect> {
        let at_top = self.shows_first_line();
        let Some(room) = self.rooms.get_mut(self.active) else { return Vec::new() };
        let before = room.oldest_id().map(str::to_owned);
        if !at_top || !room.older || room.loading || !room.joined || before.is_none() {
            return Vec::new();
        }
        room.loading = true;
        vec![Effect::Net(NetCommand::History { window: room.name.clone(), before })]
    }

    /// Whether the message pane shows the first line of the room shown.
    fn shows_first_line(&self) -> bool {
        let Some(room) = self.active_room() else { return false };
        let Some(last) = room.last_seq() else { return true };
        let bottom = room.scroll.unwrap_or(Anchor { seq: last, rows_below: 0 });
        let want = usize::from(self.view.1);
        let mut rows = 0;
        for seq in (room.first_seq..=bottom.seq).rev() {
            rows += self.height(room, seq);
            if rows.saturating_sub(bottom.rows_below) > want {
                return false;
            }
        }
        true
    }

    /// F2 / `/members`: the pane, filled by asking the server.
    fn toggle_members(&mut self) -> Vec<Effect> {
        self.show_members = !self.show_members;
        self.members_if_shown()
    }

    /// The member list of the room shown, asked for when the pane shows it and it is unknown.
    fn members_if_shown(&self) -> Vec<Effect> {
        match self.active_room().filter(|r| self.show_members && !r.name.starts_with(QUERY_PREFIX)) {
            Some(room) if !self.members.contains_key(&room.name) => {
                vec![Effect::Net(NetCommand::Members(room.name.clone()))]
            }
            _ => Vec::new(),
        }
    }

    /// A page of older messages arrived for `window`: above what it has.
    fn on_history(&mut self, window: String, result: Result<Page, String>) {
        let Some(i) = self.room_index(&window) else { return };
        self.rooms[i].loading = false;
        let page = match result {
            Ok(page) => page,
            Err(err) => {
                self.rooms[i].older = false;
                self.note_in(i, format!("No older messages: {err}"), true);
                return;
            }
        };
        let lines: Vec<Line> = page.messages.into_iter().map(|m| self.history_line(m)).collect();
        let cap = self.scrollback;
        let room = &mut self.rooms[i];
        let oldest = room.oldest_id().map(str::to_owned);
        let newest = room.lines.iter().rev().find_map(|l| l.id.clone());
        // Ids sort by time: older than all we have goes above, newer (missed while away) below.
        let (mut older, mut newer) = (Vec::new(), Vec::new());
        for line in lines {
            match (&line.id, &oldest, &newest) {
                (Some(id), _, Some(newest)) if id > newest => newer.push(line),
                (Some(id), Some(oldest), _) if id >= oldest => {}
                _ => older.push(line),
            }
        }
        for line in newer {
            if line.id.as_deref().is_none_or(|id| !room.seen.contains(id)) {
                room.push(line, cap);
            }
        }
        let added = room.prepend(older, cap);
        room.older = page.more && added > 0;
    }

    /// A message from `chat.history` or `chat.search` as a line.
    fn history_line(&self, m: ChatMessage) -> Line {
        let own = m.username == self.username;
        Line {
            time: DateTime::parse_from_rfc3339(&m.sent).ok().map(|t| t.with_timezone(&Utc)),
            id: (!m.id.is_empty()).then_some(m.id),
            local_id: None,
            kind: LineKind::Chat {
                username: m.username,
                text: m.message,
                own,
                replayed: true,
                delivery: if own { Delivery::Confirmed } else { Delivery::Received },
                mention: false,
                action: m.action,
            },
        }
    }

    /// A direct message: into the query window of the other person, opened if need be.
    fn on_direct(&mut self, msg: ChatMessage) -> Vec<Effect> {
        let own = msg.username == self.username;
        let peer = if own { msg.to.clone().unwrap_or_default() } else { msg.username.clone() };
        let window = format!("{QUERY_PREFIX}{peer}");
        let mut effects = match self.room_index(&window) {
            Some(_) => Vec::new(),
            None => self.add_query(&window),
        };
        let alert = (!own && !msg.replayed).then(|| Effect::Alert {
            title: format!("{} (direct)", msg.username),
            body: msg.message.clone(),
        });
        effects.extend(self.on_chat_message(ChatMessage { room: window, ..msg }));
        effects.extend(alert);
        effects
    }

    /// Tells the room we are typing, at most every few seconds, when the line is text (not a
    /// command) and typing indicators are on.
    fn typing_now(&mut self) -> Vec<Effect> {
        let (Some(now), Some(room)) = (self.now, self.active_room().map(|r| r.name.clone())) else {
            return Vec::new();
        };
        if !self.show_typing
            || self.input.text().starts_with('/')
            || room.starts_with(QUERY_PREFIX)
            || self.conn != ConnState::Connected
        {
            return Vec::new();
        }
        let every = chrono::TimeDelta::seconds(i64::try_from(TYPING_EVERY_SECS).unwrap_or(3));
        if self.typing_sent.get(&room).is_some_and(|at| now - *at < every) {
            return Vec::new();
        }
        self.typing_sent.insert(room.clone(), now);
        vec![Effect::Net(NetCommand::Typing(room))]
    }

    /// "alice is typing…" for the room shown, or `None`.
    pub fn typing_line(&self) -> Option<String> {
        let room = &self.active_room()?.name;
        let who: Vec<&str> =
            self.typing.iter().filter(|(r, _, _)| r == room).map(|(_, user, _)| user.as_str()).collect();
        match who.as_slice() {
            [] => None,
            [one] => Some(format!("{one} is typing…")),
            [one, two] => Some(format!("{one} and {two} are typing…")),
            _ => Some("several people are typing…".to_owned()),
        }
    }

    fn send(&mut self, text: String, action: bool) -> Vec<Effect> {
        let Some(room) = self.active_room().map(|r| r.name.clone()) else {
            return Vec::new();
        };
        let local_id = self.next_local_id;
        self.next_local_id += 1;
        let line = Line {
            kind: LineKind::Chat {
                username: self.username.clone(),
                text: text.clone(),
                own: true,
                replayed: false,
                delivery: Delivery::Pending,
                mention: false,
                action,
            },
            time: self.now,
            id: None,
            local_id: Some(local_id),
        };
        let cap = self.scrollback;
        self.rooms[self.active].push(line, cap);
        self.rooms[self.active].scroll = None;
        self.rooms[self.active].new_below = 0;
        self.pending.insert(local_id, room.clone());
        self.typing_sent.remove(&room);
        vec![Effect::Net(NetCommand::SendMessage { local_id, room, text, action })]
    }

    fn on_net(&mut self, event: NetEvent) -> Vec<Effect> {
        match event {
            NetEvent::Connecting => {
                self.conn = ConnState::Connecting;
                Vec::new()
            }
            NetEvent::Connected { socket_id } => self.on_connected(socket_id),
            NetEvent::Reconnecting { attempt, delay, reason } => {
                if self.conn == ConnState::Connected {
                    for i in 0..self.rooms.len() {
                        self.note_in(i, format!("Connection lost ({reason}); reconnecting…"), true);
                    }
                }
                self.conn = ConnState::Reconnecting { attempt, retry_in: delay, reason };
                Vec::new()
            }
            NetEvent::Rejected { message } => {
                let auth = is_auth_failure(&message);
                self.conn = ConnState::Rejected { message: message.clone() };
                let hint = if auth { " Log in again (/login)." } else { "" };
                self.note(format!("The server refused the connection: {message}.{hint}"), true);
                if auth {
                    self.open_login_form();
                }
                Vec::new()
            }
            NetEvent::Message(msg) => self.on_chat_message(msg),
            NetEvent::Notice(notice) => {
                self.on_notice(notice);
                Vec::new()
            }
            NetEvent::ServerError(message) => {
                self.note(message, true);
                Vec::new()
            }
            NetEvent::Direct(msg) => self.on_direct(msg),
            NetEvent::History { window, result } => {
                self.on_history(window, result);
                Vec::new()
            }
            NetEvent::SearchResults { room, query, result } => {
                match result {
                    Ok(page) => {
                        let more = if page.more { " (older ones too: narrow it down)" } else { "" };
                        self.note(format!("{} in #{room} for {query:?}{more}:", page.messages.len()), false);
                        for m in page.messages {
                            let when = DateTime::parse_from_rfc3339(&m.sent)
                                .map(|t| {
                                    t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M ").to_string()
                                })
                                .unwrap_or_default();
                            self.note(format!("  {when}{}: {}", m.username, m.message), false);
                        }
                    }
                    Err(err) => self.note(format!("Search failed: {err}"), true),
                }
                Vec::new()
            }
            NetEvent::Gap(gap) => {
                self.on_gap(gap);
                Vec::new()
            }
            NetEvent::Presence(presence) => {
                self.on_presence(presence);
                Vec::new()
            }
            NetEvent::Typing(Typing { room, username }) => {
                if let (true, Some(now)) = (self.show_typing && username != self.username, self.now) {
                    let until =
                        now + chrono::TimeDelta::seconds(i64::try_from(TYPING_EXPIRES_SECS).unwrap_or(6));
                    self.typing.retain(|(r, u, _)| !(*r == room && *u == username));
                    self.typing.push((room, username, until));
                }
                Vec::new()
            }
            NetEvent::Members { room, result } => {
                match result {
                    Ok(members) => {
                        let list = members.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
                        self.note(format!("#{room}: {} here: {list}", members.len()), false);
                        self.members.insert(room, members.into_iter().collect());
                    }
                    Err(err) => self.note(format!("Could not list #{room}: {err}"), true),
                }
                Vec::new()
            }
            NetEvent::MessageAck { local_id, outcome } => {
                self.on_message_ack(local_id, outcome);
                Vec::new()
            }
            NetEvent::Joined { room, result } => self.on_joined(room, result),
            NetEvent::Left { room, result } => self.on_left(room, result),
            NetEvent::UserInfo { socket_id, own: true, info } => {
                if self.own_sid.as_deref() == Some(socket_id.as_str()) {
                    self.own_info = info;
                }
                Vec::new()
            }
            NetEvent::UserInfo { socket_id, own: false, info } => {
                let text = match &info {
                    Some(i) => format!(
                        "{} is {} in {}",
                        socket_id,
                        i.user.username,
                        i.rooms.iter().map(|r| format!("#{r}")).collect::<Vec<_>>().join(", ")
                    ),
                    None => format!("No user is connected with socket id {socket_id}"),
                };
                self.note(text, false);
                self.lookup = Some(Lookup { socket_id, info });
                Vec::new()
            }
        }
    }

    /// The network task rejoins every open room before it sends anything queued, so rooms keep
    /// their state here; after a reconnect each room with messages waits for the replay.
    fn on_connected(&mut self, socket_id: Option<String>) -> Vec<Effect> {
        let reconnect = self.ever_connected;
        self.conn = ConnState::Connected;
        self.ever_connected = true;
        self.own_sid = socket_id;
        self.own_info = None;
        for room in &mut self.rooms {
            if room.name == self.handshake_room {
                room.joined = true;
            }
        }
        let mut effects = self.refresh_own_info();
        if reconnect {
            // Presence while away is unknown: asked again. Direct messages while away are not
            // replayed on their own: each open query window asks for its newest page.
            self.members.clear();
            effects.extend(self.members_if_shown());
            for room in self.rooms.iter().filter(|r| r.name.starts_with(QUERY_PREFIX)) {
                effects.push(Effect::Net(NetCommand::History { window: room.name.clone(), before: None }));
            }
        }
        effects
    }

    fn on_joined(&mut self, room: String, result: Result<(), String>) -> Vec<Effect> {
        let Some(i) = self.room_index(&room) else { return Vec::new() };
        match result {
            Ok(()) => {
                if !self.rooms[i].joined {
                    self.rooms[i].joined = true;
                    self.note_in(i, format!("You joined #{room}"), false);
                }
                self.refresh_own_info()
            }
            Err(err) => {
                self.rooms.remove(i);
                self.fix_active_after_removal(i);
                self.note(format!("Could not join #{room}: {err}"), true);
                Vec::new()
            }
        }
    }

    fn on_left(&mut self, room: String, result: Result<(), String>) -> Vec<Effect> {
        match result {
            Ok(()) => {
                if let Some(i) = self.room_index(&room) {
                    self.rooms.remove(i);
                    self.fix_active_after_removal(i);
                }
                self.note(format!("You left #{room}"), false);
                self.refresh_own_info()
            }
            Err(err) => {
                self.note(format!("Could not leave #{room}: {err}"), true);
                Vec::new()
            }
        }
    }

    fn fix_active_after_removal(&mut self, removed: usize) {
        if self.rooms.is_empty() {
            self.rooms.push(Room::new(&self.handshake_room, false));
        }
        if self.active > removed || self.active >= self.rooms.len() {
            self.active = self.active.saturating_sub(1);
        }
        self.switch_to(self.active);
    }

    fn on_chat_message(&mut self, msg: ChatMessage) -> Vec<Effect> {
        let room_name = if msg.room.is_empty() { self.handshake_room.as_str() } else { msg.room.as_str() };
        let Some(i) = self.room_index(room_name) else {
            tracing::debug!(room = room_name, "message for a room that is not open");
            return Vec::new();
        };
        let own = msg.username == self.username;
        let cap = self.scrollback;
        self.typing.retain(|(r, u, _)| !(*r == room_name && *u == msg.username));
        let room = &mut self.rooms[i];
        let time = DateTime::parse_from_rfc3339(&msg.sent).ok().map(|t| t.with_timezone(&Utc));
        if !msg.id.is_empty() && room.seen.contains(&msg.id) {
            if own && !msg.replayed {
                // The echo of a line the ack already confirmed: it brings the server's time.
                if let Some(line) = room.lines.iter_mut().rev().find(|l| l.id.as_deref() == Some(&msg.id)) {
                    line.time = time.or(line.time);
                }
            }
            return Vec::new();
        }
        if own && msg.replayed && !msg.id.is_empty() {
            // Ours, stored although its ack never came: confirm that line, do not add one.
            if let EchoMatch::Confirmed = confirm_unacked(room, &msg, time) {
                return Vec::new();
            }
        } else if own {
            if msg.id.is_empty() {
                // A classic server: no ids, no acks; the text is all there is.
                if confirm_echo(room, &msg, time) {
                    return Vec::new();
                }
            } else {
                match self.take_echo(i, &msg, time) {
                    EchoMatch::Waiting(local_id) => {
                        let echo = Echo { id: msg.id, username: msg.username, text: msg.message, time };
                        self.echoes.insert(local_id, echo);
                        return Vec::new();
                    }
                    EchoMatch::Confirmed => return Vec::new(),
                    EchoMatch::Unmatched => {}
                }
            }
        }
        let mention = !own && names(&msg.message, &self.username);
        let alert = (mention && !msg.replayed).then(|| Effect::Alert {
            title: format!("{} in #{}", msg.username, self.rooms[i].name),
            body: msg.message.clone(),
        });
        let room = &mut self.rooms[i];
        let line = Line {
            kind: LineKind::Chat {
                username: msg.username,
                text: msg.message,
                own,
                replayed: msg.replayed,
                delivery: if own { Delivery::Confirmed } else { Delivery::Received },
                mention,
                action: msg.action,
            },
            time,
            id: (!msg.id.is_empty()).then_some(msg.id),
            local_id: None,
        };
        if msg.replayed {
            room.push_replayed(line, cap);
            return Vec::new();
        }
        room.push(line, cap);
        if i != self.active {
            room.unread += 1;
            room.mentions += usize::from(mention);
        } else if room.scroll.is_some() {
            room.new_below += 1;
        }
        alert.into_iter().collect()
    }

    /// A live echo of ours with an id not seen yet. Our oldest line still waiting for its ack
    /// in that room is the one it most likely answers (the network task sends one message at a
    /// time, in order): it moves to where the server put it, and the ack will say for sure. A
    /// line whose ack never came is confirmed by an echo of its text. Otherwise the echo is a
    /// line of its own (sent from another client of ours).
    fn take_echo(&mut self, room: usize, msg: &ChatMessage, time: Option<DateTime<Utc>>) -> EchoMatch {
        let room = &mut self.rooms[room];
        room.seen.insert(&msg.id);
        let waiting = |l: &Line, wanted: &Delivery| {
            matches!(&l.kind, LineKind::Chat { own: true, delivery, .. } if delivery == wanted)
                && l.id.is_none()
                && l.local_id.is_some_and(|id| !self.echoes.contains_key(&id))
        };
        if let Some(index) = room.lines.iter().position(|l| waiting(l, &Delivery::Pending))
            && let Some(local_id) = room.lines[index].local_id
        {
            room.lines[index].time = time.or(room.lines[index].time);
            room.move_to_end(index);
            return EchoMatch::Waiting(local_id);
        }
        confirm_unacked(room, msg, time)
    }

    /// `chat.gap`: the resume replayed only the newest of what was missed; a marker goes
    /// where the rest is.
    fn on_gap(&mut self, gap: Gap) {
        if let Some(i) = self.room_index(&gap.room) {
            let (cap, now) = (self.scrollback, self.now);
            self.rooms[i].push(Line::system(GAP_NOTICE, true, now), cap);
        }
    }

    /// `chat.presence`: the member list follows; a part gets a line (weechat's `<--`) unless
    /// join and part lines are off. Joins have theirs from the join notice.
    fn on_presence(&mut self, Presence { room, username, joined }: Presence) {
        let members = self.members.entry(room.clone()).or_default();
        if joined {
            members.insert(username);
            return;
        }
        members.remove(&username);
        self.typing.retain(|(r, u, _)| !(*r == room && *u == username));
        if let Some(i) = self.room_index(&room).filter(|_| self.show_join_part) {
            self.note_in(i, format!("<-- {username} left #{room}"), false);
        }
    }

    /// A server notice (a message without a username) is a system line of its room; it
    /// counts as nothing unread. Ours name who joined: weechat's `-->` line, or none when join
    /// and part lines are off.
    fn on_notice(&mut self, notice: SystemMessage) {
        let who = match (&notice.joined, notice.joined_many.as_slice()) {
            (Some(who), _) => Some(who.clone()),
            (None, []) => None,
            (None, many) => Some(shared::notices::name_list(many, str::to_owned)),
        };
        let notice = match who {
            Some(_) if !self.show_join_part => return,
            Some(who) => SystemMessage { message: format!("--> {who} joined #{}", notice.room), ..notice },
            None => notice,
        };
        let room_name =
            if notice.room.is_empty() { self.handshake_room.as_str() } else { notice.room.as_str() };
        let Some(i) = self.room_index(room_name) else {
            tracing::debug!(room = room_name, "notice for a room that is not open");
            return;
        };
        let time =
            DateTime::parse_from_rfc3339(&notice.sent).ok().map(|t| t.with_timezone(&Utc)).or(self.now);
        let cap = self.scrollback;
        self.rooms[i].push(Line::system(notice.message, false, time), cap);
    }

    fn on_message_ack(&mut self, local_id: u64, outcome: AckOutcome) {
        let echo = self.echoes.remove(&local_id);
        let Some(room_name) = self.pending.remove(&local_id) else { return };
        let Some(r) = self.room_index(&room_name) else { return };
        let cap = self.scrollback;
        let room = &mut self.rooms[r];
        let Some(line) = room.lines.iter_mut().find(|l| l.local_id == Some(local_id)) else { return };
        let LineKind::Chat { delivery, text, .. } = &mut line.kind else { return };
        // Whether the echo taken for this line was its own.
        let echo_was_ours = match (&outcome, &echo) {
            (AckOutcome::Stored(Some(id)), Some(echo)) => *id == echo.id,
            (AckOutcome::Stored(None) | AckOutcome::NoAck, Some(echo)) => echo.text == *text,
            _ => false,
        };
        match outcome {
            AckOutcome::Stored(id) => {
                *delivery = Delivery::Confirmed;
                if let Some(id) = id {
                    room.seen.insert(&id);
                    line.id = Some(id);
                }
            }
            AckOutcome::Failed(err) => *delivery = Delivery::Failed(err),
            AckOutcome::NoAck if echo_was_ours => *delivery = Delivery::Confirmed,
            AckOutcome::NoAck => {
                if *delivery == Delivery::Pending {
                    *delivery = Delivery::Unconfirmed;
                }
            }
        }
        match echo {
            Some(echo) if echo_was_ours => {
                line.id.get_or_insert(echo.id);
            }
            // Someone else's line after all (our other client's): shown as it came.
            Some(echo) => {
                let kind = LineKind::Chat {
                    username: echo.username,
                    text: echo.text,
                    own: true,
                    replayed: false,
                    delivery: Delivery::Confirmed,
                    mention: false,
                    action: false,
                };
                room.push(Line { kind, time: echo.time, id: Some(echo.id), local_id: None }, cap);
            }
            None => {}
        }
    }

    // --- scrolling -------------------------------------------------------------------------

    fn height(&self, room: &Room, seq: u64) -> usize {
        room.line(seq).map_or(1, |l| lines::height(l, usize::from(self.view.0), &self.look))
    }

    fn scroll_up(&mut self, rows: usize) {
        let Some(room) = self.rooms.get(self.active) else { return };
        let Some(last) = room.last_seq() else { return };
        let mut a = room.scroll.unwrap_or(Anchor { seq: last, rows_below: 0 });
        a.rows_below += rows;
        while a.seq > room.first_seq && a.rows_below >= self.height(room, a.seq) {
            a.rows_below -= self.height(room, a.seq);
            a.seq -= 1;
        }
        a.rows_below = a.rows_below.min(self.height(room, a.seq) - 1);
        let a = self.clamp_top(room, a);
        let follow = a == Anchor { seq: last, rows_below: 0 };
        self.rooms[self.active].scroll = (!follow).then_some(a);
    }

    fn scroll_down(&mut self, rows: usize) {
        let Some(room) = self.rooms.get(self.active) else { return };
        let (Some(mut a), Some(last)) = (room.scroll, room.last_seq()) else { return };
        let mut rows = rows;
        while rows > 0 {
            if a.rows_below >= rows {
                a.rows_below -= rows;
                break;
            }
            rows -= a.rows_below;
            if a.seq >= last {
                a.rows_below = 0;
                break;
            }
            a.seq += 1;
            rows -= 1;
            a.rows_below = self.height(room, a.seq) - 1;
        }
        if a.seq >= last && a.rows_below == 0 {
            self.scroll_bottom();
        } else {
            self.rooms[self.active].scroll = Some(a);
        }
    }

    fn scroll_top(&mut self) {
        let Some(room) = self.rooms.get(self.active) else { return };
        let Some(last) = room.last_seq() else { return };
        let want = usize::from(self.view.1);
        let (mut seq, mut filled) = (room.first_seq, self.height(room, room.first_seq));
        while filled < want && seq < last {
            seq += 1;
            filled += self.height(room, seq);
        }
        let a = Anchor { seq, rows_below: filled.saturating_sub(want) };
        self.rooms[self.active].scroll = (a != Anchor { seq: last, rows_below: 0 }).then_some(a);
    }

    fn scroll_bottom(&mut self) {
        if let Some(room) = self.rooms.get_mut(self.active) {
            room.scroll = None;
            room.new_below = 0;
        }
    }

    /// Never leave empty rows above the oldest line: pull the anchor down until a screenful
    /// of rows lies above its bottom.
    fn clamp_top(&self, room: &Room, a: Anchor) -> Anchor {
        let want = usize::from(self.view.1);
        let mut above = self.height(room, a.seq) - a.rows_below;
        let mut seq = a.seq;
        while above < want && seq > room.first_seq {
            seq -= 1;
            above += self.height(room, seq);
        }
        if above >= want {
            return a;
        }
        // Everything fits above the anchor: show from the top instead.
        let (mut s, mut filled) = (room.first_seq, self.height(room, room.first_seq));
        let last = room.last_seq().unwrap_or(room.first_seq);
        while filled < want && s < last {
            s += 1;
            filled += self.height(room, s);
        }
        Anchor { seq: s, rows_below: filled.saturating_sub(want) }
    }

    fn clamp_scroll(&mut self) {
        let width = usize::from(self.view.0);
        for room in &mut self.rooms {
            if let Some(a) = room.scroll {
                let h = room.line(a.seq).map_or(1, |l| lines::height(l, width, &self.look));
                room.scroll = Some(Anchor { seq: a.seq, rows_below: a.rows_below.min(h - 1) });
            }
        }
    }
}

/// One of our messages with an id we never saw: the oldest of our lines whose ack never came
/// with the same text is the one it proves stored.
fn confirm_unacked(room: &mut Room, msg: &ChatMessage, time: Option<DateTime<Utc>>) -> EchoMatch {
    let unconfirmed = room.lines.iter_mut().find(|l| {
        l.id.is_none()
            && matches!(&l.kind, LineKind::Chat { own: true, text, delivery: Delivery::Unconfirmed, .. } if *text == msg.message)
    });
    let Some(line) = unconfirmed else { return EchoMatch::Unmatched };
    line.id = Some(msg.id.clone());
    line.time = time.or(line.time);
    if let LineKind::Chat { delivery, .. } = &mut line.kind {
        *delivery = Delivery::Confirmed;
    }
    room.seen.insert(&msg.id);
    EchoMatch::Confirmed
}

/// Our own live message came back from a classic server (no ids, no acks): if its text answers
/// a line we sent, confirm that line, the oldest first, instead of showing it twice.
fn confirm_echo(room: &mut Room, msg: &ChatMessage, time: Option<DateTime<Utc>>) -> bool {
    let waiting = room.lines.iter_mut().find(|l| match &l.kind {
        LineKind::Chat { own: true, text, delivery, .. } => {
            l.local_id.is_some()
                && l.id.is_none()
                && *text == msg.message
                && matches!(delivery, Delivery::Pending | Delivery::Unconfirmed)
        }
        _ => false,
    });
    let Some(line) = waiting else { return false };
    line.time = time.or(line.time);
    if let LineKind::Chat { delivery, .. } = &mut line.kind {
        *delivery = Delivery::Confirmed;
    }
    true
}

/// How a window is named to the user: `#room`, or `@bob` for a query window.
pub fn window_label(name: &str) -> String {
    if name.starts_with(QUERY_PREFIX) { name.to_owned() } else { format!("#{name}") }
}

/// Whether `text` names `username`: the name as a whole word, in any case, with or without `@`.
pub fn names(text: &str, username: &str) -> bool {
    if username.is_empty() {
        return false;
    }
    let (text, name) = (text.to_lowercase(), username.to_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(&name)
        .any(|(at, _)| !word(text[..at].chars().next_back()) && !word(text[at + name.len()..].chars().next()))
}

/// The two rejections that mean "log in again" rather than "try later".
pub fn is_auth_failure(message: &str) -> bool {
    message == shared::errors::AUTH_INVALID_TOKEN || message == shared::errors::AUTH_NO_TOKEN
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Local;
    use shared::{api::Credentials, payload::UserSummary};

    fn app() -> App {
        let mut app = App::new("http://localhost:3001", "ann", "public", 1000);
        app.update(Event::Resize { width: 60, height: 10 });
        app
    }

    fn connected() -> App {
        let mut app = app();
        app.update(Event::Net(NetEvent::Connected { socket_id: Some("sid-ann".into()) }));
        app
    }

    fn msg(user: &str, text: &str, room: &str, id: &str, replayed: bool) -> NetEvent {
        NetEvent::Message(ChatMessage {
            username: user.into(),
            message: text.into(),
            room: room.into(),
            sent: "2026-11-25T12:00:00.000Z".into(),
            id: id.into(),
            replayed,
            ..Default::default()
        })
    }

    fn type_line(app: &mut App, text: &str) -> Vec<Effect> {
        for c in text.chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        app.update(Event::Action(Action::Submit))
    }

    /// The room's lines in short, day lines left out (`day_lines_come_before_each_new_day`
    /// checks those).
    fn kinds(room: &Room) -> Vec<String> {
        room.lines
            .iter()
            .filter(|l| !matches!(l.kind, LineKind::DayChange(_)))
            .map(|l| match &l.kind {
                LineKind::Chat { username, text, delivery, replayed, .. } => {
                    format!("{username}:{text}:{delivery:?}{}", if *replayed { ":r" } else { "" })
                }
                LineKind::System { text, .. } => format!("* {text}"),
                LineKind::HistoryMarker => "--".into(),
                LineKind::DayChange(day) => format!("day {day}"),
            })
            .collect()
    }

    #[test]
    fn connect_asks_for_own_info_and_shows_it() {
        let mut app = app();
        assert_eq!(app.conn, ConnState::Connecting);
        let effects = app.update(Event::Net(NetEvent::Connected { socket_id: Some("s1".into()) }));
        assert_eq!(effects, [Effect::Net(NetCommand::UserInfo { socket_id: "s1".into(), own: true })]);
        assert_eq!(app.conn, ConnState::Connected);
        let info = UserInfo {
            socket_id: "s1".into(),
            rooms: vec!["public".into()],
            user: UserSummary { username: "ann".into() },
        };
        app.update(Event::Net(NetEvent::UserInfo {
            socket_id: "s1".into(),
            own: true,
            info: Some(info.clone()),
        }));
        assert_eq!(app.own_info, Some(info));
    }

    #[test]
    fn sent_message_is_pending_then_confirmed_and_the_echo_is_not_doubled() {
        let mut app = connected();
        let effects = type_line(&mut app, "hello");
        assert_eq!(
            effects,
            [Effect::Net(NetCommand::SendMessage {
                local_id: 1,
                room: "public".into(),
                text: "hello".into(),
                action: false
            })]
        );
        assert!(app.input.is_empty());
        assert_eq!(kinds(&app.rooms[0]), ["ann:hello:Pending"]);
        app.update(Event::Net(NetEvent::MessageAck {
            local_id: 1,
            outcome: AckOutcome::Stored(Some("m1".into())),
        }));
        app.update(Event::Net(msg("ann", "hello", "public", "m1", false)));
        assert_eq!(kinds(&app.rooms[0]), ["ann:hello:Confirmed"]);
        let sent =
            DateTime::parse_from_rfc3339("2026-11-25T12:00:00.000Z").map(|t| t.with_timezone(&Utc)).ok();
        assert_eq!(app.rooms[0].lines[0].time, sent, "the echo dates the line");
    }

    #[test]
    fn echo_before_ack_confirms_the_pending_line() {
        let mut app = connected();
        type_line(&mut app, "hi");
        app.update(Event::Net(msg("ann", "hi", "public", "m9", false)));
        app.update(Event::Net(NetEvent::MessageAck {
            local_id: 1,
            outcome: AckOutcome::Stored(Some("m9".into())),
        }));
        assert_eq!(kinds(&app.rooms[0]), ["ann:hi:Confirmed"]);
    }

    #[test]
    fn failed_ack_shows_the_server_error_and_missing_ack_degrades() {
        let mut app = connected();
        type_line(&mut app, "x");
        type_line(&mut app, "y");
        app.update(Event::Net(NetEvent::MessageAck {
            local_id: 1,
            outcome: AckOutcome::Failed(shared::errors::RATE_LIMITED.into()),
        }));
        app.update(Event::Net(NetEvent::MessageAck { local_id: 2, outcome: AckOutcome::NoAck }));
        assert_eq!(
            kinds(&app.rooms[0]),
            ["ann:x:Failed(\"Too many messages: slow down\")", "ann:y:Unconfirmed"]
        );
        // A classic server's echo (no id, no room) still confirms it.
        app.update(Event::Net(msg("ann", "y", "", "", false)));
        assert_eq!(kinds(&app.rooms[0])[1], "ann:y:Confirmed");
    }

    #[test]
    fn replayed_history_is_marked_and_not_repeated_after_reconnect() {
        let mut app = connected();
        app.update(Event::Net(msg("bob", "old1", "public", "a", true)));
        app.update(Event::Net(msg("bob", "old2", "public", "b", true)));
        app.update(Event::Net(msg("bob", "live", "public", "c", false)));
        assert_eq!(
            kinds(&app.rooms[0]),
            ["bob:old1:Received:r", "bob:old2:Received:r", "--", "bob:live:Received"]
        );
        app.update(Event::Net(NetEvent::Reconnecting {
            attempt: 1,
            delay: Duration::from_secs(1),
            reason: "closed by the server".into(),
        }));
        app.update(Event::Net(NetEvent::Connected { socket_id: Some("s2".into()) }));
        for (text, id) in [("old1", "a"), ("old2", "b"), ("live", "c")] {
            app.update(Event::Net(msg("bob", text, "public", id, true)));
        }
        assert_eq!(kinds(&app.rooms[0]).len(), 5, "{:?}", kinds(&app.rooms[0]));
        assert_eq!(app.own_sid.as_deref(), Some("s2"));
    }

    #[test]
    fn reconnect_states_count_down_and_rejoin_rooms() {
        let mut app = connected();
        type_line(&mut app, "/join dev");
        app.update(Event::Net(NetEvent::Joined { room: "dev".into(), result: Ok(()) }));
        app.update(Event::Net(NetEvent::Reconnecting {
            attempt: 2,
            delay: Duration::from_secs(4),
            reason: "closed by the server".into(),
        }));
        app.update(Event::Tick(Utc::now()));
        let reason = "closed by the server".to_owned();
        assert_eq!(
            app.conn,
            ConnState::Reconnecting { attempt: 2, retry_in: Duration::from_secs(3), reason }
        );
        let effects = app.update(Event::Net(NetEvent::Connected { socket_id: Some("s3".into()) }));
        // The network task rejoins rooms itself, before what was queued: none asked here.
        assert!(!effects.iter().any(|e| matches!(e, Effect::Net(NetCommand::Join(_)))), "{effects:?}");
        assert!(app.rooms.iter().all(|r| r.joined), "rooms stay joined across a reconnect");
    }

    #[test]
    fn clear_stays_cleared_and_one_marker_stays_one_across_reconnects() {
        let mut app = connected();
        for (text, id) in [("old1", "a"), ("old2", "b")] {
            app.update(Event::Net(msg("bob", text, "public", id, true)));
        }
        app.update(Event::Net(msg("bob", "live", "public", "c", false)));
        type_line(&mut app, "/clear");
        let reconnect = |app: &mut App, ids: &[(&str, &str)]| {
            app.update(Event::Net(NetEvent::Reconnecting {
                attempt: 1,
                delay: Duration::from_secs(1),
                reason: "closed by the server".into(),
            }));
            app.update(Event::Net(NetEvent::Connected { socket_id: Some("s2".into()) }));
            for (text, id) in ids {
                app.update(Event::Net(msg("bob", text, "public", id, true)));
            }
        };
        reconnect(&mut app, &[("old1", "a"), ("old2", "b"), ("live", "c")]);
        let chat =
            |app: &App| kinds(&app.rooms[0]).into_iter().filter(|k| !k.starts_with('*')).collect::<Vec<_>>();
        assert!(chat(&app).is_empty(), "/clear is not undone: {:?}", kinds(&app.rooms[0]));
        // What was missed comes in without a second marker.
        reconnect(&mut app, &[("live", "c"), ("missed", "d")]);
        reconnect(&mut app, &[("missed", "d"), ("missed too", "e")]);
        assert_eq!(chat(&app), ["bob:missed:Received:r", "bob:missed too:Received:r"]);
        assert!(!kinds(&app.rooms[0]).iter().any(|k| k == "--"));
    }

    #[test]
    fn a_gap_marker_only_where_the_server_says_messages_were_skipped() {
        let mut app = connected();
        app.update(Event::Net(msg("bob", "before", "public", "a", false)));
        app.update(Event::Net(NetEvent::Reconnecting {
            attempt: 1,
            delay: Duration::from_secs(1),
            reason: "closed by the server".into(),
        }));
        app.update(Event::Net(NetEvent::Connected { socket_id: Some("s2".into()) }));
        // A resume that replays what was missed, long after: no gap.
        app.update(Event::Net(msg("bob", "long after", "public", "b", true)));
        let lost = "* Connection lost (closed by the server); reconnecting…";
        assert_eq!(kinds(&app.rooms[0]), ["bob:before:Received", lost, "bob:long after:Received:r", "--"]);
        // The server says more was missed than it replays: the marker goes before its replay.
        let gap = Gap { room: "public".into(), after: "b".into(), before: "y".into() };
        app.update(Event::Net(NetEvent::Gap(gap)));
        app.update(Event::Net(msg("bob", "newest", "public", "y", true)));
        let marker = format!("* {GAP_NOTICE}");
        let all = kinds(&app.rooms[0]);
        assert_eq!(all[all.len() - 3..], ["--", marker.as_str(), "bob:newest:Received:r"]);
    }

    #[test]
    fn direct_messages_live_in_query_windows_with_their_history() {
        let mut app = connected();
        let effects = type_line(&mut app, "/msg bob hi there");
        assert_eq!(
            effects,
            [
                Effect::Net(NetCommand::History { window: "@bob".into(), before: None }),
                Effect::Net(NetCommand::SendMessage {
                    local_id: 1,
                    room: "@bob".into(),
                    text: "hi there".into(),
                    action: false
                }),
            ]
        );
        assert_eq!(app.active_room().map(|r| r.name.as_str()), Some("@bob"));
        assert_eq!(app.title(), "chat-tui · @bob");
        // The window's history comes in above the line being sent.
        let old = ChatMessage {
            username: "bob".into(),
            message: "earlier".into(),
            id: "d0".into(),
            to: Some("ann".into()),
            sent: "2026-11-30T10:00:00.000Z".into(),
            ..ChatMessage::default()
        };
        app.update(Event::Net(NetEvent::History {
            window: "@bob".into(),
            result: Ok(Page { messages: vec![old.clone()], more: false }),
        }));
        let texts: Vec<String> = kinds(&app.rooms[1]).into_iter().filter(|k| k.contains(':')).collect();
        assert_eq!(texts, ["bob:earlier:Received:r", "ann:hi there:Pending"]);
        // Someone else writes: their window opens (with its history), unread, and alerts.
        app.update(Event::Action(Action::SwitchRoom(0)));
        let carl = ChatMessage { username: "carl".into(), message: "psst".into(), id: "d1".into(), ..old };
        let effects = app.update(Event::Net(NetEvent::Direct(carl)));
        assert_eq!(effects[0], Effect::Net(NetCommand::History { window: "@carl".into(), before: None }));
        assert!(matches!(effects.last(), Some(Effect::Alert { .. })));
        assert_eq!(app.rooms[2].name, "@carl");
        assert_eq!(app.rooms[2].unread, 1);
    }

    #[test]
    fn a_reconnect_refreshes_query_windows_and_the_member_list() {
        let mut app = connected();
        type_line(&mut app, "/query bob");
        let dm = |id: &str, text: &str| ChatMessage {
            username: "bob".into(),
            message: text.into(),
            id: id.into(),
            to: Some("ann".into()),
            ..ChatMessage::default()
        };
        app.update(Event::Net(NetEvent::Direct(dm("d1", "first"))));
        app.update(Event::Action(Action::ToggleMembers));
        app.update(Event::Net(NetEvent::Reconnecting {
            attempt: 1,
            delay: Duration::from_secs(1),
            reason: "closed by the server".into(),
        }));
        let effects = app.update(Event::Net(NetEvent::Connected { socket_id: Some("s2".into()) }));
        assert!(effects.contains(&Effect::Net(NetCommand::History { window: "@bob".into(), before: None })));
        // The window's newest page: what we had, an older one above, the one missed below.
        let page =
            Page { messages: vec![dm("d0", "older"), dm("d1", "first"), dm("d2", "missed")], more: false };
        app.update(Event::Net(NetEvent::History { window: "@bob".into(), result: Ok(page) }));
        let texts: Vec<String> = kinds(&app.rooms[1]).into_iter().filter(|k| k.starts_with("bob:")).collect();
        assert_eq!(texts, ["bob:older:Received:r", "bob:first:Received", "bob:missed:Received:r"]);
    }

    #[test]
    fn scrolling_to_the_top_loads_older_history_once_per_page() {
        let mut app = connected();
        for i in 10..40 {
            app.update(Event::Net(msg("bob", &format!("m{i}"), "public", &format!("i{i}"), false)));
        }
        let effects = app.update(Event::Action(Action::ScrollTop));
        assert_eq!(
            effects,
            [Effect::Net(NetCommand::History { window: "public".into(), before: Some("i10".into()) })]
        );
        // Asked already: no second request while it is on its way.
        assert!(app.update(Event::Action(Action::ScrollTop)).is_empty());
        let older: Vec<ChatMessage> = (0..10)
            .map(|i| ChatMessage {
                username: "bob".into(),
                message: format!("m{i}"),
                room: "public".into(),
                id: format!("i{i:02}"),
                replayed: true,
                ..ChatMessage::default()
            })
            .collect();
        app.update(Event::Net(NetEvent::History {
            window: "public".into(),
            result: Ok(Page { messages: older, more: false }),
        }));
        let texts: Vec<String> = kinds(&app.rooms[0]).into_iter().filter(|k| k.starts_with("bob:")).collect();
        assert_eq!(texts.len(), 40);
        assert_eq!(texts[0], "bob:m0:Received:r");
        assert_eq!(texts[10], "bob:m10:Received");
        // Nothing older: the top is the top.
        assert!(app.update(Event::Action(Action::ScrollTop)).is_empty());
    }

    #[test]
    fn search_asks_the_server_and_lists_what_it_found() {
        let mut app = connected();
        assert_eq!(
            type_line(&mut app, "/search needle hay"),
            [Effect::Net(NetCommand::Search { room: "public".into(), query: "needle hay".into() })]
        );
        let found = ChatMessage {
            username: "bob".into(),
            message: "a needle in hay".into(),
            sent: "2026-11-30T10:00:00.000Z".into(),
            ..ChatMessage::default()
        };
        app.update(Event::Net(NetEvent::SearchResults {
            room: "public".into(),
            query: "needle hay".into(),
            result: Ok(Page { messages: vec![found], more: false }),
        }));
        let all = kinds(&app.rooms[0]);
        assert!(all.iter().any(|k| k.contains("1 in #public for \"needle hay\"")), "{all:?}");
        assert!(all.last().is_some_and(|k| k.ends_with("bob: a needle in hay")), "{all:?}");
        // F2 shows the member list, asking the server for it.
        assert_eq!(
            app.update(Event::Action(Action::ToggleMembers)),
            [Effect::Net(NetCommand::Members("public".into()))]
        );
        assert!(app.show_members);
    }

    #[test]
    fn actions_presence_typing_and_names() {
        let mut app = connected();
        app.update(Event::Tick(Utc::now()));
        assert_eq!(
            type_line(&mut app, "/me waves"),
            [Effect::Net(NetCommand::SendMessage {
                local_id: 1,
                room: "public".into(),
                text: "waves".into(),
                action: true
            })]
        );
        let waving = ChatMessage { action: true, ..ChatMessage::default() };
        app.update(Event::Net(NetEvent::Message(ChatMessage {
            username: "bob".into(),
            message: "waves back".into(),
            room: "public".into(),
            id: "w".into(),
            ..waving
        })));
        assert!(matches!(
            app.rooms[0].lines.back().map(|l| &l.kind),
            Some(LineKind::Chat { action: true, .. })
        ));

        // Joins come as the server's notice, parts as presence; both can be hidden.
        let notice = |who: &str| SystemMessage::joined(who, "public", String::new());
        // Several at once (a storm of joins) come as one line.
        let many = |names: &[&str]| {
            SystemMessage::joined_many(names.iter().map(|n| n.to_string()).collect(), "public", String::new())
        };
        app.update(Event::Net(NetEvent::Notice(notice("carl"))));
        let left = Presence { room: "public".into(), username: "carl".into(), joined: false };
        app.update(Event::Net(NetEvent::Presence(left.clone())));
        app.update(Event::Net(NetEvent::Notice(many(&["eve", "finn"]))));
        let all = kinds(&app.rooms[0]);
        assert_eq!(
            all[all.len() - 3..],
            ["* --> carl joined #public", "* <-- carl left #public", "* --> eve and finn joined #public"]
        );
        app.show_join_part = false;
        app.update(Event::Net(NetEvent::Notice(many(&["gus", "hal"]))));
        app.update(Event::Net(NetEvent::Notice(notice("dora"))));
        app.update(Event::Net(NetEvent::Presence(Presence { username: "dora".into(), ..left })));
        assert_eq!(kinds(&app.rooms[0]), all);

        // Typing shows in the status line until the person speaks or it expires.
        app.update(Event::Net(NetEvent::Typing(Typing { room: "public".into(), username: "bob".into() })));
        assert_eq!(app.typing_line().as_deref(), Some("bob is typing…"));
        app.update(Event::Net(msg("bob", "done", "public", "d", false)));
        assert_eq!(app.typing_line(), None);
        app.update(Event::Net(NetEvent::Typing(Typing { room: "public".into(), username: "bob".into() })));
        app.update(Event::Tick(Utc::now() + chrono::TimeDelta::seconds(30)));
        assert_eq!(app.typing_line(), None);
        // Our own typing is said once every few seconds, not for commands.
        let typed = |app: &mut App, c: char| app.update(Event::Action(Action::Insert(c)));
        assert_eq!(typed(&mut app, 'h'), [Effect::Net(NetCommand::Typing("public".into()))]);
        assert!(typed(&mut app, 'i').is_empty());
        app.input.take();
        app.update(Event::Tick(Utc::now() + chrono::TimeDelta::seconds(60)));
        assert!(typed(&mut app, '/').is_empty());

        assert_eq!(app.update(Event::Action(Action::Submit)), []);
        assert_eq!(type_line(&mut app, "/names"), [Effect::Net(NetCommand::Members("public".into()))]);
        let result = Ok(vec!["ann".into(), "bob".into()]);
        app.update(Event::Net(NetEvent::Members { room: "public".into(), result }));
        assert_eq!(app.members["public"].len(), 2);
    }

    #[test]
    fn echoes_are_matched_by_the_acked_id_never_by_text() {
        let mut app = connected();
        // Two identical lines; the first one's ack stalls.
        type_line(&mut app, "same");
        app.update(Event::Net(NetEvent::MessageAck { local_id: 1, outcome: AckOutcome::NoAck }));
        type_line(&mut app, "same");
        // bob speaks between our send and its echo: our line moves to the server's order.
        app.update(Event::Net(msg("bob", "between", "public", "b1", false)));
        app.update(Event::Net(msg("ann", "same", "public", "m2", false)));
        app.update(Event::Net(NetEvent::MessageAck {
            local_id: 2,
            outcome: AckOutcome::Stored(Some("m2".into())),
        }));
        assert_eq!(
            kinds(&app.rooms[0]),
            ["ann:same:Unconfirmed", "bob:between:Received", "ann:same:Confirmed"]
        );
        let last = app.rooms[0].lines.back().expect("lines");
        assert_eq!(last.id.as_deref(), Some("m2"));
        // The first one turns out stored (replayed after a reconnect): confirmed, not doubled.
        app.update(Event::Net(NetEvent::Reconnecting {
            attempt: 1,
            delay: Duration::from_secs(1),
            reason: "closed by the server".into(),
        }));
        app.update(Event::Net(NetEvent::Connected { socket_id: Some("s2".into()) }));
        app.update(Event::Net(msg("ann", "same", "public", "m1", true)));
        let own: Vec<_> = kinds(&app.rooms[0]).into_iter().filter(|k| k.starts_with("ann")).collect();
        assert_eq!(own.len(), 2, "{:?}", kinds(&app.rooms[0]));
    }

    #[test]
    fn an_echo_that_was_not_ours_after_all_is_shown_as_its_own_line() {
        let mut app = connected();
        type_line(&mut app, "mine");
        // Our other client's line arrives while ours waits for its ack.
        app.update(Event::Net(msg("ann", "from my phone", "public", "p1", false)));
        app.update(Event::Net(NetEvent::MessageAck {
            local_id: 1,
            outcome: AckOutcome::Stored(Some("m1".into())),
        }));
        assert_eq!(kinds(&app.rooms[0]), ["ann:mine:Confirmed", "ann:from my phone:Confirmed"]);
    }

    #[test]
    fn a_rejected_token_opens_the_login_form_which_asks_again_until_it_works() {
        let mut app = connected();
        let effects =
            app.update(Event::Net(NetEvent::Rejected { message: shared::errors::AUTH_INVALID_TOKEN.into() }));
        assert!(effects.is_empty());
        assert_eq!(app.conn, ConnState::Rejected { message: shared::errors::AUTH_INVALID_TOKEN.into() });
        assert!(kinds(&app.rooms[0]).last().unwrap().contains("/login"));
        assert!(app.login.as_ref().is_some_and(|f| f.username.text() == "ann"), "prefilled username");
        for c in "wrong pw".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        let effects = app.update(Event::Action(Action::Submit));
        let credentials = Credentials { username: "ann".into(), password: "wrong pw".into() };
        assert_eq!(effects, [Effect::Login { credentials, signup: false }]);
        app.update(Event::LoggedIn(Err("Invalid username or password".into())));
        let form = app.login.as_ref().expect("still open");
        assert_eq!(form.error.as_deref(), Some("Invalid username or password"));
        for c in "right pw".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        assert_eq!(app.update(Event::Action(Action::Submit)).len(), 1);
        app.update(Event::LoggedIn(Ok("ann2".into())));
        assert!(app.login.is_none());
        assert_eq!((app.username.as_str(), &app.conn), ("ann2", &ConnState::Connecting));
    }

    #[test]
    fn slash_login_opens_the_form_and_esc_closes_it() {
        let mut app = connected();
        assert!(type_line(&mut app, "/login").is_empty());
        assert!(app.login.is_some());
        // Keys go to the form, not to the chat line.
        app.update(Event::Action(Action::Insert('x')));
        assert!(app.input.is_empty());
        app.update(Event::Action(Action::CloseHelp));
        assert!(app.login.is_none());
        app.update(Event::Action(Action::Quit));
        assert_eq!(app.update(Event::Action(Action::Quit)), [Effect::Quit]);
    }

    #[test]
    fn rooms_join_switch_unread_and_leave() {
        let mut app = connected();
        let effects = type_line(&mut app, "/join dev");
        assert_eq!(effects, [Effect::Net(NetCommand::Join("dev".into()))]);
        assert_eq!(app.active, 1);
        let effects = app.update(Event::Net(NetEvent::Joined { room: "dev".into(), result: Ok(()) }));
        assert_eq!(effects, [Effect::Net(NetCommand::UserInfo { socket_id: "sid-ann".into(), own: true })]);
        app.update(Event::Net(msg("bob", "in public", "public", "p1", false)));
        app.update(Event::Net(msg("bob", "in public again", "public", "p2", false)));
        assert_eq!(app.rooms[0].unread, 2);
        app.update(Event::Action(Action::SwitchRoom(0)));
        assert_eq!((app.active, app.rooms[0].unread), (0, 0));
        app.update(Event::Action(Action::NextRoom));
        assert_eq!(app.active, 1);
        app.update(Event::Action(Action::PrevRoom));
        app.update(Event::Action(Action::PrevRoom));
        assert_eq!(app.active, 1);
        // Messages go to the shown room, as {room, message} chosen by the net task.
        let effects = type_line(&mut app, "hey dev");
        assert_eq!(
            effects,
            [Effect::Net(NetCommand::SendMessage {
                local_id: 1,
                room: "dev".into(),
                text: "hey dev".into(),
                action: false
            })]
        );
        assert_eq!(type_line(&mut app, "/leave"), [Effect::Net(NetCommand::Leave("dev".into()))]);
        app.update(Event::Net(NetEvent::Left { room: "dev".into(), result: Ok(()) }));
        assert_eq!(app.rooms.len(), 1);
        assert_eq!(app.active, 0);
        assert!(type_line(&mut app, "/leave").is_empty(), "the only room cannot be left");
    }

    #[test]
    fn failed_join_removes_the_tab_and_says_why() {
        let mut app = connected();
        type_line(&mut app, "/join dev");
        app.update(Event::Net(NetEvent::Joined {
            room: "dev".into(),
            result: Err(shared::errors::TOO_MANY_ROOMS.into()),
        }));
        assert_eq!((app.rooms.len(), app.active), (1, 0));
        assert!(kinds(&app.rooms[0]).last().unwrap().contains("Too many rooms joined"));
    }

    #[test]
    fn commands_hints_info_clear_quit() {
        let mut app = connected();
        assert!(type_line(&mut app, "/nope").is_empty());
        assert!(kinds(&app.rooms[0]).last().unwrap().contains("Unknown command /nope"));
        assert_eq!(
            type_line(&mut app, "/info xyz"),
            [Effect::Net(NetCommand::UserInfo { socket_id: "xyz".into(), own: false })]
        );
        app.update(Event::Net(NetEvent::UserInfo { socket_id: "xyz".into(), own: false, info: None }));
        assert!(kinds(&app.rooms[0]).last().unwrap().contains("No user is connected with socket id xyz"));
        type_line(&mut app, "/clear");
        assert!(app.rooms[0].lines.is_empty());
        type_line(&mut app, "/help");
        assert!(app.show_help);
        assert_eq!(type_line(&mut app, "/quit"), [Effect::Quit]);
        assert_eq!(type_line(&mut app, "/logout"), [Effect::Logout]);
        let long = "x".repeat(shared::defaults::MAX_MESSAGE_BYTES + 1);
        assert!(type_line(&mut app, &long).is_empty());
        assert!(type_line(&mut app, "   ").is_empty());
    }

    #[test]
    fn scrollback_is_bounded() {
        let mut app = App::new("s", "ann", "public", 100);
        app.update(Event::Net(NetEvent::Connected { socket_id: None }));
        for i in 0..250 {
            app.update(Event::Net(msg("bob", &format!("m{i}"), "public", &format!("id{i}"), false)));
        }
        let room = &app.rooms[0];
        assert_eq!(room.lines.len(), 100);
        // 250 messages and the day line before the first.
        assert_eq!(room.first_seq, 151);
        assert_eq!(room.seen.set.len(), 250, "ids outlive the scrollback, up to SEEN_IDS");
    }

    #[test]
    fn scrolling_pages_and_marks_new_messages() {
        let mut app = connected();
        for i in 0..50 {
            app.update(Event::Net(msg("bob", &format!("m{i}"), "public", &format!("id{i}"), false)));
        }
        app.update(Event::Action(Action::PageUp));
        let a = app.rooms[0].scroll.expect("scrolled");
        assert_eq!(a, Anchor { seq: 41, rows_below: 0 }, "seq 0 is the day line");
        app.update(Event::Net(msg("bob", "new", "public", "idn", false)));
        assert_eq!(app.rooms[0].new_below, 1);
        app.update(Event::Action(Action::ScrollTop));
        assert_eq!(app.rooms[0].scroll, Some(Anchor { seq: 9, rows_below: 0 }));
        assert!(matches!(app.rooms[0].lines[0].kind, LineKind::DayChange(_)));
        app.update(Event::Action(Action::PageUp));
        assert_eq!(app.rooms[0].scroll, Some(Anchor { seq: 9, rows_below: 0 }), "clamped at the top");
        app.update(Event::Action(Action::WheelDown));
        assert_eq!(app.rooms[0].scroll, Some(Anchor { seq: 12, rows_below: 0 }));
        app.update(Event::Action(Action::ScrollBottom));
        assert_eq!((app.rooms[0].scroll, app.rooms[0].new_below), (None, 0));
        app.update(Event::Action(Action::PageUp));
        for _ in 0..10 {
            app.update(Event::Action(Action::PageDown));
        }
        assert_eq!(app.rooms[0].scroll, None, "paging down returns to following");
    }

    #[test]
    fn a_line_naming_you_is_a_mention_alerted_counted_apart_and_in_the_title() {
        assert!(names("hey Ann, look", "ann") && names("@ann!", "ann") && names("ANN", "ann"));
        assert!(!names("annie", "ann") && !names("joann", "ann") && !names("ann_x", "ann"));
        let mut app = connected();
        type_line(&mut app, "/join dev");
        app.update(Event::Net(NetEvent::Joined { room: "dev".into(), result: Ok(()) }));
        app.update(Event::Action(Action::SwitchRoom(1)));
        app.update(Event::Net(msg("bob", "plain chatter", "public", "p1", false)));
        let effects = app.update(Event::Net(msg("bob", "ann: lunch?", "public", "p2", false)));
        assert_eq!(effects, [Effect::Alert { title: "bob in #public".into(), body: "ann: lunch?".into() }]);
        assert_eq!((app.rooms[0].unread, app.rooms[0].mentions), (2, 1));
        assert_eq!(app.title(), "chat-tui · #dev · 2 unread, 1 for you");
        // Replayed history is no news: no alert.
        assert!(app.update(Event::Net(msg("bob", "ann again", "public", "p0", true))).is_empty());
        app.update(Event::Action(Action::SwitchRoom(0)));
        assert_eq!(app.title(), "chat-tui · #public");
        let mention =
            app.rooms[0].lines.iter().any(|l| matches!(&l.kind, LineKind::Chat { mention: true, .. }));
        assert!(mention);
    }

    #[test]
    fn tab_completes_nicks_commands_and_rooms_and_cycles() {
        let mut app = connected();
        app.update(Event::Net(msg("bob", "hi", "public", "1", false)));
        app.update(Event::Net(msg("bea", "hello", "public", "2", false)));
        let tab = |app: &mut App| app.update(Event::Action(Action::Complete));
        app.update(Event::Action(Action::Insert('b')));
        tab(&mut app);
        assert_eq!(app.input.text(), "bea: ", "the most recent speaker first, irssi's ': '");
        tab(&mut app);
        assert_eq!(app.input.text(), "bob: ");
        app.update(Event::Action(Action::DeleteToStart));
        for c in "/jo".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        tab(&mut app);
        assert_eq!(app.input.text(), "/join ");
        for c in "#pu".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        tab(&mut app);
        assert_eq!(app.input.text(), "/join #public ");
        app.update(Event::Action(Action::Insert('x')));
        tab(&mut app);
        assert_eq!(app.input.text(), "/join #public x", "nothing to complete: unchanged");
    }

    #[test]
    fn search_scrolls_to_the_match_and_ctrl_r_goes_further_back() {
        let mut app = connected();
        for i in 0..40 {
            let text = if i % 10 == 3 { format!("needle {i}") } else { format!("hay {i}") };
            app.update(Event::Net(msg("bob", &text, "public", &i.to_string(), false)));
        }
        for c in "NEEDLE".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        app.update(Event::Action(Action::SearchBack));
        let seq_of = |app: &App| app.rooms[0].scroll.map(|a| app.rooms[0].line(a.seq).cloned());
        let text_at = |app: &App| match seq_of(app).flatten().map(|l| l.kind) {
            Some(LineKind::Chat { text, .. }) => text,
            other => format!("{other:?}"),
        };
        assert_eq!(text_at(&app), "needle 33");
        app.update(Event::Action(Action::SearchBack));
        assert_eq!(text_at(&app), "needle 23");
        app.update(Event::Action(Action::SearchBack));
        app.update(Event::Action(Action::SearchBack));
        assert_eq!(text_at(&app), "needle 3");
        app.update(Event::Action(Action::SearchBack));
        assert!(kinds(&app.rooms[0]).last().unwrap().contains("No earlier match"));
    }

    #[test]
    fn rooms_from_the_config_file_open_as_tabs_to_join() {
        let mut app = app();
        app.open_rooms(&["dev".into(), "#ops".into(), "public".into(), "bad room".into()]);
        let names: Vec<&str> = app.rooms.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["public", "dev", "ops"]);
        assert_eq!(app.rooms_to_join(), ["dev", "ops"]);
        assert!(kinds(&app.rooms[0]).iter().any(|k| k.contains("config file: rooms")));
    }

    #[test]
    fn day_lines_come_before_each_new_day() {
        let mut app = connected();
        let at = |text: &str, id: &str, sent: &str, replayed: bool| {
            NetEvent::Message(ChatMessage {
                username: "bob".into(),
                message: text.into(),
                room: "public".into(),
                sent: sent.into(),
                id: id.into(),
                replayed,
                ..Default::default()
            })
        };
        app.update(Event::Net(at("three days ago", "a", "2026-11-27T12:00:00.000Z", true)));
        app.update(Event::Net(at("same day", "b", "2026-11-27T12:05:00.000Z", true)));
        app.update(Event::Net(at("today", "c", "2026-11-30T12:00:00.000Z", false)));
        let day = |s: &str| {
            let t = DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Local).date_naive();
            LineKind::DayChange(t)
        };
        let days: Vec<LineKind> = app.rooms[0]
            .lines
            .iter()
            .filter(|l| matches!(l.kind, LineKind::DayChange(_)))
            .map(|l| l.kind.clone())
            .collect();
        assert_eq!(days, [day("2026-11-27T12:00:00.000Z"), day("2026-11-30T12:00:00.000Z")]);
        let rows = crate::ui::lines::rows(&app.rooms[0].lines[0], 40, &app.look);
        let text: String = rows[0].iter().map(|s| s.content.as_ref()).collect();
        assert!(
            text.contains(" Fri 27 Nov 2026 ")
                || text.contains(" Sat 28 Nov 2026 ")
                || text.contains(" Thu 26 Nov 2026 "),
            "{text}"
        );
    }

    #[test]
    fn a_multi_line_paste_is_one_message_with_its_newlines() {
        let mut app = connected();
        app.update(Event::Action(Action::Paste("a\r\nb\nc\n".into())));
        assert_eq!(app.input.text(), "a\nb\nc");
        let effects = app.update(Event::Action(Action::Submit));
        assert!(
            matches!(&effects[..], [Effect::Net(NetCommand::SendMessage { text, .. })] if text == "a\nb\nc")
        );
    }

    #[test]
    fn quitting_takes_two_presses_and_says_what_would_be_lost() {
        let mut app = connected();
        type_line(&mut app, "unacked");
        for c in "half typed".chars() {
            app.update(Event::Action(Action::Insert(c)));
        }
        assert!(app.update(Event::Action(Action::Quit)).is_empty());
        assert!(kinds(&app.rooms[0]).last().unwrap().contains("1 message not confirmed yet"));
        // Any other key stays.
        app.update(Event::Action(Action::Left));
        assert!(app.update(Event::Action(Action::Quit)).is_empty());
        assert_eq!(app.update(Event::Action(Action::Quit)), [Effect::Quit]);
    }

    #[test]
    fn a_message_too_long_stays_in_the_line() {
        let mut app = connected();
        let long = "x".repeat(shared::defaults::MAX_MESSAGE_BYTES + 1);
        assert!(type_line(&mut app, &long).is_empty());
        assert_eq!(app.input.text(), long, "not cleared");
        assert!(kinds(&app.rooms[0]).last().unwrap().contains("Message is too long"));
    }

    #[test]
    fn notices_are_system_lines_in_their_room_and_count_as_nothing_unread() {
        let mut app = connected();
        type_line(&mut app, "/join dev");
        app.update(Event::Net(NetEvent::Joined { room: "dev".into(), result: Ok(()) }));
        app.update(Event::Action(Action::SwitchRoom(0)));
        let notice = |text: &str, room: &str| {
            NetEvent::Notice(SystemMessage {
                message: text.into(),
                room: room.into(),
                sent: String::new(),
                ..SystemMessage::default()
            })
        };
        app.update(Event::Net(notice("User \"bob\" joined room \"dev\"", "dev")));
        app.update(Event::Net(notice("classic, no room", "")));
        app.update(Event::Net(notice("for a room not open", "elsewhere")));
        let dev = app.room_index("dev").expect("dev open");
        assert!(kinds(&app.rooms[dev]).ends_with(&["* User \"bob\" joined room \"dev\"".to_string()]));
        assert_eq!(app.rooms[dev].unread, 0);
        assert_eq!(kinds(&app.rooms[0]).last().map(String::as_str), Some("* classic, no room"));
        assert!(app.rooms.iter().all(|r| r.name != "elsewhere"));
    }
}
