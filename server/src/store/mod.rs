//! Persistence: users and chat messages behind one backend-neutral [`Store`] trait.
//!
//! One module per backend: [`sqlite`] (the embedded default, in the data dir) and
//! [`mongo`] (`DATABASE_URL=mongodb://…`, compatible with the Node backend's collections).
//! [`open`] picks one from the configuration; [`Timed`] bounds every call so a stalled
//! database turns into [`StoreError::Unavailable`] instead of a hung handler.
//! [`writer`] batches message inserts off the broadcast path.

pub mod mongo;
pub mod sqlite;
pub mod writer;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A stored user. `id` is a 24-hex-digit ObjectId string in every backend, so JWTs minted
/// by the Node backend (whose `sub` is a Mongo ObjectId) name the same user here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    /// PHC string (`$argon2id$…`) or a bcrypt hash (`$2a$`/`$2b$…`) from the Node backend.
    pub password_hash: String,
}

/// A chat message as stored. `id` is an ObjectId hex string chosen by the server before
/// the write, so the broadcast can carry it without waiting for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub username: String,
    pub message: String,
    pub room: String,
    pub sent: DateTime<Utc>,
    /// `/me`: an action rather than something said.
    pub action: bool,
}

/// A disconnected socket's session, kept for Socket.IO's connection state recovery: the
/// private session id its client holds, whose it was, its chat rooms, and until when it may be
/// taken up again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSession {
    pub pid: String,
    pub user_id: String,
    pub rooms: Vec<String>,
    pub expires: DateTime<Utc>,
}

/// Which of a room's messages a read covers, in the store's order (insertion order in SQLite,
/// `_id` order in MongoDB). Cursors are message ids; one the store does not have (a write that
/// failed, another room's) stands where its id would sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window<'a> {
    /// The newest messages before this one (`None`: the newest of all).
    Before(Option<&'a str>),
    /// The oldest messages after this one.
    After(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The unique index on `username` refused the insert (also when two signups race).
    #[error("username already taken")]
    UsernameTaken,
    /// The backend is unreachable, timed out or was closed; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error that retrying will not fix.
    #[error("store error: {0}")]
    Backend(String),
}

/// What every backend provides. Each method is one round trip; callers bound it with
/// [`Timed`], so implementations need no timeouts of their own beyond connecting.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a user; [`StoreError::UsernameTaken`] when the name, or a name with the same
    /// [`shared::validate::username_key`] (a look-alike), exists.
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User, StoreError>;
    /// Looks a user up by exact username, else by its [`shared::validate::username_key`] (so
    /// `Alice` finds `alice`). Names that shared a key before keys existed stay reachable by
    /// their exact spelling; the key finds the oldest of them.
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Looks a user up by id; an id that is not a valid ObjectId is `Ok(None)`, not an error.
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Writes a batch of messages, all or nothing as far as the backend allows.
    async fn insert_messages(&self, batch: &[Message]) -> Result<(), StoreError>;
    /// Up to `limit` messages of `room` in `window`, oldest first.
    async fn messages(
        &self,
        room: &str,
        window: Window<'_>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;
    /// The newest `limit` messages of `room` before `before` (`None`: of all) that contain
    /// every one of `words` (case and accents aside; SQLite FTS5 and MongoDB text indexes
    /// match words and, in SQLite, their prefixes), oldest first.
    async fn search_messages(
        &self,
        room: &str,
        words: &[String],
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;
    /// Keeps `session` until it expires (replacing one with the same `pid`); expired ones go.
    async fn save_session(&self, session: &SavedSession) -> Result<(), StoreError>;
    /// Takes (reads and removes) session `pid`; `None` when there is none or it has expired.
    async fn take_session(&self, pid: &str) -> Result<Option<SavedSession>, StoreError>;
    /// The last `limit` messages of `room`, oldest first.
    async fn recent_messages(&self, room: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
        self.messages(room, Window::Before(None), limit).await
    }
    /// A cheap round trip, for health checks.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Flushes and releases the backend; later calls fail with `Unavailable`.
    async fn close(&self);
}

/// Opens the backend named by `database_url`: `mongodb://` or `mongodb+srv://` selects
/// MongoDB, `sqlite://PATH` a SQLite file, and none the SQLite file in `data_dir`.
pub async fn open(
    database_url: Option<&str>,
    data_dir: &Path,
    timeout: Duration,
) -> Result<Arc<dyn Store>, StoreError> {
    let (store, backend): (Arc<dyn Store>, _) = match database_url {
        Some(url) if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") => {
            (Arc::new(mongo::MongoStore::connect(url, timeout).await?), "mongodb")
        }
        Some(url) if url.starts_with("sqlite://") => {
            (Arc::new(open_sqlite(url["sqlite://".len()..].into()).await?), "sqlite")
        }
        Some(url) => {
            return Err(StoreError::Backend(format!(
                "unsupported DATABASE_URL scheme in {:?}: expected sqlite:// or mongodb://",
                redact_url(url)
            )));
        }
        None => (Arc::new(open_sqlite(data_dir.join("chat.db")).await?), "sqlite"),
    };
    Ok(Arc::new(Timed { inner: store, timeout, backend }))
}

/// Opening migrates the file: blocking work, kept off the async workers.
async fn open_sqlite(path: PathBuf) -> Result<sqlite::SqliteStore, StoreError> {
    tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path))
        .await
        .map_err(|e| StoreError::Backend(format!("opening SQLite failed: {e}")))?
}

