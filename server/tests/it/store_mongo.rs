//! The MongoDB store against a real MongoDB-wire-compatible server.
//!
//! `TEST_MONGODB_URL=mongodb://HOST:PORT/DB` names the server (see [`harness::mongo`] for
//! when tests skip). Each test uses its own fresh database `chat_test_<random>`, so runs and
//! parallel tests never see each other's data.
//!
//! Besides the shared conformance suite: documents are exactly what mongoose writes, users
//! written by the Node backend log in, start-up never alters data, and an unreachable or lost
//! server gives `Unavailable` within the timeout and service resumes when it is back.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use bson::{Bson, Document, doc, oid::ObjectId};
use chat_server::store::{self, Message, Store, StoreError, mongo::MongoStore};
use futures_util::TryStreamExt;
use harness::mongo::{OwnServer, TestDb, free_port, own_servers_allowed, raw_db};
use mongodb::{Database, IndexModel, options::IndexOptions};

use crate::common;
use crate::harness;

common::conformance::conformance_tests!(match fresh().await {
    Some(fixture) => fixture,
    None => return,
});

/// Generous for a loaded CI machine; the outage test uses a short one of its own.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A store on a fresh database, wrapped like the server wraps it (`Timed`).
async fn fresh() -> Option<(Arc<dyn Store>, TestDb)> {
    let db = TestDb::fresh()?;
    let store = store::open(Some(&db.url), Path::new("unused-for-mongodb"), TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", db.url));
    Some((store, db))
}

async fn all_docs(db: &Database, coll: &str) -> Vec<Document> {
    let cursor = db.collection::<Document>(coll).find(doc! {}).sort(doc! { "_id": 1 }).await.expect("find");
    cursor.try_collect().await.expect("read all documents")
}

async fn index_specs(db: &Database, coll: &str) -> Vec<(String, Document, bool)> {
    let cursor = db.collection::<Document>(coll).list_indexes().await.expect("list indexes");
    let indexes: Vec<IndexModel> = cursor.try_collect().await.expect("read indexes");
    let mut specs: Vec<_> = indexes
        .into_iter()
        .map(|ix| {
            let opts = ix.options.unwrap_or_default();
            (opts.name.unwrap_or_default(), ix.keys, opts.unique.unwrap_or(false))
        })
        .collect();
    specs.sort_by(|a, b| a.0.cmp(&b.0));
    specs
}

fn keys(doc: &Document) -> Vec<&str> {
    doc.keys().map(String::as_str).collect()
}

/// A message from alice, sent now.
fn message(room: &str, text: &str) -> Message {
    common::conformance::message(room, "alice", text)
}

#[tokio::test]
async fn writes_documents_exactly_as_mongoose_does() {
    let Some((store, test_db)) = fresh().await else { return };
    let user =
        store.create_user("alice", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").await.expect("create");
    let sent = message("general", "hello");
    store.insert_messages(std::slice::from_ref(&sent)).await.expect("insert");

    let db = raw_db(&test_db.url).await;
    let users = all_docs(&db, "users").await;
    assert_eq!(users.len(), 1);
    let u = &users[0];
    assert_eq!(keys(u), ["_id", "username", "password", "__v"]);
    assert_eq!(
        u.get("_id"),
        Some(&Bson::ObjectId(ObjectId::parse_str(&user.id).expect("id is an ObjectId")))
    );
    assert_eq!(u.get_str("username"), Ok("alice"));
    assert_eq!(u.get_str("password"), Ok(user.password_hash.as_str()));
    assert_eq!(u.get("__v"), Some(&Bson::Int32(0)));

    let msgs = all_docs(&db, "messages").await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(keys(m), ["_id", "username", "message", "room", "sent", "__v"]);
    assert_eq!(m.get("_id"), Some(&Bson::ObjectId(ObjectId::parse_str(&sent.id).expect("oid"))));
    assert_eq!(
        (m.get_str("username"), m.get_str("message"), m.get_str("room")),
        (Ok("alice"), Ok("hello"), Ok("general"))
    );
    match m.get("sent") {
        Some(Bson::DateTime(t)) => assert_eq!(t.timestamp_millis(), sent.sent.timestamp_millis()),
        other => panic!("`sent` must be a BSON Date, got {other:?}"),
    }

    let username_1 = ("username_1".to_string(), doc! { "username": 1 }, true);
    let room_sent = ("room_1_sent_1".to_string(), doc! { "room": 1, "sent": 1 }, false);
    let room_id = ("room_1__id_1".to_string(), doc! { "room": 1, "_id": 1 }, false);
    assert!(index_specs(&db, "users").await.contains(&username_1));
    let message_indexes = index_specs(&db, "messages").await;
    assert!(
        message_indexes.contains(&room_sent) && message_indexes.contains(&room_id),
        "{message_indexes:?}"
    );
}

#[tokio::test]
async fn reads_what_the_node_backend_wrote() {
    let Some(test_db) = TestDb::fresh() else { return };
    let db = raw_db(&test_db.url).await;
    // As mongoose writes them: bcrypt (cost 10) hashes, `__v`, sometimes extra fields.
    let hash = bcrypt::hash("node-secret", 10).expect("bcrypt");
    assert!(hash.starts_with("$2b$10$"));
    let (node_id, older_id) = (ObjectId::new(), ObjectId::new());
    let users = db.collection::<Document>("users");
    let node_user = doc! { "_id": node_id, "username": "nodeuser", "password": &hash, "__v": 0,
    "createdAt": bson::DateTime::now() };
    users.insert_one(node_user).await.expect("raw insert");
    users
        .insert_one(doc! { "_id": older_id, "username": "old", "password": &hash })
        .await
        .expect("raw insert");
    let sent = bson::DateTime::from_millis(1_700_000_000_123);
    let msg_id = ObjectId::new();
    let node_msg = doc! { "_id": msg_id, "username": "nodeuser", "message": "from node", "room": "general",
    "sent": sent, "__v": 0 };
    // Odd ones, as hand edits or older versions leave them: no text (left out of history), no
    // `sent` (dated by its ObjectId).
    let (broken_id, undated_id) = (ObjectId::new(), ObjectId::new());
    let broken = doc! { "_id": broken_id, "username": "nodeuser", "room": "general", "sent": sent };
    let undated = doc! { "_id": undated_id, "username": "nodeuser", "message": "undated", "room": "general" };
    let messages = db.collection::<Document>("messages");
    messages.insert_many([node_msg, broken, undated]).await.expect("raw insert");

    let store = store::open(Some(&test_db.url), Path::new("unused"), TIMEOUT).await.expect("connect");
    let by_name = store.user_by_name("nodeuser").await.expect("lookup").expect("node user found by name");
    assert_eq!(by_name.id, node_id.to_hex());
    assert_eq!(by_name.password_hash, hash, "the bcrypt hash comes back verbatim");
    assert!(bcrypt::verify("node-secret", &by_name.password_hash).expect("verify"));
    assert_eq!(store.user_by_id(&node_id.to_hex()).await.expect("lookup"), Some(by_name));
    let old = store.user_by_id(&older_id.to_hex()).await.expect("lookup").expect("user without __v found");
    assert_eq!(old.username, "old");
    assert!(matches!(store.create_user("nodeuser", "x").await, Err(StoreError::UsernameTaken)));
    assert!(matches!(store.create_user("NodeUser", "x").await, Err(StoreError::UsernameTaken)), "look-alike");
    assert_eq!(store.user_by_name("NODEUSER").await.expect("lookup").map(|u| u.id), Some(node_id.to_hex()));

    let history = store.recent_messages("general", 10).await.expect("history");
    let ids: Vec<_> = history.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, [msg_id.to_hex(), undated_id.to_hex()], "{history:?}");
    assert_eq!((history[0].username.as_str(), history[0].message.as_str()), ("nodeuser", "from node"));
    assert_eq!(history[0].sent.timestamp_millis(), sent.timestamp_millis());
    assert_eq!(history[1].sent, undated_id.timestamp().to_chrono());
}

#[tokio::test]
async fn users_from_before_username_keys_stay_reachable_and_the_oldest_gets_the_key() {
    let Some(test_db) = TestDb::fresh() else { return };
    let db = raw_db(&test_db.url).await;
    let (older, newer) = (ObjectId::new(), ObjectId::new());
    let users = db.collection::<Document>("users");
    for (id, name) in [(older, "bob"), (newer, "Bob")] {
        users
            .insert_one(doc! { "_id": id, "username": name, "password": "h", "__v": 0 })
            .await
            .expect("raw insert");
    }
    // Twice: the second start finds the work done (and a half-done one would be finished).
    for _ in 0..2 {
        let store = store::open(Some(&test_db.url), Path::new("unused"), TIMEOUT).await.expect("connect");
        let id_of = |name: &'static str| {
            let store = &store;
            async move { store.user_by_name(name).await.expect("lookup").map(|u| u.id) }
        };
        assert_eq!(id_of("bob").await, Some(older.to_hex()));
        assert_eq!(id_of("Bob").await, Some(newer.to_hex()), "exact spelling");
        assert_eq!(id_of("BOB").await, Some(older.to_hex()), "the oldest");
        assert!(matches!(store.create_user("bOb", "h").await, Err(StoreError::UsernameTaken)));
        store.close().await;
    }
    assert_eq!(all_docs(&db, "users").await.len(), 2, "users untouched");
}

