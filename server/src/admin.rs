//! The server side of the official Socket.IO Admin UI (`@socket.io/admin-ui` 0.5.1, whose
//! `lib/index.ts` is the reference), in its production mode: an admin namespace (default
//! `/admin`) that the dashboard logs in to with a username and a bcrypt-hashed password, then
//! gets `session`, `config` and `server_stats` every 2 s, and may `emit`, `join`, `leave` and
//! `_disconnect` on the sockets or rooms it names (not in read-only mode).
//!
//! With several nodes, every node sends its own `server_stats` through the adapter, so the
//! dashboard sees them all, and the operations reach the sockets of every node. Session ids are
//! signed (a JWT under a key derived from the JWT secret, 24 h), so a dashboard that reconnects
//! to another node is let in too, as the Node module's Redis store allows.
//!
//! Development mode (`--admin-mode development`) adds what the dashboard's socket and room pages
//! need: `all_sockets` on login (every node's), then `socket_connected`, `socket_updated` (the
//! upgrade to websocket), `socket_disconnected`, `room_joined`, `room_left`, `event_received`
//! and `event_sent` (with the events' arguments: message text reaches the dashboard, hence a
//! warning at start). The last two need the vendored socketioxide's outgoing tap and upgrade
//! hook (`vendor/README.md`).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use shared::inbound::AllArgs;
use socketioxide::{
    BroadcastError, SocketIo, TransportType,
    adapter::Adapter,
    extract::{SocketRef, State, TryData},
    handler::ConnectHandler,
    operators::BroadcastOperators,
    socket::Sid,
};
use socketioxide_core::adapter::DefinedAdapter;

use crate::state::AppState;

/// How often every node sends its `server_stats`.
pub const STATS_EVERY: Duration = Duration::from_secs(2);
/// The Node module's refusal text, which the dashboard shows.
const INVALID_CREDENTIALS: &str = "invalid credentials";
/// Appended to the JWT secret for the key that signs dashboard sessions, so a session id is
/// never a chat token nor the other way round.
const SESSION_KEY_CONTEXT: &[u8] = b"\0socket.io-admin-ui session";
/// How long a remote socket's rooms may take to arrive for `all_sockets`.
const REMOTE_ROOMS_TIMEOUT: Duration = Duration::from_secs(2);
/// Remote sockets whose rooms are asked for at once (one adapter request each).
const REMOTE_ROOMS_CONCURRENCY: usize = 64;
/// A polling client that has not upgraded by then stays on polling.
const UPGRADE_WINDOW: Duration = Duration::from_secs(30);

/// What the admin namespace needs from the configuration.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub namespace: String,
    pub username: String,
    /// bcrypt, as the Node module takes it (`ADMIN_PASSWORD_HASH`).
    pub password_hash: String,
    pub readonly: bool,
    /// Development mode: every socket and event live on the dashboard.
    pub development: bool,
}

