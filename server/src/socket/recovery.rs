//! Socket.IO's connection state recovery (the protocol of socket.io 4.6), so that an unmodified
//! official client that loses its connection for a moment gets `socket.recovered === true`,
//! its rooms back, and exactly the messages it missed.
//!
//! The protocol: the CONNECT packet carries a private session id (`pid`, through the vendored
//! socketioxide's [`set_recovery_pid`](socketioxide::socket::Socket::set_recovery_pid)); every
//! event the server wants replayable carries an offset as its last argument; a reconnecting
//! client puts `pid` and the last offset it got into its handshake's `auth`, and counts itself
//! recovered when the new CONNECT carries the same `pid`.
//!
//! Here the offsets are message ids (on every `chat.message` that has one, live or replayed),
//! and the missed packets are read back from the message store: what each of the session's
//! rooms got after the offset (ids sort by time in every room, so one room's offset places a
//! cursor in any other). The session (its user and chat rooms) is kept in the store when the
//! socket drops, so any node can take it up. Notices, presence and typing are not replayed: they
//! describe a moment that has passed.

use serde_json::Value;
use shared::inbound::message_id;
use socketioxide::{adapter::Adapter, extract::SocketRef, socket::DisconnectReason};

use crate::{auth::random_hex, state::AppState, store::SavedSession};

/// Longest `pid` read from a handshake; ours are 32 hex digits.
const MAX_PID_LEN: usize = 64;
/// The cursor of a client that got no message at all: before every message.
const FROM_THE_START: &str = "000000000000000000000000";

/// A socket's recovery state, kept in its session.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The private session id its CONNECT packet carried.
    pub pid: String,
    /// What a recovered socket takes up again; `None` for a new session.
    pub restored: Option<Restored>,
}

/// A session taken up again: its chat rooms, and the offset replays start after.
#[derive(Debug, Clone)]
pub struct Restored {
    pub rooms: Vec<String>,
    pub offset: String,
}

/// In the connect middleware, for a socket of `user_id`: takes up the session the handshake's
/// `auth.pid` names (when it is this user's and has not expired), or starts a new one, and
/// sets the `pid` the CONNECT packet carries. `None` when recovery is off.
pub async fn handshake<A: Adapter>(
    socket: &SocketRef<A>,
    state: &AppState,
    user_id: &str,
    auth: Option<&Value>,
) -> Option<Recovery> {
    if state.config.recovery_secs == 0 {
        return None;
    }
    let field = |name| auth.and_then(|a| a.get(name)).and_then(Value::as_str);
    let restored = match field("pid").filter(|pid| pid.len() <= MAX_PID_LEN) {
        Some(pid) => take(state, pid, user_id, field("offset")).await,
        None => None,
    };
    let recovery = match restored {
        Some((pid, restored)) => Recovery { pid, restored: Some(restored) },
        None => Recovery { pid: random_hex(16), restored: None },
    };
    socket.set_recovery_pid(recovery.pid.clone());
    Some(recovery)
}

/// The session `pid` of `user_id`, with the offset to replay from (an offset that is no message
/// id fails the recovery, as an unknown one does in socket.io).
async fn take(
    state: &AppState,
    pid: &str,
    user_id: &str,
    offset: Option<&str>,
) -> Option<(String, Restored)> {
    let offset = match offset {
        Some(offset) => message_id(offset).ok()?,
        // The client got no chat message at all: everything its rooms got is missed.
        None => FROM_THE_START.to_owned(),
    };
    match state.store.take_session(pid).await {
        Ok(Some(SavedSession { pid, user_id: owner, rooms, .. })) if owner == user_id => {
            Some((pid, Restored { rooms, offset }))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("recovery session lookup failed, connecting afresh: {e}");
            None
        }
    }
}

/// Whether a socket that went for `reason` may be taken up again: the transport failed or
/// closed, or the heartbeat timed out (socket.io's list), or a packet could not be read; never
/// a deliberate disconnect by either side.
pub fn recoverable(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TransportClose
            | DisconnectReason::TransportError
            | DisconnectReason::HeartbeatTimeout
            | DisconnectReason::MultipleHttpPollingError
            | DisconnectReason::PacketParsingError
    )
}

/// Keeps the session of a socket of `user_id` that dropped out of `rooms`, for the recovery
/// window, in a task of its own.
pub fn persist(state: &AppState, recovery: &Recovery, user_id: &str, rooms: Vec<String>) {
    // At most a day (`--recovery-secs` is bounded so), so the sum cannot overflow.
    let window = chrono::TimeDelta::seconds(i64::try_from(state.config.recovery_secs).unwrap_or(0));
    let session = SavedSession {
        pid: recovery.pid.clone(),
        user_id: user_id.to_owned(),
        rooms,
        expires: chrono::Utc::now() + window,
    };
    let store = state.store.clone();
    state.tasks.spawn(async move {
        if let Err(e) = store.save_session(&session).await {
            tracing::warn!("recovery session not kept: {e}");
        }
    });
}
