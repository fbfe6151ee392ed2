//! `chat-server`: a Socket.IO chat backend on axum + socketioxide.
//!
//! Layout: [`config`] (clap), [`state`] (the one `AppState`), [`auth`] (passwords, JWTs,
//! throttles), [`http`] (REST routes), [`socket`] (auth middleware and event handlers),
//! [`store`] (the `Store` trait and its backends), [`adapter`] (how nodes reach each other). [`run`] ties them to a listener the caller
//! binds, so tests start the real server on port 0.

pub mod adapter;
pub mod admin;
pub mod auth;
pub mod client_addr;
pub mod config;
pub mod http;
pub mod logging;
pub mod memory;
pub mod socket;
pub mod state;
pub mod store;
pub mod telemetry;

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use axum::{
    http::{HeaderValue, Method, header},
    serve::ListenerExt,
};
use socketioxide::{SocketIo, SocketIoBuilder, adapter::Adapter, layer::SocketIoLayer};
use socketioxide_core::adapter::DefinedAdapter;
use socketioxide_mongodb::{CustomMongoDbAdapter, MongoDbAdapterCtr};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterCtr};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::Config;

use crate::{
    adapter::{AdapterError, AdapterStatus, Backend, MongoDriver, RedisDriver},
    client_addr::TrustedProxies,
    socket::history::History,
    state::{AppState, Limits},
    store::writer::MessageWriter,
};

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("data dir {path} is not usable")]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Adapter(#[from] adapter::AdapterError),
    #[error("--admin-ui: {0}")]
    Admin(String),
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Messages waiting to be written before senders wait for the store.
const WRITE_QUEUE: usize = 16 * 1024;
/// How long a signup or login waits for a password-hashing slot before it gets a 503.
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Longest wait at shutdown for the tasks that handle or finish client events (a write
/// stalled on an unreachable store gives up after `--store-timeout-ms` anyway).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often idle rate-limiter entries are dropped.
const LIMITER_SWEEP: Duration = Duration::from_secs(60);

/// Serves HTTP and Socket.IO on `listener` until `shutdown` resolves: [`Server::open`] then
/// [`Server::serve`].
///
/// # Errors
/// See [`Server::open`] and [`Server::serve`].
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::open(config).await?.serve(listener, shutdown).await
}

/// A server whose store, secrets and adapter backend are ready, not yet serving.
pub struct Server {
    state: AppState,
    writer_task: JoinHandle<()>,
    backend: Backend,
}

impl Server {
    /// Prepares the data dir, opens the store, loads the JWT secret and connects the adapter's
    /// backend.
    ///
    /// # Errors
    /// A data dir that cannot be created or written, a bad `DATABASE_URL` or an unreachable
    /// database; an adapter without a shared store, or whose backend is unreachable.
    pub async fn open(config: Config) -> Result<Self, ServerError> {
        let config = Arc::new(config);
        telemetry::install();
        let adapter = Arc::new(AdapterStatus::new(config.adapter));
        telemetry::adapter_up(adapter.is_up());
        let backend = Backend::connect(&config, adapter.clone()).await?;
        if config.database_url.is_none() || config.jwt_secret.is_none() {
            prepare_data_dir(&config.data_dir)?;
        }
        let store =
            store::open(config.database_url.as_deref(), &config.data_dir, config.store_timeout()).await?;
        let secret = auth::load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
        let dummy_hash = tokio::task::spawn_blocking(auth::dummy_hash)
            .await
            .map_err(|e| auth::AuthError::Hash(e.to_string()))??;
        let (writer, writer_task) = MessageWriter::spawn(store.clone(), WRITE_QUEUE);
        let admin = admin_side(&config, &secret)?.map(Arc::new);
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let state = AppState {
            history: Arc::new(History::new(
                store.clone(),
                writer.clone(),
                config.history,
                !matches!(backend, Backend::Local),
                tasks.clone(),
                config.recovery_secs > 0,
            )),
            limits: Arc::new(Limits::new(&config)),
            tokens: Arc::new(auth::Tokens::new(&secret)),
            hashing: Arc::new(auth::Hashing::new(
                std::thread::available_parallelism().map_or(1, usize::from),
                HASH_QUEUE_WAIT,
            )),
            dummy_hash: dummy_hash.into(),
            store,
            writer,
            adapter,
            tasks,
            shutdown,
            admin,
            config,
        };
        Ok(Self { state, writer_task, backend })
    }

    /// Serves until `shutdown` resolves, then disconnects clients, writes pending messages
    /// and closes the store.
    ///
    /// # Errors
    /// A failure of the listener, or of the adapter's start.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Self { state, writer_task, backend } = self;
        let config = state.config.clone();
        let builder = SocketIo::builder()
            .with_state(state.clone())
            .req_path(shared::api::SOCKET_IO_PATH)
            .max_buffer_size(config.socket_buffer)
            .ping_interval(Duration::from_millis(config.ping_interval_ms))
            .ping_timeout(Duration::from_millis(config.ping_timeout_ms))
            .ws_write_delay(Duration::from_millis(config.write_delay_ms))
            .ws_read_buffer_size(shared::defaults::WS_READ_BUFFER)
            .max_payload(config.max_frame_bytes as u64)
            .ws_max_message_size(config.max_frame_bytes)
            .ws_max_frame_size(config.max_frame_bytes);
        let prefix = config.adapter_prefix.clone();
        let serving = Serving { state, listener, writer_task };
        match backend {
            Backend::Local => {
                let (layer, io) = builder.build_layer();
                socket::register(&io);
                if let Some(admin) = &serving.state.admin {
                    admin::register(&io, admin);
                    admin.attach(&io);
                }
                serving.run(layer, io, shutdown).await
            }
            Backend::Redis(driver) => {
                let ctr = RedisAdapterCtr::new_with_driver(driver, adapter::redis_config(&prefix));
                let builder = builder.with_adapter::<CustomRedisAdapter<_, RedisDriver>>(ctr);
                serving.run_remote(builder, shutdown).await
            }
            Backend::Mongo(driver) => {
                let ctr = MongoDbAdapterCtr::new_with_driver(driver, adapter::mongo_config(&prefix));
                let builder = builder.with_adapter::<CustomMongoDbAdapter<_, MongoDriver>>(ctr);
                serving.run_remote(builder, shutdown).await
            }
        }
    }
}

