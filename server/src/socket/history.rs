//! Room history kept in step with the broadcasts, so a socket that joins a room gets the
//! last N messages and then every live one, with no gap and no duplicate between the two.
//!
//! **One node**. Each room has a log of its last N messages behind an
//! async mutex. Publishing a message (queue the write, append to the log, broadcast) and joining
//! a room (join, replay the log) each happen under that lock, so every message lands either in
//! the replay or in the live stream of a joining socket, never both and never neither. The log
//! is filled from the store on first use, after the writer has flushed, so it also covers
//! writes still in flight. The broadcast does not wait for the store.
//!
//! **Several nodes**. Other nodes' messages reach this node's sockets
//! through the adapter, past any log kept here, so the store is the one history:
//! - a node broadcasts a message only once the store has it (or has failed it), so whatever a
//!   socket missed before joining is in the store by then;
//! - a joining socket's broadcasts are held back (the vendored socketioxide patch), then it
//!   joins, reads the last N from the store, sends them, and releases what was held minus the
//!   messages the replay already had (by id); copies of those, and of the
//!   [`LATE_COPY_MARGIN`] messages just before them, that arrive later still (sent by a
//!   slower node) are dropped for [`LATE_COPY_WINDOW`].
//!
//! Every message therefore reaches a joiner once: replayed if the store had it at the read,
//! live otherwise. While the store is known to be failing, broadcasts stop waiting for it
//! (such messages are not history anyway: their acks said so).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use shared::{
    defaults::RESUME_LEN,
    events,
    payload::{ChatMessage, Gap, SystemMessage},
};
use socketioxide::{BroadcastError, SendError, SocketError, SocketIo, adapter::Adapter, extract::SocketRef};
use tokio::sync::{Mutex as AsyncMutex, oneshot};
use tokio_util::task::TaskTracker;

use super::notices::Notices;
use crate::store::{
    Message, Store, StoreError, Window,
    writer::{MessageWriter, Stored},
};

/// How often a full socket's disconnect is retried.
const DISCONNECT_RETRY: Duration = Duration::from_millis(50);
/// How long after a join (several nodes) live copies of replayed messages are still dropped: a
/// message stored before the replay's read can reach this node after it. Its sender broadcasts
/// right after the store's answer, and a publish to the adapter fails within seconds, so the
/// copy comes within a second in practice.
const LATE_COPY_WINDOW: Duration = Duration::from_secs(10);
/// Messages older than a join's replay (several nodes) read with it only so that their late
/// live copies are dropped too (a message stored well before the join can reach this node
/// after it, behind another node's adapter): live, it would follow newer replayed ones, while
/// it belongs before them, where `chat.history` finds it. Seen in the cluster tests: the
/// message just before a 20-message replay arriving live after it.
const LATE_COPY_MARGIN: usize = 50;
/// Room logs kept in memory before idle ones are dropped (they reload from the store).
const MAX_CACHED_ROOMS: usize = 1024;
/// How far before a resuming client's last message a resume starts on several nodes: a
/// message stored just before that one can reach the client after it (another node's
/// broadcast), and ids from two nodes in one second do not sort by time. The client drops
/// what it has by id.
const RESUME_OVERLAP: Duration = Duration::from_secs(5);

/// Where a published message goes: the event, the rooms and what they get.
pub struct Route {
    pub event: &'static str,
    pub rooms: Vec<String>,
    pub payload: ChatMessage,
    /// The connection state recovery offset sent after the payload (the message id), when
    /// recovery is on.
    pub offset: Option<String>,
}

impl Route {
    /// Broadcasts the message, after the join notices pending in its rooms.
    async fn send<A: Adapter>(&self, io: &SocketIo<A>, notices: &Notices) {
        notices.flush(io, &self.rooms).await;
        match &self.offset {
            Some(offset) => broadcast(io, self.event, &self.rooms, &(&self.payload, offset)).await,
            None => broadcast(io, self.event, &self.rooms, &self.payload).await,
        }
    }
}