#[tokio::test]
async fn connecting_never_alters_data_and_accepts_mongoose_indexes() {
    let Some(test_db) = TestDb::fresh() else { return };
    let db = raw_db(&test_db.url).await;
    // The index exactly as mongoose creates it for `username: {unique: true}` (the driver no
    // longer sends `background`, so the command is spelled out).
    let mongoose_ix =
        doc! { "key": { "username": 1 }, "name": "username_1", "unique": true, "background": true };
    db.run_command(doc! { "createIndexes": "users", "indexes": [mongoose_ix] })
        .await
        .expect("mongoose index");
    let user = doc! { "_id": ObjectId::new(), "username": "kept", "password": "$2b$10$x", "__v": 0, "extra": [1, 2] };
    db.collection::<Document>("users").insert_one(user).await.expect("raw insert");
    let msg = doc! { "_id": ObjectId::new(), "username": "kept", "message": "m", "room": "r",
    "sent": bson::DateTime::now(), "__v": 0 };
    db.collection::<Document>("messages").insert_one(msg).await.expect("raw insert");
    let before = (all_docs(&db, "users").await, all_docs(&db, "messages").await);
    let users_indexes = index_specs(&db, "users").await;

    let first =
        MongoStore::connect(&test_db.url, TIMEOUT).await.expect("first connect accepts the mongoose index");
    let after_first = index_specs(&db, "messages").await;
    let second = MongoStore::connect(&test_db.url, TIMEOUT).await.expect("second connect is a no-op");

    assert_eq!((all_docs(&db, "users").await, all_docs(&db, "messages").await), before, "data untouched");
    assert_eq!(index_specs(&db, "users").await, users_indexes, "mongoose's unique index reused, none added");
    assert_eq!(index_specs(&db, "messages").await, after_first, "second connect added nothing");
    assert_eq!(after_first.len(), 3, "_id_, room_1__id_1 and room_1_sent_1: {after_first:?}");
    // The reused index still enforces uniqueness for our inserts.
    assert!(matches!(second.create_user("kept", "y").await, Err(StoreError::UsernameTaken)));
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn a_non_unique_username_index_is_reported_not_dropped() {
    let Some(test_db) = TestDb::fresh() else { return };
    let db = raw_db(&test_db.url).await;
    let plain = IndexModel::builder()
        .keys(doc! { "username": 1 })
        .options(IndexOptions::builder().name("username_1".to_string()).build())
        .build();
    db.collection::<Document>("users").create_index(plain).await.expect("plain index");
    let before = index_specs(&db, "users").await;

    match MongoStore::connect(&test_db.url, TIMEOUT).await {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("not unique"), "{msg}"),
        Err(e) => panic!("expected a Backend error about the index, got {e}"),
        Ok(_) => panic!("a store without a unique username index must not start"),
    }
    assert_eq!(index_specs(&db, "users").await, before, "the existing index is left alone");
}

