//! Socket.IO: the auth middleware, an ordered per-socket inbox, and one module per topic.
//!
//! **Order and early events.** socketioxide runs every async handler in a task of its own, so
//! two messages from one socket could be published out of order, and it sends CONNECT before
//! the connect handler has run, so an event sent right after CONNECT found no handler and was
//! dropped. Instead, the auth middleware (which runs before CONNECT is sent) registers
//! [`Inbox`] handlers that queue each event synchronously, in arrival order; the connect
//! handler joins the home room, replays its history, and only then starts one worker that
//! handles the queue in order.
//!
//! **Rooms.** Each socket is in three kinds of room: chat rooms (validated names),
//! `sid:<socket id>` and `user:<user id>`. The last two carry no chat; they let [`user_info`]
//! answer through the adapter alone (`rooms()` of the sockets in `sid:<id>`), which works the
//! same when the socket lives on another node behind a shared adapter. Valid chat room names
//! cannot contain `:`, so the kinds never collide.

pub mod auth;
pub mod chat;
pub mod history;
pub mod rooms;
pub mod user_info;

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use shared::{errors, events, payload::ErrorEvent};
use socketioxide::{
    SocketIo,
    adapter::LocalAdapter,
    extract::{AckSender, Extension, SocketRef, State, TryData},
    handler::{ConnectHandler, FromMessageParts, MessageHandler, Value as RawValue},
    socket::{DisconnectReason, Socket},
};
use tokio::sync::{Notify, mpsc};

use crate::state::{AppState, ConnectionSlot};

/// Prefix of the room that names a socket by its id.
pub const SID_ROOM_PREFIX: &str = "sid:";
/// Prefix of the room that names a socket's user by id.
pub const USER_ROOM_PREFIX: &str = "user:";
/// Events queued per socket before further ones are refused (the rate limit keeps it short).
const INBOX_CAPACITY: usize = 256;

/// What the auth middleware learned about a socket, kept in its extensions.
pub struct Session {
    pub user_id: String,
    pub username: String,
    /// The room from the handshake query: where a bare-string `chat.message` goes.
    pub home_room: String,
    pub addr: Option<IpAddr>,
    /// `None` under `--no-rate-limits`.
    limiter: Option<DefaultDirectRateLimiter>,
    inbox: mpsc::Sender<Request>,
    /// Taken by the worker once the socket is connected.
    inbox_rx: Mutex<Option<mpsc::Receiver<Request>>>,
    /// Tells the worker the socket is gone.
    closed: Notify,
    /// Released when the socket is dropped.
    _slot: Option<ConnectionSlot>,
}

impl Session {
    pub fn new(
        user_id: String,
        username: String,
        home_room: String,
        addr: Option<IpAddr>,
        state: &AppState,
        slot: Option<ConnectionSlot>,
    ) -> Self {
        let (inbox, inbox_rx) = mpsc::channel(INBOX_CAPACITY);
        Self {
            user_id,
            username,
            home_room,
            addr,
            limiter: message_limiter(state),
            inbox,
            inbox_rx: Mutex::new(Some(inbox_rx)),
            closed: Notify::new(),
            _slot: slot,
        }
    }

    /// `false` when this socket has used up its event rate (messages, joins, lookups).
    fn allow_event(&self) -> bool {
        self.limiter.as_ref().is_none_or(|l| l.check().is_ok())
    }
}

/// The client events this server handles.
#[derive(Clone, Copy)]
enum Kind {
    ChatMessage,
    UserInfo,
    Join,
    Leave,
}

/// One queued client event.
pub struct Request {
    kind: Kind,
    data: Option<Value>,
    ack: AckSender,
}

/// A handler that only queues: it runs synchronously as the packet is read, so the queue
/// keeps the client's order.
#[derive(Clone, Copy)]
struct Inbox(Kind);

/// Marks [`Inbox`]'s `MessageHandler` impl apart from socketioxide's closure impls.
struct Queued;

