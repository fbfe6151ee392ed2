//! A run's phases: users (signup + login, or the token cache), connections (bounded
//! concurrency), then one load point per offered rate on the same connections, or an idle hold;
//! with the server's CPU and memory read from /proc around each phase.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use futures_util::{StreamExt, stream};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use crate::{
    auth::{self, Api, TokenCache},
    client::{self, Socket, Transport},
    load::{self, Plan, Shared},
    proc_stats::{self, Sample},
    report::{Latency, Point, Report},
};

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The server's base URL.
    #[arg(long, env = "CHAT_BENCH_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// A name for the server in reports and charts.
    #[arg(long, default_value = "server")]
    pub label: String,
    /// The Engine.IO transport: a websocket per client, or HTTP long-polling only.
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    pub transport: Transport,
    /// Clients: one user and one Socket.IO connection each.
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// Distinct users (client i connects as user i mod USERS); default: one per client. Fewer
    /// users spare the password hashing of a big idle run.
    #[arg(long)]
    pub users: Option<usize>,
    /// Rooms; client i joins room i mod ROOMS (through the handshake's `room` query).
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Messages each client sends per load point; 0 connects, holds and disconnects (memory
    /// and connect rate of idle sockets).
    #[arg(long, default_value_t = 20)]
    pub messages: u32,
    /// Milliseconds between a client's messages (its sends are spread evenly over the first
    /// interval); 0 sends flat out.
    #[arg(long, default_value_t = 50.0)]
    pub interval_ms: f64,
    /// A series of per-client send rates (messages per second), run one after another on the
    /// same connections instead of --interval-ms; see --svg.
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<f64>,
    /// Where to draw a --sweep's throughput and p99 latency against offered load (SVG).
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 100)]
    pub connect_concurrency: usize,
    /// Signups and logins in flight at once.
    #[arg(long, default_value_t = 16)]
    pub login_concurrency: usize,
    /// Users are named PREFIX-0, PREFIX-1, …
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
    /// Keep tokens in this file, per server URL, and reuse them (skips signup and login).
    #[arg(long, env = "CHAT_BENCH_TOKENS")]
    pub tokens: Option<PathBuf>,
    /// The server's process id: its CPU time and memory are read from /proc around each phase.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Seconds to hold idle connections (--messages 0) before reading the server's memory.
    #[arg(long, default_value_t = 2.0)]
    pub hold_secs: f64,
    /// Seconds to wait, after the last send, for deliveries still on their way; what has not
    /// come by then is lost.
    #[arg(long, default_value_t = 30.0)]
    pub drain_secs: f64,
    /// No progress bars on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("no client could connect: {0}")]
    NoConnection(String),
    #[error("{0}")]
    Invalid(&'static str),
}

