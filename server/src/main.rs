//! `chat-server`: parse the configuration, bind, serve until SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use chat_server::Config;
use clap::Parser;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    chat_server::logging::init(config.log_format);
    return_big_blocks_to_the_os();
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind((config.host, config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    let addr = listener.local_addr()?;
    let store = match &config.database_url {
        Some(url) => chat_server::store::redact_url(url),
        None => format!("sqlite in {}", config.data_dir.display()),
    };
    survive_file_size_limit().context("cannot handle SIGXFSZ")?;
    let server = chat_server::Server::open(config).await?;
    // One write(2): stderr is unbuffered, and `eprintln!` writes each formatted piece apart, so a
    // reader of the pipe could see `http://127.0.0.1:` before the port arrives.
    let ready = format!("chat-server listening on http://{addr} (store: {store})\n");
    std::io::stderr().write_all(ready.as_bytes())?;
    server.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// A write past the file size limit (`ulimit -f`) raises SIGXFSZ, whose default is to kill the
/// process. Handled, the write fails instead (EFBIG): the store reports it, acks say "not
/// stored", and everything else keeps working until the limit is raised.
fn survive_file_size_limit() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut xfsz = signal(SignalKind::from_raw(libc::SIGXFSZ))?;
    tokio::spawn(async move {
        while xfsz.recv().await.is_some() {
            tracing::error!("a file reached the size limit (ulimit -f): writes fail until it is raised");
        }
    });
    Ok(())
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let ctrl_c = tokio::signal::ctrl_c();
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// Fixes glibc's mmap threshold at its default of 128 KiB. Left dynamic, the first freed
/// 19 MiB argon2 block raises it to 19 MiB, after which every hash's block comes from the
/// thread's malloc arena and stays there when freed: 400 signups and logins, 50 at a time, left
/// the server at 10 GB RSS. Fixed, blocks that big are mmapped and unmapped each time.
fn return_big_blocks_to_the_os() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator parameters; called before any big allocation.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
