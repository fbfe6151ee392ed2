//! Test harness: the real server on an ephemeral port, HTTP helpers, a Socket.IO client built
//! on rust_socketio 0.6 and a raw Engine.IO v4 websocket client.
//!
//! The rust_socketio wrapper works around the crate's measured pitfalls (see the team README):
//! callbacks only forward into a channel, a rejection is read from the `ConnectError` text,
//! reconnection is off, one ack is in flight at a time under our own timeout, and nothing is
//! emitted before `Event::Connect` (whose data, thanks to the vendored patch, carries the socket
//! id). The raw client sends what rust_socketio cannot: malformed packets, binary attachments,
//! oversized frames, and connections from another loopback address. [`mongo`] provides the
//! MongoDB side: the test server, a fresh database per test, and servers of a test's own.

pub mod cluster;
pub mod mongo;

/// One `#[tokio::test]` per test body and store: `sqlite::$test` and `mongo::$test`. A body
/// takes the flags that choose the store, starts its server with them and stops it at the end
/// (before the wrapper drops the MongoDB database).
macro_rules! on_both_stores {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&[]).await;
                }
            )+
        }
        mod mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(db) = $crate::harness::mongo::TestDb::fresh() else { return };
                    super::$test(&["--database-url", &db.url]).await;
                }
            )+
        }
    };
}
pub(crate) use on_both_stores;

use std::{
    collections::{HashSet, VecDeque},
    hash::{BuildHasher, RandomState},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use chat_tui::net::wire::{self, ErrorKind};
use clap::Parser;
use futures_util::{FutureExt, SinkExt, StreamExt};
use reqwest::{StatusCode, Url, header::HeaderMap};
use rust_socketio::{Event, Payload, TransportType, asynchronous::ClientBuilder};
use serde_json::{Value, json};
use shared::{api, events, payload::ChatMessage};
use tempfile::TempDir;
use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::{Instant, sleep, timeout},
};
use tokio_tungstenite::{
    WebSocketStream, client_async,
    tungstenite::{Message, client::IntoClientRequest},
};

/// A password every helper-made user shares; valid under `shared::validate::password`.
pub const PASSWORD: &str = "correct horse battery";
/// Default wait for anything the server should do promptly.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits to be confident something did *not* happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// A second loopback address, so one test can act as two clients of different addresses.
pub fn loopback(last_octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet))
}

/// 64 random bits (std only: a freshly keyed SipHash of a counter).
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `prefix` plus a random suffix (`prefix` up to 23 characters keeps it a valid username).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{:08x}", random_u64() as u32)
}

/// A random 24-hex-digit ObjectId that names no user.
pub fn random_object_id() -> String {
    format!("{:08x}{:016x}", random_u64() as u32, random_u64())
}

/// Polls `check` every 50 ms until it returns `Some`, panicking after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        sleep(Duration::from_millis(50)).await;
    }
}

/// Checks one observer's view of a busy room: every id once, replayed ones (exactly `history`
/// of them) before live ones, and together a gap-free run of the acked ids up to the last one.
pub fn assert_seamless(who: &str, got: &[ChatMessage], acked: &[String], history: usize) {
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "{who}: duplicate ids");
    let start = acked.iter().position(|id| id == ids[0]).unwrap_or_else(|| panic!("{who}: unknown first id"));
    let expected: Vec<&str> = acked[start..].iter().map(String::as_str).collect();
    assert_eq!(ids, expected, "{who}: not the acked sequence from its first message on (gap or reorder)");
    let replayed = got.iter().take_while(|m| m.replayed).count();
    assert!(got[replayed..].iter().all(|m| !m.replayed), "{who}: a replayed message after a live one");
    assert_eq!(replayed, history, "{who}: the room had more than --history messages at the join");
    assert!(got.len() > replayed, "{who}: no live message");
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// `chat_server::run` on `127.0.0.1:0` with its own data dir; a [`Client`] of it by deref.
pub struct TestServer {
    client: Client,
    data_dir: TempDir,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), String>>,
}

