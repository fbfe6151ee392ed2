//! Socket.IO: the auth middleware, one module per topic, and the connect and disconnect handlers.
//!
//! **Events.** Each client event is one [`event::ClientEvent`] impl in its topic's module and
//! one line in `route`; [`event`] gives every event the same per-socket order,
//! rate limit and refusals. Everything is generic over socketioxide's [`Adapter`], chosen at
//! start-up.
//!
//! **Early events.** socketioxide sends CONNECT before the connect handler has run, so an event
//! sent right after CONNECT found no handler and was dropped. The auth middleware (which runs
//! before CONNECT is sent) therefore registers the queueing handlers; the connect handler joins
//! the home room, replays its history, and only then runs the socket's queue.
//!
//! **Rooms.** Each socket is in three kinds of room: chat rooms (validated names),
//! `user:<user id>` and `name:<username>`. The last two carry no chat; they let [`user_info`]
//! and [`presence`] answer through the adapter alone (`rooms()` of one socket, found by id
//! with the patched socketioxide's `to_socket`, of the sockets in a room, of a user), which
//! works the same when the sockets live on other nodes behind a shared adapter, and carry
//! [`direct`] messages to every socket of a user. Valid chat room names cannot contain `:`, so
//! the kinds never collide. There is no room per socket id, as Node's socket.io keeps: it
//! cost 0.45 KiB per idle socket.

pub mod auth;
pub mod chat;
pub mod direct;
pub mod event;
pub mod history;
pub mod notices;
pub mod paging;
pub mod presence;
pub mod recovery;
pub mod rooms;
pub mod user_info;

use std::{net::IpAddr, sync::Arc};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use shared::{events, payload::ErrorEvent};
use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{Extension, SocketRef, State},
    handler::ConnectHandler,
    socket::DisconnectReason,
};
use socketioxide_core::adapter::DefinedAdapter;
use tokio_util::sync::CancellationToken;

use crate::{
    admin::Admin,
    state::{AppState, ConnectionSlot},
    telemetry,
};
use event::{ClientEvent, Cx, Dispatch, Queue, Queueing, queueing};
use history::Resume;

/// Prefix of the room that names a socket's user by id.
pub const USER_ROOM_PREFIX: &str = "user:";

/// What the auth middleware learned about a socket, kept in its extensions.
pub struct Session<A: Adapter> {
    pub user_id: String,
    pub username: String,
    /// The room from the handshake query: where a bare-string `chat.message` goes.
    pub home_room: String,
    /// The handshake's `auth.after`: the last message the client has from the home room.
    resume_after: Option<String>,
    /// Connection state recovery (`None` when it is off). Boxed: a session lives as long as
    /// its socket, and most servers run without recovery.
    recovery: Option<Box<recovery::Recovery>>,
    /// When this socket's `chat.typing` last went to each room.
    typing: presence::TypingThrottle,
    pub addr: Option<IpAddr>,
    /// `None` under `--no-rate-limits`.
    limiter: Option<DefaultDirectRateLimiter>,
    /// Events waiting to be handled in order (see [`event`]).
    queue: Queue<A>,
    /// Keeps this socket's messages in order while they wait for the store (several nodes).
    pub order: history::SenderOrder,
    /// The server's shutdown: events that arrive after it began are refused.
    shutdown: CancellationToken,
    /// The Admin UI's counters, when it is on.
    pub admin: Option<Arc<Admin>>,
    /// Released when the socket is dropped.
    _slot: Option<ConnectionSlot>,
    /// Tells the heap trimmer when the socket is dropped.
    _freed: crate::memory::FreedOnDrop,
}

impl<A: Adapter> Session<A> {
    pub fn new(
        user: crate::store::User,
        (home_room, resume_after): (String, Option<String>),
        recovery: Option<recovery::Recovery>,
        addr: Option<IpAddr>,
        (state, slot): (&AppState, Option<ConnectionSlot>),
    ) -> Self {
        Self {
            user_id: user.id,
            username: user.username,
            home_room,
            resume_after,
            recovery: recovery.map(Box::new),
            typing: presence::TypingThrottle::default(),
            addr,
            limiter: message_limiter(state),
            queue: Queue::default(),
            order: history::SenderOrder::default(),
            shutdown: state.shutdown.clone(),
            admin: state.admin.clone(),
            _slot: slot,
            _freed: crate::memory::FreedOnDrop,
        }
    }

    /// `true` once the server has begun to shut down.
    fn shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// `false` when this socket has used up its event rate (messages, joins, lookups).
    fn allow_event(&self) -> bool {
        self.limiter.as_ref().is_none_or(|l| l.check().is_ok())
    }
}

/// Whether `room` is a chat room rather than one of the internal `sid:`/`user:` rooms.
pub fn is_chat_room(room: &str) -> bool {
    !room.contains(':')
}

