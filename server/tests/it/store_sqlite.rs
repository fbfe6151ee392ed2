//! The SQLite backend: the shared conformance suite, plus what only a file database has.

use crate::common;

use std::{path::Path, sync::Arc};

use chat_server::store::{Message, Store, StoreError, sqlite::SqliteStore};
use tempfile::TempDir;

/// A fresh database in its own temp dir, which the caller keeps alive.
fn fresh() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("chat.db")).expect("open");
    (store, dir)
}

fn fresh_dyn() -> (Arc<dyn Store>, TempDir) {
    let (store, dir) = fresh();
    (Arc::new(store), dir)
}

common::conformance::conformance_tests!(fresh_dyn());

/// A message from ann, sent now.
fn message(room: &str, text: &str) -> Message {
    common::conformance::message(room, "ann", text)
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("raw open")
}

#[tokio::test]
async fn reopening_keeps_users_and_messages() {
    let (store, dir) = fresh();
    let user = store.create_user("ann", "$2b$10$hash").await.expect("create_user");
    let batch: Vec<_> = (0..3).map(|i| message("lobby", &format!("m{i}"))).collect();
    store.insert_messages(&batch).await.expect("insert");
    store.close().await;

    let store = SqliteStore::open(&dir.path().join("chat.db")).expect("reopen");
    assert_eq!(store.user_by_name("ann").await.expect("by name"), Some(user.clone()));
    assert_eq!(store.user_by_id(&user.id).await.expect("by id"), Some(user));
    assert_eq!(store.recent_messages("lobby", 10).await.expect("recent"), batch);
    assert!(matches!(store.create_user("ann", "x").await, Err(StoreError::UsernameTaken)));
    store.close().await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let (first, dir) = fresh();
    let path = dir.path().join("chat.db");
    first.create_user("ann", "h").await.expect("create_user");
    // A second store on the same file while the first is open, then one after both closed.
    let second = SqliteStore::open(&path).expect("open while open");
    assert!(second.user_by_name("ann").await.expect("by name").is_some());
    second.close().await;
    first.close().await;
    let third = SqliteStore::open(&path).expect("open again");
    assert!(third.user_by_name("ann").await.expect("by name").is_some());
    third.close().await;

    let conn = raw(&path);
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
    assert_eq!(version, 4);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'
             AND name IN ('users', 'messages', 'username_keys', 'messages_fts', 'sessions')",
            [],
            |r| r.get(0),
        )
        .expect("tables");
    assert_eq!(tables, 5);
}

#[tokio::test]
async fn users_from_before_username_keys_stay_reachable_and_the_oldest_gets_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chat.db");
    // A database as the first schema left it, with names that are now look-alikes.
    let conn = raw(&path);
    conn.execute_batch(
        "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, username TEXT NOT NULL UNIQUE,
             password_hash TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;
         CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, room TEXT NOT NULL,
             username TEXT NOT NULL, message TEXT NOT NULL, sent INTEGER NOT NULL) STRICT;
         CREATE INDEX messages_room_seq ON messages (room, seq);
         INSERT INTO users VALUES ('000000000000000000000002', 'Bob', 'h2', 2);
         INSERT INTO users VALUES ('000000000000000000000001', 'bob', 'h1', 1);
         INSERT INTO users VALUES ('000000000000000000000003', 'Ｃarl', 'h3', 3);
         PRAGMA user_version = 1;",
    )
    .expect("old schema");
    drop(conn);

    let store = SqliteStore::open(&path).expect("migrates");
    let id_of = |name: &'static str| {
        let store = &store;
        async move { store.user_by_name(name).await.expect("by name").map(|u| u.id) }
    };
    assert_eq!(id_of("bob").await.as_deref(), Some("000000000000000000000001"));
    assert_eq!(id_of("Bob").await.as_deref(), Some("000000000000000000000002"), "exact spelling");
    assert_eq!(id_of("BOB").await.as_deref(), Some("000000000000000000000001"), "the oldest");
    assert_eq!(id_of("carl").await.as_deref(), Some("000000000000000000000003"));
    assert!(matches!(store.create_user("bOb", "h").await, Err(StoreError::UsernameTaken)));
    assert!(matches!(store.create_user("Carl", "h").await, Err(StoreError::UsernameTaken)));
    store.close().await;
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let (store, dir) = fresh();
    store.close().await;
    let path = dir.path().join("chat.db");
    raw(&path).pragma_update(None, "user_version", 99).expect("set version");
    match SqliteStore::open(&path) {
        Err(StoreError::Backend(e)) => assert!(e.contains("99") && e.contains("chat.db"), "{e}"),
        Err(e) => panic!("expected Backend, got {e:?}"),
        Ok(_) => panic!("opened a database from the future"),
    }
}

