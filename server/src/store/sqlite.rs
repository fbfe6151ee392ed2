//! The embedded default backend: one SQLite file in WAL mode.
//!
//! rusqlite blocks, so no SQLite call runs on a tokio worker. Each connection lives on its
//! own OS thread and takes jobs (closures) from a bounded channel; callers await a oneshot
//! reply. Dedicated threads rather than `spawn_blocking` because:
//! - one writer thread owns the only read-write connection, so writes queue in FIFO order
//!   in memory instead of contending for SQLite's write lock (no `SQLITE_BUSY` from inside
//!   the process), and a message batch is one transaction on that thread;
//! - a few reader threads with read-only connections share one queue, and WAL lets them
//!   read while the writer commits, so a signup or a history query never waits on a batch;
//! - the thread count is fixed, so load cannot flood tokio's blocking pool, and the bounded
//!   queues push back on callers (whose calls [`super::Timed`] bounds) instead of growing.
//!
//! [`SqliteStore::close`] drops the queues, lets the threads finish what is queued, and has
//! the writer checkpoint the WAL last, so the database file alone is complete afterwards.

use std::{
    num::NonZeroUsize,
    panic::{self, AssertUnwindSafe},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    thread,
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, ffi, params};
use tokio::sync::{mpsc, oneshot};

use super::{Message, SavedSession, Store, StoreError, User, Window, new_id};

/// How long a connection waits for a lock held by another process (or a checkpoint)
/// before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Jobs waiting per queue before callers wait to enqueue.
const QUEUE: usize = 1024;

/// Schema migrations; `PRAGMA user_version` counts those applied. Append, never edit.
///
/// `messages.seq` is the rowid: SQLite hands out increasing rowids while no row above them
/// is deleted, so it orders messages by insertion even when clocks step back. `sent` and
/// `created_at` are Unix milliseconds, the precision MongoDB keeps too.
const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: "
    CREATE TABLE users (
        id TEXT PRIMARY KEY NOT NULL,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        room TEXT NOT NULL,
        username TEXT NOT NULL,
        message TEXT NOT NULL,
        sent INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX messages_room_seq ON messages (room, seq);
",
        then: None,
    },
    // One row per username key (`shared::validate::username_key`): what makes look-alike
    // names collide. Existing users get theirs, oldest first; a later one whose key is taken
    // keeps only its exact name.
    Migration {
        sql: "
    CREATE TABLE username_keys (
        key TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL REFERENCES users (id)
    ) STRICT;
",
        then: Some(add_username_keys),
    },
    // `/me` actions; paging by message id (`messages_room_id` places a cursor whose message
    // was never stored); full-text search, indexed by `insert_messages` one batch at a time
    // (a trigger per row cost 27 µs a message, five times the insert: 4–6 µs as a batch).
    Migration {
        sql: "
    ALTER TABLE messages ADD COLUMN action INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX messages_room_id ON messages (room, id);
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        message, content = 'messages', content_rowid = 'seq', tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, message) VALUES ('delete', old.seq, old.message);
    END;
",
        then: None,
    },
    // Sessions kept for Socket.IO's connection state recovery; `rooms` is a JSON array. Each
    // save drops the expired ones, by the index, so a burst of disconnects is no scan each.
    Migration {
        sql: "
    CREATE TABLE sessions (
        pid TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        rooms TEXT NOT NULL,
        expires INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sessions_expires ON sessions (expires);
",
        then: None,
    },
];

/// Columns [`message_from_row`] reads, in its order.
const MESSAGE_COLUMNS: &str = "m.id, m.username, m.message, m.room, m.sent, m.action";

/// The `seq` a cursor message id (`?2`, in room `?1`) stands at: its own, or (never stored)
/// just above the last message whose id sorts before it. `?2` NULL: past the newest.
const CURSOR_SEQ: &str = "CASE WHEN ?2 IS NULL THEN 9223372036854775807 ELSE COALESCE(
        (SELECT seq FROM messages WHERE id = ?2 AND room = ?1),
        (SELECT MAX(seq) + 0.5 FROM messages WHERE room = ?1 AND id < ?2),
        0) END";

/// One schema step: SQL, then optionally Rust for what SQL cannot compute.
struct Migration {
    sql: &'static str,
    then: Option<fn(&Connection) -> rusqlite::Result<()>>,
}