/// Hides the password of a `scheme://user:password@host/…` URL for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme_end], user, &rest[at..])
        }
        None => url.to_string(),
    }
}

/// New ObjectId hex string: 4 bytes of seconds, 5 random, 3 of a counter, as Mongo does,
/// so ids sort by creation time and are valid `_id`s in the Mongo backend.
pub fn new_id() -> String {
    bson::oid::ObjectId::new().to_hex()
}

/// Bounds every call of the wrapped store by `timeout`.
pub struct Timed {
    inner: Arc<dyn Store>,
    timeout: Duration,
    /// `sqlite` or `mongodb`, for the metrics.
    backend: &'static str,
}

impl Timed {
    async fn run<T>(
        &self,
        what: &'static str,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, fut).await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!("{what} timed out after {:?}", self.timeout)))
        });
        let error = result.as_ref().err().map(|e| match e {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Backend(_) => "backend",
            StoreError::UsernameTaken => "taken",
        });
        crate::telemetry::store_call(self.backend, what, started.elapsed(), error);
        result
    }
}

#[async_trait]
impl Store for Timed {
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        self.run("create_user", self.inner.create_user(username, password_hash)).await
    }
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.run("user_by_name", self.inner.user_by_name(username)).await
    }
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.run("user_by_id", self.inner.user_by_id(id)).await
    }
    async fn insert_messages(&self, batch: &[Message]) -> Result<(), StoreError> {
        self.run("insert_messages", self.inner.insert_messages(batch)).await
    }
    async fn messages(
        &self,
        room: &str,
        window: Window<'_>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.run("messages", self.inner.messages(room, window, limit)).await
    }
    async fn search_messages(
        &self,
        room: &str,
        words: &[String],
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.run("search_messages", self.inner.search_messages(room, words, before, limit)).await
    }
    async fn save_session(&self, session: &SavedSession) -> Result<(), StoreError> {
        self.run("save_session", self.inner.save_session(session)).await
    }
    async fn take_session(&self, pid: &str) -> Result<Option<SavedSession>, StoreError> {
        self.run("take_session", self.inner.take_session(pid)).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", self.inner.ping()).await
    }
    async fn close(&self) {
        // Closing may wait on in-flight work; it is bounded too so shutdown always ends.
        let _ = tokio::time::timeout(self.timeout, self.inner.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(redact_url("mongodb://u:secret@h:27017/chat"), "mongodb://u:***@h:27017/chat");
        assert_eq!(redact_url("mongodb://h:27017/chat"), "mongodb://h:27017/chat");
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn ids_are_object_ids() {
        let a = new_id();
        assert_eq!(a.len(), 24);
        assert!(bson::oid::ObjectId::parse_str(&a).is_ok());
        assert_ne!(a, new_id());
    }
}
