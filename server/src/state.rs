//! The one `AppState` every HTTP route and socket handler shares.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    adapter::AdapterStatus,
    admin::Admin,
    auth::{LoginThrottle, Tokens},
    config::Config,
    socket::history::History,
    store::{Store, writer::MessageWriter},
};

/// Window over which failed logins are counted.
const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Usernames and addresses tracked by each login throttle.
const THROTTLE_CAPACITY: usize = 100_000;

/// Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub tokens: Arc<Tokens>,
    /// Password hashing, a bounded number at a time.
    pub hashing: Arc<crate::auth::Hashing>,
    pub writer: MessageWriter,
    pub history: Arc<History>,
    pub limits: Arc<Limits>,
    /// Checked against when a username is unknown, so failed logins take equal time.
    pub dummy_hash: Arc<str>,
    /// Whether the adapter's backend (Redis, MongoDB) answers; always up for the local one.
    pub adapter: Arc<AdapterStatus>,
    /// Every task that handles a client's events or finishes one (socket workers, acks that
    /// wait for the store): shutdown waits for them before it closes the store.
    pub tasks: TaskTracker,
    /// Cancelled when shutdown begins: workers finish what is queued, new events are refused.
    pub shutdown: CancellationToken,
    /// The Admin UI's side, when `--admin-ui` is on.
    pub admin: Option<Arc<Admin>>,
}

/// Rate and connection limits shared by all clients. Each is `None` under `--no-rate-limits`.
pub struct Limits {
    pub http: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub failed_logins: Option<LoginThrottle>,
    connections: Option<ConnectionCounter>,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        if config.no_rate_limits {
            return Self { http: None, failed_logins: None, connections: None };
        }
        let per_minute = NonZeroU32::new(config.http_requests_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            http: Some(RateLimiter::keyed(Quota::per_minute(per_minute))),
            failed_logins: Some(LoginThrottle::new(
                config.max_failed_logins.max(1),
                LOGIN_WINDOW,
                THROTTLE_CAPACITY,
            )),
            connections: Some(ConnectionCounter {
                max: config.max_connections_per_ip,
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Counts a new Socket.IO connection from `addr` until the returned slot is dropped;
    /// `None` when the address is at its cap.
    pub fn open_connection(self: &Arc<Self>, addr: IpAddr) -> Option<ConnectionSlot> {
        if let Some(counter) = &self.connections {
            let mut open = counter.open.lock().unwrap_or_else(|p| p.into_inner());
            let count = open.entry(addr).or_insert(0);
            if *count >= counter.max {
                return None;
            }
            *count += 1;
        }
        Some(ConnectionSlot { limits: self.clone(), addr })
    }

    /// Drops rate-limiter state of addresses that have been quiet, so memory stays bounded.
    pub fn forget_idle(&self) {
        if let Some(http) = &self.http {
            http.retain_recent();
            http.shrink_to_fit();
        }
    }
}

/// One counted connection. It lives in the socket's session and is released when the socket
/// is dropped, on every path out (disconnect, failed handshake, shutdown).
pub struct ConnectionSlot {
    limits: Arc<Limits>,
    addr: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let Some(counter) = &self.limits.connections else { return };
        let mut open = counter.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.addr) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

struct ConnectionCounter {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn connection_cap_counts_per_address() {
        let config = Config::parse_from(["chat-server", "--max-connections-per-ip", "2"]);
        let limits = Arc::new(Limits::new(&config));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = limits.open_connection(a).unwrap();
        let _second = limits.open_connection(a).unwrap();
        assert!(limits.open_connection(a).is_none());
        let _other = limits.open_connection(b).unwrap();
        drop(first);
        assert!(limits.open_connection(a).is_some());
    }

    #[test]
    fn no_rate_limits_lifts_the_cap() {
        let config = Config::parse_from(["chat-server", "--max-connections-per-ip", "1", "--no-rate-limits"]);
        let limits = Arc::new(Limits::new(&config));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..100).filter_map(|_| limits.open_connection(a)).collect();
        assert_eq!(slots.len(), 100);
        assert!(limits.http.is_none() && limits.failed_logins.is_none());
    }
}