fn add_username_keys(conn: &Connection) -> rusqlite::Result<()> {
    let users: Vec<(String, String)> = conn
        .prepare("SELECT id, username FROM users ORDER BY created_at, rowid")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut insert = conn.prepare("INSERT OR IGNORE INTO username_keys (key, user_id) VALUES (?1, ?2)")?;
    for (id, username) in users {
        insert.execute(params![shared::validate::username_key(&username), id])?;
    }
    Ok(())
}

/// Work for a connection thread; it sends its own result back.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Clone, Copy)]
enum Lane {
    Read,
    Write,
}

/// The queues to the connection threads, and a signal from each thread when it has exited.
struct Lanes {
    writer: mpsc::Sender<Job>,
    readers: mpsc::Sender<Job>,
    writer_done: oneshot::Receiver<()>,
    readers_done: Vec<oneshot::Receiver<()>>,
}

/// SQLite behind one writer thread and a few reader threads; see the module docs.
pub struct SqliteStore {
    /// `None` once closed. The lock is only held to clone a sender, never across a call.
    lanes: Mutex<Option<Lanes>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, whose directory must exist,
    /// applies pending migrations and starts the connection threads.
    ///
    /// # Errors
    /// [`StoreError::Backend`] naming `path` when the file cannot be opened or migrated, or
    /// was written by a newer server.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let context = |e: rusqlite::Error| {
            // rusqlite's own text for this repeats the path and gives no reason.
            let reason = match e.sqlite_error_code() {
                Some(ErrorCode::CannotOpen) => {
                    "unable to open the file (does its directory exist, and is it writable?)".into()
                }
                _ => e.to_string(),
            };
            StoreError::Backend(format!("cannot open SQLite database {}: {reason}", path.display()))
        };
        let mut writer = Connection::open(path).map_err(context)?;
        configure(&writer).map_err(context)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(context)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "SQLite database {} cannot use WAL (journal mode is {mode})",
                path.display()
            )));
        }
        migrate(&mut writer, path)?;

        let reader_count = thread::available_parallelism().map_or(2, NonZeroUsize::get).clamp(2, 4);
        let readers = (0..reader_count)
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(path, flags)?;
                configure(&conn)?;
                Ok(conn)
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(context)?;

        let (writer_tx, mut writer_rx) = mpsc::channel::<Job>(QUEUE);
        let writer_done =
            spawn_worker("sqlite-writer".into(), writer, move || writer_rx.blocking_recv(), checkpoint)?;
        let (readers_tx, readers_rx) = mpsc::channel::<Job>(QUEUE);
        // One queue for all readers, so a free reader takes the next job; whoever holds the
        // lock is the one idle reader waiting on the queue.
        let readers_rx = Arc::new(Mutex::new(readers_rx));
        let readers_done = readers
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                let rx = Arc::clone(&readers_rx);
                let next = move || rx.lock().unwrap_or_else(PoisonError::into_inner).blocking_recv();
                spawn_worker(format!("sqlite-reader-{i}"), conn, next, close_connection)
            })
            .collect::<Result<_, _>>()?;

        Ok(Self {
            lanes: Mutex::new(Some(Lanes {
                writer: writer_tx,
                readers: readers_tx,
                writer_done,
                readers_done,
            })),
        })
    }

    /// Runs `job` on a connection thread of `lane` and returns its result.
    async fn call<T, F>(&self, lane: Lane, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let queue = {
            let lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
            let lanes = lanes.as_ref().ok_or_else(closed)?;
            match lane {
                Lane::Read => lanes.readers.clone(),
                Lane::Write => lanes.writer.clone(),
            }
        };
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(job(conn));
        });
        queue.send(job).await.map_err(|_| closed())?;
        // The reply is dropped without a value only when the job panicked.
        result.await.map_err(|_| StoreError::Backend("SQLite job panicked".into()))?.map_err(classify)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        let user = User { id: new_id(), username: username.into(), password_hash: password_hash.into() };
        let key = shared::validate::username_key(username);
        self.call(Lane::Write, move |conn| {
            let tx = conn.transaction()?;
            tx.prepare_cached(
                "INSERT INTO users (id, username, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                user.id,
                user.username,
                user.password_hash,
                Utc::now().timestamp_millis()
            ])?;
            tx.prepare_cached("INSERT INTO username_keys (key, user_id) VALUES (?1, ?2)")?
                .execute(params![key, user.id])?;
            tx.commit()?;
            Ok(user)
        })
        .await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let (key, username) = (shared::validate::username_key(username), username.to_owned());
        self.call(Lane::Read, move |conn| {
            let exact = conn
                .prepare_cached("SELECT id, username, password_hash FROM users WHERE username = ?1")?
                .query_row([username], user_from_row)
                .optional()?;
            if exact.is_some() {
                return Ok(exact);
            }
            conn.prepare_cached(
                "SELECT u.id, u.username, u.password_hash FROM username_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.key = ?1",
            )?
            .query_row([key], user_from_row)
            .optional()
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        // Parsed as MongoDB would: anything but 24 hex digits names no user, and upper-case
        // hex names the same user as the lower-case ids we store.
        let id = bson::oid::ObjectId::parse_str(id).ok().map(|oid| oid.to_hex());
        self.call(Lane::Read, move |conn| {
            let Some(id) = id else { return Ok(None) };
            conn.prepare_cached("SELECT id, username, password_hash FROM users WHERE id = ?1")?
                .query_row([id], user_from_row)
                .optional()
        })
        .await
    }

    async fn insert_messages(&self, batch: &[Message]) -> Result<(), StoreError> {
        let batch = batch.to_vec();
        self.call(Lane::Write, move |conn| {
            if batch.is_empty() {
                return Ok(());
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let before: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM messages", [], |r| r.get(0))?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO messages (id, room, username, message, sent, action)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for m in &batch {
                    insert.execute(params![
                        m.id,
                        m.room,
                        m.username,
                        m.message,
                        m.sent.timestamp_millis(),
                        m.action
                    ])?;
                }
            }
            // The batch's rows into the search index, in the same transaction.
            tx.prepare_cached(
                "INSERT INTO messages_fts (rowid, message) SELECT seq, message FROM messages WHERE seq > ?1",
            )?
            .execute(params![before])?;
            tx.commit()
        })
        .await
    }

    async fn messages(
        &self,
        room: &str,
        window: Window<'_>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let (room, limit) = (room.to_owned(), i64::try_from(limit).unwrap_or(i64::MAX));
        let (cursor, sql) = match window {
            Window::Before(before) => (
                before.map(str::to_owned),
                format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages m
                     WHERE m.room = ?1 AND m.seq < ({CURSOR_SEQ}) ORDER BY m.seq DESC LIMIT ?3"
                ),
            ),
            Window::After(after) => (
                Some(after.to_owned()),
                format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages m
                     WHERE m.room = ?1 AND m.seq > ({CURSOR_SEQ}) ORDER BY m.seq LIMIT ?3"
                ),
            ),
        };
        let newest_first = matches!(window, Window::Before(_));
        self.call(Lane::Read, move |conn| {
            let mut rows = conn
                .prepare_cached(&sql)?
                .query_map(params![room, cursor, limit], message_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if newest_first {
                rows.reverse();
            }
            Ok(rows)
        })
        .await
    }

    async fn search_messages(
        &self,
        room: &str,
        words: &[String],
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let (room, limit) = (room.to_owned(), i64::try_from(limit).unwrap_or(i64::MAX));
        let (before, query) = (before.map(str::to_owned), fts_query(words));
        self.call(Lane::Read, move |conn| {
            let mut newest_first = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages_fts f JOIN messages m ON m.seq = f.rowid
                     WHERE messages_fts MATCH ?4 AND m.room = ?1 AND m.seq < ({CURSOR_SEQ})
                     ORDER BY m.seq DESC LIMIT ?3"
                ))?
                .query_map(params![room, before, limit, query], message_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            newest_first.reverse();
            Ok(newest_first)
        })
        .await
    }

    async fn save_session(&self, session: &SavedSession) -> Result<(), StoreError> {
        let rooms = serde_json::to_string(&session.rooms).map_err(|e| StoreError::Backend(e.to_string()))?;
        let (pid, user_id, expires) =
            (session.pid.clone(), session.user_id.clone(), session.expires.timestamp_millis());
        self.call(Lane::Write, move |conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE expires < ?1")?
                .execute(params![Utc::now().timestamp_millis()])?;
            conn.prepare_cached(
                "INSERT OR REPLACE INTO sessions (pid, user_id, rooms, expires) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![pid, user_id, rooms, expires])
            .map(drop)
        })
        .await
    }

    async fn take_session(&self, pid: &str) -> Result<Option<SavedSession>, StoreError> {
        let pid = pid.to_owned();
        self.call(Lane::Write, move |conn| {
            let row = conn
                .prepare_cached("DELETE FROM sessions WHERE pid = ?1 RETURNING user_id, rooms, expires")?
                .query_row(params![pid], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?))
                })
                .optional()?;
            Ok(row.and_then(|(user_id, rooms, expires)| {
                let expires = DateTime::from_timestamp_millis(expires)?;
                let rooms = serde_json::from_str(&rooms).ok()?;
                (expires > Utc::now()).then_some(SavedSession { pid, user_id, rooms, expires })
            }))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Both lanes: a healthy store can read and write.
        let select_one = |conn: &mut Connection| conn.query_row("SELECT 1", [], |_| Ok(()));
        tokio::try_join!(self.call(Lane::Read, select_one), self.call(Lane::Write, select_one))?;
        Ok(())
    }

    async fn close(&self) {
        let lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(Lanes { writer, readers, writer_done, readers_done }) = lanes else { return };
        // Readers first, so that no read snapshot holds back the writer's final checkpoint.
        drop(readers);
        for done in readers_done {
            let _ = done.await;
        }
        drop(writer);
        let _ = writer_done.await;
    }
}

