//! MongoDB backend (`DATABASE_URL=mongodb://…` or `mongodb+srv://…`), on the official driver.
//!
//! It reads and writes the collections exactly as the Node backend (mongoose) does, so a team
//! can point `chat-server` at that backend's database and carry on:
//!
//! - `users`: `{_id: ObjectId, username, password, __v: 0}`, unique index `username_1`.
//! - `messages`: `{_id: ObjectId, username, message, room, sent: Date, __v: 0}` (ours add
//!   `action: true` to `/me` actions), indexes `room_1_sent_1` (the Node backend's),
//!   `room_1__id_1` (ours, for history) and the text index `message_text` (ours, for search;
//!   on a server without text indexes search falls back to a case-insensitive match of each
//!   word, found by scanning the room).
//! - `sessions` (ours): `{_id: pid, user: ObjectId hex, rooms: [..], expires: Date}`, the
//!   sessions kept for Socket.IO's connection state recovery, with a TTL index on `expires`.
//! - `username_keys` (ours; mongoose never reads it): `{_id: key, user: ObjectId}`, one per
//!   [`shared::validate::username_key`], so look-alike names collide on `_id`. Users that
//!   existed before get theirs on the first start, oldest first (a later look-alike keeps only
//!   its exact name); a marker document records that this was done.
//!
//! History is in insertion order, as in every backend: by `_id`, which the server draws
//! (time + per-process counter) when a message arrives, before the write. Ordering by `sent`
//! instead would let a message with an earlier `sent` (another server's clock, a clock step)
//! jump back into history that clients have already seen.
//!
//! Documents are decoded field by field, so ones written by mongoose (with or without `__v`,
//! with extra fields) read fine. Start-up only ever *adds* an index when no equivalent one
//! exists: nothing is dropped or rewritten.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use bson::{Bson, Document, doc, oid::ObjectId};
use futures_util::TryStreamExt;
use mongodb::{
    Client, Collection, Database, IndexModel,
    error::{Error as DriverError, ErrorKind, WriteFailure},
    options::{ClientOptions, IndexOptions},
};

use super::{Message, SavedSession, Store, StoreError, User, Window, redact_url};

/// Database used when the URL has no path, as in the Node backend's `mongodb://host/chat`
/// (the MongoDB adapter's too).
pub const DEFAULT_DB: &str = "chat";
const USERS: &str = "users";
const MESSAGES: &str = "messages";
const USERNAME_KEYS: &str = "username_keys";
const SESSIONS: &str = "sessions";
/// `_id` of the document that says existing users have their keys (no key starts with NUL:
/// usernames have no control characters).
const KEYS_ADDED: &str = "\u{0}existing users added";
/// Keys written per round trip while adding those of existing users.
const KEY_BATCH: usize = 1000;
/// mongoose's name for `username: {unique: true}`; using it makes our index and the Node
/// backend's the same index.
const USERNAME_INDEX: &str = "username_1";
/// The `(room, sent)` index of the Node backend's schema, created for its queries.
const ROOM_SENT_INDEX: &str = "room_1_sent_1";
/// Serves our history query (`room` equal, newest `_id` first) without a sort in memory.
const ROOM_ID_INDEX: &str = "room_1__id_1";
/// Our text index on `message`, for `chat.search`.
const TEXT_INDEX: &str = "message_text";
/// Upper bound on the first batch of a history query, which is otherwise `limit`.
const MAX_BATCH: u32 = 10_000;
/// Server error code for a unique-index violation.
const DUPLICATE_KEY: i32 = 11000;
/// `IndexOptionsConflict` / `IndexKeySpecsConflict`: an index with our name or keys exists
/// with other options (mongoose adds `background: true`, which some servers compare).
const INDEX_CONFLICT: [i32; 2] = [85, 86];
/// `NamespaceNotFound`: listing the indexes of a collection that does not exist yet.
const NAMESPACE_NOT_FOUND: i32 = 26;
/// Server codes that mean "this node cannot serve right now" rather than "your request is
/// wrong": host unreachable / not found, max time expired, network timeout, shutdown in
/// progress, primary stepped down, exceeded time limit, socket exception, not primary (four
/// variants), interrupted at shutdown.
const TRANSIENT_CODES: [i32; 13] = [6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436];

