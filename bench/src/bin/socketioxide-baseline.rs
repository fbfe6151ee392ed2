//! The socketioxide baseline: the Node baseline (`bench/node-baseline/server.mjs`) written on
//! chat-server's own socket layer (axum, and the vendored socketioxide and engineioxide with
//! chat-server's write delay and read buffer), and nothing more: users, tokens and messages
//! in memory, no store, no history, no notices, no logging, no limits. `bench/compare.sh`
//! measures it beside chat-server and Node, so that a run shows how much of chat-server's
//! cost is the socket layer (what no change of ours to the chat can take off) and how much
//! is the chat. It exists only to be measured; nothing here is for production.
//!
//! It does less than the seeds' protocol asks, as any plain socketioxide server does, so its
//! figures are what the layer could give at best: socketioxide runs each event in a task of
//! its own, so one client's messages go out of order once the machine is busy (chat-bench
//! counts them: 1.8 million at 1000 / 50 / 20 ms on 2 cores), and a socket whose send buffer
//! is full silently loses what does not fit (chat-server disconnects it instead). Nor has it
//! chat-server's HTTP edge (`http::owned_head`), so each idle socket keeps hyper's read buffer
//! and its request's extensions: its memory per socket is socketioxide's as most servers
//! use it, not chat-server's.
//!
//!   PORT=0 HOST=127.0.0.1 JWT_SECRET=… socketioxide-baseline   → prints `listening on http://HOST:PORT`

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::{api, defaults, errors, events};
use socketioxide::{
    SocketIo,
    extract::{Data, SocketRef, State as SocketState, TryData},
    handler::ConnectHandler,
};

/// Users by name (id and password) and names by id. Passwords are kept as they came:
/// logins are never measured on this server.
#[derive(Default)]
struct Users(Mutex<UserMaps>);

#[derive(Default)]
struct UserMaps {
    by_name: HashMap<String, (String, String)>,
    names: HashMap<String, Arc<str>>,
}

#[derive(Clone)]
struct App {
    users: Arc<Users>,
    secret: Arc<[u8]>,
    messages: Arc<Mutex<Vec<Value>>>,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

/// The socket's user, from its token.
#[derive(Clone)]
struct Username(Arc<str>);

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn lock(users: &Users) -> std::sync::MutexGuard<'_, UserMaps> {
    users.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn signup(State(app): State<App>, Json(c): Json<Credentials>) -> (StatusCode, Json<Value>) {
    let mut users = lock(&app.users);
    if users.by_name.contains_key(&c.username) {
        return (StatusCode::CONFLICT, Json(json!({"error": errors::USERNAME_TAKEN})));
    }
    let id = format!("{:024x}", users.names.len() + 1);
    users.names.insert(id.clone(), c.username.as_str().into());
    users.by_name.insert(c.username, (id, c.password));
    (StatusCode::CREATED, Json(json!({"message": "User created"})))
}

async fn login(State(app): State<App>, Json(c): Json<Credentials>) -> (StatusCode, Json<Value>) {
    let id = match lock(&app.users).by_name.get(&c.username) {
        Some((id, password)) if *password == c.password => id.clone(),
        _ => return (StatusCode::UNAUTHORIZED, Json(json!({"error": errors::INVALID_CREDENTIALS}))),
    };
    let claims = Claims { sub: id, exp: unix_secs() + 24 * 3600 };
    match jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&app.secret),
    ) {
        Ok(token) => (StatusCode::OK, Json(json!({"token": token}))),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e.to_string()}))),
    }
}

/// The Node baseline's `io.use`: the handshake's `auth.token`, verified (HS256 pinned), and
/// its user looked up.
async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    SocketState(app): SocketState<App>,
) -> Result<(), &'static str> {
    let token = auth.ok().and_then(|a| a.get("token")?.as_str().map(str::to_owned));
    let token = token.filter(|t| !t.is_empty()).ok_or(errors::AUTH_NO_TOKEN)?;
    let claims = jsonwebtoken::decode::<Claims>(
        &token,
        &DecodingKey::from_secret(&app.secret),
        &Validation::new(Algorithm::HS256),
    )
    .map_err(|_| errors::AUTH_INVALID_TOKEN)?
    .claims;
    let username = lock(&app.users).names.get(&claims.sub).cloned().ok_or(errors::AUTH_INVALID_TOKEN)?;
    socket.extensions.insert(Username(username));
    Ok(())
}

/// The socket's room, from its handshake's query.
#[derive(Clone)]
struct Room(Arc<str>);

/// The Node baseline's `connection` handler: the query's room, and `chat.message`.
async fn on_connect(socket: SocketRef) {
    let query = socket.req_parts().uri.query().unwrap_or_default();
    let room = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == defaults::ROOM_QUERY_KEY)
        .map_or_else(|| defaults::ROOM.to_owned(), |(_, v)| v.into_owned());
    socket.join(room.clone());
    socket.extensions.insert(Room(room.into()));
    socket.on(events::CHAT_MESSAGE, on_message);
}

/// `chat.message` (a string) to the whole room, sender included, kept in memory as the seeds'
/// backend would store it.
async fn on_message(socket: SocketRef, Data(message): Data<Value>, SocketState(app): SocketState<App>) {
    let Some(message) = message.as_str().filter(|m| !m.trim().is_empty()) else {
        socket.emit(events::ERROR, &json!({"message": errors::MESSAGE_EMPTY})).ok();
        return;
    };
    let (Some(Username(username)), Some(Room(room))) = (socket.extensions.get(), socket.extensions.get())
    else {
        return;
    };
    let stored = json!({"username": &*username, "message": message, "room": &*room, "sent": unix_secs()});
    app.messages.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(stored.clone());
    socket.within(room.to_string()).emit(events::CHAT_MESSAGE, &stored).await.ok();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secret: Arc<[u8]> = std::env::var("JWT_SECRET")?.into_bytes().into();
    let app = App { users: Arc::default(), secret, messages: Arc::default() };
    let (layer, io) = SocketIo::builder()
        .with_state(app.clone())
        .req_path(api::SOCKET_IO_PATH)
        // chat-server's defaults, so that the socket layer measured here is the one chat-server
        // runs. With socketioxide's own buffer of 128 packets a socket silently loses what
        // overflows it.
        .max_buffer_size(defaults::SOCKET_BUFFER)
        .ws_write_delay(Duration::from_millis(defaults::WRITE_DELAY_MS))
        .ws_read_buffer_size(defaults::WS_READ_BUFFER)
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    let router = Router::new()
        .route(api::SIGNUP_PATH, post(signup))
        .route(api::LOGIN_PATH, post(login))
        .with_state(app)
        .layer(layer);
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "0".into());
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}")).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    // chat-server and Node set TCP_NODELAY too.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        tcp.set_nodelay(true).ok();
    });
    axum::serve(listener, router).await?;
    Ok(())
}