/// Per-connection settings. `synchronous=NORMAL` is durable across crashes of the process
/// in WAL mode and only risks the last commits on power loss, for far fewer fsyncs.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)
}

/// Applies the pending migrations in one `IMMEDIATE` transaction, so that two servers
/// opening the same new file do not both migrate it.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let context = |e: rusqlite::Error| {
        StoreError::Backend(format!("cannot migrate SQLite database {}: {e}", path.display()))
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(context)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(context)?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "SQLite database {} has schema version {version}; this server knows up to {}",
            path.display(),
            MIGRATIONS.len()
        )));
    }
    for migration in &MIGRATIONS[version..] {
        tx.execute_batch(migration.sql).map_err(context)?;
        if let Some(then) = migration.then {
            then(&tx).map_err(context)?;
        }
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len()).map_err(context)?;
    tx.commit().map_err(context)
}

/// Starts the thread that owns `conn`, runs jobs from `next_job` until it returns `None`,
/// then hands the connection to `finish`. The returned receiver resolves when the thread
/// has ended, however it ended.
fn spawn_worker(
    name: String,
    mut conn: Connection,
    mut next_job: impl FnMut() -> Option<Job> + Send + 'static,
    finish: fn(Connection),
) -> Result<oneshot::Receiver<()>, StoreError> {
    let (done_tx, done_rx) = oneshot::channel();
    thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let _done = done_tx;
            while let Some(job) = next_job() {
                // A bug in one job must not take the connection, and every later call, down
                // with it: the caller gets an error and the thread goes on.
                if panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                    tracing::error!(thread = %name, "an SQLite job panicked");
                    if !conn.is_autocommit()
                        && let Err(e) = conn.execute_batch("ROLLBACK")
                    {
                        tracing::error!(thread = %name, "rollback after panic failed: {e}");
                    }
                }
            }
            finish(conn);
        })
        .map_err(|e| StoreError::Backend(format!("cannot start SQLite thread: {e}")))?;
    Ok(done_rx)
}