impl TestServer {
    /// Starts a server on a fresh temporary data dir; `extra_args` are `chat-server` flags.
    pub async fn start(extra_args: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().expect("create a temp dir"), extra_args).await
    }

    /// Starts a server on `data_dir` (e.g. the one an earlier server left behind) and waits
    /// until `/healthz` answers.
    pub async fn start_in(data_dir: TempDir, extra_args: &[&str]) -> Self {
        Self::launch(data_dir, None, extra_args).await
    }

    /// Starts a server with `jwt_secret` as if `JWT_SECRET` were set (`None`: unset, whatever
    /// the test process's environment says, so the secret is the one kept in the data dir).
    pub async fn launch(data_dir: TempDir, jwt_secret: Option<&str>, extra_args: &[&str]) -> Self {
        let dir = data_dir.path().to_str().expect("utf-8 temp dir").to_owned();
        let mut args = vec!["chat-server", "--host", "127.0.0.1", "--port", "0", "--data-dir", &dir];
        args.extend_from_slice(extra_args);
        let mut config = chat_server::Config::try_parse_from(args).expect("valid test flags");
        config.jwt_secret = jwt_secret.map(str::to_owned);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, stop) = oneshot::channel::<()>();
        let run = chat_server::run(config, listener, async {
            let _ = stop.await;
        });
        let task = tokio::spawn(async move { run.await.map_err(|e| format!("{e:#}")) });
        let mut server = TestServer { client: Client::new(addr), data_dir, shutdown, task };
        server.wait_until_healthy().await;
        server
    }

    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.task.is_finished() {
                panic!("the server stopped while starting: {:?}", (&mut self.task).await);
            }
            if self.client.is_healthy().await {
                return;
            }
            assert!(Instant::now() < deadline, "server not healthy within 20 s");
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Triggers the graceful shutdown, checks that `run` returned `Ok` within 10 s, and hands
    /// back the data dir for a restart.
    pub async fn stop(self) -> TempDir {
        let _ = self.shutdown.send(());
        match timeout(Duration::from_secs(10), self.task).await {
            Err(_) => panic!("server did not stop within 10 s of the shutdown signal"),
            Ok(joined) => joined.expect("server task panicked").expect("run returned an error"),
        }
        self.data_dir
    }
}