/// Which messages a joining socket gets first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume<'a> {
    /// The room's last N, marked `replayed`.
    Recent,
    /// What came after this message (ours: `auth.after`, `chat.join {after}`), marked
    /// `replayed`; a `chat.gap` and the last N when that is more than [`RESUME_LEN`].
    After(&'a str),
    /// Socket.IO connection state recovery from this offset: the same, shaped as the live
    /// packets the client missed (not marked).
    Recovered(&'a str),
}

/// What a joining socket is sent: a gap (more was missed than is replayed), then messages.
struct Replay {
    gap: Option<Gap>,
    messages: Vec<Message>,
}

impl Replay {
    fn all(messages: impl IntoIterator<Item = Message>) -> Self {
        Replay { gap: None, messages: messages.into_iter().collect() }
    }

    /// Sends the replay, each message `replayed` unless `live`, with its offset if `offsets`.
    fn send<A: Adapter>(&self, socket: &SocketRef<A>, live: bool, offsets: bool) {
        if let Some(gap) = &self.gap {
            socket.emit(events::CHAT_GAP, gap).ok();
        }
        for message in &self.messages {
            let payload = to_payload(message, !live);
            if offsets {
                socket.emit(events::CHAT_MESSAGE, &(payload, &message.id)).ok();
            } else {
                socket.emit(events::CHAT_MESSAGE, &payload).ok();
            }
        }
    }
}

#[derive(Default)]
struct RoomLog {
    /// `None` until read from the store.
    recent: Option<VecDeque<Message>>,
}

type RoomLogs = Mutex<HashMap<String, Arc<AsyncMutex<RoomLog>>>>;

pub struct History {
    store: Arc<dyn Store>,
    writer: MessageWriter,
    len: usize,
    /// `Some` on one node (the per-room logs), `None` with several (the store is the history).
    rooms: Option<RoomLogs>,
    /// Set while writes fail, so broadcasts on several nodes stop waiting for the store.
    store_failing: AtomicBool,
    /// Where broadcasts waiting for the store run (several nodes), so shutdown waits for them.
    tasks: TaskTracker,
    /// Connection state recovery is on: every chat message carries its id as an offset.
    offsets: bool,
    /// Join notices waiting to go out with others, which the room's messages must not overtake.
    notices: Arc<Notices>,
}

impl History {
    /// History for a single node (`shared: false`: per-room logs in memory) or for one of
    /// several nodes sharing the store (see the module docs). `tasks` tracks what it spawns;
    /// `offsets` appends each chat message's id as its connection state recovery offset.
    pub fn new(
        store: Arc<dyn Store>,
        writer: MessageWriter,
        len: usize,
        shared: bool,
        tasks: TaskTracker,
        offsets: bool,
    ) -> Self {
        let rooms = (!shared).then(Mutex::default);
        let notices = Notices::new(tasks.clone());
        Self { store, writer, len, rooms, store_failing: AtomicBool::new(false), tasks, offsets, notices }
    }

    /// Tells `room` (as `chat.message`) that someone joined, coalesced with the room's other
    /// join notices in a storm of joins (see [`super::notices`]).
    pub async fn notice<A: Adapter>(&self, io: &SocketIo<A>, room: &str, notice: SystemMessage) {
        self.notices.send(io, room, notice).await;
    }

    /// How a room's new `message` goes out.
    fn route(&self, message: &Message) -> Route {
        Route {
            event: events::CHAT_MESSAGE,
            rooms: vec![message.room.clone()],
            payload: to_payload(message, false),
            offset: self.offsets.then(|| message.id.clone()),
        }
    }

    fn log(&self, rooms: &RoomLogs, room: &str) -> Arc<AsyncMutex<RoomLog>> {
        let mut rooms = rooms.lock().unwrap_or_else(|p| p.into_inner());
        if rooms.len() >= MAX_CACHED_ROOMS && !rooms.contains_key(room) {
            // Only logs nobody holds right now can go: the map's lock stops new holders.
            rooms.retain(|_, log| Arc::strong_count(log) > 1);
        }
        rooms.entry(room.to_string()).or_default().clone()
    }

    /// Fills `log` from the store if it has not been yet.
    async fn load<'a>(
        &self,
        room: &str,
        log: &'a mut RoomLog,
    ) -> Result<&'a mut VecDeque<Message>, StoreError> {
        if log.recent.is_none() {
            self.writer.flush().await;
            let recent = self.store.recent_messages(room, self.len).await?;
            log.recent = Some(recent.into());
        }
        Ok(log.recent.get_or_insert_default())
    }

    /// Queues `message` for storage and broadcasts it to its room; the write's outcome comes
    /// with [`History::confirm`].
    ///
    /// Live delivery does not depend on the store: if the log cannot be loaded, or the store
    /// fails the write, the message is still broadcast (its ack says it was not stored).
    ///
    /// `order` is the sender's: with several nodes its messages go out in the order sent
    /// though each waits for its own write.
    pub async fn publish<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        message: Message,
        order: &SenderOrder,
    ) -> Stored {
        let route = self.route(&message);
        let Some(rooms) = &self.rooms else { return self.publish_shared(io, message, route, order).await };
        let log = self.log(rooms, &message.room);
        let mut log = log.lock().await;
        let room = message.room.clone();
        // Load before queueing: loading flushes the writer, and this message must not be
        // both read back from the store and appended below.
        match self.load(&room, &mut log).await {
            Ok(recent) if self.len > 0 => {
                if recent.len() >= self.len {
                    recent.pop_front();
                }
                recent.push_back(message.clone());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(room, "history unavailable: {e}"),
        }
        let stored = self.writer.enqueue(message).await;
        route.send(io, &self.notices).await;
        stored
    }

    /// Queues `message` for storage and sends it along `route`, which is no room that is
    /// joined and replayed (a direct conversation): no room log to keep in step.
    pub async fn publish_to<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        message: Message,
        route: Route,
        order: &SenderOrder,
    ) -> Stored {
        if self.rooms.is_none() {
            return self.publish_shared(io, message, route, order).await;
        }
        let stored = self.writer.enqueue(message).await;
        route.send(io, &self.notices).await;
        stored
    }

    /// Several nodes: stores first, then broadcasts (see the module docs). The wait runs in a
    /// task of its own, after the sender's previous message went out, so one sender's writes
    /// can share a batch while its messages keep their order.
    async fn publish_shared<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        message: Message,
        route: Route,
        order: &SenderOrder,
    ) -> Stored {
        let stored = self.writer.enqueue(message).await;
        let (done, outcome) = oneshot::channel();
        let (sent, next) = oneshot::channel::<()>();
        let previous = order.0.lock().unwrap_or_else(|p| p.into_inner()).replace(next);
        // Known to fail: not worth a timeout's wait before every live message.
        let wait_for_store = !self.store_failing.load(Ordering::Relaxed);
        let (io, notices) = (io.clone(), self.notices.clone());
        self.tasks.spawn(async move {
            // `Ok`: the write's outcome, known before the broadcast; `Err`: still pending.
            let early = if wait_for_store { Ok(written(stored).await) } else { Err(stored) };
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            route.send(&io, &notices).await;
            let _ = sent.send(());
            let result = match early {
                Ok(result) => result,
                Err(stored) => written(stored).await,
            };
            let _ = done.send(result);
        });
        outcome
    }

    /// Waits for the write of a message published to `room`. If it failed, the room's log
    /// (which already holds the message) is dropped, so history is read back from what was
    /// really stored.
    pub async fn confirm(&self, room: &str, stored: Stored) -> Result<(), StoreError> {
        let result = written(stored).await;
        self.store_failing.store(result.is_err(), Ordering::Relaxed);
        if result.is_err()
            && super::is_chat_room(room)
            && let Some(rooms) = &self.rooms
        {
            self.log(rooms, room).lock().await.recent = None;
        }
        result
    }

    /// Up to `limit` messages of `room` (or a direct conversation) in `window`, oldest first,
    /// the writes still queued included.
    pub async fn read(
        &self,
        room: &str,
        window: Window<'_>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.writer.flush().await;
        self.store.messages(room, window, limit).await
    }

    /// [`Store::search_messages`], the writes still queued included.
    pub async fn search(
        &self,
        room: &str,
        words: &[String],
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.writer.flush().await;
        self.store.search_messages(room, words, before, limit).await
    }

    /// Joins `socket` to `room` and sends it the room's history, oldest first, before any
    /// live message can reach it, as `resume` says.
    ///
    /// # Errors
    /// The store could not be read; the socket has joined anyway and gets live messages.
    pub async fn join<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        room: &str,
        resume: Resume<'_>,
    ) -> Result<(), StoreError> {
        let (after, live) = match resume {
            Resume::Recent => (None, false),
            Resume::After(after) => (Some(after), false),
            Resume::Recovered(offset) => (Some(offset), true),
        };
        let Some(rooms) = &self.rooms else { return self.join_shared(socket, room, after, live).await };
        let log = self.log(rooms, room);
        let mut log = log.lock().await;
        socket.join(room.to_string());
        let recent = self.load(room, &mut log).await?;
        let replay = match after {
            None => Replay::all(recent.iter().cloned()),
            Some(after) => match recent.iter().position(|m| m.id == after) {
                Some(seen) => Replay::all(recent.iter().skip(seen + 1).cloned()),
                // Older than the log (or never stored): the store has the rest, writes
                // included once flushed; the lock keeps live messages back meanwhile.
                None => {
                    self.writer.flush().await;
                    self.since(room, after).await?
                }
            },
        };
        replay.send(socket, live, self.offsets);
        Ok(())
    }

    /// Several nodes: hold, join, replay from the store, release what the replay lacked.
    async fn join_shared<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        room: &str,
        after: Option<&str>,
        live: bool,
    ) -> Result<(), StoreError> {
        socket.hold_broadcasts();
        socket.join(room.to_string());
        // Read past the replay too: a late copy of one of those must not arrive live either.
        let mut before_replay = Vec::new();
        let replay = match after {
            None => self.store.recent_messages(room, self.len + LATE_COPY_MARGIN).await.map(|mut recent| {
                let older = recent.len().saturating_sub(self.len);
                before_replay.extend(recent.drain(..older).map(|m| m.id));
                Replay::all(recent)
            }),
            // An official client cannot drop what it has: from the offset exactly (a message
            // that another node stored just before it and had not delivered yet is missed).
            Some(offset) if live => self.since(room, offset).await,
            Some(after) => self.since(room, &overlap_cursor(after)).await,
        };
        let known: HashSet<String> = replay
            .iter()
            .flat_map(|r| r.messages.iter().map(|m| m.id.clone()))
            .chain(before_replay)
            .collect();
        if let Ok(replay) = &replay {
            replay.send(socket, live, self.offsets);
        }
        let keep =
            move |packet: Option<&str>| packet.and_then(message_id).is_none_or(|id| !known.contains(id));
        let released = socket.release_broadcasts(keep, LATE_COPY_WINDOW);
        if released.is_err() {
            tracing::warn!(sid = %socket.id, room, "send buffer full while joining: disconnecting a slow client");
            disconnect_slow(socket.clone());
        }
        replay.map(drop)
    }

    /// What a client that last saw message `after` in `room` missed, from the store.
    async fn since(&self, room: &str, after: &str) -> Result<Replay, StoreError> {
        let missed = self.store.messages(room, Window::After(after), RESUME_LEN + 1).await?;
        if missed.len() <= RESUME_LEN {
            return Ok(Replay::all(missed));
        }
        let recent = self.store.recent_messages(room, self.len.max(1)).await?;
        let gap = recent.first().map(|first| Gap {
            room: room.to_owned(),
            after: after.to_owned(),
            before: first.id.clone(),
        });
        Ok(Replay { gap, messages: recent })
    }
}

