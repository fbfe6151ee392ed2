//! Command-line and environment configuration (`chat-server --help`).

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::Parser;

use crate::{adapter::AdapterKind, client_addr::ProxyNet};

/// The Admin UI's mode (`--admin-mode`), as the Node module names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdminMode {
    Production,
    Development,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

const ENV_HELP: &str = "Environment only:
  JWT_SECRET  HS256 signing secret for login tokens (32+ random bytes; the same value as the Node
              backend's keeps its tokens valid). Unset: a random 256-bit secret is generated once
              and kept in the data dir (mode 0600), so tokens survive restarts.
  RUST_LOG    Log filter (default `warn`; `info` logs one line per connection and disconnection).
              `debug` and `trace` apply to chat-server's own modules only: below `info` its
              dependencies print packets, tokens and password hashes, so they stay at `info`.
  ADMIN_PASSWORD_HASH  bcrypt hash of the Admin UI's password (with --admin-ui).";

/// A Socket.IO chat backend: JWT-authenticated rooms, history and user lookup over one port,
/// a drop-in for the classic Express + Socket.IO + JWT chat backend.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-server", version, about, after_help = ENV_HELP)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port for HTTP and Socket.IO (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = shared::defaults::PORT)]
    pub port: u16,

    /// Folder for the embedded SQLite database and the generated JWT secret.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "chat-data")]
    pub data_dir: PathBuf,

    /// Storage backend: `sqlite://PATH` or `mongodb://HOST/DB` (database name from the path,
    /// default `chat`). Unset: SQLite in the data dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// From `JWT_SECRET` only: a flag would show the secret in the process list.
    #[arg(skip = std::env::var("JWT_SECRET").ok().filter(|s| !s.is_empty()))]
    pub jwt_secret: Option<String>,

    /// Origins allowed to call the API and Socket.IO from a browser (comma-separated or repeated;
    /// `*` allows any). Unset: no cross-origin access.
    #[arg(long = "cors-origin", env = "CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Largest chat message, in bytes of UTF-8.
    #[arg(long, env = "CHAT_MAX_MESSAGE_BYTES", default_value_t = shared::defaults::MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,

    /// Largest HTTP request body, in bytes.
    #[arg(long, env = "CHAT_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,

    /// Largest Engine.IO packet a client may send (a websocket message, a long-polling body), in
    /// bytes. Larger ones close the connection: websocket close code 1009, HTTP 413 on
    /// long-polling, and a warning naming the socket. The default is socket.io's own
    /// (`maxHttpBufferSize`, 1 MB), so anything between `--max-message-bytes` and this still
    /// gets an `error` event and a failing ack on a connection that stays up.
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES", default_value_t = shared::defaults::MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,

    /// Packets queued per socket before it counts as too slow and is disconnected (never a
    /// silent drop).
    #[arg(long, env = "CHAT_SOCKET_BUFFER", default_value_t = shared::defaults::SOCKET_BUFFER)]
    pub socket_buffer: usize,

    /// Milliseconds between the Engine.IO pings the server sends each client (socket.io's
    /// `pingInterval`, same default). Lower it below a proxy's idle timeout; every client
    /// learns it from the Engine.IO handshake.
    #[arg(long, env = "CHAT_PING_INTERVAL_MS", default_value_t = 25_000,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    pub ping_interval_ms: u64,

    /// Milliseconds a client has to answer a ping before its connection counts as dead and
    /// is closed (socket.io's `pingTimeout`, same default).
    #[arg(long, env = "CHAT_PING_TIMEOUT_MS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    pub ping_timeout_ms: u64,

    /// Least milliseconds between two writes to one websocket connection. A packet that
    /// comes after a quiet spell is written at once; one that follows a write closely waits
    /// out the rest of this delay, and what is queued meanwhile joins the same write. A busy
    /// socket then writes a burst at a time, for far less CPU per delivered message, at most
    /// this much later; a quiet one loses no time. 0: every wake-up writes at once.
    #[arg(long, env = "CHAT_WRITE_DELAY_MS", default_value_t = shared::defaults::WRITE_DELAY_MS,
          value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub write_delay_ms: u64,

    /// Do not tell a room each time someone enters it (chapter 15's `User "alice" joined room
    /// "dev"` system line, sent to every socket in the room; joins within a second of the
    /// room's last line share the next one). Each join then costs one delivery instead of one
    /// per member, for rooms whose members come and go all the time. `chat.presence` (a
    /// person's first socket in a room) is still sent; the book's client just shows no line.
    #[arg(long, env = "CHAT_NO_JOIN_NOTICES", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_join_notices: bool,

    /// Messages replayed on connect and on `chat.join`.
    #[arg(long, env = "CHAT_HISTORY", default_value_t = shared::defaults::HISTORY_LEN)]
    pub history: usize,

    /// Seconds a disconnected socket's session is kept for Socket.IO's connection state
    /// recovery (socket.io's `maxDisconnectionDuration`; 120 is its default): an official
    /// client that reconnects within it gets `socket.recovered`, its rooms, and exactly the
    /// messages it missed. 0 (the default, as recovery is opt-in in socket.io too): off, no
    /// `pid` in the CONNECT packet and no offset after each message (the offsets cost about a
    /// fifth of the throughput at 1 million deliveries a second). At most a day.
    #[arg(long, env = "CHAT_RECOVERY_SECS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub recovery_secs: u64,

    /// Chat messages a socket may send per second (sustained).
    #[arg(long, env = "CHAT_MESSAGES_PER_SECOND", default_value_t = 10)]
    pub messages_per_second: u32,

    /// Chat messages a socket may send in a burst above the sustained rate.
    #[arg(long, env = "CHAT_MESSAGE_BURST", default_value_t = 30)]
    pub message_burst: u32,

    /// Simultaneous Socket.IO connections from one client address.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    pub max_connections_per_ip: usize,

    /// Rooms one socket may be in at once.
    #[arg(long, env = "CHAT_MAX_ROOMS_PER_SOCKET", default_value_t = 32)]
    pub max_rooms_per_socket: usize,

    /// HTTP API requests per minute from one client address.
    #[arg(long, env = "CHAT_HTTP_REQUESTS_PER_MINUTE", default_value_t = 120)]
    pub http_requests_per_minute: u32,

    /// Failed logins allowed per username from one client address in 15 minutes (ten times as
    /// many per address, whatever the usernames). Past this many failures of one username from
    /// all addresses together, its logins are slowed down, never locked: nobody can lock
    /// another person out by guessing their password.
    #[arg(long, env = "CHAT_MAX_FAILED_LOGINS", default_value_t = 10)]
    pub max_failed_logins: u32,

    /// Reverse proxies whose `Forwarded` or `X-Forwarded-For` header names the client: CIDR
    /// networks or addresses, comma-separated (e.g. `127.0.0.1,10.0.0.0/8`). Every per-address
    /// limit (HTTP rate, failed logins, connections) then counts the client behind them.
    /// Unset: those headers are ignored and the TCP peer is the client.
    #[arg(long = "trusted-proxy", env = "CHAT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyNet>,

    /// Turn off the message, HTTP and login rate limits and the per-address connection cap
    /// (for load tests and benchmarks that open thousands of sockets from one address).
    #[arg(long, env = "CHAT_NO_RATE_LIMITS", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_rate_limits: bool,

    /// Longest wait for one database call, in milliseconds, before it counts as unavailable.
    #[arg(long, env = "CHAT_STORE_TIMEOUT_MS", default_value_t = 5000)]
    pub store_timeout_ms: u64,

    /// How this node reaches the others: `local` (one process), `redis` (Redis 7 or newer at
    /// `--redis-url`) or `mongodb` (change streams on the MongoDB of `DATABASE_URL`, which must be
    /// a replica set; one node is enough). `redis` and `mongodb` need `DATABASE_URL` on MongoDB,
    /// shared by every node, and the same `JWT_SECRET` on every node.
    #[arg(long, env = "CHAT_ADAPTER", value_enum, default_value_t = AdapterKind::Local)]
    pub adapter: AdapterKind,

    /// Redis for `--adapter redis`, e.g. `redis://:password@host:6379/0` (`rediss://` for TLS).
    /// RESP3 is always used, whatever the URL says: no `?protocol=` option is needed.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Serve the Socket.IO Admin UI's namespace (`@socket.io/admin-ui` 0.5, production mode),
    /// which needs `--admin-username` and the password's bcrypt hash in `ADMIN_PASSWORD_HASH`.
    /// For the hosted dashboard, also `--cors-origin https://admin.socket.io`.
    #[arg(long, env = "CHAT_ADMIN_UI", value_parser = clap::builder::FalseyValueParser::new())]
    pub admin_ui: bool,

    /// The Admin UI's username.
    #[arg(long, env = "CHAT_ADMIN_USERNAME")]
    pub admin_username: Option<String>,

    /// From `ADMIN_PASSWORD_HASH` only (a bcrypt hash, e.g. from `htpasswd -nbBC 10 "" PASSWORD`):
    /// never a plaintext flag.
    #[arg(skip = std::env::var("ADMIN_PASSWORD_HASH").ok().filter(|s| !s.is_empty()))]
    pub admin_password_hash: Option<String>,

    /// Serve the dashboard itself under `/admin-ui/` from this folder: the `ui/dist` of the
    /// `@socket.io/admin-ui` npm package (`npm install @socket.io/admin-ui@0.5.1`).
    #[arg(long, env = "CHAT_ADMIN_UI_DIR")]
    pub admin_ui_dir: Option<PathBuf>,

    /// The Admin UI's namespace.
    #[arg(long, env = "CHAT_ADMIN_NAMESPACE", default_value = "/admin")]
    pub admin_namespace: String,

    /// `production` (stats and operations) or `development` (also every socket, room and event
    /// live, with message text: use it on trusted networks only).
    #[arg(long, env = "CHAT_ADMIN_MODE", value_enum, default_value_t = AdminMode::Production)]
    pub admin_mode: AdminMode,

    /// The dashboard may look but not join, leave, disconnect or emit.
    #[arg(long, env = "CHAT_ADMIN_READONLY", value_parser = clap::builder::FalseyValueParser::new())]
    pub admin_readonly: bool,

    /// Serve `/metrics` on this address (e.g. `127.0.0.1:9100`) instead of the main port: the
    /// safer choice, since it keeps the numbers off the address clients reach.
    #[arg(long, env = "CHAT_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Log lines as `text` (for people) or `json` (one object per line, for log shippers).
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Names the nodes' shared channels: the Redis channel prefix, or the MongoDB collection
    /// `<prefix>-adapter`. Nodes see each other only with the same prefix.
    #[arg(long, env = "CHAT_ADAPTER_PREFIX", default_value = "socket.io")]
    pub adapter_prefix: String,
}

impl Config {
    pub fn store_timeout(&self) -> Duration {
        Duration::from_millis(self.store_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sane() {
        let c = Config::try_parse_from(["chat-server"]).unwrap();
        assert_eq!(c.port, 3001);
        assert_eq!(c.max_message_bytes, 4096);
        assert!(c.cors_origins.is_empty());
        assert!(!c.no_rate_limits);
    }

    #[test]
    fn cors_origins_split_on_commas() {
        let c = Config::try_parse_from(["chat-server", "--cors-origin", "http://a,http://b"]).unwrap();
        assert_eq!(c.cors_origins, ["http://a", "http://b"]);
    }
}
