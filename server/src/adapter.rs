//! The Socket.IO adapter, chosen at start-up (`--adapter`): this process alone, or several
//! nodes sharing Redis (socketioxide-redis on the fred driver) or MongoDB (socketioxide-mongodb,
//! change streams).
//!
//! What the stock drivers leave to us (measured, see the team README):
//! - **Redis restarts.** fred reconnects with a reconnect policy, but its own re-subscription
//!   sends an empty `SUBSCRIBE` first and gives up, so the sharded channels the adapter listens
//!   on are never subscribed again. [`RedisDriver`] tracks them and re-issues `SSUBSCRIBE` for
//!   each on every reconnect.
//! - **Hangs.** fred waits forever for a command by default; every command here has a timeout,
//!   so a broadcast during an outage fails fast instead of stalling its room.
//! - **Silent drops.** fred's message channel (32) and the adapter's stream (1 024) drop messages
//!   under bursts with only a warning; both are raised to [`STREAM_BUFFER`].
//! - **Outages.** [`AdapterStatus`] logs each outage once (down, then back up), and `/readyz`
//!   reads it. A broadcast whose publish failed is re-sent to this node's sockets (see
//!   [`crate::socket::history`]), so every node keeps serving its own sockets.
//! - **MongoDB.** The driver waits 30 s for a server by default (calls here give up after 2 s),
//!   a resumed change stream may send events again ([`OnceEach`] drops the copies), and a node
//!   that only receives learns of the recovery by pinging.

use std::{
    collections::{BTreeSet, HashSet, VecDeque},
    hash::{BuildHasher, RandomState},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use fred::{
    clients::SubscriberClient,
    interfaces::{EventInterface, PubsubInterface},
    prelude::{Builder, Config as FredConfig, ReconnectPolicy},
    types::RespVersion,
};
use futures_util::Stream;
use socketioxide_core::Uid;
use socketioxide_mongodb::{
    MongoDbAdapterConfig,
    drivers::{Driver as MongoDriverTrait, Item, mongodb::MongoDbDriver},
};
use socketioxide_redis::{
    RedisAdapterConfig,
    drivers::{ChanItem, Driver, MessageStream, fred::FredDriver},
};

use crate::{
    config::Config,
    store::{mongo::DEFAULT_DB, redact_url},
};

/// Which adapter connects this node's sockets to the other nodes'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdapterKind {
    /// One process: no other nodes.
    Local,
    /// Redis ≥ 7 pub/sub (sharded channels) at `--redis-url`.
    Redis,
    /// MongoDB change streams on the database of `DATABASE_URL` (a replica set).
    Mongodb,
}

impl std::fmt::Display for AdapterKind {
    /// The name `--adapter` takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum;
        let value = self.to_possible_value().ok_or(std::fmt::Error)?;
        f.write_str(value.get_name())
    }
}

/// Messages buffered between the backend and the adapter before any would be dropped.
pub const STREAM_BUFFER: usize = 16 * 1024;
/// Longest wait for one Redis command (a publish, a subscription).
const REDIS_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a MongoDB server to answer one of the adapter's calls.
const MONGO_CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnect delays to Redis: from 100 ms, doubling, at most 2 s, forever.
const REDIS_RECONNECT_MIN_MS: u32 = 100;
const REDIS_RECONNECT_MAX_MS: u32 = 2_000;

/// Why the adapter could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("--adapter {0} needs a store all nodes share: set DATABASE_URL to a mongodb:// URL")]
    NeedsSharedStore(AdapterKind),
    #[error("--adapter redis needs --redis-url (or REDIS_URL)")]
    NoRedisUrl,
    #[error("cannot reach Redis at {url}: {reason}")]
    Redis { url: String, reason: String },
    #[error("cannot start the MongoDB adapter: {0}")]
    Mongo(String),
    #[error("cannot start the adapter: {0}")]
    Start(String),
}

/// Whether the adapter's backend is reachable, as `/readyz` reports it. Each change is logged
/// once, not once per failed call.
///
/// Calls overlap: one that started before a failure may succeed after it. Such a stale
/// success must not end the outage (it would be logged again at the next failure), so a
/// success counts only if no failure was recorded since its call began ([`Self::begin`]).
#[derive(Debug)]
pub struct AdapterStatus {
    kind: AdapterKind,
    up: AtomicBool,
    /// Failures recorded so far.
    failures: AtomicU64,
}