/// Sends an event with its arguments to every dashboard (set once the namespace exists).
type Emitter = Box<dyn Fn(&'static str, Vec<Value>) + Send + Sync>;

/// One line of the dashboard's event chart: the second (epoch milliseconds), the type and its
/// sub-type (a disconnection's reason).
type EventKey = (i64, &'static str, Option<String>);

/// The admin side of one node: its sessions and the events counted since the last stats.
pub struct Admin {
    config: AdminConfig,
    /// Signs and checks session ids: `sub` is the admin username.
    sessions: crate::auth::Tokens,
    started: Instant,
    events: Mutex<HashMap<EventKey, u64>>,
    server_id: String,
    hostname: String,
    emitter: std::sync::OnceLock<Emitter>,
}

#[derive(Debug, thiserror::Error)]
#[error("{}", INVALID_CREDENTIALS)]
pub struct InvalidCredentials;

/// A session id handed out by the middleware, sent to the dashboard once connected.
#[derive(Clone)]
struct NewSession(String);

impl Admin {
    /// `secret` is the JWT secret, the same on every node.
    pub fn new(config: AdminConfig, secret: &[u8]) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        Admin {
            config,
            sessions: crate::auth::Tokens::new(&[secret, SESSION_KEY_CONTEXT].concat()),
            started: Instant::now(),
            events: Mutex::new(HashMap::new()),
            server_id: format!("{hostname}#{}", std::process::id()),
            hostname,
            emitter: std::sync::OnceLock::new(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.config.namespace
    }

    /// Counts one engine-level event for the dashboard's charts (`rawConnection`,
    /// `rawDisconnection` with its reason, `packetsIn`), per second as the Node module does.
    pub fn count(&self, kind: &'static str, sub: Option<String>) {
        let second = chrono::Utc::now().timestamp() * 1000;
        *self.events.lock().unwrap_or_else(|p| p.into_inner()).entry((second, kind, sub)).or_default() += 1;
    }

    fn session_known(&self, id: &str) -> bool {
        self.sessions.verify(id).is_some_and(|user| user == self.config.username)
    }

    fn new_session(&self) -> Option<String> {
        self.sessions.issue(&self.config.username).ok()
    }

    /// The features the dashboard may use (the Node module's names).
    fn features(&self) -> Vec<&'static str> {
        let mut features = if self.config.readonly {
            vec![]
        } else {
            vec!["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]
        };
        features.push("AGGREGATED_EVENTS");
        if self.config.development {
            features.push("ALL_EVENTS");
        }
        features
    }

    /// In development mode, sends `event` with `args` to every dashboard; nothing otherwise.
    pub fn live(&self, event: &'static str, args: impl FnOnce() -> Vec<Value>) {
        if self.config.development
            && let Some(emit) = self.emitter.get()
        {
            emit(event, args());
        }
    }

    /// Connects [`Self::live`] to the admin namespace of `io`.
    pub fn attach<A: Adapter>(&self, io: &SocketIo<A>) {
        let (io, namespace) = (io.clone(), self.config.namespace.clone());
        let emit = move |event: &'static str, args: Vec<Value>| {
            let Some(ops) = io.of(&namespace) else { return };
            tokio::spawn(async move {
                if let Err(e) = emit_args(ops, event, &args).await {
                    tracing::debug!("admin {event} not sent: {e}");
                }
            });
        };
        let _ = self.emitter.set(Box::new(emit));
    }
}

/// Registers the admin namespace; the caller awaits the result as for the main one.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, admin: &Admin) -> A::InitRes {
    io.ns(admin.namespace().to_owned(), on_connect::<A>.with(authenticate::<A>))
}

/// The Node module's middleware: a session id it handed out, or the username and a password
/// that matches the bcrypt hash.
async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(state): State<AppState>,
) -> Result<(), InvalidCredentials> {
    let Some(admin) = state.admin.clone() else { return Err(InvalidCredentials) };
    let auth = auth.unwrap_or(Value::Null);
    if auth["sessionId"].as_str().is_some_and(|id| admin.session_known(id)) {
        return Ok(());
    }
    let (username, password) = (auth["username"].as_str(), auth["password"].as_str());
    let (Some(username), Some(password)) = (username, password) else { return Err(InvalidCredentials) };
    let (hash, password) = (admin.config.password_hash.clone(), password.to_owned());
    let verified =
        state.hashing.run(move || bcrypt::verify(password, &hash).unwrap_or(false)).await.unwrap_or(false);
    if username != admin.config.username || !verified {
        tracing::warn!(sid = %socket.id, "admin login refused");
        return Err(InvalidCredentials);
    }
    tracing::info!(sid = %socket.id, "admin logged in");
    if let Some(session) = admin.new_session() {
        socket.extensions.insert(NewSession(session));
    }
    Ok(())
}

async fn on_connect<A: Adapter>(socket: SocketRef<A>, io: SocketIo<A>, State(state): State<AppState>) {
    let Some(admin) = state.admin.clone() else { return };
    if let Some(NewSession(id)) = socket.extensions.get::<NewSession>() {
        let _ = socket.emit("session", &id);
    }
    let _ = socket.emit("config", &json!({ "supportedFeatures": admin.features() }));
    if admin.config.development {
        let _ = socket.emit("all_sockets", &all_sockets(&io).await);
    }
    if admin.config.readonly {
        return;
    }
    for operation in ["emit", "join", "leave", "_disconnect"] {
        let io = io.clone();
        socket.on(operation, move |TryData(args): TryData<AllArgs>| {
            let io = io.clone();
            async move {
                let args = args.map(|a| a.0).unwrap_or_default();
                if let Err(e) = operate(&io, operation, args).await {
                    tracing::warn!("admin {operation} failed: {e}");
                }
            }
        });
    }
}