impl std::ops::Deref for TestServer {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// HTTP and Socket.IO helpers for one server address (in-process or a process of its own).
pub struct Client {
    pub addr: SocketAddr,
    http: reqwest::Client,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, http: http_client(None) }
    }

    /// Whether `/healthz` answers 200 now.
    pub async fn is_healthy(&self) -> bool {
        matches!(self.http.get(self.url(api::HEALTH_PATH)).send().await, Ok(r) if r.status() == StatusCode::OK)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    // ---- HTTP --------------------------------------------------------------------------

    /// The server's default client (from 127.0.0.1).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(self.http.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn signup(&self, username: &str, password: &str) -> Reply {
        self.post_json(api::SIGNUP_PATH, &json!({"username": username, "password": password})).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post_json(api::LOGIN_PATH, &json!({"username": username, "password": password})).await
    }

    /// Signs up a fresh user named `prefix_<random>` and logs it in.
    pub async fn user(&self, prefix: &str) -> TestUser {
        let username = unique_name(prefix);
        let signup = self.signup(&username, PASSWORD).await;
        assert_eq!(signup.status, StatusCode::CREATED, "signup {username}: {:?}", signup.body);
        let id = signup.body["id"].as_str().expect("signup id").to_owned();
        let token = self.login_token(&username, PASSWORD).await;
        TestUser { id, username, token }
    }

    /// Logs in and returns the token, asserting a 200.
    pub async fn login_token(&self, username: &str, password: &str) -> String {
        let login = self.login(username, password).await;
        assert_eq!(login.status, StatusCode::OK, "login {username}: {:?}", login.body);
        login.body["token"].as_str().expect("login token").to_owned()
    }

    // ---- Socket.IO ---------------------------------------------------------------------

    /// Connects with `auth: {token}` to `room` (no `room` query when `None`).
    pub async fn connect(&self, token: &str, room: Option<&str>) -> Result<SioClient, String> {
        let query: Vec<(&str, &str)> = room.map(|r| ("room", r)).into_iter().collect();
        self.connect_with(Some(json!({ "token": token })), &query).await
    }

    /// Like [`Self::connect`] but panics on a rejection.
    pub async fn connect_user(&self, user: &TestUser, room: Option<&str>) -> SioClient {
        match self.connect(&user.token, room).await {
            Ok(c) => c,
            Err(e) => panic!("{} could not connect to {room:?}: {e}", user.username),
        }
    }

    /// Connects with any handshake `auth` and extra query pairs. `Err` carries the server's
    /// `connect_error` message, or a description of a refused or silent connection.
    pub async fn connect_with(
        &self,
        auth: Option<Value>,
        query: &[(&str, &str)],
    ) -> Result<SioClient, String> {
        let mut url = Url::parse(&self.url("/socket.io/")).expect("url");
        for (k, v) in query {
            url.query_pairs_mut().append_pair(k, v);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (on_any, on_error, on_connect, on_close) = (tx.clone(), tx.clone(), tx.clone(), tx);
        let mut builder = ClientBuilder::new(url.as_str())
            .transport_type(TransportType::Websocket)
            .reconnect(false)
            .on_any(move |event, payload, _| {
                let args = payload_args(payload);
                let _ = on_any.send((event_name(&event.to_string(), args.first()).to_owned(), args));
                async {}.boxed()
            })
            .on(Event::Error, move |payload, _| {
                let _ = on_error.send(classify_error(&payload));
                async {}.boxed()
            })
            // The vendored rust_socketio passes the CONNECT packet's `{"sid"}` on.
            .on(Event::Connect, move |payload, _| {
                let _ = on_connect.send((CONNECTED.to_owned(), payload_args(payload)));
                async {}.boxed()
            })
            .on(Event::Close, move |_, _| {
                let _ = on_close.send((DISCONNECTED.to_owned(), vec![]));
                async {}.boxed()
            });
        if let Some(auth) = auth {
            builder = builder.auth(auth);
        }
        let client = builder.connect().await.map_err(|e| format!("connection refused: {e}"))?;
        let mut sio = SioClient { client, sid: String::new(), events: rx, pending: VecDeque::new() };
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Some((name, args))) = timeout(left, sio.events.recv()).await else {
                let _ = sio.client.disconnect().await;
                return Err("no connect nor connect_error within 5 s".into());
            };
            match name.as_str() {
                CONNECTED => {
                    let sid = args.first().and_then(|v| v["sid"].as_str());
                    sio.sid = sid.expect("the CONNECT packet carries the socket id").to_owned();
                    return Ok(sio);
                }
                CONNECT_ERROR | DISCONNECTED => {
                    let _ = sio.client.disconnect().await;
                    return Err(args.first().and_then(Value::as_str).unwrap_or("disconnected").to_owned());
                }
                _ => sio.pending.push_back((name, args)),
            }
        }
    }

    /// A raw Engine.IO v4 websocket client, authenticated with `token`, in `room`, optionally
    /// from another loopback address.
    pub async fn connect_raw(
        &self,
        token: &str,
        room: &str,
        from: Option<IpAddr>,
    ) -> Result<RawClient, String> {
        self.connect_raw_with(token, room, from, &[]).await
    }

    /// [`Self::connect_raw`] with extra headers on the websocket upgrade request.
    pub async fn connect_raw_with(
        &self,
        token: &str,
        room: &str,
        from: Option<IpAddr>,
        headers: &[(&'static str, &str)],
    ) -> Result<RawClient, String> {
        let socket = TcpSocket::new_v4().expect("tcp socket");
        if let Some(ip) = from {
            socket.bind(SocketAddr::new(ip, 0)).expect("bind a loopback address");
        }
        let stream = socket.connect(self.addr).await.map_err(|e| format!("tcp connect: {e}"))?;
        stream.set_nodelay(true).expect("nodelay");
        let mut url =
            Url::parse(&format!("ws://{}/socket.io/?EIO=4&transport=websocket", self.addr)).unwrap();
        url.query_pairs_mut().append_pair("room", room);
        let mut request = url.as_str().into_client_request().expect("websocket request");
        for (name, value) in headers {
            request.headers_mut().append(*name, value.parse().expect("header value"));
        }
        let (ws, _) = client_async(request, stream).await.map_err(|e| format!("websocket upgrade: {e}"))?;
        let mut raw =
            RawClient { ws, sid: String::new(), pending: VecDeque::new(), next_ack: 0, close_code: None };
        match raw.read_frame(WAIT).await {
            Frame::Engine(open) if open.starts_with('0') => {}
            other => return Err(format!("expected the Engine.IO open packet, got {other:?}")),
        }
        raw.send_text(&format!("40{}", json!({ "token": token }))).await;
        loop {
            match raw.read_frame(WAIT).await {
                Frame::Socket(p) if p.starts_with('0') => {
                    let v: Value = serde_json::from_str(&p[1..]).expect("CONNECT json");
                    raw.sid = v["sid"].as_str().expect("sid in CONNECT").to_owned();
                    return Ok(raw);
                }
                Frame::Socket(p) if p.starts_with('4') => {
                    let v: Value = serde_json::from_str(&p[1..]).expect("CONNECT_ERROR json");
                    return Err(v["message"].as_str().unwrap_or_default().to_owned());
                }
                Frame::Socket(p) => raw.pending.push_back(p),
                other => return Err(format!("no Socket.IO CONNECT answer: {other:?}")),
            }
        }
    }
}

/// The HTTP client tests use, optionally bound to another loopback address.
pub fn http_client(from: Option<IpAddr>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(ip) = from {
        b = b.local_address(ip);
    }
    b.build().expect("reqwest client")
}

/// A user that exists on the server and is logged in.
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub token: String,
}