#[tokio::test]
async fn a_unique_username_index_under_another_name_is_reused() {
    let Some(test_db) = TestDb::fresh() else { return };
    let db = raw_db(&test_db.url).await;
    let by_hand = IndexModel::builder()
        .keys(doc! { "username": 1 })
        .options(IndexOptions::builder().name("unique_names".to_string()).unique(true).build())
        .build();
    db.collection::<Document>("users").create_index(by_hand).await.expect("index made by hand");
    let before = index_specs(&db, "users").await;

    let store = MongoStore::connect(&test_db.url, TIMEOUT).await.expect("connect");
    assert_eq!(index_specs(&db, "users").await, before, "no second unique index on username");
    store.create_user("ann", "h").await.expect("create");
    assert!(matches!(store.create_user("ann", "h").await, Err(StoreError::UsernameTaken)));
    store.close().await;
}

#[tokio::test]
async fn retrying_a_written_batch_is_harmless() {
    let Some((store, _test_db)) = fresh().await else { return };
    let first = vec![message("r", "one"), message("r", "two")];
    store.insert_messages(&first).await.expect("first write");
    // The same batch again (an answer lost after the write) plus one new message.
    let mut retry = first.clone();
    retry.push(message("r", "three"));
    store.insert_messages(&retry).await.expect("retry skips what is already there");
    let texts: Vec<_> =
        store.recent_messages("r", 10).await.expect("history").into_iter().map(|m| m.message).collect();
    assert_eq!(texts, ["one", "two", "three"]);
}

