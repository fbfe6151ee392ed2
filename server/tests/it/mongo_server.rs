//! The real server on MongoDB: the Node backend's users, tokens and messages work unchanged,
//! and losing the database while running gives 503s and failing acks within the store timeout
//! (never a hang or a crash), with normal service once it is back. See [`harness::mongo`] for
//! when these tests skip.

use crate::harness;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bson::{Document, doc, oid::ObjectId};
use chrono::SecondsFormat;
use harness::{
    PASSWORD, QUIET, Reply, TestServer, WAIT, eventually,
    mongo::{OwnServer, TestDb, free_port, own_servers_allowed, raw_db},
    unique_name,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::{
    api, errors, events,
    payload::{ChatMessage, MessageAck},
};

/// The secret both backends are configured with.
const JWT_SECRET: &str = "the secret the Node backend signs with, over 32 bytes";

/// A token exactly as the Node backend mints it: `jsonwebtoken`'s `jwt.sign({sub}, secret,
/// {expiresIn})`, HS256, claims `{sub, iat, exp}`.
fn node_token(user_id: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let claims = json!({ "sub": user_id, "iat": now, "exp": now + 3600 });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_backends_users_tokens_and_messages_work_unchanged() {
    let Some(test_db) = TestDb::fresh() else { return };
    let db = raw_db(&test_db.url).await;
    // What mongoose wrote: a user with a bcrypt (cost 10) hash, and messages in two rooms.
    let (node_id, username) = (ObjectId::new(), unique_name("nodeuser"));
    let hash = bcrypt::hash(PASSWORD, 10).expect("bcrypt");
    assert!(hash.starts_with("$2b$10$"), "{hash}");
    let user = doc! { "_id": node_id, "username": &username, "password": &hash, "__v": 0 };
    db.collection::<Document>("users").insert_one(user).await.expect("raw insert");
    let node_message = |room: &str, text: &str, sent_ms: i64| {
        let sent = bson::DateTime::from_millis(sent_ms);
        let id = ObjectId::new();
        let document = doc! { "_id": id, "username": &username, "message": text, "room": room, "sent": sent,
        "__v": 0 };
        let replayed = ChatMessage {
            username: username.clone(),
            message: text.into(),
            room: room.into(),
            sent: sent.to_chrono().to_rfc3339_opts(SecondsFormat::Millis, true),
            id: id.to_hex(),
            replayed: true,
            ..Default::default()
        };
        (document, replayed)
    };
    let written = [
        node_message("general", "first from node", 1_700_000_000_123),
        node_message("elsewhere", "not in general", 1_700_000_000_500),
        node_message("general", "second from node", 1_700_000_001_000),
        node_message("general", "third from node", 1_700_000_002_999),
    ];
    let messages = db.collection::<Document>("messages");
    messages.insert_many(written.iter().map(|(d, _)| d.clone())).await.expect("raw insert");
    let mut general: Vec<ChatMessage> =
        written.into_iter().filter(|(_, m)| m.room == "general").map(|(_, m)| m).collect();

    let s = TestServer::launch(
        tempfile::tempdir().expect("tempdir"),
        Some(JWT_SECRET),
        &["--database-url", &test_db.url],
    )
    .await;
    // The bcrypt hash logs in, and our token is one the Node backend accepts (same secret,
    // HS256, `sub` = the ObjectId).
    let token = s.login_token(&username, PASSWORD).await;
    let ours = jsonwebtoken::decode::<Value>(
        &token,
        &DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &Validation::new(Algorithm::HS256),
    )
    .expect("our token verifies under the shared secret");
    assert_eq!(ours.claims["sub"], json!(node_id.to_hex()));
    let found = s.get(&api::user_path(&node_id.to_hex())).await;
    assert_eq!((found.status, found.body), (StatusCode::OK, json!({ "username": username })));

    // The Node backend's token connects and gets the Node backend's history, oldest first.
    let mut a =
        s.connect(&node_token(&node_id.to_hex()), Some("general")).await.expect("node token accepted");
    for expected in &general {
        assert_eq!(&a.next_message().await, expected);
    }
    a.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    let id = a.send("from rust").await;
    let live = a.next_message().await;
    assert_eq!((live.id.as_str(), live.message.as_str(), live.replayed), (id.as_str(), "from rust", false));
    let stored =
        messages.find_one(doc! { "_id": ObjectId::parse_str(&id).expect("oid") }).await.expect("find");
    let stored = stored.expect("the acked message is in `messages`");
    assert_eq!((stored.get_str("username"), stored.get_str("room")), (Ok(username.as_str()), Ok("general")));
    general.push(ChatMessage { replayed: true, ..live });

    // Our login token connects too; Node's and ours interleave in order, and live both ways.
    let mut b = s.connect(&token, Some("general")).await.expect("our token accepted");
    for expected in &general {
        assert_eq!(&b.next_message().await, expected);
    }
    let id = b.send("second socket").await;
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_message().await.id, id);
    }
    a.disconnect().await;
    b.disconnect().await;
    s.stop().await;
}

/// The store timeout of the outage test, and how much longer than it a refusal may take.
const STORE_TIMEOUT_MS: u64 = 1500;
const SLACK: Duration = Duration::from_millis(1000);