impl AdapterStatus {
    pub fn new(kind: AdapterKind) -> Self {
        Self { kind, up: AtomicBool::new(true), failures: AtomicU64::new(0) }
    }

    /// Marks the start of a call whose outcome goes to [`Self::report`].
    pub fn begin(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    /// Records the outcome of a call begun at `begun`, and passes it on.
    pub fn report<T, E: std::fmt::Display>(&self, begun: u64, result: Result<T, E>) -> Result<T, E> {
        match &result {
            Ok(_) if self.failures.load(Ordering::Acquire) == begun => self.up(),
            Ok(_) => {}
            Err(e) => self.down(e),
        }
        result
    }

    pub fn kind(&self) -> AdapterKind {
        self.kind
    }

    /// `true` while the backend answers (always, for the local adapter).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records that the backend answers (a reconnect, or a call that began after the last
    /// failure); logs the recovery if it was down.
    pub fn up(&self) {
        crate::telemetry::adapter_up(true);
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::warn!(adapter = ?self.kind, "adapter backend reachable again: cross-node delivery resumes");
        }
    }

    /// Records a failure; logs the outage if the backend was up.
    pub fn down(&self, reason: &dyn std::fmt::Display) {
        crate::telemetry::adapter_up(false);
        self.failures.fetch_add(1, Ordering::AcqRel);
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::error!(
                adapter = ?self.kind,
                "adapter backend unreachable ({reason}): serving this node's sockets only until it is back"
            );
        }
    }
}

/// The fred driver with what a Redis restart needs: subscriptions re-issued on reconnect, and
/// the outcome of every call reported to [`AdapterStatus`].
#[derive(Clone)]
pub struct RedisDriver {
    inner: FredDriver,
    channels: Arc<Mutex<BTreeSet<String>>>,
    status: Arc<AdapterStatus>,
}

impl RedisDriver {
    /// Connects to `url` (RESP3 is set here, whatever the URL says).
    ///
    /// # Errors
    /// A malformed URL, or Redis unreachable at start (within the connection timeout).
    pub async fn connect(url: &str, status: Arc<AdapterStatus>) -> Result<Self, AdapterError> {
        let error =
            |e: fred::error::Error| AdapterError::Redis { url: redact_url(url), reason: e.to_string() };
        let mut config = FredConfig::from_url(url).map_err(error)?;
        config.version = RespVersion::RESP3;
        let client = Builder::from_config(config)
            .with_performance_config(|p| {
                p.default_command_timeout = REDIS_COMMAND_TIMEOUT;
                p.broadcast_channel_capacity = STREAM_BUFFER;
            })
            .with_connection_config(|c| {
                c.connection_timeout = REDIS_COMMAND_TIMEOUT;
                c.internal_command_timeout = REDIS_COMMAND_TIMEOUT;
                c.unresponsive.max_timeout = Some(REDIS_COMMAND_TIMEOUT);
                c.unresponsive.interval = REDIS_COMMAND_TIMEOUT / 4;
                // One try: a publish that failed is delivered on this node instead, at once.
                c.max_command_attempts = 1;
            })
            .set_policy(ReconnectPolicy::new_exponential(
                0,
                REDIS_RECONNECT_MIN_MS,
                REDIS_RECONNECT_MAX_MS,
                2,
            ))
            .build_subscriber_client()
            .map_err(error)?;
        let inner = FredDriver::new(client.clone()).await.map_err(error)?;
        let driver = Self { inner, channels: Arc::default(), status };
        driver.watch(client);
        Ok(driver)
    }

    /// Re-subscribes on every reconnect and reports connection errors.
    fn watch(&self, client: SubscriberClient) {
        let (status, channels, resubscriber) = (self.status.clone(), self.channels.clone(), client.clone());
        client.on_reconnect(move |_| {
            let (status, channels, client) = (status.clone(), channels.clone(), resubscriber.clone());
            async move {
                let channels: Vec<String> =
                    channels.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
                for channel in channels {
                    if let Err(e) = client.ssubscribe(channel.as_str()).await {
                        status.down(&format!("re-subscribing to {channel}: {e}"));
                        return Ok(());
                    }
                }
                status.up();
                Ok(())
            }
        });
        let status = self.status.clone();
        client.on_error(move |(error, _)| {
            status.down(&error);
            async { Ok(()) }
        });
    }
}