/// The chat rooms `socket` is in.
pub fn chat_rooms<A: Adapter>(socket: &SocketRef<A>) -> Vec<String> {
    socket.rooms().iter().filter(|r| is_chat_room(r)).map(|r| r.to_string()).collect()
}

/// Registers the default namespace on `io`; a remote adapter's start is the future returned.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) -> A::InitRes {
    io.ns("/", on_connect::<A>.with(auth::authenticate::<A>))
}

/// Puts an accepted socket in the rooms that name it (see the module docs), before CONNECT is
/// sent: a direct message or a lookup right after the client connects finds it.
fn join_own_rooms<A: Adapter>(socket: &SocketRef<A>, session: &Session<A>) {
    socket.join(vec![
        format!("{USER_ROOM_PREFIX}{}", session.user_id),
        format!("{}{}", presence::NAME_ROOM_PREFIX, session.username),
    ]);
}

/// The client events this server handles, by name: one line each.
fn route<A: Adapter>(event: &str) -> Option<Queueing<A>> {
    Some(match event {
        chat::SendMessage::NAME => queueing::<chat::SendMessage, A>(),
        rooms::Join::NAME => queueing::<rooms::Join, A>(),
        rooms::Leave::NAME => queueing::<rooms::Leave, A>(),
        user_info::Lookup::NAME => queueing::<user_info::Lookup, A>(),
        paging::ReadHistory::NAME => queueing::<paging::ReadHistory, A>(),
        paging::Search::NAME => queueing::<paging::Search, A>(),
        presence::ListMembers::NAME => queueing::<presence::ListMembers, A>(),
        presence::StartTyping::NAME => queueing::<presence::StartTyping, A>(),
        direct::SendDirect::NAME => queueing::<direct::SendDirect, A>(),
        _ => return None,
    })
}

/// Registers the socket's handlers; called by the auth middleware once a socket is accepted,
/// before CONNECT is sent.
fn register_handlers<A: Adapter>(socket: &SocketRef<A>) {
    socket.on_fallback(Dispatch(route::<A>));
    socket.on_disconnect(on_disconnect::<A>);
}

async fn on_connect<A: Adapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    State(state): State<AppState>,
    Extension(session): Extension<Arc<Session<A>>>,
) {
    tracing::info!(sid = %socket.id, user = %session.username, room = %session.home_room, addr = ?session.addr, "connected");
    // Tracked from the start, so that shutdown waits for it (or it sees the shutdown begun,
    // and stays away from a namespace about to close).
    let tasks = state.tasks.clone();
    tasks
        .track_future(async move {
            if state.shutdown.is_cancelled() {
                return;
            }
            let cx = Arc::new(Cx { socket, io, state, session });
            match cx.session.recovery.as_ref().and_then(|r| r.restored.as_ref()) {
                Some(restored) => {
                    for room in restored.rooms.iter().filter(|r| is_chat_room(r)) {
                        rooms::enter(&cx, room, Resume::Recovered(&restored.offset)).await;
                    }
                }
                None => {
                    let resume = cx.session.resume_after.as_deref().map_or(Resume::Recent, Resume::After);
                    rooms::enter(&cx, &cx.session.home_room, resume).await;
                }
            }
            if let Some(admin) = &cx.session.admin {
                admin.live("socket_connected", || {
                    vec![crate::admin::serialize(&cx.socket), crate::admin::now()]
                });
                crate::admin::watch(admin, &cx.socket);
            }
            // Events that came while the socket entered its rooms; later ones start their own task.
            event::drain(cx).await;
        })
        .await;
}

async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    reason: DisconnectReason,
    State(state): State<AppState>,
    Extension(session): Extension<Arc<Session<A>>>,
) {
    tracing::info!(sid = %socket.id, user = %session.username, ?reason, "disconnected");
    // Out of every room first, so that of two sockets of one user going at once, the last
    // one's check finds neither and says the user left.
    let rooms = chat_rooms(&socket);
    socket.leave_all();
    if !session.shutting_down() {
        if let Some(recovery) = &session.recovery
            && recovery::recoverable(reason)
        {
            recovery::persist(&state, recovery, &session.user_id, rooms.clone());
        }
        presence::left(&io, &state.tasks, &session.user_id, &session.username, rooms);
    }
    telemetry::sockets(-1.0);
    telemetry::count(telemetry::DISCONNECTS, "reason", format!("{reason:?}"));
    if let Some(admin) = &session.admin {
        admin.count("rawDisconnection", Some(format!("{reason:?}")));
        admin.live("socket_disconnected", || {
            vec![
                serde_json::json!("/"),
                serde_json::json!(socket.id.to_string()),
                serde_json::json!(format!("{reason:?}")),
                crate::admin::now(),
            ]
        });
    }
}

/// Tells one client that its last request failed; the socket stays connected.
pub fn send_error<A: Adapter>(socket: &SocketRef<A>, message: &str) {
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
