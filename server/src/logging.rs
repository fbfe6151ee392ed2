//! Log setup shared by the binary: `RUST_LOG` filtering, with dependencies held at `info`.
//!
//! Below `info`, socketioxide and engineioxide print every packet (handshake tokens, message
//! text), the MongoDB driver every command (password hashes) and others raw frames. No log line
//! may carry a secret at any level, so `debug` and `trace` are only ever ours.

use std::io::IsTerminal;

use tracing::{Level, Metadata};

use crate::config::LogFormat;
use tracing_subscriber::{
    EnvFilter, Layer, filter::FilterExt, layer::SubscriberExt, util::SubscriberInitExt,
};

/// Targets that may log below `info`: this server's own modules.
const OWN_TARGETS: [&str; 2] = ["chat_server", "shared"];

/// Whether a log line of `meta` may be written whatever `RUST_LOG` asks.
fn may_log(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO
        || OWN_TARGETS.iter().any(|own| {
            meta.target().strip_prefix(own).is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// Logs to stderr as `RUST_LOG` says (default `warn`), never below `info` for dependencies,
/// as text or as one JSON object per line.
pub fn init(format: LogFormat) {
    let filter = || {
        let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
        env.and(tracing_subscriber::filter::filter_fn(may_log))
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let layer = fmt.with_ansi(std::io::stderr().is_terminal()).with_filter(filter());
            tracing_subscriber::registry().with(layer).init();
        }
        LogFormat::Json => {
            let layer = fmt.json().with_current_span(true).with_span_list(false).with_filter(filter());
            tracing_subscriber::registry().with(layer).init();
        }
    }
    // Only dependencies log through the `log` crate (tungstenite, once per websocket frame),
    // and they never log below `info` here: stop their records at the macro instead of in the
    // filter. `init` left the bridge at `trace`, which cost ~5% of the CPU under chat load.
    log::set_max_level(log::LevelFilter::Info);
}
