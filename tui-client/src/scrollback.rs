//! A room's scrollback: its lines (chat, system, markers, day lines), the ids it has seen and
//! where a scrolled-up view stands. The app changes it; the panes draw it.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Local, NaiveDate, Utc};

/// Message ids remembered per room (beyond its scrollback and across `/clear`), so that history
/// replayed after a reconnect shows nothing twice.
const SEEN_IDS: usize = 4096;
/// How far a sent message got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Someone else's message.
    Received,
    /// Sent, waiting for the server's ack or our echo.
    Pending,
    /// The server gave no ack in time (a classic server never does) and no echo came yet.
    Unconfirmed,
    Confirmed,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Chat {
        username: String,
        text: String,
        own: bool,
        replayed: bool,
        delivery: Delivery,
        /// Names the user (weechat's highlight): drawn apart, counted apart, alerted.
        mention: bool,
        /// `/me`: drawn `* alice waves`.
        action: bool,
    },
    System {
        text: String,
        error: bool,
    },
    /// Between replayed history (above) and live messages (below).
    HistoryMarker,
    /// Before the first line of each day (local time), so that old history is not taken for
    /// today's.
    DayChange(NaiveDate),
}

/// One entry of a room's scrollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub time: Option<DateTime<Utc>>,
    /// The server's message id, once known.
    pub id: Option<String>,
    /// Our id for a message we sent, to match its ack.
    pub local_id: Option<u64>,
}

impl Line {
    pub(crate) fn system(text: impl Into<String>, error: bool, time: Option<DateTime<Utc>>) -> Self {
        Line { kind: LineKind::System { text: text.into(), error }, time, id: None, local_id: None }
    }
}

/// Where a scrolled-up view stands: `seq` is the line at the bottom of the pane, with
/// `rows_below` of its rows hidden under it. Anchoring on a line keeps scrolling, resizing and
/// drawing proportional to the screen, not to the scrollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub rows_below: usize,
}

#[derive(Debug, Clone)]
pub struct Room {
    pub name: String,
    pub lines: VecDeque<Line>,
    /// Sequence number of `lines[0]`; lines keep their number while older ones are dropped.
    pub first_seq: u64,
    /// `None` follows new messages; `Some` is scrolled up.
    pub scroll: Option<Anchor>,
    /// Live messages that arrived while scrolled up.
    pub new_below: usize,
    /// Live messages that arrived while another room was shown.
    pub unread: usize,
    /// Of those, the ones that name the user.
    pub mentions: usize,
    /// Confirmed by the server (the handshake room always is once connected).
    pub joined: bool,
    pub(crate) seen: SeenIds,
    /// The history marker has been placed (once per room: later replays add no other).
    pub(crate) marked: bool,
    /// The server may have older messages than the first one here (`chat.history`).
    pub(crate) older: bool,
    /// A `chat.history` page is on its way.
    pub(crate) loading: bool,
    /// The day of the last dated line, to put a day line before the next day's first.
    pub(crate) last_day: Option<NaiveDate>,
}

/// Message ids seen, the oldest forgotten past a capacity: a room's (so a replay after a
/// reconnect shows nothing twice) and `--plain`'s (so it prints nothing twice).
#[derive(Debug, Clone)]
pub(crate) struct SeenIds {
    order: VecDeque<String>,
    pub(crate) set: HashSet<String>,
    capacity: usize,
}

impl SeenIds {
    pub(crate) fn new(capacity: usize) -> Self {
        SeenIds { order: VecDeque::new(), set: HashSet::new(), capacity }
    }

    /// Remembers `id`; `false` when it was seen already.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

impl Room {
    pub(crate) fn new(name: &str, joined: bool) -> Self {
        Room {
            name: name.to_owned(),
            lines: VecDeque::new(),
            first_seq: 0,
            scroll: None,
            new_below: 0,
            unread: 0,
            mentions: 0,
            joined,
            seen: SeenIds::new(SEEN_IDS),
            marked: false,
            older: true,
            loading: false,
            last_day: None,
        }
    }

    /// Sequence number of the newest line, if any.
    pub fn last_seq(&self) -> Option<u64> {
        (!self.lines.is_empty()).then(|| self.first_seq + self.lines.len() as u64 - 1)
    }

