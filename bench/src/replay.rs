//! `chat-bench replay`: what replaying a room's history adds to a new connection's
//! handshake-to-first-live-message time.
//!
//! Each trial opens a connection (TCP, websocket upgrade, Engine.IO open, Socket.IO CONNECT),
//! sends one message as soon as it is connected, and times, from before the TCP connect, until
//! that message comes back live: once into a room of its own with no history, once into a room
//! that holds `--history` messages, which the server sends first (the seeds' replay on join).
//! The two kinds alternate, so machine noise falls on both alike. One user for every trial.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{
    auth::{self, Api, TokenCache},
    client::{self, ConnectError, Frame, Incoming, Socket, Transport},
    random_id,
    report::Latency,
};

/// How long one trial may take before it counts as failed.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// The server's base URL.
    #[arg(long, env = "CHAT_BENCH_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// A name for the server in the report.
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Connections of each kind (empty room, room with history).
    #[arg(long, default_value_t = 200)]
    pub trials: usize,
    /// Messages in the room with history before the trials (the server replays at most its own
    /// page of them: 50 for chat-server, as in the seeds).
    #[arg(long, default_value_t = 50)]
    pub history: usize,
    /// The Engine.IO transport.
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    pub transport: Transport,
    /// The one user is PREFIX-0.
    #[arg(long, default_value = "bench-replay")]
    pub user_prefix: String,
    /// Keep the token in this file, per server URL, and reuse it.
    #[arg(long, env = "CHAT_BENCH_TOKENS")]
    pub tokens: Option<PathBuf>,
}

/// What the trials measured: handshake-to-first-live-message times, milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReplayReport {
    pub label: String,
    pub history: usize,
    pub empty_room: Option<Latency>,
    pub with_history: Option<Latency>,
    /// Replayed messages seen per connection to the room with history (median).
    pub replayed: usize,
    /// `with_history.p50 - empty_room.p50`: what the replay adds, milliseconds.
    pub added_p50_ms: Option<f64>,
    pub failures: u64,
    pub first_failure: Option<String>,
}

impl ReplayReport {
    pub fn table(&self) -> String {
        let lat = |l: &Option<Latency>| {
            l.map_or("-".into(), |l| {
                format!("p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms ({} trials)", l.p50, l.p90, l.p99, l.count)
            })
        };
        let mut out = format!("{:<28} {}\n", "server", self.label);
        out += &format!("{:<28} {}\n", "empty room", lat(&self.empty_room));
        out +=
            &format!("{:<28} {}\n", format!("room with {} messages", self.history), lat(&self.with_history));
        out += &format!("{:<28} {}\n", "replayed per connection", self.replayed);
        let added = self.added_p50_ms.map_or("-".into(), |ms| format!("{ms:.3} ms"));
        out += &format!("{:<28} {added}\n", "added by the replay, p50");
        out += &format!("{:<28} {}\n", "failures", self.failures);
        if let Some(first) = &self.first_failure {
            out += &format!("{:<28} {first}\n", "first failure");
        }
        out
    }
}

/// Why the measurement could not run at all (a failed trial is counted instead).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("filling the history room: {0}")]
    Fill(ConnectError),
}