impl Driver for RedisDriver {
    type Error = <FredDriver as Driver>::Error;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let begun = self.status.begin();
        self.status.report(begun, self.inner.publish(chan, val).await)
    }

    async fn subscribe(&self, chan: String, size: usize) -> Result<MessageStream<ChanItem>, Self::Error> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).insert(chan.clone());
        let begun = self.status.begin();
        self.status.report(begun, self.inner.subscribe(chan, size).await)
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).remove(&chan);
        self.inner.unsubscribe(chan).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let begun = self.status.begin();
        self.status.report(begun, self.inner.num_serv(chan).await)
    }
}

/// socketioxide-mongodb's driver, reporting the outcome of every call to [`AdapterStatus`].
#[derive(Clone)]
pub struct MongoDriver {
    inner: MongoDbDriver,
    status: Arc<AdapterStatus>,
}

impl MongoDriver {
    /// Opens the adapter's collection (a TTL index expires its documents) in the database named
    /// by `url`.
    ///
    /// # Errors
    /// A malformed URL, or MongoDB unreachable.
    pub async fn connect(url: &str, prefix: &str, status: Arc<AdapterStatus>) -> Result<Self, AdapterError> {
        let error = |e: mongodb::error::Error| AdapterError::Mongo(format!("{}: {e}", redact_url(url)));
        let mut options = mongodb::options::ClientOptions::parse(url).await.map_err(error)?;
        // The driver waits 30 s for a server by default: a broadcast during an outage must fail
        // fast instead (it is then delivered on this node only).
        options.server_selection_timeout = Some(MONGO_CALL_TIMEOUT);
        options.connect_timeout = Some(MONGO_CALL_TIMEOUT);
        let name = options.default_database.clone().unwrap_or_else(|| DEFAULT_DB.to_owned());
        let db = mongodb::Client::with_options(options).map_err(error)?.database(&name);
        let config = mongo_config(prefix);
        let inner = MongoDbDriver::new(db.clone(), &config.collection, &config.expiration_strategy)
            .await
            .map_err(error)?;
        tokio::spawn(watch_recovery(db, status.clone()));
        Ok(Self { inner, status })
    }
}

/// While the adapter's MongoDB is marked down, pings it every second, so a node that only
/// receives (it publishes nothing that could succeed) still sees the recovery.
async fn watch_recovery(db: mongodb::Database, status: Arc<AdapterStatus>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        if status.is_up() {
            continue;
        }
        let ping =
            tokio::time::timeout(MONGO_CALL_TIMEOUT, db.run_command(mongodb::bson::doc! { "ping": 1 }));
        match ping.await {
            Ok(Ok(_)) => status.up(),
            Ok(Err(e)) => tracing::debug!("adapter ping: {e}"),
            Err(_) => tracing::debug!("adapter ping timed out"),
        }
    }
}

/// Requests remembered by [`OnceEach`]: far more than can be in flight around one resume.
const REMEMBERED_REQUESTS: usize = 4096;

/// The adapter's change stream with each request passed on once. A change stream resumes after
/// a failed `getMore` from its last resume token, and a server may send the events since then
/// again (SecantusDB did, under load: the same broadcast reached a room twice). Every request
/// carries a random id in its payload, so equal payloads are the same request.
pub struct OnceEach<S> {
    events: S,
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    hasher: RandomState,
}

impl<S, E> Stream for OnceEach<S>
where
    S: Stream<Item = Result<Item, E>> + Unpin,
{
    type Item = Result<Item, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let item = match Pin::new(&mut self.events).poll_next(cx) {
                Poll::Ready(Some(Ok(item))) => item,
                other => return other,
            };
            let key = self.hasher.hash_one((item.origin.as_str(), &item.data));
            if !self.seen.insert(key) {
                tracing::debug!("adapter request delivered twice by the change stream: dropped");
                continue;
            }
            self.order.push_back(key);
            if self.order.len() > REMEMBERED_REQUESTS
                && let Some(old) = self.order.pop_front()
            {
                self.seen.remove(&old);
            }
            return Poll::Ready(Some(Ok(item)));
        }
    }
}