/// A cursor [`RESUME_OVERLAP`] before message id `after` (an ObjectId, whose first four bytes
/// are its creation time in seconds); `after` itself when it is no ObjectId.
fn overlap_cursor(after: &str) -> String {
    let Ok(oid) = bson::oid::ObjectId::parse_str(after) else { return after.to_owned() };
    let mut bytes = [0u8; 12];
    let seconds = u32::from_be_bytes(oid.bytes()[..4].try_into().unwrap_or_default());
    let back = u32::try_from(RESUME_OVERLAP.as_secs()).unwrap_or(u32::MAX);
    bytes[..4].copy_from_slice(&seconds.saturating_sub(back).to_be_bytes());
    bson::oid::ObjectId::from_bytes(bytes).to_hex()
}

/// One sender's place in line: the moment its last message went out (see
/// [`History::publish`]).
#[derive(Default)]
pub struct SenderOrder(Mutex<Option<oneshot::Receiver<()>>>);

/// What became of a queued write.
async fn written(stored: Stored) -> Result<(), StoreError> {
    stored.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the writer stopped".into())))
}

/// The id of a `chat.message` in an encoded Socket.IO packet (`2["chat.message",{…"id":…}]`),
/// `None` for any other packet.
fn message_id(packet: &str) -> Option<&str> {
    /// The event, its payload, and the recovery offset when there is one.
    #[derive(serde::Deserialize)]
    struct Event<'a>(
        &'a str,
        #[serde(borrow)] WithId<'a>,
        #[expect(dead_code, reason = "read only to be skipped")]
        #[serde(default)]
        Option<serde::de::IgnoredAny>,
    );
    #[derive(serde::Deserialize)]
    struct WithId<'a> {
        #[serde(borrow)]
        id: Option<&'a str>,
    }
    let args = &packet[packet.find('[')?..];
    match serde_json::from_str::<Event>(args) {
        Ok(Event(event, WithId { id }, _)) if event == events::CHAT_MESSAGE => id,
        _ => None,
    }
}