#[tokio::test]
async fn the_file_is_in_wal_mode_and_close_checkpoints_it() {
    let (store, dir) = fresh();
    let path = dir.path().join("chat.db");
    let mode: String = raw(&path).pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("mode");
    assert_eq!(mode, "wal");

    let batch: Vec<_> = (0..50).map(|i| message("lobby", &format!("m{i}"))).collect();
    store.insert_messages(&batch).await.expect("insert");
    let wal = dir.path().join("chat.db-wal");
    assert!(std::fs::metadata(&wal).expect("WAL file while open").len() > 0);
    store.close().await;
    // Checkpointed: the WAL is gone or empty, and the main file alone holds the messages.
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0), "WAL left behind");
    let count: i64 = raw(&path).query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).expect("count");
    assert_eq!(count, 50);
}

#[test]
fn unopenable_paths_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let no_parent = dir.path().join("missing").join("chat.db");
    let under_file = file.join("chat.db");
    let a_dir = dir.path().to_path_buf();
    for path in [no_parent, under_file, a_dir] {
        match SqliteStore::open(&path) {
            Err(StoreError::Backend(e)) => {
                assert!(e.contains(&path.display().to_string()), "error does not name the path: {e}");
            }
            Err(e) => panic!("{}: expected Backend, got {e:?}", path.display()),
            Ok(_) => panic!("{}: opened", path.display()),
        }
    }
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chat.db");
    std::fs::write(&path, "x".repeat(4096)).expect("write");
    assert!(matches!(SqliteStore::open(&path), Err(StoreError::Backend(e)) if e.contains("chat.db")));
}

/// A batch is one transaction: a duplicate id anywhere fails the batch and stores none of it.
#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let (store, _dir) = fresh();
    let stored = message("lobby", "stored");
    store.insert_messages(std::slice::from_ref(&stored)).await.expect("insert");
    let mut batch: Vec<_> = (0..5).map(|i| message("lobby", &format!("m{i}"))).collect();
    batch[3].id = stored.id.clone();
    let result = store.insert_messages(&batch).await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    assert_eq!(store.recent_messages("lobby", 10).await.expect("recent"), vec![stored]);
    store.close().await;
}

/// Readers run while the writer commits and see whole batches only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_whole_batches_while_writing() {
    const BATCH: usize = 20;
    const BATCHES: usize = 30;
    let (store, _dir) = fresh();
    let store = Arc::new(store);
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for b in 0..BATCHES {
                let batch: Vec<_> =
                    (0..BATCH).map(|i| message("busy", &(b * BATCH + i).to_string())).collect();
                store.insert_messages(&batch).await.expect("insert");
            }
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut seen = 0;
                while seen < BATCH * BATCHES {
                    let got = store.recent_messages("busy", usize::MAX).await.expect("recent");
                    assert_eq!(got.len() % BATCH, 0, "saw part of a batch");
                    assert!(got.len() >= seen, "history shrank");
                    assert!(got.iter().enumerate().all(|(n, m)| m.message == n.to_string()), "out of order");
                    seen = got.len();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    writer.await.expect("writer");
    for reader in readers {
        reader.await.expect("reader");
    }
    store.close().await;
}
