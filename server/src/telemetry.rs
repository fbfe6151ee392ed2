//! Prometheus metrics (`GET /metrics`, text format 0.0.4): every name is here, with what it
//! counts, so that the README's list and the code cannot drift apart.
//!
//! The `metrics` crate's recorder is process-wide: servers started in one process (tests) share
//! it, and its numbers add up across them.

use std::{sync::OnceLock, time::Duration};

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Sockets connected to this node now (gauge).
pub const SOCKETS_CONNECTED: &str = "chat_sockets_connected";
/// Handshakes accepted (counter).
pub const CONNECTS: &str = "chat_socket_connects_total";
/// Disconnections, by `reason` (socketioxide's, e.g. `TransportClose`, `ClientNSDisconnect`).
pub const DISCONNECTS: &str = "chat_socket_disconnects_total";
/// Handshakes refused, by `reason` (`no_token`, `invalid_token`, `invalid_room`,
/// `too_many_connections`, `unavailable`).
pub const HANDSHAKE_REFUSALS: &str = "chat_handshake_refusals_total";
/// `chat.message` events received (counter).
pub const MESSAGES_RECEIVED: &str = "chat_messages_received_total";
/// Messages broadcast to their room (counter).
pub const MESSAGES_BROADCAST: &str = "chat_messages_broadcast_total";
/// Broadcast packets this node queued to its sockets, one per socket per broadcast (chat
/// messages, join notices, dashboard events), whichever node broadcast them (counter).
pub const DELIVERIES: &str = "chat_deliveries_total";
/// Event answers, by `event` and `outcome` (`ok` or `refused`).
pub const ACKS: &str = "chat_acks_total";
/// Store calls, by `backend` (`sqlite`, `mongodb`) and `call`, in seconds (histogram).
pub const STORE_CALL_SECONDS: &str = "chat_store_call_seconds";
/// Store calls that failed, by `backend`, `call` and `kind` (`unavailable`, `backend`, `taken`).
pub const STORE_ERRORS: &str = "chat_store_errors_total";
/// Messages per write to the store (histogram).
pub const WRITER_BATCH: &str = "chat_writer_batch_messages";
/// Sockets disconnected because they stopped reading (counter).
pub const SLOW_DISCONNECTS: &str = "chat_slow_socket_disconnects_total";
/// Requests refused by a rate limit, by `kind` (`message`, `http`, `login`, `connections`).
pub const RATE_LIMITED: &str = "chat_rate_limited_total";
/// Logins, by `outcome` (`ok`, `failed`, `throttled`).
pub const LOGINS: &str = "chat_logins_total";
/// Signups, by `outcome` (`ok`, `taken`, `invalid`).
pub const SIGNUPS: &str = "chat_signups_total";
/// 1 while the adapter's backend (Redis, MongoDB) answers, 0 while it does not (gauge).
pub const ADAPTER_UP: &str = "chat_adapter_up";

/// Buckets of [`STORE_CALL_SECONDS`]: 100 µs to 5 s.
const LATENCY_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 5.0];
/// Buckets of [`WRITER_BATCH`].
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (once per process) and describes every metric.
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(STORE_CALL_SECONDS.into()),
                &LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(WRITER_BATCH.into()),
                    &BATCH_BUCKETS,
                )
            });
        let handle = builder.and_then(|b| b.install_recorder());
        match handle {
            Ok(handle) => {
                describe();
                Some(handle)
            }
            Err(e) => {
                tracing::warn!("metrics are off: {e}");
                None
            }
        }
    });
}

/// How often [`upkeep`] drains the histograms' samples into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Runs for the life of the server: drains the samples recorded into histograms since the
/// last upkeep or scrape. The recorder keeps every sample until then (8 bytes and more each:
/// the history read of every connect, every store write), so a server nobody scrapes grew
/// ~18 bytes per connect for as long as it ran (glibc's `malloc_stats`, 44 000 connects).
/// `PrometheusBuilder::install` runs this itself, but it also binds a listener of its own,
/// and the metrics are served on the server's port.
pub async fn upkeep() {
    let Some(handle) = HANDLE.get().and_then(Option::as_ref) else { return };
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    loop {
        every.tick().await;
        handle.run_upkeep();
    }
}

/// The metrics in Prometheus' text format (empty when the recorder could not be installed).
pub fn render() -> String {
    // Counted inside socketioxide (one relaxed atomic add per delivery), copied at scrape time.
    counter!(DELIVERIES).absolute(socketioxide::socket::broadcast_deliveries());
    HANDLE.get().and_then(Option::as_ref).map(PrometheusHandle::render).unwrap_or_default()
}

fn describe() {
    describe_gauge!(SOCKETS_CONNECTED, "Sockets connected to this node now");
    describe_counter!(CONNECTS, "Socket.IO handshakes accepted");
    describe_counter!(DISCONNECTS, "Socket disconnections, by reason");
    describe_counter!(HANDSHAKE_REFUSALS, "Socket.IO handshakes refused, by reason");
    describe_counter!(MESSAGES_RECEIVED, "chat.message events received");
    describe_counter!(MESSAGES_BROADCAST, "Chat messages broadcast to their room");
    describe_counter!(DELIVERIES, "Broadcast packets queued to this node's sockets, one per socket");
    describe_counter!(ACKS, "Client events answered, by event and outcome");
    describe_histogram!(STORE_CALL_SECONDS, Unit::Seconds, "Store call latency, by backend and call");
    describe_counter!(STORE_ERRORS, "Store calls that failed, by backend, call and kind");
    describe_histogram!(WRITER_BATCH, Unit::Count, "Messages per batched write to the store");
    describe_counter!(SLOW_DISCONNECTS, "Sockets disconnected because they stopped reading");
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit, by kind");
    describe_counter!(LOGINS, "Logins, by outcome");
    describe_counter!(SIGNUPS, "Signups, by outcome");
    describe_gauge!(ADAPTER_UP, "1 while the adapter's backend answers");
}

/// Counts one of `name` with `label = value`.
pub fn count(name: &'static str, label: &'static str, value: impl Into<String>) {
    counter!(name, label => value.into()).increment(1);
}

/// Counts one of `name`, unlabelled.
pub fn count_one(name: &'static str) {
    counter!(name).increment(1);
}

/// Records one store call.
pub fn store_call(backend: &'static str, call: &'static str, took: Duration, error: Option<&'static str>) {
    histogram!(STORE_CALL_SECONDS, "backend" => backend, "call" => call).record(took.as_secs_f64());
    if let Some(kind) = error {
        counter!(STORE_ERRORS, "backend" => backend, "call" => call, "kind" => kind).increment(1);
    }
}

/// Records a batched write of `messages`.
pub fn writer_batch(messages: usize) {
    histogram!(WRITER_BATCH).record(messages as f64);
}

/// One socket more (`+1`) or less (`-1`).
pub fn sockets(delta: f64) {
    gauge!(SOCKETS_CONNECTED).increment(delta);
}

/// The adapter's backend answers or not.
pub fn adapter_up(up: bool) {
    gauge!(ADAPTER_UP).set(if up { 1.0 } else { 0.0 });
}