/// The writer's last act: move the WAL into the database file and empty it.
fn checkpoint(conn: Connection) {
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get::<_, i64>(0)) {
        Ok(0) => {}
        Ok(_) => tracing::warn!("SQLite WAL checkpoint on close was blocked by another connection"),
        Err(e) => tracing::warn!("SQLite WAL checkpoint on close failed: {e}"),
    }
    close_connection(conn);
}

fn close_connection(conn: Connection) {
    if let Err((_, e)) = conn.close() {
        tracing::warn!("closing an SQLite connection failed: {e}");
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("SQLite store is closed".into())
}

/// Busy, locked, full or failing storage may recover; anything else will fail again.
fn classify(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if matches!(
                f.extended_code,
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) && (msg.ends_with("users.username") || msg.ends_with("username_keys.key")) =>
        {
            StoreError::UsernameTaken
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DiskFull
                    | ErrorCode::CannotOpen
            ) =>
        {
            StoreError::Unavailable(format!("SQLite: {e}"))
        }
        _ => StoreError::Backend(format!("SQLite: {e}")),
    }
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User { id: row.get(0)?, username: row.get(1)?, password_hash: row.get(2)? })
}

/// Reads the columns of [`MESSAGE_COLUMNS`].
fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let ms: i64 = row.get(4)?;
    Ok(Message {
        id: row.get(0)?,
        username: row.get(1)?,
        message: row.get(2)?,
        room: row.get(3)?,
        sent: DateTime::from_timestamp_millis(ms).ok_or(rusqlite::Error::IntegralValueOutOfRange(4, ms))?,
        action: row.get(5)?,
    })
}