/// One HTTP answer; `body` is the parsed JSON, or the text as a JSON string when it is not JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `error` field, asserting the body is `{error: <string>}`.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_else(|| panic!("expected {{error}}, got {self:?}"))
    }

    /// `Retry-After` in seconds, asserting it is present and numeric.
    pub fn retry_after(&self) -> u64 {
        let v = self
            .headers
            .get(reqwest::header::RETRY_AFTER)
            .unwrap_or_else(|| panic!("no Retry-After: {self:?}"));
        v.to_str().ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad Retry-After {v:?}"))
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let r = req.send().await.expect("HTTP request");
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = r.bytes().await.expect("HTTP body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Reply { status, headers, body }
}

// ---------------------------------------------------------------------------------------
// Socket.IO client (rust_socketio 0.6)
// ---------------------------------------------------------------------------------------

/// The name both clients give a `chat.message` without `username`: a server notice (a join),
/// kept apart so that tests waiting for chat messages see only those.
pub const NOTICE: &str = "$notice";

/// `name`, or [`NOTICE`] for a `chat.message` that is a server notice.
fn event_name<'a>(name: &'a str, first_arg: Option<&Value>) -> &'a str {
    let is_notice = name == events::CHAT_MESSAGE && first_arg.is_some_and(|v| v.get("username").is_none());
    if is_notice { NOTICE } else { name }
}

/// Names the wrapper gives to what rust_socketio reports outside of custom events.
const CONNECTED: &str = "$connect";
const DISCONNECTED: &str = "$disconnect";
const CONNECT_ERROR: &str = "$connect_error";
const CLIENT_ERROR: &str = "$client_error";

fn payload_args(payload: Payload) -> Vec<Value> {
    match payload {
        Payload::Text(values) => values,
        Payload::Binary(bytes) => vec![json!({ "binary": bytes.len() })],
        #[allow(deprecated)]
        Payload::String(s) => vec![Value::String(s)],
    }
}

