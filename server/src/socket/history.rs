//! Room history kept in step with the broadcasts, so a socket that joins a room gets the
//! last N messages and then every live one, with no gap and no duplicate between the two.
//!
//! Each room has a log of its last N messages behind an async mutex. Publishing a message
//! (queue the write, append to the log, broadcast) and joining a room (join, replay the log)
//! each happen under that lock, so every message lands either in the replay or in the live
//! stream of a joining socket, never both and never neither. The log is filled from the store
//! on first use, after the writer has flushed, so it also covers writes still in flight.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use shared::{events, payload::ChatMessage};
use socketioxide::{SendError, SocketError, SocketIo, adapter::Adapter, extract::SocketRef};
use tokio::sync::Mutex as AsyncMutex;

use crate::store::{
    Message, Store, StoreError,
    writer::{MessageWriter, Stored},
};

/// How often a full socket's disconnect is retried.
const DISCONNECT_RETRY: Duration = Duration::from_millis(50);
/// Room logs kept in memory before idle ones are dropped (they reload from the store).
const MAX_CACHED_ROOMS: usize = 1024;

#[derive(Default)]
struct RoomLog {
    /// `None` until read from the store.
    recent: Option<VecDeque<Message>>,
}

pub struct History {
    store: Arc<dyn Store>,
    writer: MessageWriter,
    len: usize,
    rooms: Mutex<HashMap<String, Arc<AsyncMutex<RoomLog>>>>,
}

impl History {
    pub fn new(store: Arc<dyn Store>, writer: MessageWriter, len: usize) -> Self {
        Self { store, writer, len, rooms: Mutex::new(HashMap::new()) }
    }

    fn log(&self, room: &str) -> Arc<AsyncMutex<RoomLog>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
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

    /// Queues `message` for storage and broadcasts it to its room.
    ///
    /// Live delivery does not depend on the store: if the log cannot be loaded the message
    /// is still broadcast (its write, and so its ack, will fail the same way).
    pub async fn publish<A: Adapter>(&self, io: &SocketIo<A>, message: Message) -> Stored {
        let log = self.log(&message.room);
        let mut log = log.lock().await;
        let payload = to_payload(&message, false);
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
        if let Err(e) = io.to(room.clone()).emit(events::CHAT_MESSAGE, &payload).await {
            tracing::warn!(room, "broadcast incomplete: {e}");
            disconnect_full_sockets(io, &room);
        }
        stored
    }

    /// Waits for the write of a message published to `room`. If it failed, the room's log
    /// (which already holds the message) is dropped, so history is read back from what was
    /// really stored.
    pub async fn confirm(&self, room: &str, stored: Stored) -> Result<(), StoreError> {
        let result =
            stored.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the writer stopped".into())));
        if result.is_err() {
            self.log(room).lock().await.recent = None;
        }
        result
    }

    /// Joins `socket` to `room` and sends it the room's history, oldest first, before any
    /// live message can reach it.
    ///
    /// # Errors
    /// The store could not be read; the socket has joined anyway and gets live messages.
    pub async fn join<A: Adapter>(&self, socket: &SocketRef<A>, room: &str) -> Result<(), StoreError> {
        let log = self.log(room);
        let mut log = log.lock().await;
        socket.join(room.to_string());
        let recent = self.load(room, &mut log).await?;
        for message in recent.iter() {
            socket.emit(events::CHAT_MESSAGE, &to_payload(message, true)).ok();
        }
        Ok(())
    }
}

/// After a broadcast hit a full send buffer, finds the sockets in `room` that cannot take
/// even a tiny probe and disconnects them: their clients reconnect and replay history instead
/// of silently missing messages. socketioxide does not say which sockets failed, and probing
/// with a real `error` would alarm every healthy client in the room.
fn disconnect_full_sockets<A: Adapter>(io: &SocketIo<A>, room: &str) {
    for socket in io.to(room.to_string()).sockets() {
        if let Err(SendError::Socket(SocketError::InternalChannelFull)) = socket.emit(events::PROBE, &()) {
            tracing::warn!(sid = %socket.id, room, "send buffer full: disconnecting a slow client");
            // Out of every room at once, so it misses nothing more; the DISCONNECT packet
            // itself needs a free slot, so keep trying until the queue drains (a client that
            // reads nothing at all is closed by the Engine.IO heartbeat instead).
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
    }
}

fn to_payload(message: &Message, replayed: bool) -> ChatMessage {
    ChatMessage {
        username: message.username.clone(),
        message: message.message.clone(),
        room: message.room.clone(),
        sent: message.sent.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        id: message.id.clone(),
        replayed,
    }
}