/// What [`Server::serve`] hands to the part that does not depend on the adapter's type.
struct Serving {
    state: AppState,
    listener: TcpListener,
    writer_task: JoinHandle<()>,
}

impl Serving {
    /// Starts a remote adapter (its subscriptions), then serves.
    async fn run_remote<A, E>(
        self,
        builder: SocketIoBuilder<A>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError>
    where
        A: Adapter + DefinedAdapter,
        A::InitRes: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let (layer, io) = builder.build_layer();
        socket::register(&io).await.map_err(|e| AdapterError::Start(e.to_string()))?;
        if let Some(admin) = &self.state.admin {
            admin::register(&io, admin).await.map_err(|e| AdapterError::Start(e.to_string()))?;
            admin.attach(&io);
        }
        self.run(layer, io, shutdown).await
    }

    async fn run<A: Adapter>(
        self,
        socket_layer: SocketIoLayer<A>,
        io: SocketIo<A>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Self { state, listener, writer_task } = self;
        let config = state.config.clone();
        let proxies = TrustedProxies::new(&config.trusted_proxies);
        let app = http::router(state.clone()).layer(
            ServiceBuilder::new()
                .layer(cors(&config.cors_origins))
                .map_request(move |request| http::owned_head(proxies.tag(request)))
                .layer(socket_layer),
        );

        // A separate address for the metrics, closed with the rest.
        let metrics_server = match config.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await?;
                tracing::info!("metrics on http://{}{}", listener.local_addr()?, shared::api::METRICS_PATH);
                let stop = state.shutdown.clone();
                Some(tokio::spawn(async move {
                    let served = axum::serve(listener, http::metrics_router())
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await;
                    if let Err(e) = served {
                        tracing::error!("metrics server failed: {e}");
                    }
                }))
            }
            None => None,
        };
        let stats = state
            .admin
            .clone()
            .map(|admin| tokio::spawn(admin::send_stats(io.clone(), admin, state.shutdown.clone())));
        let sweeper = tokio::spawn({
            let limits = state.limits.clone();
            async move {
                let mut every = tokio::time::interval(LIMITER_SWEEP);
                loop {
                    every.tick().await;
                    limits.forget_idle();
                }
            }
        });
        let trimmer = tokio::spawn(memory::trim_after_bursts());
        let upkeep = tokio::spawn(telemetry::upkeep());
        // Node's http server sets TCP_NODELAY; without it small chat frames wait on Nagle.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("could not set TCP_NODELAY: {e}");
            }
        });
        let (closing_io, closing) = (io.clone(), state.clone());
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                // Finish what clients sent so far (later events are refused), while the
                // namespace still exists for their broadcasts; then disconnect everyone.
                tracing::info!("shutting down: finishing client events");
                closing.shutdown.cancel();
                closing.tasks.close();
                if tokio::time::timeout(SHUTDOWN_GRACE, closing.tasks.wait()).await.is_err() {
                    tracing::warn!("{} tasks still running after {SHUTDOWN_GRACE:?}", closing.tasks.len());
                }
                tracing::info!("shutting down: disconnecting clients");
                closing_io.close().await;
            })
            .await;

        sweeper.abort();
        trimmer.abort();
        upkeep.abort();
        if let Some(stats) = stats {
            stats.abort();
        }
        if let Some(metrics_server) = metrics_server {
            metrics_server.abort();
        }
        state.writer.flush().await;
        state.store.close().await;
        writer_task.abort();
        served.map_err(ServerError::from)
    }
}

