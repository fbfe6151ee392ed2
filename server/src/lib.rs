//! `chat-server`: a Socket.IO chat backend on axum + socketioxide.
//!
//! Layout: [`config`] (clap), [`state`] (the one `AppState`), [`auth`] (passwords, JWTs,
//! throttles), [`http`] (REST routes), [`socket`] (auth middleware and event handlers),
//! [`store`] (the `Store` trait and its backends). [`run`] ties them to a listener the caller
//! binds, so tests start the real server on port 0.

pub mod auth;
pub mod config;
pub mod http;
pub mod socket;
pub mod state;
pub mod store;

pub use config::Config;

/// Serves HTTP and Socket.IO on `listener` until `shutdown` resolves, then tells clients,
/// finishes pending message writes and closes the store.
///
/// # Errors
/// A data dir that cannot be created or written, a bad `DATABASE_URL`, an unreachable
/// database, or a failure of the listener.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = (config, listener, shutdown.await);
    todo!()
}