/// An FTS5 query for rows with every word, each as a quoted prefix (`"wo""rd"*`): what the user
/// typed is never read as FTS5 syntax.
fn fts_query(words: &[String]) -> String {
    words.iter().map(|w| format!("\"{}\"*", w.replace('"', "\"\""))).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_in(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("chat.db")).expect("open")
    }

    fn message(room: &str, text: &str) -> Message {
        Message {
            id: new_id(),
            username: "ann".into(),
            message: text.into(),
            room: room.into(),
            sent: DateTime::from_timestamp_millis(1_700_000_000_000).expect("in range"),
            action: false,
        }
    }

    #[test]
    fn real_sqlite_errors_are_classified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raw.db");
        let holder = Connection::open(&path).expect("open");
        holder
            .execute_batch(
                "CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT UNIQUE);
                 CREATE TABLE messages (id TEXT UNIQUE);
                 INSERT INTO users VALUES ('1', 'ann');
                 INSERT INTO messages VALUES ('m');
                 BEGIN EXCLUSIVE;",
            )
            .expect("setup");
        let other = Connection::open(&path).expect("open");
        other.busy_timeout(Duration::ZERO).expect("busy_timeout");

        let busy = other.execute_batch("BEGIN IMMEDIATE").expect_err("locked by holder");
        assert!(matches!(classify(busy), StoreError::Unavailable(_)));
        holder.execute_batch("COMMIT").expect("commit");

        let taken = other.execute("INSERT INTO users VALUES ('2', 'ann')", []).expect_err("unique");
        assert!(matches!(classify(taken), StoreError::UsernameTaken));
        let dup_id = other.execute("INSERT INTO users VALUES ('1', 'bob')", []).expect_err("unique");
        assert!(matches!(classify(dup_id), StoreError::Backend(_)));
        let dup_msg = other.execute("INSERT INTO messages VALUES ('m')", []).expect_err("unique");
        assert!(matches!(classify(dup_msg), StoreError::Backend(_)));
        let syntax = other.execute_batch("SELEC 1").expect_err("syntax");
        assert!(matches!(classify(syntax), StoreError::Backend(_)));
    }

    #[tokio::test]
    async fn a_panicking_job_rolls_back_and_leaves_the_writer_running() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(&dir);
        let first = message("r", "before");
        store.insert_messages(std::slice::from_ref(&first)).await.expect("insert");

        let stray = message("r", "never committed");
        let result = store
            .call(Lane::Write, move |conn| -> rusqlite::Result<()> {
                conn.execute_batch("BEGIN IMMEDIATE")?;
                conn.execute(
                    "INSERT INTO messages (id, room, username, message, sent) VALUES (?1, 'r', 'x', 'x', 0)",
                    [stray.id],
                )?;
                panic!("bug in a job");
            })
            .await;
        assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");

        // Had the transaction stayed open, this batch would fail ("within a transaction")
        // or never become visible to the readers.
        let second = message("r", "after");
        store.insert_messages(std::slice::from_ref(&second)).await.expect("insert after panic");
        assert_eq!(store.recent_messages("r", 10).await.expect("recent"), vec![first, second]);
        store.close().await;
    }

    #[tokio::test]
    async fn every_connection_is_configured() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(&dir);
        let settings = |conn: &mut Connection| {
            let get = |pragma: &str| conn.pragma_query_value(None, pragma, |row| row.get::<_, i64>(0));
            Ok((get("synchronous")?, get("foreign_keys")?, get("busy_timeout")?))
        };
        let normal_on_5s = (1, 1, 5000);
        assert_eq!(store.call(Lane::Write, settings).await.expect("writer"), normal_on_5s);
        assert_eq!(store.call(Lane::Read, settings).await.expect("reader"), normal_on_5s);
        store.close().await;
    }

    #[tokio::test]
    async fn reader_connections_cannot_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(&dir);
        let result = store.call(Lane::Read, |conn| conn.execute("DELETE FROM users", [])).await;
        assert!(matches!(result, Err(StoreError::Backend(ref e)) if e.contains("readonly")), "{result:?}");
        store.close().await;
    }
}