/// Every socket of the chat namespace on every node: this node's in full, the others' with
/// their rooms (an adapter knows no more of a remote socket), fetched a bounded number at once.
async fn all_sockets<A: Adapter>(io: &SocketIo<A>) -> Vec<Value> {
    let Some(main) = io.of("/") else { return vec![] };
    let local = main.clone().sockets();
    let ids: HashSet<Sid> = local.iter().map(|s| s.id).collect();
    let mut all: Vec<Value> = local.iter().map(serialize).collect();
    let remote = match main.fetch_sockets().await {
        Ok(sockets) => sockets,
        Err(e) => {
            tracing::warn!("admin all_sockets: other nodes' sockets not fetched: {e}");
            vec![]
        }
    };
    let remote = futures_util::stream::iter(remote.into_iter().filter(|s| !ids.contains(&s.data().id))).map(
        |socket| async move {
            let rooms = tokio::time::timeout(REMOTE_ROOMS_TIMEOUT, socket.rooms()).await;
            let rooms: Vec<String> = match rooms {
                Ok(Ok(rooms)) => rooms.iter().map(|r| r.to_string()).collect(),
                _ => vec![],
            };
            serialize_remote(&socket.data().id.to_string(), rooms)
        },
    );
    all.extend(remote.buffer_unordered(REMOTE_ROOMS_CONCURRENCY).collect::<Vec<_>>().await);
    all
}

/// A socket of another node, for `all_sockets`: the Node module's shape with what is known.
fn serialize_remote(id: &str, rooms: Vec<String>) -> Value {
    let handshake = json!({
        "address": null, "headers": {}, "query": {}, "issued": 0, "secure": false, "time": "", "url": "",
        "xdomain": false,
    });
    socket_json(id, "websocket", handshake, rooms)
}

/// The Node module's `SerializedSocket` of a socket in the chat namespace.
fn socket_json(id: &str, transport: &str, handshake: Value, rooms: Vec<String>) -> Value {
    json!({ "id": id, "clientId": id, "transport": transport, "nsp": "/", "data": {}, "handshake": handshake, "rooms": rooms })
}

/// In development mode, shows the dashboard what a chat socket is sent (`event_sent`) and its
/// upgrade from long-polling to websocket (`socket_updated`), as the Node module does.
pub fn watch<A: Adapter>(admin: &Arc<Admin>, socket: &SocketRef<A>) {
    if !admin.config.development {
        return;
    }
    let (tap_admin, id) = (admin.clone(), socket.id.to_string());
    socket.tap_outgoing(move |args| {
        let args: Value = serde_json::from_str(args).unwrap_or(Value::Null);
        tap_admin.live("event_sent", || vec![json!("/"), json!(id), args, now()]);
    });
    if socket.transport_type() == TransportType::Polling {
        let (admin, socket) = (admin.clone(), socket.clone());
        tokio::spawn(async move {
            if tokio::time::timeout(UPGRADE_WINDOW, socket.transport_upgraded()).await.is_ok()
                && socket.connected()
            {
                let update = json!({ "id": socket.id.to_string(), "nsp": "/", "transport": "websocket" });
                admin.live("socket_updated", || vec![update]);
            }
        });
    }
}

/// A socket as the dashboard shows it (the Node module's `SerializedSocket`): its id, transport,
/// handshake (headers without cookies or authorization, query, address, URL) and rooms.
pub fn serialize<A: Adapter>(socket: &SocketRef<A>) -> Value {
    let parts = socket.req_parts();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "cookie" | "authorization"))
        .map(|(name, value)| (name.to_string(), Value::String(value.to_str().unwrap_or_default().to_owned())))
        .collect();
    let query: serde_json::Map<String, Value> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
    let address = parts.extensions.get::<crate::client_addr::ClientAddr>().map(|a| a.0.to_string());
    let transport = match socket.transport_type() {
        TransportType::Polling => "polling",
        TransportType::Websocket => "websocket",
    };
    let handshake = json!({
        "address": address,
        "headers": headers,
        "query": query,
        "issued": chrono::Utc::now().timestamp_millis(),
        "secure": false,
        "time": chrono::Utc::now().to_rfc2822(),
        "url": parts.uri.to_string(),
        "xdomain": parts.headers.contains_key("origin"),
    });
    let rooms = socket.rooms().iter().map(|r| r.to_string()).collect();
    socket_json(&socket.id.to_string(), transport, handshake, rooms)
}