impl MessageHandler<LocalAdapter, Queued> for Inbox {
    fn call(&self, s: Arc<Socket<LocalAdapter>>, mut v: RawValue, ack_id: Option<i64>) {
        let Ok(TryData(data)) = TryData::<Value>::from_message_parts(&s, &mut v, &ack_id);
        let Ok(ack) = AckSender::from_message_parts(&s, &mut v, &ack_id);
        let socket = SocketRef::from(s);
        let Some(session) = socket.extensions.get::<Arc<Session>>() else { return };
        let request = Request { kind: self.0, data: data.ok(), ack };
        if !session.allow_event() {
            refuse(&socket, request.kind, request.ack, errors::RATE_LIMITED);
        } else if let Err(e) = session.inbox.try_send(request) {
            let request = match e {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            refuse(&socket, request.kind, request.ack, errors::RATE_LIMITED);
        }
    }
}

/// Answers a request that will not be handled (or failed): an `error` event and a failing
/// ack of the shape its event uses.
fn refuse(socket: &SocketRef, kind: Kind, ack: AckSender, error: &str) {
    tracing::debug!(sid = %socket.id, "request refused: {error}");
    send_error(socket, error);
    match kind {
        Kind::ChatMessage => ack.send(&shared::payload::MessageAck::failed(error)),
        Kind::Join | Kind::Leave => ack.send(&shared::payload::RoomAck::failed(error)),
        Kind::UserInfo => ack.send(&Value::Null),
    }
    .ok();
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

/// Called by the auth middleware once a socket is accepted, before CONNECT is sent.
fn register_handlers(socket: &SocketRef) {
    socket.on(events::CHAT_MESSAGE, Inbox(Kind::ChatMessage));
    socket.on(events::USER_INFO, Inbox(Kind::UserInfo));
    socket.on(events::CHAT_JOIN, Inbox(Kind::Join));
    socket.on(events::CHAT_LEAVE, Inbox(Kind::Leave));
    socket.on_disconnect(on_disconnect);
}

async fn on_connect(
    socket: SocketRef,
    io: SocketIo,
    State(state): State<AppState>,
    Extension(session): Extension<Arc<Session>>,
) {
    tracing::info!(sid = %socket.id, user = %session.username, room = %session.home_room, addr = ?session.addr, "connected");
    socket.join(vec![
        format!("{SID_ROOM_PREFIX}{}", socket.id),
        format!("{USER_ROOM_PREFIX}{}", session.user_id),
    ]);
    if let Err(e) = state.history.join(&socket, &session.home_room).await {
        tracing::warn!(sid = %socket.id, "history replay failed: {e}");
        send_error(&socket, errors::SERVICE_UNAVAILABLE);
    }
    let Some(mut inbox) = session.inbox_rx.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
    loop {
        tokio::select! {
            biased;
            request = inbox.recv() => match request {
                Some(request) => handle(&socket, &io, &state, &session, request).await,
                None => break,
            },
            () = session.closed.notified() => {
                // Events read before the disconnect are still handled: nothing is lost.
                while let Ok(request) = inbox.try_recv() {
                    handle(&socket, &io, &state, &session, request).await;
                }
                break;
            }
        }
    }
}

async fn handle(
    socket: &SocketRef,
    io: &SocketIo,
    state: &AppState,
    session: &Arc<Session>,
    request: Request,
) {
    let Request { kind, data, ack } = request;
    match kind {
        Kind::ChatMessage => chat::on_chat_message(socket, io, state, session, data, ack).await,
        Kind::Join => rooms::on_join(socket, state, data, ack).await,
        Kind::Leave => rooms::on_leave(socket, data, ack),
        Kind::UserInfo => user_info::on_user_info(socket, io, state, data, ack),
    }
}

async fn on_disconnect(
    socket: SocketRef,
    reason: DisconnectReason,
    Extension(session): Extension<Arc<Session>>,
) {
    tracing::info!(sid = %socket.id, user = %session.username, ?reason, "disconnected");
    session.closed.notify_one();
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