/// Runs the trials.
///
/// # Errors
/// No token for the user, or the room with history could not be filled.
pub async fn replay(args: &ReplayArgs) -> Result<ReplayReport, ReplayError> {
    let api = Api::new(&args.url)?;
    let mut cache = args.tokens.as_deref().map(TokenCache::load).unwrap_or_default();
    let user = [format!("{}-0", args.user_prefix)];
    let (tokens, _) = auth::tokens(&api, &user, &mut cache, 1, || {}).await?;
    if let Some(path) = &args.tokens {
        cache.save(path)?;
    }
    let token = &tokens[0];
    let run = random_id();
    let history_room = format!("replay-{run}");
    fill(args, &history_room, token, run).await.map_err(ReplayError::Fill)?;

    let mut report =
        ReplayReport { label: args.label.clone(), history: args.history, ..ReplayReport::default() };
    let (mut empty, mut with_history, mut replayed) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..args.trials {
        let empty_room = format!("replay-{run}-{trial}");
        for (room, times) in [(&empty_room, &mut empty), (&history_room, &mut with_history)] {
            let marker = format!("rp{run}|{trial}|{room}");
            match tokio::time::timeout(TRIAL_TIMEOUT, first_live(args, room, token, &marker)).await {
                Ok(Ok((took, seen))) => {
                    times.push(took);
                    if *room == history_room {
                        replayed.push(seen);
                    }
                }
                Ok(Err(e)) => report.fail(e.to_string()),
                Err(_) => report.fail("timed out".into()),
            }
        }
    }
    report.empty_room = Latency::of_durations(&empty);
    report.with_history = Latency::of_durations(&with_history);
    replayed.sort_unstable();
    report.replayed = replayed.get(replayed.len() / 2).copied().unwrap_or_default();
    report.added_p50_ms = report.with_history.zip(report.empty_room).map(|(h, e)| h.p50 - e.p50);
    Ok(report)
}

impl ReplayReport {
    fn fail(&mut self, why: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(why);
    }
}

/// Sends `count` messages to `room` and waits until the last has come back (so it is in the
/// room's history before the first trial).
async fn fill(args: &ReplayArgs, room: &str, token: &str, run: u64) -> Result<(), ConnectError> {
    let count = args.history;
    let mut ws = client::connect(&args.url, room, token, args.transport).await?;
    let prefix = format!("fill{run}|");
    for i in 0..count {
        ws.send_text(&client::chat_message(&format!("{prefix}{i}"))).await?;
    }
    let last = format!("{prefix}{}", count.saturating_sub(1));
    if count > 0 {
        wait_for(&mut ws, &prefix, &last).await?;
    }
    ws.close().await;
    Ok(())
}

/// One trial: the time from before the TCP connect until `marker`, sent right after CONNECT,
/// comes back live, and how many replayed messages came before it.
async fn first_live(
    args: &ReplayArgs,
    room: &str,
    token: &str,
    marker: &str,
) -> Result<(Duration, usize), ConnectError> {
    let started = Instant::now();
    let mut ws = client::connect(&args.url, room, token, args.transport).await?;
    ws.send_text(&client::chat_message(marker)).await?;
    let replayed = wait_for(&mut ws, marker, marker).await?;
    let took = started.elapsed();
    ws.close().await;
    Ok((took, replayed))
}

/// Reads until the live `chat.message` whose text is `wanted` (marked with `prefix`); answers
/// pings on the way. Returns how many replayed messages it read first.
async fn wait_for(ws: &mut Socket, prefix: &str, wanted: &str) -> Result<usize, ConnectError> {
    let mut replayed = 0;
    loop {
        let mut reply: Option<Vec<u8>> = None;
        let mut pong = false;
        while let Some(frame) = ws.next_frame()? {
            match frame {
                Frame::Text(text) => match client::classify(text, prefix) {
                    Incoming::Marked(text) if text == wanted => return Ok(replayed),
                    Incoming::Ping => pong = true,
                    Incoming::Closed => return Err(ConnectError::Protocol("closed by the server".into())),
                    _ if text.contains("\"replayed\":true") => replayed += 1,
                    _ => {}
                },
                Frame::Ping(payload) => reply = Some(payload.to_vec()),
                Frame::Close => return Err(ConnectError::Protocol("closed by the server".into())),
                Frame::Other => {}
            }
        }
        if pong {
            ws.send_text("3").await?;
        }
        if let Some(payload) = reply {
            ws.send_pong(&payload).await?;
        }
        if ws.fill().await? == 0 {
            return Err(ConnectError::Protocol("connection ended".into()));
        }
    }
}