    pub fn line(&self, seq: u64) -> Option<&Line> {
        seq.checked_sub(self.first_seq).and_then(|i| self.lines.get(usize::try_from(i).ok()?))
    }

    pub(crate) fn push(&mut self, line: Line, cap: usize) {
        if let Some(day) = line.time.map(|t| t.with_timezone(&Local).date_naive())
            && self.last_day != Some(day)
        {
            self.last_day = Some(day);
            self.push(Line { kind: LineKind::DayChange(day), time: None, id: None, local_id: None }, cap);
        }
        if let Some(id) = &line.id {
            self.seen.insert(id);
        }
        self.lines.push_back(line);
        while self.lines.len() > cap {
            self.lines.pop_front();
            self.first_seq += 1;
        }
        if let Some(anchor) = &mut self.scroll
            && anchor.seq < self.first_seq
        {
            *anchor = Anchor { seq: self.first_seq, rows_below: 0 };
        }
    }

    /// Adds replayed history. The first replay ends with the history marker; what a later one
    /// (after a reconnect) brings is what was missed, and goes in without another marker.
    pub(crate) fn push_replayed(&mut self, line: Line, cap: usize) {
        let marker_last = matches!(self.lines.back(), Some(Line { kind: LineKind::HistoryMarker, .. }));
        if marker_last {
            self.lines.pop_back();
        }
        self.push(line, cap);
        if marker_last || !self.marked {
            self.marked = true;
            self.push(Line { kind: LineKind::HistoryMarker, time: None, id: None, local_id: None }, cap);
        }
    }

    /// The server's id of the oldest message here, the cursor for the page before it.
    pub(crate) fn oldest_id(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| l.id.as_deref())
    }

    /// Puts `older` (a page from `chat.history`, oldest first) above everything, with day
    /// lines, as far as the scrollback has room; messages already here are skipped. Returns how
    /// many lines went in.
    pub(crate) fn prepend(&mut self, older: Vec<Line>, cap: usize) -> usize {
        let fresh: Vec<Line> =
            older.into_iter().filter(|l| l.id.as_deref().is_none_or(|id| !self.seen.contains(id))).collect();
        let day = |l: &Line| l.time.map(|t| t.with_timezone(&Local).date_naive());
        let mut built = Vec::with_capacity(fresh.len() * 2);
        let mut last_day = None;
        for line in fresh {
            if let Some(d) = day(&line).filter(|d| Some(*d) != last_day) {
                last_day = Some(d);
                built.push(Line { kind: LineKind::DayChange(d), time: None, id: None, local_id: None });
            }
            if let Some(id) = &line.id {
                self.seen.insert(id);
            }
            built.push(line);
        }
        // The day line that opened the scrollback is now inside that day.
        if let (Some(d), Some(Line { kind: LineKind::DayChange(first), .. })) = (last_day, self.lines.front())
            && *first == d
        {
            self.lines.pop_front();
            self.first_seq += 1;
        }
        let room_for = cap.saturating_sub(self.lines.len());
        let built = &built[built.len().saturating_sub(room_for)..];
        let n = built.len() as u64;
        // Line numbers only grow; make room below the first one (anchors move with it).
        let shift = n.saturating_sub(self.first_seq);
        self.first_seq += shift;
        if let Some(anchor) = &mut self.scroll {
            anchor.seq += shift;
        }
        for line in built.iter().rev() {
            self.lines.push_front(line.clone());
            self.first_seq -= 1;
        }
        if self.last_day.is_none() {
            self.last_day = last_day;
        }
        built.len()
    }

    /// Moves the line at `index` to the bottom (our own line, once the server has put it in
    /// its order). Not while scrolled up, where it would shift what the reader is looking at.
    pub(crate) fn move_to_end(&mut self, index: usize) {
        if self.scroll.is_some() || index + 1 >= self.lines.len() {
            return;
        }
        if let Some(line) = self.lines.remove(index) {
            self.lines.push_back(line);
        }
    }

    /// Empties the scrollback; the ids seen stay, so the next replay does not bring it back.
    pub(crate) fn clear(&mut self) {
        self.first_seq += self.lines.len() as u64;
        self.lines.clear();
        self.scroll = None;
        self.new_below = 0;
    }
}