/// Sends `data` as `event` to the sockets in any of `rooms`, on every node.
///
/// When the adapter's backend fails, the adapter delivers to no socket at all, this node's
/// included: the message then goes to this node's sockets alone (the outage itself is logged
/// once by [`crate::adapter::AdapterStatus`]). Sockets whose send buffer is full are
/// disconnected, so they catch up from history instead of missing messages silently.
pub async fn broadcast<A: Adapter, T: Serialize + ?Sized>(
    io: &SocketIo<A>,
    event: &'static str,
    rooms: &[String],
    data: &T,
) {
    let result = match io.to(rooms.to_vec()).emit(event, data).await {
        Err(BroadcastError::Adapter(e)) => {
            tracing::debug!(?rooms, "adapter broadcast failed, delivering on this node only: {e}");
            io.local().to(rooms.to_vec()).emit(event, data).await
        }
        other => other,
    };
    if let Err(e) = result {
        tracing::warn!(?rooms, "broadcast incomplete: {e}");
        disconnect_full_sockets(io, rooms);
    }
}

/// After a broadcast hit a full send buffer, finds the sockets in `room` that cannot take
/// even a tiny probe and disconnects them: their clients reconnect and replay history instead
/// of silently missing messages. socketioxide does not say which sockets failed, and probing
/// with a real `error` would alarm every healthy client in the room.
fn disconnect_full_sockets<A: Adapter>(io: &SocketIo<A>, rooms: &[String]) {
    for socket in io.to(rooms.to_vec()).sockets() {
        if let Err(SendError::Socket(SocketError::InternalChannelFull)) = socket.emit(events::PROBE, &()) {
            tracing::warn!(sid = %socket.id, ?rooms, "send buffer full: disconnecting a slow client");
            disconnect_slow(socket);
        }
    }
}