/// The Admin UI's side, when `--admin-ui` asks for it and has what it needs.
fn admin_side(config: &Config, secret: &[u8]) -> Result<Option<admin::Admin>, ServerError> {
    if !config.admin_ui {
        return Ok(None);
    }
    let username =
        config.admin_username.clone().ok_or(ServerError::Admin("needs --admin-username".into()))?;
    let hash = config
        .admin_password_hash
        .clone()
        .ok_or(ServerError::Admin("needs the password's bcrypt hash in ADMIN_PASSWORD_HASH".into()))?;
    if hash.parse::<bcrypt::HashParts>().is_err() {
        return Err(ServerError::Admin(
            "ADMIN_PASSWORD_HASH must be a bcrypt hash ($2a$, $2b$ or $2y$)".into(),
        ));
    }
    if !config.admin_namespace.starts_with('/') || config.admin_namespace == "/" {
        return Err(ServerError::Admin(format!(
            "namespace {:?} must start with / and not be /",
            config.admin_namespace
        )));
    }
    if let Some(dir) = &config.admin_ui_dir
        && !dir.join("index.html").is_file()
    {
        return Err(ServerError::Admin(format!(
            "--admin-ui-dir {} has no index.html (it is the ui/dist of @socket.io/admin-ui)",
            dir.display()
        )));
    }
    if config.admin_mode == config::AdminMode::Development {
        tracing::warn!(
            "Admin UI in development mode: every event, message text included, reaches the dashboard"
        );
    }
    if config.cors_origins.is_empty() {
        tracing::info!(
            "Admin UI on {}: only a dashboard served from this origin can reach it (see --cors-origin)",
            config.admin_namespace
        );
    }
    let config = admin::AdminConfig {
        namespace: config.admin_namespace.clone(),
        username,
        password_hash: hash,
        readonly: config.admin_readonly,
        development: config.admin_mode == config::AdminMode::Development,
    };
    Ok(Some(admin::Admin::new(config, secret)))
}

/// Creates the data dir if needed (owner-only: it holds password hashes and the JWT secret)
/// and proves it writable, so a bad path fails at start.
fn prepare_data_dir(dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt;
    let error = |source| ServerError::DataDir { path: dir.display().to_string(), source };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(error)?;
    tempfile::tempfile_in(dir).map(drop).map_err(error)
}

/// No cross-origin access unless origins are configured; `*` allows any, with a warning.
fn cors(origins: &[String]) -> CorsLayer {
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]);
    if origins.iter().any(|o| o == "*") {
        tracing::warn!("CORS allows any origin (--cors-origin '*')");
        return layer.allow_origin(AllowOrigin::any());
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| {
            HeaderValue::from_str(o)
                .inspect_err(|_| tracing::warn!("ignoring invalid CORS origin {o:?}"))
                .ok()
        })
        .collect();
    layer.allow_origin(AllowOrigin::list(allowed))
}
