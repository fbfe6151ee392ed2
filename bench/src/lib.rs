//! chat-bench: a load generator for Socket.IO chat servers that speak the seeds' protocol
//! (chat-server, or the Node baseline in `bench/node-baseline`). It signs up and logs in its
//! users, opens one raw websocket Socket.IO connection per client, sends marked messages and
//! checks every delivery, and reads the server's CPU time and memory from /proc.
//!
//! Modules: [`client`] (the raw Engine.IO/Socket.IO client), [`auth`] (users, token cache),
//! [`run`] (the phases), [`load`] (one load point), [`flood`] (signup/login flood),
//! [`replay`] (what a history replay adds to a connection), [`report`] (table, JSON, CSV),
//! [`compare`] (two servers side by side), [`plot`] (the sweep SVG), [`proc_stats`] (/proc).

pub mod auth;
pub mod client;
pub mod compare;
pub mod flood;
pub mod load;
pub mod plot;
pub mod proc_stats;
pub mod replay;
pub mod report;
pub mod run;

use std::{
    hash::{BuildHasher, RandomState},
    path::PathBuf,
};

/// A random number naming one run (its rooms, its flood's users), so that runs against the
/// same server never mix (std only: a freshly keyed SipHash).
pub(crate) fn random_id() -> u64 {
    RandomState::new().hash_one(std::time::Instant::now())
}

/// The command line.
#[derive(Debug, clap::Parser)]
#[command(name = "chat-bench", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: run::RunArgs,
    #[command(flatten)]
    pub output: Output,
}

/// How results are printed (stdout; progress goes to stderr).
#[derive(Debug, Clone, clap::Args)]
pub struct Output {
    /// Print the report as JSON (what `chat-bench plot` reads).
    #[arg(long, global = true, conflicts_with = "csv")]
    pub json: bool,
    /// Print the report as CSV, a line per load point.
    #[arg(long, global = true)]
    pub csv: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Connect, send and measure (what chat-bench does without a subcommand).
    Run(run::RunArgs),
    /// Sign up and log in many users at once and watch the server's memory.
    Auth(flood::FloodArgs),
    /// Time from handshake to first live message, into an empty room and into a room whose
    /// history the server replays first.
    Replay(replay::ReplayArgs),
    /// Markdown rows comparing two `--json` reports of the same load (ratios: above 1, the first
    /// server is better).
    Compare {
        /// The load's name, for the first column.
        #[arg(long)]
        load: String,
        /// Print the table's header first, with these two server names.
        #[arg(long, num_args = 2, value_names = ["FIRST", "SECOND"])]
        header: Option<Vec<String>>,
        first: PathBuf,
        second: PathBuf,
    },
    /// Draw the sweeps of earlier `--json` reports (one line per server) to an SVG.
    Plot {
        /// The SVG to write.
        #[arg(long)]
        svg: PathBuf,
        /// JSON reports of `chat-bench --sweep … --json`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
}