/// rust_socketio reports the server's `error` event, connect errors and its own failures all as
/// `Event::Error`; the client's own reading of them (`chat_tui::net::wire`) tells them apart.
fn classify_error(payload: &Payload) -> (String, Vec<Value>) {
    match wire::classify_error(payload) {
        ErrorKind::Rejected(message) => (CONNECT_ERROR.to_owned(), vec![Value::String(message)]),
        ErrorKind::Transport(text) => (CLIENT_ERROR.to_owned(), vec![Value::String(text)]),
        ErrorKind::Server(_) => (events::ERROR.to_owned(), payload_args(payload.clone())),
    }
}

/// A connected rust_socketio client whose events arrive in order in a channel.
pub struct SioClient {
    client: rust_socketio::asynchronous::Client,
    /// This socket's id, from the CONNECT packet.
    pub sid: String,
    events: mpsc::UnboundedReceiver<(String, Vec<Value>)>,
    /// Events received while waiting for another name, oldest first.
    pending: VecDeque<(String, Vec<Value>)>,
}

impl SioClient {
    /// The next `name` event's arguments, or `None` after `within`. Other events stay queued.
    pub async fn try_next_args(&mut self, name: &str, within: Duration) -> Option<Vec<Value>> {
        if let Some(i) = self.pending.iter().position(|(n, _)| n == name) {
            return self.pending.remove(i).map(|(_, args)| args);
        }
        let deadline = Instant::now() + within;
        loop {
            match timeout(deadline.saturating_duration_since(Instant::now()), self.events.recv()).await {
                Ok(Some((n, args))) if n == name => return Some(args),
                Ok(Some(other)) => self.pending.push_back(other),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event whose name is one of `names`, with its first argument, in arrival
    /// order across those names; panics after `within`. Other events stay queued.
    pub async fn next_of(&mut self, names: &[&str], within: Duration) -> (String, Value) {
        let found = match self.pending.iter().position(|(n, _)| names.contains(&n.as_str())) {
            Some(i) => self.pending.remove(i),
            None => {
                let deadline = Instant::now() + within;
                loop {
                    match timeout(deadline.saturating_duration_since(Instant::now()), self.events.recv())
                        .await
                    {
                        Ok(Some((n, args))) if names.contains(&n.as_str()) => break Some((n, args)),
                        Ok(Some(other)) => self.pending.push_back(other),
                        Ok(None) | Err(_) => break None,
                    }
                }
            }
        };
        match found {
            Some((name, args)) => (name, args.into_iter().next().unwrap_or(Value::Null)),
            None => panic!("none of {names:?} within {within:?}; queued meanwhile: {:?}", self.pending),
        }
    }

    /// The first argument of the next `name` event; panics after `within`.
    pub async fn next_event(&mut self, name: &str, within: Duration) -> Value {
        match self.try_next_args(name, within).await {
            Some(args) => args.into_iter().next().unwrap_or(Value::Null),
            None => panic!("no `{name}` event within {within:?}; queued meanwhile: {:?}", self.pending),
        }
    }

    /// Panics if a `name` event arrives within `within`.
    pub async fn expect_no_event(&mut self, name: &str, within: Duration) {
        if let Some(args) = self.try_next_args(name, within).await {
            panic!("unexpected `{name}` event: {args:?}");
        }
    }

    /// The next `chat.message`, parsed.
    pub async fn next_message(&mut self) -> ChatMessage {
        let v = self.next_event(events::CHAT_MESSAGE, WAIT).await;
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("bad chat.message {v}: {e}"))
    }

    /// The next `error` event's `message`.
    pub async fn next_error(&mut self) -> String {
        let v = self.next_event(events::ERROR, WAIT).await;
        v["message"].as_str().unwrap_or_else(|| panic!("error event without message: {v}")).to_owned()
    }

    /// Emits `event` with one argument.
    pub async fn emit(&self, event: &str, data: Value) {
        self.client.emit(event, Payload::Text(vec![data])).await.expect("emit");
    }

    /// Emits `event` with one argument and an ack; returns the ack's first argument.
    pub async fn emit_with_ack(&self, event: &str, data: Value, within: Duration) -> Value {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.client
            .emit_with_ack(event, Payload::Text(vec![data]), within, move |payload, _| {
                let _ = tx.send(wire::ack_value(&payload));
                async {}.boxed()
            })
            .await
            .expect("emit_with_ack");
        match timeout(within, rx.recv()).await {
            Ok(Some(answer)) => answer,
            _ => panic!("no ack for `{event}` within {within:?}"),
        }
    }

    /// Sends `text` to the handshake room and returns the stored message's id.
    pub async fn send(&self, text: &str) -> String {
        let ack = self.emit_with_ack(events::CHAT_MESSAGE, json!(text), WAIT).await;
        assert_eq!(ack["success"], json!(true), "message {text:?} not stored: {ack}");
        ack["id"].as_str().expect("ack id").to_owned()
    }

    pub async fn disconnect(self) {
        self.client.disconnect().await.expect("disconnect");
    }
}

// ---------------------------------------------------------------------------------------
// Raw Engine.IO v4 / Socket.IO v5 websocket client
// ---------------------------------------------------------------------------------------

/// What one read from the websocket gave.
#[derive(Debug)]
pub enum Frame {
    /// An Engine.IO packet other than a message (`0` open, `1` close, `6` noop ...).
    Engine(String),
    /// A Socket.IO packet (the Engine.IO `4` removed), e.g. `2["ev",..]`, `3 7[..]`, `1`.
    Socket(String),
    /// A binary frame (its bytes are not needed by any test).
    Binary,
    Closed,
    Timeout,
}

pub struct RawClient {
    ws: WebSocketStream<TcpStream>,
    /// The Socket.IO socket id from the CONNECT answer.
    pub sid: String,
    pending: VecDeque<String>,
    next_ack: u64,
    /// The code of the server's websocket close frame, once one came.
    close_code: Option<u16>,
}

impl RawClient {
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("websocket send");
    }

    /// [`Self::send_text`] to a server that may have closed the connection: `false` once it is
    /// gone.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::text(text)).await.is_ok()
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("websocket send");
    }

