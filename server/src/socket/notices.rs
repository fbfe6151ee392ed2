//! Chapter 15's join notices (`User "alice" joined room "dev"`), gathered per room while
//! joins come in a storm.
//!
//! A notice goes to every socket in the room, each an idle socket's write of its own: when
//! 10 000 clients connect at once (a restart, a class logging in), the notices were three
//! quarters of the server's CPU (perf; 2.5 ms per connect in rooms of 200). So, as the
//! websocket writes and the store's commits do: a notice after a quiet spell goes out at
//! once; one that follows the room's last notices within [`NOTICE_WINDOW`] waits out the rest
//! of it with the others that come meanwhile, and those go out as one line,
//! `Users "bob", "carol" and 3 others joined room "dev"` (chapter 15's own line when they are
//! all one user's sockets). A room of 200 filling up in a storm gets a few such lines instead
//! of 200 (each to everyone already there: ~20 000 deliveries), and a reader a line to read
//! rather than a screenful.
//!
//! A notice goes to the room as it is when the notice goes out: someone who joins within the
//! same window may see the lines of those who came just before them, as it would from a
//! moment's lag.
//!
//! Order: anything else [`super::history::History`] broadcasts to a room first sends the
//! notices pending there, so a user's first message never comes before the line saying they
//! joined. (On several nodes, as before, only this node's broadcasts are in order.)

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use shared::{events, payload::SystemMessage};
use socketioxide::{SocketIo, adapter::Adapter};
use tokio_util::task::TaskTracker;

use super::history::broadcast;

/// How long after a room's last notices the next ones wait at most.
const NOTICE_WINDOW: Duration = Duration::from_secs(1);

/// Rooms whose last notice is kept before idle ones are forgotten.
const MAX_ROOMS: usize = 4096;

/// The notices of every room, see the module docs.
pub struct Notices {
    rooms: Mutex<HashMap<String, Room>>,
    /// Where the sends at the end of a window run, so shutdown waits for them.
    tasks: TaskTracker,
}

#[derive(Default)]
struct Room {
    /// When the room's last notices went out.
    last: Option<Instant>,
    /// Join notices waiting for the window to end, oldest first.
    pending: Vec<SystemMessage>,
    /// A task will send `pending` at the end of the window.
    scheduled: bool,
}

impl Notices {
    /// No notice pending anywhere; the tasks that send a window's notices go in `tasks`.
    pub fn new(tasks: TaskTracker) -> Arc<Self> {
        Arc::new(Self { rooms: Mutex::default(), tasks })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends the join notice `notice` to `room` as `chat.message`: now after a quiet spell,
    /// else at the end of the room's window, with the others that came in it.
    pub async fn send<A: Adapter>(self: &Arc<Self>, io: &SocketIo<A>, room: &str, notice: SystemMessage) {
        let now = Instant::now();
        {
            let mut rooms = self.lock();
            if rooms.len() >= MAX_ROOMS && !rooms.contains_key(room) {
                rooms.retain(|_, r| r.scheduled || r.last.is_some_and(|at| now - at < NOTICE_WINDOW));
            }
            let entry = rooms.entry(room.to_owned()).or_default();
            match entry.last.map(|at| at + NOTICE_WINDOW).filter(|end| *end > now) {
                None if entry.pending.is_empty() => entry.last = Some(now),
                end => {
                    entry.pending.push(notice);
                    if !std::mem::replace(&mut entry.scheduled, true) {
                        let (notices, io, room) = (self.clone(), io.clone(), room.to_owned());
                        let end = end.unwrap_or(now);
                        self.tasks.spawn(async move {
                            tokio::time::sleep_until(end.into()).await;
                            notices.send_pending(&io, &room, true).await;
                        });
                    }
                    return;
                }
            }
        }
        broadcast(io, events::CHAT_MESSAGE, &[room.to_owned()], &notice).await;
    }

    /// Sends the notices pending in `rooms` now, before another broadcast to them that must
    /// not overtake them.
    pub async fn flush<A: Adapter>(&self, io: &SocketIo<A>, rooms: &[String]) {
        for room in rooms {
            self.send_pending(io, room, false).await;
        }
    }

    /// Sends what is pending in `room`; `window_end`: the end of the window that was waited.
    async fn send_pending<A: Adapter>(&self, io: &SocketIo<A>, room: &String, window_end: bool) {
        let pending = {
            let mut rooms = self.lock();
            let Some(entry) = rooms.get_mut(room) else { return };
            entry.scheduled &= !window_end;
            if entry.pending.is_empty() {
                return;
            }
            entry.last = Some(Instant::now());
            std::mem::take(&mut entry.pending)
        };
        if let Some(notice) = gather(pending) {
            broadcast(io, events::CHAT_MESSAGE, std::slice::from_ref(room), &notice).await;
        }
    }
}

/// The one notice that stands for the join notices `pending` (oldest first): each user once,
/// in the order they first came, dated by the last notice. One user: that user's own line.
fn gather(pending: Vec<SystemMessage>) -> Option<SystemMessage> {
    let last = pending.last()?.clone();
    let mut seen = HashSet::new();
    let names: Vec<String> = pending
        .into_iter()
        .filter_map(|notice| notice.joined)
        .filter(|name| seen.insert(name.clone()))
        .collect();
    Some(match <[String; 1]>::try_from(names) {
        Ok([name]) => SystemMessage::joined(&name, &last.room, last.sent),
        Err(names) if names.is_empty() => last,
        Err(names) => SystemMessage::joined_many(names, &last.room, last.sent),
    })
}
