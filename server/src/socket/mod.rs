//! Socket.IO: the auth middleware, the connect handler that registers every event handler,
//! and one module per topic.
//!
//! Each socket is in three kinds of room: chat rooms (validated names), `sid:<socket id>` and
//! `user:<user id>`. The last two carry no chat; they let [`user_info`] answer through the
//! adapter alone (`rooms()` of the sockets in `sid:<id>`), which works the same when the
//! socket lives on another node behind a shared adapter. Valid chat room names cannot
//! contain `:`, so the kinds never collide.

pub mod auth;
pub mod chat;
pub mod history;
pub mod rooms;
pub mod user_info;

use std::{net::IpAddr, sync::Arc};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use shared::{events, payload::ErrorEvent};
use socketioxide::{
    SocketIo,
    extract::{Extension, SocketRef, State},
    handler::ConnectHandler,
    socket::DisconnectReason,
};

use crate::state::{AppState, ConnectionSlot};

/// Prefix of the room that names a socket by its id.
pub const SID_ROOM_PREFIX: &str = "sid:";
/// Prefix of the room that names a socket's user by id.
pub const USER_ROOM_PREFIX: &str = "user:";

/// What the auth middleware learned about a socket, kept in its extensions.
pub struct Session {
    pub user_id: String,
    pub username: String,
    /// The room from the handshake query: where a bare-string `chat.message` goes.
    pub home_room: String,
    pub addr: Option<IpAddr>,
    /// `None` under `--no-rate-limits`.
    pub limiter: Option<DefaultDirectRateLimiter>,
    /// Released when the socket is dropped.
    _slot: Option<ConnectionSlot>,
}

impl Session {
    /// `false` when this socket has used up its event rate (messages, joins, lookups).
    pub fn allow_event(&self) -> bool {
        self.limiter.as_ref().is_none_or(|l| l.check().is_ok())
    }
}

/// Whether `room` is a chat room rather than one of the internal `sid:`/`user:` rooms.
pub fn is_chat_room(room: &str) -> bool {
    !room.contains(':')
}

/// The chat rooms `socket` is in.
pub fn chat_rooms(socket: &SocketRef) -> Vec<String> {
    socket.rooms().iter().filter(|r| is_chat_room(r)).map(|r| r.to_string()).collect()
}

/// Registers the default namespace on `io`.
pub fn register(io: &SocketIo) {
    io.ns("/", on_connect.with(auth::authenticate));
}

async fn on_connect(
    socket: SocketRef,
    State(state): State<AppState>,
    Extension(session): Extension<Arc<Session>>,
) {
    tracing::info!(sid = %socket.id, user = %session.username, room = %session.home_room, addr = ?session.addr, "connected");
    socket.on(events::CHAT_MESSAGE, chat::on_chat_message);
    socket.on(events::USER_INFO, user_info::on_user_info);
    socket.on(events::CHAT_JOIN, rooms::on_join);
    socket.on(events::CHAT_LEAVE, rooms::on_leave);
    socket.on_disconnect(on_disconnect);

    socket.join(vec![
        format!("{SID_ROOM_PREFIX}{}", socket.id),
        format!("{USER_ROOM_PREFIX}{}", session.user_id),
    ]);
    if let Err(e) = state.history.join(&socket, &session.home_room).await {
        tracing::warn!(sid = %socket.id, "history replay failed: {e}");
        send_error(&socket, shared::errors::SERVICE_UNAVAILABLE);
    }
}

async fn on_disconnect(
    socket: SocketRef,
    reason: DisconnectReason,
    Extension(session): Extension<Arc<Session>>,
) {
    tracing::info!(sid = %socket.id, user = %session.username, ?reason, "disconnected");
}

/// Tells one client that its last request failed; the socket stays connected.
pub fn send_error(socket: &SocketRef, message: &str) {
    socket.emit(events::ERROR, &ErrorEvent { message: message.to_string() }).ok();
}

/// The per-socket message limiter configured by `--messages-per-second` / `--message-burst`.
fn message_limiter(state: &AppState) -> Option<DefaultDirectRateLimiter> {
    let config = &state.config;
    if config.no_rate_limits {
        return None;
    }
    let rate = std::num::NonZeroU32::new(config.messages_per_second)?;
    let burst = std::num::NonZeroU32::new(config.message_burst).unwrap_or(rate);
    Some(RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)))
}