/// A [`Store`] on a MongoDB database. Cheap handles; the driver pools connections itself.
pub struct MongoStore {
    client: Client,
    users: Collection<Document>,
    messages: Collection<Document>,
    username_keys: Collection<Document>,
    sessions: Collection<Document>,
    db: Database,
    /// Set by [`Store::close`] so later calls fail fast with `Unavailable` whatever the
    /// driver would do after `shutdown`.
    closed: AtomicBool,
    /// The text index exists: search uses `$text`, else a regex per word.
    text_index: AtomicBool,
}

impl MongoStore {
    /// Connects to `url`, checks the server really answers (`ping`) and makes sure the
    /// indexes exist. The database is the URL's path (default `chat`).
    ///
    /// Server selection and TCP connect are capped below `timeout` (for later calls too), and
    /// each start-up step is bounded, so an unreachable server fails start-up after about
    /// `timeout` and a slow one after at most four times it, instead of hanging.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] naming the host(s), with any password hidden, when the
    /// server cannot be reached in time; [`StoreError::Backend`] for a malformed URL, failed
    /// authentication, or a conflicting non-unique `username` index (which is never dropped).
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let mut options = tokio::time::timeout(timeout, ClientOptions::parse(url))
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!("resolving MongoDB URL {shown} timed out after {timeout:?}"))
            })?
            .map_err(|e| {
                let msg = format!("invalid MongoDB URL {shown}: {}", one_line(&e, url));
                match classify(e) {
                    StoreError::Unavailable(_) => StoreError::Unavailable(msg),
                    _ => StoreError::Backend(msg),
                }
            })?;
        // The driver's own limits stay below the caller's bound, so a call that cannot reach
        // the server ends with the driver's descriptive error rather than a bare timeout.
        let cap = timeout.mul_f64(0.8).max(Duration::from_millis(50));
        options.server_selection_timeout = Some(options.server_selection_timeout.map_or(cap, |t| t.min(cap)));
        options.connect_timeout = Some(options.connect_timeout.map_or(cap, |t| t.min(cap)));
        options.app_name.get_or_insert_with(|| "chat-server".to_string());
        // An SRV URL names a DNS record, not the hosts that did not answer: name those too.
        let at = if url.starts_with("mongodb+srv://") {
            let hosts = options.hosts.iter().map(ToString::to_string).collect::<Vec<_>>();
            format!("{shown} (hosts {})", hosts.join(","))
        } else {
            shown.clone()
        };
        let db_name = options.default_database.clone().unwrap_or_else(|| DEFAULT_DB.to_string());

        let client = Client::with_options(options)
            .map_err(|e| StoreError::Backend(format!("MongoDB client for {shown}: {}", one_line(&e, url))))?;
        let db = client.database(&db_name);
        let store = Self {
            users: db.collection(USERS),
            messages: db.collection(MESSAGES),
            username_keys: db.collection(USERNAME_KEYS),
            sessions: db.collection(SESSIONS),
            db,
            client,
            closed: AtomicBool::new(false),
            text_index: AtomicBool::new(false),
        };

        // Without a ping that answers and the unique index, the store is not usable.
        let ready = async {
            store.db.run_command(doc! { "ping": 1 }).await?;
            store.ensure_username_index().await
        };
        let failure = match tokio::time::timeout(timeout * 2, ready).await {
            Ok(Ok(())) => {
                match tokio::time::timeout(timeout * 4, store.add_username_keys()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(
                        "could not give existing users their username keys (retried at next start): {}",
                        one_line(&e, url)
                    ),
                    Err(_) => tracing::warn!(
                        "existing users' username keys not all written after {:?}; the next start goes on",
                        timeout * 4
                    ),
                }
                store.ensure_message_indexes(timeout).await;
                return Ok(store);
            }
            Ok(Err(StartError::Driver(e))) => {
                let cause = one_line(&e, url);
                match classify(e) {
                    StoreError::Unavailable(_) => StoreError::Unavailable(format!(
                        "cannot reach MongoDB at {at} (gave up after {cap:?}): {cause}"
                    )),
                    _ => StoreError::Backend(format!("MongoDB at {at}: {cause}")),
                }
            }
            Ok(Err(StartError::Index(msg))) => StoreError::Backend(format!("MongoDB at {shown}: {msg}")),
            Err(_) => StoreError::Unavailable(format!(
                "cannot reach MongoDB at {at}: no answer within {:?}",
                timeout * 2
            )),
        };
        store.client.clone().shutdown().immediate(true).await;
        Err(failure)
    }

    /// Adds the unique `username_1` index unless a unique index on `username` exists under
    /// any name (mongoose's is `username_1` too). An existing non-unique one is an error, as
    /// signups could then race into duplicates; it is never dropped.
    async fn ensure_username_index(&self) -> Result<(), StartError> {
        let unique = IndexOptions::builder().name(USERNAME_INDEX.to_string()).unique(true).build();
        let username = IndexModel::builder().keys(doc! { "username": 1 }).options(unique).build();
        if self.ensure_index(&self.users, username, true).await? {
            return Ok(());
        }
        Err(StartError::Index(format!(
            "collection `{USERS}` has an index on `username` that is not unique, so signups could \
             create duplicates. It is never dropped automatically; replace it by hand: \
             db.{USERS}.dropIndex(\"<its name>\"); db.{USERS}.createIndex({{username: 1}}, {{unique: true}})"
        )))
    }

    /// Gives every existing user its username key, oldest first, once per database: a user
    /// whose key an older one holds keeps only its exact name. Idempotent, so a start that
    /// stopped half-way is finished by the next.
    async fn add_username_keys(&self) -> Result<(), DriverError> {
        if self.username_keys.find_one(doc! { "_id": KEYS_ADDED }).await?.is_some() {
            return Ok(());
        }
        let mut users =
            self.users.find(doc! {}).sort(doc! { "_id": 1 }).projection(doc! { "username": 1 }).await?;
        let mut batch = Vec::with_capacity(KEY_BATCH);
        while let Some(user) = users.try_next().await? {
            let (Some(id), Ok(name)) = (user.get("_id"), user.get_str("username")) else { continue };
            batch.push(doc! { "_id": shared::validate::username_key(name), "user": id.clone() });
            if batch.len() == KEY_BATCH {
                self.insert_keys(std::mem::take(&mut batch)).await?;
            }
        }
        self.insert_keys(batch).await?;
        let marker = doc! { "_id": KEYS_ADDED, "at": bson::DateTime::now() };
        match self.username_keys.insert_one(marker).await {
            Err(e) if !is_duplicate_key(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Inserts keys, skipping those that exist (an older look-alike's, or this user's own
    /// from an earlier start).
    async fn insert_keys(&self, keys: Vec<Document>) -> Result<(), DriverError> {
        if keys.is_empty() {
            return Ok(());
        }
        match self.username_keys.insert_many(keys).ordered(false).await {
            Err(e) if !only_duplicates(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Adds the two message indexes when missing. They only speed queries up, so a failure is
    /// a warning, and each is bounded by `timeout`: on a large collection `createIndexes` only
    /// answers once the build is done, which the server finishes without us.
    async fn ensure_message_indexes(&self, timeout: Duration) {
        for (name, keys) in
            [(ROOM_SENT_INDEX, doc! { "room": 1, "sent": 1 }), (ROOM_ID_INDEX, doc! { "room": 1, "_id": 1 })]
        {
            let model = IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build();
            match tokio::time::timeout(timeout, self.ensure_index(&self.messages, model, false)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => tracing::warn!(
                    "`{MESSAGES}` has a conflicting index where {name} would go; left alone, history may be slow"
                ),
                Ok(Err(e)) => {
                    tracing::warn!("could not add index {name} to `{MESSAGES}`: {}", one_line(&e, ""))
                }
                Err(_) => tracing::warn!(
                    "index {name} on `{MESSAGES}` not ready after {timeout:?}; the server goes on building it"
                ),
            }
        }
        let ttl = IndexModel::builder()
            .keys(doc! { "expires": 1 })
            .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
            .build();
        if let Ok(Err(e)) = tokio::time::timeout(timeout, self.sessions.create_index(ttl)).await {
            tracing::warn!(
                "no TTL index on `{SESSIONS}` ({}): expired sessions stay until taken",
                one_line(&e, "")
            );
        }
        let text = IndexModel::builder()
            .keys(doc! { "message": "text" })
            .options(IndexOptions::builder().name(TEXT_INDEX.to_string()).build())
            .build();
        match tokio::time::timeout(timeout, self.messages.create_index(text)).await {
            Ok(Ok(_)) => self.text_index.store(true, Ordering::Relaxed),
            Ok(Err(e)) => tracing::warn!(
                "no text index on `{MESSAGES}` ({}): search scans each room instead",
                one_line(&e, "")
            ),
            Err(_) => tracing::warn!(
                "text index on `{MESSAGES}` not ready after {timeout:?}; search scans until a restart"
            ),
        }
    }

    /// Makes sure `wanted` (or an equivalent) exists on `coll`. `Ok(false)`: an index with
    /// the same keys or name but other options exists, and was left alone.
    async fn ensure_index(
        &self,
        coll: &Collection<Document>,
        wanted: IndexModel,
        unique: bool,
    ) -> Result<bool, DriverError> {
        if has_equivalent(&existing_indexes(coll).await?, &wanted.keys, unique) {
            return Ok(true);
        }
        match coll.create_index(wanted.clone()).await {
            Ok(_) => Ok(true),
            Err(e) if server_code(&e).is_some_and(|c| INDEX_CONFLICT.contains(&c)) => {
                // Someone (another server starting, mongoose) may have created it meanwhile.
                Ok(has_equivalent(&existing_indexes(coll).await?, &wanted.keys, unique))
            }
            Err(e) => Err(e),
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Unavailable("MongoDB store is closed".into()))
        } else {
            Ok(())
        }
    }
}

/// Why start-up failed: the driver (network, auth…) or an index we will not touch.
enum StartError {
    Driver(DriverError),
    Index(String),
}

impl From<DriverError> for StartError {
    fn from(e: DriverError) -> Self {
        Self::Driver(e)
    }
}

async fn existing_indexes(coll: &Collection<Document>) -> Result<Vec<IndexModel>, DriverError> {
    match coll.list_indexes().await {
        Ok(cursor) => cursor.try_collect().await,
        // A collection that does not exist yet has no indexes (MongoDB reports an error).
        Err(e) if server_code(&e) == Some(NAMESPACE_NOT_FOUND) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Whether `indexes` has one on exactly `keys` (ascending, in order), unique if `unique`.
fn has_equivalent(indexes: &[IndexModel], keys: &Document, unique: bool) -> bool {
    let same_keys = |have: &Document| {
        have.len() == keys.len()
            && have.iter().zip(keys).all(|((hk, hv), (wk, wv))| hk == wk && as_f64(hv) == as_f64(wv))
    };
    indexes.iter().any(|ix| {
        let is_unique = ix.options.as_ref().and_then(|o| o.unique).unwrap_or(false);
        same_keys(&ix.keys) && (is_unique || !unique)
    })
}

/// Index directions arrive as Int32, Int64 or Double depending on who created the index.
fn as_f64(b: &Bson) -> Option<f64> {
    match b {
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        Bson::Double(v) => Some(*v),
        _ => None,
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        self.check_open()?;
        let id = ObjectId::new();
        // The key first: its `_id` is what refuses a look-alike, atomically.
        let key = doc! { "_id": shared::validate::username_key(username), "user": id };
        match self.username_keys.insert_one(key).await {
            Err(e) if is_duplicate_key(&e) => return Err(StoreError::UsernameTaken),
            Err(e) => return Err(classify(e)),
            Ok(_) => {}
        }
        // Field names and `__v` exactly as mongoose's `User.create` writes them.
        let user = doc! { "_id": id, "username": username, "password": password_hash, "__v": 0_i32 };
        match self.users.insert_one(user).await {
            Ok(_) => {
                Ok(User { id: id.to_hex(), username: username.into(), password_hash: password_hash.into() })
            }
            Err(e) => {
                // Free the name again; should this fail too, the key names a user that does
                // not exist, which only keeps that one name (and its look-alikes) taken.
                if let Err(undo) = self.username_keys.delete_one(doc! { "user": id }).await {
                    tracing::warn!("could not free the username key of a failed signup: {undo}");
                }
                Err(if is_duplicate_key(&e) { StoreError::UsernameTaken } else { classify(e) })
            }
        }
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.check_open()?;
        if let Some(exact) = self.users.find_one(doc! { "username": username }).await.map_err(classify)? {
            return decode_user(&exact).map(Some);
        }
        let key = shared::validate::username_key(username);
        let Some(key) = self.username_keys.find_one(doc! { "_id": key }).await.map_err(classify)? else {
            return Ok(None);
        };
        let Some(user) = key.get("user") else { return Ok(None) };
        let found = self.users.find_one(doc! { "_id": user.clone() }).await.map_err(classify)?;
        found.map(|d| decode_user(&d)).transpose()
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.check_open()?;
        // A token or URL with a malformed id names nobody: not found, not a server error.
        let Ok(oid) = ObjectId::parse_str(id) else { return Ok(None) };
        let found = self.users.find_one(doc! { "_id": oid }).await.map_err(classify)?;
        found.map(|d| decode_user(&d)).transpose()
    }

    async fn insert_messages(&self, batch: &[Message]) -> Result<(), StoreError> {
        self.check_open()?;
        let mut rest = batch;
        // Ordered insert stops at the first error. A duplicate `_id` there means that message
        // was written by an earlier attempt whose answer was lost (ids are chosen before the
        // write), so skip it and go on: retrying a batch never fails on its own success.
        while !rest.is_empty() {
            let docs = rest.iter().map(encode_message);
            let Err(e) = self.messages.insert_many(docs).ordered(true).await else { return Ok(()) };
            match duplicate_id_index(&e) {
                Some(i) if i < rest.len() => rest = &rest[i + 1..],
                _ => return Err(classify(e)),
            }
        }
        Ok(())
    }

    async fn messages(
        &self,
        room: &str,
        window: Window<'_>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let (filter, newest_first) = match window {
            Window::Before(None) => (doc! { "room": room }, true),
            Window::Before(Some(before)) => (doc! { "room": room, "_id": { "$lt": cursor(before) } }, true),
            Window::After(after) => (doc! { "room": room, "_id": { "$gt": cursor(after) } }, false),
        };
        self.find_messages(room, filter, newest_first, limit).await
    }

    async fn search_messages(
        &self,
        room: &str,
        words: &[String],
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let mut filter = doc! { "room": room };
        if let Some(before) = before {
            filter.insert("_id", doc! { "$lt": cursor(before) });
        }
        if self.text_index.load(Ordering::Relaxed) {
            let phrases: Vec<String> = words.iter().map(|w| format!("\"{}\"", w.replace('"', " "))).collect();
            filter.insert("$text", doc! { "$search": phrases.join(" ") });
        } else {
            let each: Vec<Document> = words
                .iter()
                .map(|w| doc! { "message": { "$regex": regex_escape(w), "$options": "i" } })
                .collect();
            filter.insert("$and", each);
        }
        self.find_messages(room, filter, true, limit).await
    }

    async fn save_session(&self, session: &SavedSession) -> Result<(), StoreError> {
        self.check_open()?;
        let document = doc! {
            "_id": &session.pid,
            "user": &session.user_id,
            "rooms": &session.rooms,
            "expires": bson::DateTime::from_chrono(session.expires),
        };
        self.sessions
            .replace_one(doc! { "_id": &session.pid }, document)
            .upsert(true)
            .await
            .map(drop)
            .map_err(classify)
    }

    async fn take_session(&self, pid: &str) -> Result<Option<SavedSession>, StoreError> {
        self.check_open()?;
        let Some(d) = self.sessions.find_one_and_delete(doc! { "_id": pid }).await.map_err(classify)? else {
            return Ok(None);
        };
        let expires = match d.get("expires") {
            Some(Bson::DateTime(t)) => t.to_chrono(),
            _ => return Ok(None),
        };
        let rooms = d
            .get_array("rooms")
            .map(|rooms| rooms.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let user_id = str_field(&d, SESSIONS, "user")?;
        Ok((expires > chrono::Utc::now()).then(|| SavedSession {
            pid: pid.to_owned(),
            user_id,
            rooms,
            expires,
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check_open()?;
        self.db.run_command(doc! { "ping": 1 }).await.map(drop).map_err(classify)
    }

    async fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // Waits for in-flight operations (never for our cursors: none outlives a call).
            self.client.clone().shutdown().await;
        }
    }
}

impl MongoStore {
    /// Up to `limit` messages matching `filter`, read newest first (or oldest first), returned
    /// oldest first.
    async fn find_messages(
        &self,
        room: &str,
        filter: Document,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.check_open()?;
        // MongoDB reads `limit(0)` as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let cursor = self
            .messages
            .find(filter)
            .sort(doc! { "_id": if newest_first { -1 } else { 1 } })
            .limit(limit)
            // The whole answer in the first batch when it fits: one round trip.
            .batch_size(u32::try_from(limit).map_or(MAX_BATCH, |l| l.min(MAX_BATCH)))
            .await
            .map_err(classify)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(classify)?;
        // One odd document (written by hand, by an old version of the Node backend) must not
        // take the whole room's history down: it is left out, and logged.
        let mut out: Vec<Message> = docs
            .iter()
            .filter_map(|d| {
                decode_message(d).inspect_err(|e| tracing::warn!("history of {room:?}: {e}")).ok()
            })
            .collect();
        if newest_first {
            out.reverse();
        }
        Ok(out)
    }
}

/// A cursor message id as `_id` compares: an ObjectId (ids are validated before they get
/// here; anything else compares as a string, after every ObjectId).
fn cursor(id: &str) -> Bson {
    ObjectId::parse_str(id).map_or_else(|_| Bson::String(id.to_owned()), Bson::ObjectId)
}

/// `text` matched literally by a MongoDB (PCRE) regex.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}/-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The message as mongoose's `Message.create` writes it. A server-chosen id is an ObjectId
/// hex string and becomes an ObjectId `_id`; anything else is kept as a string `_id`.
fn encode_message(m: &Message) -> Document {
    let id = ObjectId::parse_str(&m.id).map_or_else(|_| Bson::String(m.id.clone()), Bson::ObjectId);
    let mut d = doc! {
        "_id": id,
        "username": &m.username,
        "message": &m.message,
        "room": &m.room,
        "sent": bson::DateTime::from_chrono(m.sent),
        "__v": 0_i32,
    };
    if m.action {
        d.insert("action", true);
    }
    d
}

fn decode_user(d: &Document) -> Result<User, StoreError> {
    Ok(User {
        id: id_string(d)?,
        username: str_field(d, USERS, "username")?,
        password_hash: str_field(d, USERS, "password")?,
    })
}

fn decode_message(d: &Document) -> Result<Message, StoreError> {
    let sent = match d.get("sent") {
        Some(Bson::DateTime(t)) => t.to_chrono(),
        // Written by something other than mongoose: fall back to the ObjectId's creation time.
        _ => match d.get("_id") {
            Some(Bson::ObjectId(oid)) => oid.timestamp().to_chrono(),
            _ => return Err(bad_doc(d, MESSAGES, "sent")),
        },
    };
    Ok(Message {
        id: id_string(d)?,
        username: str_field(d, MESSAGES, "username")?,
        message: str_field(d, MESSAGES, "message")?,
        room: str_field(d, MESSAGES, "room")?,
        sent,
        action: d.get_bool("action").unwrap_or(false),
    })
}

fn id_string(d: &Document) -> Result<String, StoreError> {
    match d.get("_id") {
        Some(Bson::ObjectId(oid)) => Ok(oid.to_hex()),
        Some(Bson::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(StoreError::Backend("document without _id".into())),
    }
}

fn str_field(d: &Document, coll: &str, field: &str) -> Result<String, StoreError> {
    d.get_str(field).map(str::to_owned).map_err(|_| bad_doc(d, coll, field))
}

fn bad_doc(d: &Document, coll: &str, field: &str) -> StoreError {
    let id = d.get("_id").map_or_else(|| "?".to_string(), ToString::to_string);
    StoreError::Backend(format!("{coll} document {id} has no valid `{field}` field"))
}

/// Maps driver errors onto the trait's: anything meaning "the server cannot be reached or
/// cannot serve right now" is `Unavailable` (HTTP 503, retry later), the rest `Backend`.
fn classify(e: DriverError) -> StoreError {
    let transient = match e.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Shutdown => true,
        _ => {
            server_code(&e).is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || e.contains_label("RetryableWriteError")
        }
    };
    let text = one_line(&e, "");
    if transient { StoreError::Unavailable(text) } else { StoreError::Backend(text) }
}

/// The server's error code, wherever the driver put it.
fn server_code(e: &DriverError) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|w| w.first().map(|w| w.code))
            .or_else(|| m.write_concern_error.as_ref().map(|w| w.code)),
        _ => None,
    }
}

/// A unique-index violation, whether from a single insert, `insert_many` or a bulk write.
/// Whether every error of a bulk insert is a duplicate key.
fn only_duplicates(e: &DriverError) -> bool {
    match e.kind.as_ref() {
        ErrorKind::InsertMany(m) => {
            m.write_concern_error.is_none()
                && m.write_errors.iter().flatten().all(|w| w.code == DUPLICATE_KEY)
        }
        _ => server_code(e) == Some(DUPLICATE_KEY),
    }
}

fn is_duplicate_key(e: &DriverError) -> bool {
    match e.kind.as_ref() {
        ErrorKind::InsertMany(m) => m.write_errors.iter().flatten().any(|w| w.code == DUPLICATE_KEY),
        ErrorKind::BulkWrite(b) => b.write_errors.values().any(|w| w.code == DUPLICATE_KEY),
        _ => server_code(e) == Some(DUPLICATE_KEY),
    }
}

/// The batch position of an ordered `insert_many` that stopped on a duplicate `_id` (and
/// nothing else: another unique index, or a write-concern error, is a real failure).
fn duplicate_id_index(e: &DriverError) -> Option<usize> {
    let ErrorKind::InsertMany(m) = e.kind.as_ref() else { return None };
    if m.write_concern_error.is_some() {
        return None;
    }
    match m.write_errors.as_deref() {
        Some([w]) if w.code == DUPLICATE_KEY && w.message.contains("_id_") => Some(w.index),
        _ => None,
    }
}

/// A driver error as one log line, with the URL's password removed should it appear.
/// Server-selection errors spell out the whole topology; what helps is the server's own
/// error ("Connection refused", "timed out"), so that is all they keep.
fn one_line(e: &DriverError, url: &str) -> String {
    let mut text = e.to_string().replace('\n', " ");
    if matches!(e.kind.as_ref(), ErrorKind::ServerSelection { .. }) {
        let cause = text.split("Error: Kind: ").nth(1).and_then(|rest| rest.split(", labels:").next());
        text = format!("no server available ({})", cause.unwrap_or(&text));
    }
    match password_of(url) {
        Some(pw) if !pw.is_empty() => text.replace(pw, "***"),
        _ => text,
    }
}

fn password_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    userinfo.split_once(':').map(|(_, pw)| pw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_password_to_hide() {
        assert_eq!(password_of("mongodb://u:s3cret@h:1/chat"), Some("s3cret"));
        assert_eq!(password_of("mongodb://u@h/chat"), None);
        assert_eq!(password_of("mongodb://h:27017"), None);
    }

    #[test]
    fn equivalent_index_ignores_name_and_number_type() {
        let mongoose = IndexModel::builder()
            .keys(doc! { "username": 1.0 })
            .options(IndexOptions::builder().name("by_name".to_string()).unique(true).build())
            .build();
        assert!(has_equivalent(std::slice::from_ref(&mongoose), &doc! { "username": 1 }, true));
        let plain = IndexModel::builder().keys(doc! { "username": 1_i64 }).build();
        assert!(!has_equivalent(std::slice::from_ref(&plain), &doc! { "username": 1 }, true));
        assert!(has_equivalent(&[plain], &doc! { "username": 1 }, false));
        assert!(!has_equivalent(&[mongoose], &doc! { "username": -1 }, true));
    }

    #[test]
    fn message_ids_become_object_ids_when_they_are_some() {
        let mut m = Message {
            id: super::super::new_id(),
            username: "a".into(),
            message: "hi".into(),
            room: "r".into(),
            sent: chrono::Utc::now(),
            action: false,
        };
        assert!(matches!(encode_message(&m).get("_id"), Some(Bson::ObjectId(_))));
        m.id = "not-an-oid".into();
        assert_eq!(encode_message(&m).get("_id"), Some(&Bson::String("not-an-oid".into())));
    }
}
