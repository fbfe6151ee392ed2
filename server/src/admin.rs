//! The server side of the official Socket.IO Admin UI (`@socket.io/admin-ui` 0.5.1, whose
//! `lib/index.ts` is the reference), in its production mode: an admin namespace (default
//! `/admin`) that the dashboard logs in to with a username and a bcrypt-hashed password, then
//! gets `session`, `config` and `server_stats` every 2 s, and may `emit`, `join`, `leave` and
//! `_disconnect` on the sockets or rooms it names (not in read-only mode).
//!
//! With several nodes, every node sends its own `server_stats` through the adapter, so the
//! dashboard sees them all, and the operations reach the sockets of every node.
//!
//! Development mode (`--admin-mode development`) adds what the dashboard's socket and room pages
//! need: `all_sockets` on login, then `socket_connected`, `socket_disconnected`, `room_joined`,
//! `room_left` and `event_received` (with the event's arguments: message text reaches the
//! dashboard, hence a warning at start). Not sent: `socket_updated` (transport upgrades) and
//! `event_sent`, for which socketioxide has no outgoing hook.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::{Value, json};
use shared::inbound::AllArgs;
use socketioxide::{
    SocketIo, TransportType,
    adapter::Adapter,
    extract::{SocketRef, State, TryData},
    handler::ConnectHandler,
    socket::Sid,
};
use socketioxide_core::adapter::DefinedAdapter;

use crate::{socket::SID_ROOM_PREFIX, state::AppState};

/// How often every node sends its `server_stats`.
pub const STATS_EVERY: Duration = Duration::from_secs(2);
/// The Node module's refusal text, which the dashboard shows.
const INVALID_CREDENTIALS: &str = "invalid credentials";
/// Sessions remembered, so the dashboard can reconnect without the password (oldest dropped).
const MAX_SESSIONS: usize = 1024;

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
    sessions: Mutex<(HashSet<String>, Vec<String>)>,
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
    pub fn new(config: AdminConfig) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        Admin {
            config,
            sessions: Mutex::new((HashSet::new(), Vec::new())),
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
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).0.contains(id)
    }

    fn new_session(&self) -> String {
        let id = crate::auth::random_hex(8);
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.0.insert(id.clone());
        sessions.1.push(id.clone());
        if sessions.1.len() > MAX_SESSIONS {
            let old = sessions.1.remove(0);
            sessions.0.remove(&old);
        }
        id
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
                let sent = match args.as_slice() {
                    [a] => ops.emit(event, a).await,
                    [a, b] => ops.emit(event, &(a, b)).await,
                    [a, b, c] => ops.emit(event, &(a, b, c)).await,
                    [a, b, c, d, ..] => ops.emit(event, &(a, b, c, d)).await,
                    [] => ops.emit(event, &()).await,
                };
                if let Err(e) = sent {
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
    let verified = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .unwrap_or(false);
    if username != admin.config.username || !verified {
        tracing::warn!(sid = %socket.id, "admin login refused");
        return Err(InvalidCredentials);
    }
    tracing::info!(sid = %socket.id, "admin logged in");
    socket.extensions.insert(NewSession(admin.new_session()));
    Ok(())
}

async fn on_connect<A: Adapter>(socket: SocketRef<A>, io: SocketIo<A>, State(state): State<AppState>) {
    let Some(admin) = state.admin.clone() else { return };
    if let Some(NewSession(id)) = socket.extensions.get::<NewSession>() {
        let _ = socket.emit("session", &id);
    }
    let _ = socket.emit("config", &json!({ "supportedFeatures": admin.features() }));
    if admin.config.development {
        let main = io.of("/").map(|ops| ops.sockets()).unwrap_or_default();
        let _ = socket.emit("all_sockets", &main.iter().map(serialize).collect::<Vec<_>>());
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
    let id = socket.id.to_string();
    json!({
        "id": id,
        "clientId": id,
        "transport": transport,
        "nsp": "/",
        "data": {},
        "handshake": {
            "address": address,
            "headers": headers,
            "query": query,
            "issued": chrono::Utc::now().timestamp_millis(),
            "secure": false,
            "time": chrono::Utc::now().to_rfc2822(),
            "url": parts.uri.to_string(),
            "xdomain": parts.headers.contains_key("origin"),
        },
        "rooms": socket.rooms().iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    })
}

/// The time of a live event, as the Node module sends a `Date`.
pub fn now() -> Value {
    Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A room the dashboard names: a socket id means that socket (its `sid:` room here).
fn target(filter: &str) -> String {
    match filter.parse::<Sid>() {
        Ok(_) => format!("{SID_ROOM_PREFIX}{filter}"),
        Err(_) => filter.to_owned(),
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
                Some(filter) => ops.to(target(&filter)),
                None => ops,
            };
            let rest = &args[3.min(args.len())..];
            let sent = match rest {
                [] => ops.emit(&ev, &()).await,
                [a] => ops.emit(&ev, a).await,
                [a, b] => ops.emit(&ev, &(a, b)).await,
                [a, b, c, ..] => ops.emit(&ev, &(a, b, c)).await,
            };
            sent.map_err(|e| e.to_string())
        }
        "join" | "leave" => {
            let room = text(1).ok_or("no room")?;
            let ops = match text(2) {
                Some(filter) => ops.within(target(&filter)),
                None => ops,
            };
            let done = if operation == "join" { ops.join(room).await } else { ops.leave(room).await };
            done.map_err(|e| e.to_string())
        }
        "_disconnect" => {
            let ops = match text(2) {
                Some(filter) => ops.within(target(&filter)),
                None => ops,
            };
            ops.disconnect().await.map_err(|e| e.to_string())
        }
        _ => Err(format!("unknown operation {operation}")),
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