/// Runs without any server: nothing listens on the port, so connect must give up in time.
#[tokio::test]
async fn unreachable_server_fails_fast_naming_the_host_without_the_password() {
    let port = free_port();
    let url = format!("mongodb://chat:hunter2@127.0.0.1:{port}/chat");
    let timeout = Duration::from_millis(1500);
    let began = Instant::now();
    let result = store::open(Some(&url), Path::new("unused"), timeout).await;
    let took = began.elapsed();
    let Err(StoreError::Unavailable(msg)) = result else {
        panic!("expected Unavailable, got {:?}", result.map(|_| "a store"))
    };
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "names the host: {msg}");
    assert!(!msg.contains("hunter2"), "hides the password: {msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(took < timeout * 3, "gave up after {took:?}");
    eprintln!("unreachable server: {msg:?} after {took:?}");
}

async fn expect_unavailable_in_time<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) {
    let began = Instant::now();
    let result = call.await;
    let took = began.elapsed();
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{what} while down: {result:?}");
    assert!(took <= timeout + Duration::from_millis(500), "{what} took {took:?}");
    eprintln!("{what} while the server is down: {result:?} after {took:?}");
}

#[tokio::test]
async fn lost_server_gives_unavailable_then_service_resumes() {
    if !own_servers_allowed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = OwnServer::start(port, dir.path());
    let timeout = Duration::from_secs(2);
    let store = store::open(Some(&server.url), Path::new("unused"), timeout).await.expect("connect");
    let alice = store.create_user("alice", "h").await.expect("create");
    store.insert_messages(&[message("r", "before")]).await.expect("insert");

    drop(server);
    expect_unavailable_in_time("ping", timeout, store.ping()).await;
    expect_unavailable_in_time("user_by_id", timeout, store.user_by_id(&alice.id)).await;
    expect_unavailable_in_time("create_user", timeout, store.create_user("bob", "h")).await;
    expect_unavailable_in_time("insert_messages", timeout, store.insert_messages(&[message("r", "lost")]))
        .await;
    expect_unavailable_in_time("recent_messages", timeout, store.recent_messages("r", 10)).await;

    let _server = OwnServer::start(port, dir.path());
    let began = Instant::now();
    while store.ping().await.is_err() {
        assert!(began.elapsed() < Duration::from_secs(30), "store did not recover within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("store answered again {:?} after the restart", began.elapsed());
    assert_eq!(store.user_by_name("alice").await.expect("after restart"), Some(alice));
    let texts: Vec<_> =
        store.recent_messages("r", 10).await.expect("history").into_iter().map(|m| m.message).collect();
    assert_eq!(texts, ["before"], "what failed was not written, what was acked survived");
    store.create_user("bob", "h").await.expect("writes work again");
}