    /// Reads one frame, answering Engine.IO pings on the way.
    async fn read_frame(&mut self, within: Duration) -> Frame {
        let deadline = Instant::now() + within;
        loop {
            let next = timeout(deadline.saturating_duration_since(Instant::now()), self.ws.next()).await;
            let msg = match next {
                Err(_) => return Frame::Timeout,
                Ok(Some(Ok(Message::Close(frame)))) => {
                    self.close_code = frame.map(|f| f.code.into());
                    return Frame::Closed;
                }
                Ok(None | Some(Err(_))) => return Frame::Closed,
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) if t.as_str() == "2" => {
                    let _ = self.ws.send(Message::text("3")).await;
                }
                Message::Text(t) => {
                    return match t.strip_prefix('4') {
                        Some(p) => Frame::Socket(p.to_owned()),
                        None if t.as_str() == "1" => Frame::Closed,
                        None => Frame::Engine(t.to_string()),
                    };
                }
                Message::Binary(_) => return Frame::Binary,
                _ => {}
            }
        }
    }

    /// Reads Socket.IO packets until `accept` takes one; others are kept for later.
    async fn next_packet<T>(
        &mut self,
        within: Duration,
        mut accept: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        if let Some((i, v)) = self.pending.iter().enumerate().find_map(|(i, p)| accept(p).map(|v| (i, v))) {
            self.pending.remove(i);
            return Some(v);
        }
        let deadline = Instant::now() + within;
        loop {
            match self.read_frame(deadline.saturating_duration_since(Instant::now())).await {
                Frame::Socket(p) => match accept(&p) {
                    Some(v) => return Some(v),
                    None => self.pending.push_back(p),
                },
                Frame::Engine(_) | Frame::Binary => {}
                Frame::Closed | Frame::Timeout => return None,
            }
        }
    }

    /// Emits `42["event", ...args]`.
    pub async fn emit(&mut self, event: &str, args: &[Value]) {
        let packet: Vec<Value> = std::iter::once(json!(event)).chain(args.iter().cloned()).collect();
        self.send_text(&format!("42{}", Value::Array(packet))).await;
    }

    /// Emits `42<id>["event", ...args]` and returns the first argument of `43<id>[...]`.
    pub async fn emit_with_ack(&mut self, event: &str, args: &[Value]) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet: Vec<Value> = std::iter::once(json!(event)).chain(args.iter().cloned()).collect();
        self.send_text(&format!("42{id}{}", Value::Array(packet))).await;
        let prefix = format!("3{id}[");
        let answer = self
            .next_packet(WAIT, |p| {
                p.starts_with(&prefix)
                    .then(|| serde_json::from_str::<Value>(&p[prefix.len() - 1..]).expect("ack json"))
            })
            .await;
        match answer {
            Some(Value::Array(a)) => a.into_iter().next().unwrap_or(Value::Null),
            other => panic!("no ack for `{event}` {args:?}: {other:?}"),
        }
    }

    /// The first argument of the next `name` event; panics after `within`.
    pub async fn next_event(&mut self, name: &str, within: Duration) -> Value {
        let found = self
            .next_packet(within, |p| {
                let v: Value = serde_json::from_str(p.strip_prefix('2')?).ok()?;
                let event = event_name(v[0].as_str()?, v.get(1));
                (event == name).then(|| v.get(1).cloned().unwrap_or(Value::Null))
            })
            .await;
        found.unwrap_or_else(|| panic!("no `{name}` event within {within:?}; queued: {:?}", self.pending))
    }

    /// Sends `text` with an ack and asserts it was stored: proof the socket still works.
    pub async fn send_ok(&mut self, text: &str) -> String {
        let ack = self.emit_with_ack(events::CHAT_MESSAGE, &[json!(text)]).await;
        assert_eq!(ack["success"], json!(true), "message {text:?} not stored: {ack}");
        ack["id"].as_str().expect("ack id").to_owned()
    }

    /// Up to `count` Socket.IO packets (queued ones first), fewer if the connection closes or
    /// `within` passes.
    pub async fn read_packets(&mut self, count: usize, within: Duration) -> Vec<String> {
        let mut packets: Vec<String> = self.pending.drain(..).collect();
        let deadline = Instant::now() + within;
        while packets.len() < count {
            match self.read_frame(deadline.saturating_duration_since(Instant::now())).await {
                Frame::Socket(p) => packets.push(p),
                Frame::Closed | Frame::Timeout => break,
                Frame::Engine(_) | Frame::Binary => {}
            }
        }
        packets
    }

    /// Every Socket.IO packet (queued ones first) until the server closes the connection or
    /// `within` passes.
    pub async fn packets_until_closed(&mut self, within: Duration) -> Vec<String> {
        let mut packets: Vec<String> = self.pending.drain(..).collect();
        let deadline = Instant::now() + within;
        loop {
            match self.read_frame(deadline.saturating_duration_since(Instant::now())).await {
                Frame::Socket(p) if p == "1" => return packets,
                Frame::Socket(p) => packets.push(p),
                Frame::Closed | Frame::Timeout => return packets,
                Frame::Engine(_) | Frame::Binary => {}
            }
        }
    }

    /// True once the server has closed the connection (Engine.IO or websocket close, or a
    /// Socket.IO DISCONNECT), false if it is still open after `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            match self.read_frame(deadline.saturating_duration_since(Instant::now())).await {
                Frame::Closed => return true,
                Frame::Socket(p) if p == "1" => return true,
                Frame::Timeout => return false,
                Frame::Socket(p) => self.pending.push_back(p),
                Frame::Engine(_) | Frame::Binary => {}
            }
        }
    }

    /// The websocket close code the server sent once it closed the connection within
    /// `within`; `None` if it did not close or sent no code.
    pub async fn close_code_within(&mut self, within: Duration) -> Option<u16> {
        if self.closed_within(within).await { self.close_code } else { None }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Leaves as socket.io-client's `disconnect()` does: a Socket.IO DISCONNECT packet and the
    /// websocket's close frame, here in one write, so the server reads both at once.
    pub async fn disconnect_and_close(mut self) {
        self.ws.feed(Message::text("41")).await.expect("websocket feed");
        self.ws.feed(Message::Close(None)).await.expect("websocket feed");
        self.ws.flush().await.expect("websocket flush");
    }
}
