//! `chat-tui`, the binary: flags and the config file, then the full screen or the line mode
//! of the `chat_tui` library.

use std::{io::IsTerminal, process::ExitCode, sync::Mutex};

use chat_tui::{auth, commands, config, interactive, plain};

use anyhow::Context;
use clap::Parser;

/// A terminal chat client for chat-server.
///
/// The first start asks for a username and password (or creates the account with --signup)
/// and keeps the login token in the user's config dir, one per server; later starts reuse it.
/// With --plain, or when stdin or stdout is not a terminal, each stdin line is sent and each
/// message received is printed as `[room] username: message`.
#[derive(Debug, Parser)]
#[command(name = "chat-tui", version, about)]
struct Cli {
    /// Server URL (`host:port` will do). Default: the config file's `server`, else
    /// http://localhost:3001.
    #[arg(long, env = "CHAT_SERVER")]
    server: Option<String>,
    /// Config file (TOML; see tui-client/config.example.toml). Default:
    /// $XDG_CONFIG_HOME/chat-tui/config.toml, used when it exists.
    #[arg(long, env = "CHAT_TUI_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Room to join on connect.
    #[arg(long, default_value = shared::defaults::ROOM)]
    room: String,
    /// Username to log in as (asked for when needed and not given).
    #[arg(long)]
    user: Option<String>,
    /// Create the account, then log in.
    #[arg(long)]
    signup: bool,
    /// Forget the stored login for this server and exit.
    #[arg(long)]
    logout: bool,
    /// Line mode for scripts: stdin lines are sent, messages are printed.
    #[arg(long)]
    plain: bool,
    /// Like --plain, printing one JSON object per message.
    #[arg(long)]
    json: bool,
    /// Messages kept per room.
    #[arg(long, env = "CHAT_SCROLLBACK", default_value_t = 10_000)]
    scrollback: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat-tui: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chat-tui: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = match (&cli.config, config::Config::default_path()) {
        (Some(path), _) => config::Config::load(path, true)?,
        (None, Some(path)) => config::Config::load(&path, false)?,
        (None, None) => config::Config::default(),
    };
    let server = cli.server.clone().or_else(|| config.server.clone());
    let server = server_url(server.as_deref().unwrap_or(shared::defaults::SERVER_URL)).context("--server")?;
    let room = commands::room_name(&cli.room).map_err(|e| anyhow::anyhow!("--room: {e}"))?;
    let store = auth::TokenStore::default_location().context("no home directory to keep the login in")?;
    if cli.logout {
        let had = store.remove(&server)?;
        println!("{} {server}.", if had { "Logged out of" } else { "No stored login for" });
        return Ok(ExitCode::SUCCESS);
    }
    let login = auth::LoginOptions { server: server.clone(), username: cli.user.clone(), signup: cli.signup };
    let stored = match store.get(&server)? {
        Some(s) if !cli.signup && cli.user.as_ref().is_none_or(|u| *u == s.username) => Some(s),
        _ => None,
    };
    let plain = cli.plain || cli.json || !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal();
    if !plain {
        // Without a stored login the full screen starts with its login form.
        let opts = interactive::Options { login, room, scrollback: cli.scrollback, config };
        return interactive::run(opts, stored, store).await;
    }
    let session = match stored {
        Some(session) => session,
        None => match auth::login(&login, &store).await {
            Ok(session) => session,
            Err(e) => {
                eprintln!("{e}");
                // The server said no (2) rather than could not be asked (1), as for a token.
                let refused = matches!(e, auth::AuthError::Server { .. });
                return Ok(if refused { ExitCode::from(2) } else { ExitCode::FAILURE });
            }
        },
    };
    let opts = plain::Options { login, room, json: cli.json };
    Ok(plain::run(opts, session, store).await)
}

/// `--server` as a base URL: `host:port` and `host` mean `http://` (what people type), a
/// trailing slash is dropped, and only http and https are taken.
fn server_url(arg: &str) -> anyhow::Result<String> {
    let arg = arg.trim().trim_end_matches('/');
    let full = if arg.contains("://") { arg.to_owned() } else { format!("http://{arg}") };
    let url = reqwest::Url::parse(&full).with_context(|| format!("{arg:?} is not a server address"))?;
    anyhow::ensure!(matches!(url.scheme(), "http" | "https"), "{arg:?}: the scheme must be http or https");
    anyhow::ensure!(url.host().is_some(), "{arg:?} names no host");
    Ok(full)
}

/// Logs go to `chat-tui.log` in the state dir (`$XDG_STATE_HOME/chat-tui`), never to the
/// screen; quiet unless `RUST_LOG` asks for more.
fn init_logging() {
    let Some(dirs) = directories::ProjectDirs::from("", "", "chat-tui") else { return };
    let dir = dirs.state_dir().unwrap_or(dirs.cache_dir());
    let file = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(dir.join("chat-tui.log")));
    let Ok(file) = file else { return };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_writer(Mutex::new(file)).with_ansi(false).with_env_filter(filter).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_as_people_type_them() {
        assert_eq!(server_url("127.0.0.1:3001").unwrap(), "http://127.0.0.1:3001");
        assert_eq!(server_url("chat.example.org").unwrap(), "http://chat.example.org");
        assert_eq!(server_url("https://chat.example.org/").unwrap(), "https://chat.example.org");
        assert_eq!(server_url("http://[::1]:3001").unwrap(), "http://[::1]:3001");
        assert!(server_url("ftp://x").is_err());
        assert!(server_url("").is_err());
        assert!(server_url("a b").is_err());
    }
}