/// Heartbeats every 2 s and a node given up after 6 s, so a crashed node holds up requests
/// (`user.info`, room lists) for seconds, not the default minute. A request waits up to 2 s
/// for the other nodes' answers (a lookup of an unknown socket takes that long: the adapter
/// waits for every node).
/// The documents live in the collection `<prefix>-adapter`.
pub fn mongo_config(prefix: &str) -> MongoDbAdapterConfig {
    MongoDbAdapterConfig::new()
        .with_collection(format!("{prefix}-adapter"))
        .with_hb_interval(Duration::from_secs(2))
        .with_hb_timeout(Duration::from_secs(6))
        .with_request_timeout(MONGO_CALL_TIMEOUT)
}

impl MongoDriverTrait for MongoDriver {
    type Error = <MongoDbDriver as MongoDriverTrait>::Error;
    type EvStream = OnceEach<<MongoDbDriver as MongoDriverTrait>::EvStream>;

    async fn watch(&self, server_id: Uid, ns: &str) -> Result<Self::EvStream, Self::Error> {
        let begun = self.status.begin();
        let events = self.status.report(begun, self.inner.watch(server_id, ns).await)?;
        Ok(OnceEach { events, seen: HashSet::new(), order: VecDeque::new(), hasher: RandomState::new() })
    }

    async fn emit(&self, data: &Item) -> Result<(), Self::Error> {
        let begun = self.status.begin();
        self.status.report(begun, self.inner.emit(data).await)
    }
}

/// The Redis adapter's settings: `prefix` names its channels.
pub fn redis_config(prefix: &str) -> RedisAdapterConfig {
    RedisAdapterConfig::new()
        .with_prefix(prefix.to_owned())
        .with_stream_buffer(STREAM_BUFFER)
        .with_request_timeout(REDIS_COMMAND_TIMEOUT)
}

/// The backend this node's adapter uses, connected at start-up.
pub enum Backend {
    Local,
    Redis(RedisDriver),
    Mongo(MongoDriver),
}

impl Backend {
    /// Connects to the adapter's backend named by `config`.
    ///
    /// # Errors
    /// A missing `--redis-url`, a store not shared by every node (SQLite), or a backend that
    /// cannot be reached.
    pub async fn connect(config: &Config, status: Arc<AdapterStatus>) -> Result<Self, AdapterError> {
        let shared_store = config.database_url.as_deref().filter(|u| u.starts_with("mongodb"));
        match (config.adapter, shared_store) {
            (AdapterKind::Local, _) => Ok(Backend::Local),
            (kind, None) => Err(AdapterError::NeedsSharedStore(kind)),
            (AdapterKind::Redis, Some(_)) => {
                let url = config.redis_url.as_deref().ok_or(AdapterError::NoRedisUrl)?;
                Ok(Backend::Redis(RedisDriver::connect(url, status).await?))
            }
            (AdapterKind::Mongodb, Some(url)) => {
                Ok(Backend::Mongo(MongoDriver::connect(url, &config.adapter_prefix, status).await?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use socketioxide_mongodb::drivers::ItemHeader;

    use super::*;

    fn item(origin: Uid, data: &[u8]) -> Result<Item, ()> {
        Ok(Item {
            header: ItemHeader::Req { target: None },
            ns: "/".into(),
            origin,
            data: data.to_vec(),
            created_at: None,
        })
    }

    #[tokio::test]
    async fn a_change_stream_passes_each_request_on_once() {
        let (a, b) = (Uid::new(), Uid::new());
        let events =
            futures_util::stream::iter([item(a, b"1"), item(a, b"2"), item(a, b"1"), item(b, b"1"), Err(())]);
        let once =
            OnceEach { events, seen: HashSet::new(), order: VecDeque::new(), hasher: RandomState::new() };
        let got: Vec<_> = once.map(|r| r.map(|i| (i.origin, i.data))).collect().await;
        assert_eq!(got, [Ok((a, b"1".to_vec())), Ok((a, b"2".to_vec())), Ok((b, b"1".to_vec())), Err(())]);
    }

    #[test]
    fn a_success_that_began_before_a_failure_does_not_end_the_outage() {
        let status = AdapterStatus::new(AdapterKind::Redis);
        assert!(status.is_up());
        let stale = status.begin();
        status.down(&"refused");
        assert_eq!(status.report(stale, Ok::<_, String>(())), Ok(()));
        assert!(!status.is_up(), "a call from before the failure proves nothing");
        let fresh = status.begin();
        status.report(fresh, Ok::<_, String>(())).unwrap();
        assert!(status.is_up());
    }
}