/// Runs the phases `args` asks for and reports what was measured.
pub async fn run(args: &RunArgs) -> Result<Report, RunError> {
    if args.clients == 0 || args.rooms == 0 {
        return Err(RunError::Invalid("--clients and --rooms must be at least 1"));
    }
    proc_stats::raise_fd_limit();
    let bench_start = proc_stats::sample(None);
    let server = || args.pid.and_then(|pid| proc_stats::sample(Some(pid)));
    let mut report = Report::new(args);

    // Users.
    let api = Api::new(&args.url)?;
    let users = args.users.unwrap_or(args.clients).clamp(1, args.clients);
    let names: Vec<String> = (0..users).map(|i| format!("{}-{i}", args.user_prefix)).collect();
    let mut cache = args.tokens.as_deref().map(TokenCache::load).unwrap_or_default();
    let bar = progress(args, users as u64, "users");
    let (mut tokens, mut logins) =
        auth::tokens(&api, &names, &mut cache, args.login_concurrency, || bar.inc(1)).await?;
    bar.finish_and_clear();
    let run_id = crate::random_id() % 1_000_000;
    let room_names: Vec<String> = (0..args.rooms).map(|r| format!("bench-{run_id}-{r}")).collect();
    // Cached tokens of an earlier server on the same address: log in again.
    if logins.len() < users && !token_accepted(args, &room_names[0], &tokens[0]).await {
        cache.forget(&args.url);
        (tokens, logins) = auth::tokens(&api, &names, &mut cache, args.login_concurrency, || ()).await?;
    }
    if let Some(path) = &args.tokens {
        cache.save(path)?;
    }
    report.logins = Latency::of_durations(&logins);

    // Connections.
    report.server_before = server();
    let bar = progress(args, args.clients as u64, "connect");
    let started = Instant::now();
    let results: Vec<(usize, Result<Socket, client::ConnectError>)> = stream::iter(0..args.clients)
        .map(|i| {
            let token = &tokens[i % users];
            let room = &room_names[i % args.rooms];
            let bar = bar.clone();
            async move {
                let result = client::connect(&args.url, room, token, args.transport).await;
                bar.inc(1);
                (i, result)
            }
        })
        .buffer_unordered(args.connect_concurrency.max(1))
        .collect()
        .await;
    report.connect_secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut sockets: Vec<(usize, Socket)> = Vec::with_capacity(results.len());
    for (i, result) in results {
        match result {
            Ok(ws) => sockets.push((i, ws)),
            Err(e) => {
                report.connect_failures += 1;
                report.first_connect_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    report.connected = sockets.len();
    report.connects_per_sec = sockets.len() as f64 / report.connect_secs.max(1e-9);
    if sockets.is_empty() {
        return Err(RunError::NoConnection(report.first_connect_error.unwrap_or_default()));
    }

    if args.messages == 0 {
        // Idle: let the server settle (join notices, history), then read its memory.
        let hold = Shared::new(args.rooms);
        let epoch = Instant::now();
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|(i, ws)| (i, tokio::spawn(load::drive(ws, idle_plan(i, args.rooms, epoch), hold.clone()))))
            .collect();
        tokio::time::sleep(Duration::from_secs_f64(args.hold_secs)).await;
        report.server_connected = server();
        hold.stop.cancel();
        sockets = Vec::new();
        for (i, task) in tasks {
            if let Ok((Some(ws), _)) = task.await {
                sockets.push((i, ws));
            }
        }
    } else {
        report.server_connected = server();
        let rates: Vec<Option<f64>> =
            if args.sweep.is_empty() { vec![None] } else { args.sweep.iter().copied().map(Some).collect() };
        for (index, rate) in rates.into_iter().enumerate() {
            let interval = match rate {
                Some(rate) if rate > 0.0 => Duration::from_secs_f64(1.0 / rate),
                Some(_) => Duration::ZERO,
                None => Duration::from_secs_f64(args.interval_ms.max(0.0) / 1000.0),
            };
            let prefix: Arc<str> = format!("cb{run_id}.{index}|").into();
            let (point, kept) =
                load_point(args, std::mem::take(&mut sockets), interval, prefix, &server).await;
            sockets = kept;
            report.points.push(point);
            if sockets.is_empty() {
                break;
            }
        }
    }

    // Close every connection, then see what the server gives back.
    for (_, ws) in sockets {
        ws.close().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.server_after = server();
    report.rss_per_socket_kib = match (report.server_before, report.server_connected) {
        (Some(before), Some(connected)) => {
            Some((connected.rss_kib as f64 - before.rss_kib as f64) / report.connected as f64)
        }
        _ => None,
    };
    report.bench_cpu_secs = cpu_between(bench_start, proc_stats::sample(None));
    Ok(report)
}

/// Whether the server takes `token` (a cached one may be from an earlier server).
async fn token_accepted(args: &RunArgs, room: &str, token: &str) -> bool {
    match client::connect(&args.url, room, token, args.transport).await {
        Ok(ws) => {
            ws.close().await;
            true
        }
        Err(client::ConnectError::Refused(reason)) => reason != shared::errors::AUTH_INVALID_TOKEN,
        Err(_) => true,
    }
}

fn idle_plan(i: usize, rooms: usize, epoch: Instant) -> Plan {
    Plan {
        prefix: "-".into(),
        room: (i % rooms) as u32,
        sender: i as u32,
        count: 0,
        interval: Duration::ZERO,
        first_send: epoch,
        epoch,
    }
}

/// One load point: every client sends `args.messages` at `interval`; ends when every message
/// reached every member of its room, or `args.drain_secs` after the last send.
async fn load_point(
    args: &RunArgs,
    sockets: Vec<(usize, Socket)>,
    interval: Duration,
    prefix: Arc<str>,
    server: &impl Fn() -> Option<Sample>,
) -> (Point, Vec<(usize, Socket)>) {
    let shared = Shared::new(args.rooms);
    let mut members = vec![0u64; args.rooms];
    for (i, _) in &sockets {
        members[i % args.rooms] += 1;
    }
    let clients = sockets.len();
    let expected_sends = clients as u64 * u64::from(args.messages);
    let bar = progress(args, expected_sends, "send");
    let epoch = Instant::now();
    let cpu_before = server();
    let bench_before = proc_stats::sample(None);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|(i, ws)| {
            // Sends spread evenly over the first interval, so the load is smooth.
            let offset = interval.mul_f64(i as f64 / clients as f64);
            let plan = Plan {
                prefix: prefix.clone(),
                room: (i % args.rooms) as u32,
                sender: i as u32,
                count: args.messages,
                interval,
                first_send: epoch + offset,
                epoch,
            };
            (i, tokio::spawn(load::drive(ws, plan, shared.clone())))
        })
        .collect();

    while shared.senders_done.load(Ordering::Relaxed) < clients {
        bar.set_position(shared.sent.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_secs = epoch.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let expected: u64 =
        (0..args.rooms).map(|r| shared.room_sent[r].load(Ordering::Relaxed) * members[r]).sum();
    let bar = progress(args, expected, "deliver");
    let drain_until = Instant::now() + Duration::from_secs_f64(args.drain_secs);
    let mut last_count = 0;
    let mut last_delivery = Instant::now();
    loop {
        let delivered = shared.delivered.load(Ordering::Relaxed);
        bar.set_position(delivered);
        if delivered != last_count {
            (last_count, last_delivery) = (delivered, Instant::now());
        }
        if delivered >= expected || Instant::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bar.finish_and_clear();
    let duration = last_delivery.duration_since(epoch).as_secs_f64();
    let cpu_after = server();
    shared.stop.cancel();

    let mut point = Point {
        offered_per_sec: if interval.is_zero() {
            None
        } else {
            Some(clients as f64 / interval.as_secs_f64())
        },
        interval_ms: interval.as_secs_f64() * 1000.0,
        sent: shared.sent.load(Ordering::Relaxed),
        expected,
        sent_secs,
        duration_secs: duration,
        ..Point::default()
    };
    let mut latency: Option<Histogram<u64>> = None;
    let mut kept = Vec::with_capacity(clients);
    for (i, task) in tasks {
        let Ok((ws, stats)) = task.await else { continue };
        point.delivered += stats.delivered;
        point.duplicated += stats.duplicated;
        point.misrouted += stats.misrouted;
        point.out_of_order += stats.out_of_order;
        point.disconnects += u64::from(stats.disconnected);
        if let Some(h) = stats.latency_us {
            match latency.as_mut() {
                Some(all) => all.add(&h).unwrap_or_default(),
                None => latency = Some(h),
            }
        }
        if let Some(ws) = ws {
            kept.push((i, ws));
        }
    }
    point.lost = expected.saturating_sub(point.delivered);
    point.deliveries_per_sec = point.delivered as f64 / duration.max(1e-9);
    point.latency_ms = latency.as_ref().map(Latency::of_histogram_us);
    point.server_cpu_secs = cpu_between(cpu_before, cpu_after);
    point.deliveries_per_server_cpu_sec =
        point.server_cpu_secs.filter(|&s| s > 0.0).map(|s| point.delivered as f64 / s);
    point.bench_cpu_secs = cpu_between(bench_before, proc_stats::sample(None));
    (point, kept)
}

fn cpu_between(before: Option<Sample>, after: Option<Sample>) -> Option<f64> {
    Some(after?.cpu.saturating_sub(before?.cpu).as_secs_f64())
}

fn progress(args: &RunArgs, len: u64, phase: &'static str) -> ProgressBar {
    if args.quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} {per_sec} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_prefix(phase);
    bar
}