/// Takes `socket` out of every room at once, so it misses nothing more, and disconnects it as
/// soon as its queue has room for the DISCONNECT packet (a client that reads nothing at all is
/// closed by the Engine.IO heartbeat instead).
fn disconnect_slow<A: Adapter>(socket: SocketRef<A>) {
    crate::telemetry::count_one(crate::telemetry::SLOW_DISCONNECTS);
    socket.leave_all();
    tokio::spawn(async move {
        while socket.connected() {
            if socket.clone().disconnect().is_ok() {
                break;
            }
            tokio::time::sleep(DISCONNECT_RETRY).await;
        }
    });
}

/// A stored room message as clients get it.
pub fn to_payload(message: &Message, replayed: bool) -> ChatMessage {
    ChatMessage {
        username: message.username.clone(),
        message: message.message.clone(),
        room: message.room.clone(),
        sent: message.sent.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        id: message.id.clone(),
        replayed,
        action: message.action,
        to: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_read_from_encoded_chat_messages_only() {
        assert_eq!(message_id(r#"2["chat.message",{"username":"a","message":"m","id":"i1"}]"#), Some("i1"));
        assert_eq!(message_id(r#"2/admin,["chat.message",{"id":"i2"}]"#), Some("i2"));
        assert_eq!(message_id(r#"2["chat.message",{"id":"i4"},"i4"]"#), Some("i4"));
        assert_eq!(message_id(r#"2["chat.message",{"message":"notice","room":"r"}]"#), None);
        assert_eq!(message_id(r#"2["other",{"id":"i3"}]"#), None);
        assert_eq!(message_id("2[\"chat.probe\"]"), None);
        assert_eq!(message_id("garbage"), None);
    }

    #[test]
    fn resumes_on_several_nodes_start_a_few_seconds_back() {
        let after = "65a1b2c3d4e5f60718293a4b";
        let cursor = overlap_cursor(after);
        assert_eq!(cursor, format!("{:08x}0000000000000000", 0x65a1_b2c3_u32 - 5));
        assert!(cursor.as_str() < after);
        assert_eq!(overlap_cursor("nope"), "nope");
    }
}