/// The time of a live event, as the Node module sends a `Date`.
pub fn now() -> Value {
    Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// What a dashboard filter selects: a socket id means that socket (on any node), anything else
/// a room.
fn narrow<A: Adapter>(ops: BroadcastOperators<A>, filter: &str) -> BroadcastOperators<A> {
    match filter.parse::<Sid>() {
        Ok(sid) => ops.to_socket(sid),
        Err(_) => ops.within(filter.to_owned()),
    }
}

/// One dashboard operation, with the Node module's arguments: `emit (nsp, filter, ev, ...args)`,
/// `join (nsp, room, filter?)`, `leave (nsp, room, filter?)`, `_disconnect (nsp, close,
/// filter?)`; no filter means the whole namespace.
async fn operate<A: Adapter>(io: &SocketIo<A>, operation: &str, args: Vec<Value>) -> Result<(), String> {
    let text = |i: usize| args.get(i).and_then(Value::as_str).map(str::to_owned);
    let nsp = text(0).ok_or("no namespace")?;
    let ops = io.of(&nsp).ok_or_else(|| format!("no namespace {nsp}"))?;
    match operation {
        "emit" => {
            let ev = text(2).ok_or("no event name")?;
            let ops = match text(1) {
                Some(filter) => narrow(ops, &filter),
                None => ops,
            };
            emit_args(ops, &ev, &args[3.min(args.len())..]).await.map_err(|e| e.to_string())
        }
        "join" | "leave" => {
            let room = text(1).ok_or("no room")?;
            let ops = match text(2) {
                Some(filter) => narrow(ops, &filter),
                None => ops,
            };
            let done = if operation == "join" { ops.join(room).await } else { ops.leave(room).await };
            done.map_err(|e| e.to_string())
        }
        "_disconnect" => {
            let ops = match text(2) {
                Some(filter) => narrow(ops, &filter),
                None => ops,
            };
            ops.disconnect().await.map_err(|e| e.to_string())
        }
        _ => Err(format!("unknown operation {operation}")),
    }
}

/// Emits `event` with each of `args` as an argument of its own (socketioxide sends a tuple as
/// separate arguments, a list as one), up to four, which is more than any dashboard event has.
async fn emit_args<A: Adapter>(
    ops: BroadcastOperators<A>,
    event: &str,
    args: &[Value],
) -> Result<(), BroadcastError> {
    match args {
        [] => ops.emit(event, &()).await,
        [a] => ops.emit(event, a).await,
        [a, b] => ops.emit(event, &(a, b)).await,
        [a, b, c] => ops.emit(event, &(a, b, c)).await,
        [a, b, c, d, ..] => ops.emit(event, &(a, b, c, d)).await,
    }
}

/// The Node module's `server_stats` payload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerStats {
    server_id: String,
    hostname: String,
    pid: u32,
    /// Seconds.
    uptime: f64,
    clients_count: usize,
    polling_clients_count: usize,
    aggregated_events: Vec<Value>,
    namespaces: Vec<Value>,
}

/// Sends this node's `server_stats` to every dashboard, every [`STATS_EVERY`], until the
/// server shuts down.
pub async fn send_stats<A: Adapter>(
    io: SocketIo<A>,
    admin: Arc<Admin>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut every = tokio::time::interval(STATS_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        let main = io.of("/").map(|ops| ops.sockets()).unwrap_or_default();
        let dashboards = io.of(admin.namespace()).map(|ops| ops.sockets().len()).unwrap_or(0);
        let polling = main.iter().filter(|s| s.transport_type() == TransportType::Polling).count();
        let events: Vec<Value> = std::mem::take(&mut *admin.events.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .map(|((timestamp, kind, sub), count)| {
                json!({ "timestamp": timestamp, "type": kind, "subType": sub, "count": count })
            })
            .collect();
        let stats = ServerStats {
            server_id: admin.server_id.clone(),
            hostname: admin.hostname.clone(),
            pid: std::process::id(),
            uptime: admin.started.elapsed().as_secs_f64(),
            clients_count: main.len() + dashboards,
            polling_clients_count: polling,
            aggregated_events: events,
            namespaces: vec![
                json!({ "name": "/", "socketsCount": main.len() }),
                json!({ "name": admin.namespace(), "socketsCount": dashboards }),
            ],
        };
        if let Some(ops) = io.of(admin.namespace())
            && let Err(e) = ops.emit("server_stats", &stats).await
        {
            tracing::debug!("server_stats not sent: {e}");
        }
    }
}