/// Runs `call` and says how long it took.
async fn timed<T>(call: impl Future<Output = T>) -> (T, Duration) {
    let began = Instant::now();
    let out = call.await;
    (out, began.elapsed())
}

/// Asserts an HTTP 503 `{error}` with `Retry-After`, in time.
fn assert_unavailable(what: &str, (reply, took): &(Reply, Duration)) {
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {reply:?}");
    assert_eq!(reply.error(), errors::SERVICE_UNAVAILABLE, "{what}");
    assert!(reply.retry_after() > 0, "{what}");
    let bound = Duration::from_millis(STORE_TIMEOUT_MS) + SLACK;
    assert!(*took <= bound, "{what} answered after {took:?}, more than {bound:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_mongodb_gives_503s_and_failed_acks_then_service_resumes() {
    if !own_servers_allowed() {
        return;
    }
    let (dir, port) = (tempfile::tempdir().expect("tempdir"), free_port());
    let mongo = OwnServer::start(port, dir.path());
    let timeout_ms = STORE_TIMEOUT_MS.to_string();
    let s = TestServer::start(&["--database-url", &mongo.url, "--store-timeout-ms", &timeout_ms]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let mut a = s.connect_user(&alice, Some("outage")).await;
    let before = a.send("before the outage").await;
    assert_eq!(a.next_message().await.id, before);

    drop(mongo);
    // All at once, as a busy server would see them; each must fail on its own, in time.
    let (newcomer, alice_path) = (unique_name("carol"), api::user_path(&alice.id));
    let (signup, login, lookup, health, ack, handshake) = tokio::join!(
        timed(s.signup(&newcomer, PASSWORD)),
        timed(s.login(&alice.username, PASSWORD)),
        timed(s.get(&alice_path)),
        timed(s.get(api::READY_PATH)),
        timed(a.emit_with_ack(events::CHAT_MESSAGE, json!("lost in the outage"), WAIT)),
        timed(s.connect(&bob.token, Some("outage"))),
    );
    assert_unavailable("signup", &signup);
    assert_unavailable("login", &login);
    assert_unavailable("GET user", &lookup);
    // Not ready, but alive: the process still serves.
    assert_eq!(health.0.status, StatusCode::SERVICE_UNAVAILABLE, "readyz while down: {:?}", health.0);
    assert_eq!(health.0.body, json!({"status": "unavailable", "store": "unavailable", "adapter": "local"}));
    assert!(health.1 <= Duration::from_millis(STORE_TIMEOUT_MS) + SLACK, "readyz took {:?}", health.1);
    let alive = s.get(api::HEALTH_PATH).await;
    assert_eq!((alive.status, &alive.body["store"]), (StatusCode::OK, &json!("unavailable")));
    let bound = Duration::from_millis(STORE_TIMEOUT_MS) + SLACK;
    assert_eq!(ack.0, serde_json::to_value(MessageAck::failed(errors::MESSAGE_NOT_STORED)).unwrap());
    assert!(ack.1 <= bound, "the failing ack came after {:?}", ack.1);
    assert_eq!(a.next_error().await, errors::MESSAGE_NOT_STORED);
    assert_eq!(handshake.0.err().as_deref(), Some(errors::SERVICE_UNAVAILABLE), "a new socket while down");
    assert!(handshake.1 <= bound, "the handshake was refused after {:?}", handshake.1);
    eprintln!(
        "while down: signup {:?}, login {:?}, user {:?}, readyz {:?}, ack {:?}, handshake {:?}",
        signup.1, login.1, lookup.1, health.1, ack.1, handshake.1
    );

    let mongo = OwnServer::start(port, dir.path());
    let (_, recovery) =
        timed(eventually("readyz 200 after MongoDB is back", Duration::from_secs(20), || async {
            (s.get(api::READY_PATH).await.status == StatusCode::OK).then_some(())
        }))
        .await;
    eprintln!("ready again {recovery:?} after MongoDB was back");
    let signup = s.signup(&newcomer, PASSWORD).await;
    assert_eq!(signup.status, StatusCode::CREATED, "the signup refused while down: {signup:?}");
    s.login_token(&alice.username, PASSWORD).await;
    // The socket that lived through the outage works again.
    let after = a.send("after the outage").await;
    while a.next_message().await.id != after {}
    // Only what was acked is stored, and only what is stored is history for a new client.
    let db = raw_db(&mongo.url).await;
    let messages = db.collection::<Document>("messages");
    let lost = messages.count_documents(doc! { "message": "lost in the outage" }).await.expect("count");
    assert_eq!(lost, 0, "the failed message was not written");
    let mut b = s.connect_user(&bob, Some("outage")).await;
    let mut replayed = Vec::new();
    while let Some(args) = b.try_next_args(events::CHAT_MESSAGE, QUIET).await {
        let m: ChatMessage = serde_json::from_value(args[0].clone()).expect("a chat.message");
        replayed.push((m.message, m.replayed));
    }
    let expected = [("before the outage".to_owned(), true), ("after the outage".to_owned(), true)];
    assert_eq!(replayed, expected, "only acked messages are history");
    a.disconnect().await;
    b.disconnect().await;
    s.stop().await;
}
