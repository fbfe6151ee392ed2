//! Keeps chat-bench working: short runs of the real binary against a real chat-server on port 0
//! (in this process, so `--pid` reads this process), against the socketioxide baseline and,
//! when `bench/node-baseline` has its npm packages, against the Node baseline. Small loads: this checks the tool, not the servers'
//! speed (`bench/compare.sh` does that).

use std::{
    path::Path,
    process::{Command, Stdio},
};

use chat_bench::{client::Transport, flood::FloodReport, replay::ReplayReport, report::Report};
use clap::Parser;
use tokio::{net::TcpListener, sync::oneshot};

const BENCH: &str = env!("CARGO_BIN_EXE_chat-bench");

/// A chat-server in this process on a fresh data dir; its URL, and what stops it.
async fn chat_server(data: &Path) -> (String, oneshot::Sender<()>) {
    let dir = data.to_str().expect("utf-8 temp dir");
    let args = ["chat-server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dir, "--no-rate-limits"];
    let config = chat_server::Config::try_parse_from(args).expect("valid flags");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(chat_server::run(config, listener, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

/// Runs chat-bench with `args` (off the async runtime: it is a blocking child process) and
/// parses its JSON report.
async fn bench<T: serde::de::DeserializeOwned>(args: Vec<String>) -> T {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(BENCH)
            .args(&args)
            .arg("--json")
            .stderr(Stdio::inherit())
            .output()
            .expect("run chat-bench")
    })
    .await
    .expect("join");
    assert!(output.status.success(), "chat-bench failed: {output:?}");
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Every message reached every member of its room exactly once, in order, nowhere else.
fn assert_clean(report: &Report) {
    assert!(!report.points.is_empty(), "{report:?}");
    for p in &report.points {
        assert_eq!(p.expected, p.sent * (report.clients / report.rooms) as u64, "{p:?}");
        assert_eq!(
            (p.delivered, p.lost, p.duplicated, p.misrouted, p.out_of_order),
            (p.expected, 0, 0, 0, 0),
            "{p:?}"
        );
        assert_eq!(p.disconnects, 0);
        let latency = p.latency_ms.expect("latencies");
        assert_eq!(latency.count, p.delivered);
        assert!(latency.p50 > 0.0 && latency.p50 <= latency.p99 && latency.p99 <= latency.max, "{latency:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_bench_measures_a_chat_server_and_draws_its_sweep() {
    let data = tempfile::tempdir().expect("temp dir");
    let (url, stop) = chat_server(data.path()).await;
    let pid = std::process::id().to_string();
    let tokens = data.path().join("tokens.json");
    let tokens = tokens.to_str().expect("utf-8");
    let svg = data.path().join("sweep.svg");
    let common =
        ["--url", &url, "--pid", &pid, "--tokens", tokens, "--quiet", "--clients", "12", "--rooms", "3"];

    let mut args = strings(&common);
    args.extend(strings(&["--messages", "10", "--interval-ms", "5", "--label", "chat-server"]));
    let report: Report = bench(args).await;
    assert_eq!((report.label.as_str(), report.connected, report.connect_failures), ("chat-server", 12, 0));
    assert_eq!(report.logins.map(|l| l.count), Some(12));
    assert_clean(&report);
    let point = &report.points[0];
    assert_eq!(point.sent, 120);
    assert!(
        point.server_cpu_secs.is_some() && report.server_connected.is_some(),
        "--pid readings: {report:?}"
    );

    // Tokens from the cache: no login this time; two load points on the same connections.
    let mut args = strings(&common);
    args.extend(strings(&["--messages", "5", "--sweep", "50,100", "--svg", svg.to_str().expect("utf-8")]));
    let report: Report = bench(args).await;
    assert!(report.logins.is_none(), "tokens were cached: {:?}", report.logins);
    assert_eq!(report.points.len(), 2);
    assert_clean(&report);
    assert_eq!(
        report.points.iter().map(|p| p.offered_per_sec).collect::<Vec<_>>(),
        [Some(600.0), Some(1200.0)]
    );
    let drawn = std::fs::read_to_string(&svg).expect("the sweep SVG");
    assert!(drawn.starts_with("<svg") && drawn.contains("p99 latency"), "{}", &drawn[..drawn.len().min(200)]);

    // The same over HTTP long-polling.
    let mut args = strings(&common);
    args.extend(strings(&["--messages", "5", "--interval-ms", "5", "--transport", "polling"]));
    let report: Report = bench(args).await;
    assert_eq!((report.transport, report.connected), (Transport::Polling, 12));
    assert_clean(&report);

    // Idle sockets: connected, held, memory per socket read.
    let mut args = strings(&common);
    args.extend(strings(&["--messages", "0", "--hold-secs", "0.2"]));
    let report: Report = bench(args).await;
    assert_eq!(report.connected, 12);
    assert!(report.points.is_empty());
    assert!(report.rss_per_socket_kib.is_some());

    // The signup and login flood.
    let flood: FloodReport =
        bench(strings(&["auth", "--url", &url, "--pid", &pid, "--users", "6", "--concurrency", "3"])).await;
    assert_eq!((flood.failures, flood.logins.map(|l| l.count)), (0, Some(6)), "{flood:?}");
    assert!(flood.rss_peak_kib.is_some_and(|peak| peak > 0));

    // Handshake to first live message, with and without a history replay first.
    let args = ["replay", "--url", &url, "--tokens", tokens, "--trials", "3", "--history", "60"];
    let replay: ReplayReport = bench(strings(&args)).await;
    assert_eq!(replay.failures, 0, "{replay:?}");
    // chat-server replays the last HISTORY_LEN of the 60, as the seeds do.
    assert_eq!(replay.replayed, shared::defaults::HISTORY_LEN, "{replay:?}");
    let (empty, history) = (replay.empty_room.expect("times"), replay.with_history.expect("times"));
    assert_eq!((empty.count, history.count), (3, 3));
    assert!(replay.added_p50_ms.is_some_and(f64::is_finite));
    let _ = stop.send(());
}

/// Starts a baseline server (`command`, with `PORT=0`), and runs a small load on it once it
/// says where it listens; the load's report.
async fn small_load_on(mut command: tokio::process::Command) -> Report {
    let mut server =
        command.env("PORT", "0").stderr(Stdio::piped()).kill_on_drop(true).spawn().expect("start the server");
    let mut stderr = tokio::io::BufReader::new(server.stderr.take().expect("stderr"));
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut stderr, &mut line).await.expect("read the address");
    let url = line.trim().rsplit(' ').next().expect("listening on URL").to_owned();
    let pid = server.id().expect("pid").to_string();
    let args =
        ["--url", &url, "--pid", &pid, "--quiet", "--clients", "12", "--rooms", "3", "--messages", "10"];
    bench(strings(&args)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_bench_measures_the_node_baseline() {
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("node-baseline");
    if !baseline.join("node_modules").exists() {
        eprintln!("skipped: run `npm ci` in {} (scripts/test.sh does)", baseline.display());
        return;
    }
    let mut node = tokio::process::Command::new("node");
    node.arg(baseline.join("server.mjs"));
    let report = small_load_on(node).await;
    assert_clean(&report);
    assert!(report.points[0].deliveries_per_server_cpu_sec.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_bench_measures_the_socketioxide_baseline() {
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_socketioxide-baseline"));
    server.env("JWT_SECRET", "smoke-test-secret-smoke-test-secret");
    let report = small_load_on(server).await;
    assert_eq!((report.connected, report.connect_failures), (12, 0));
    // Every message to every member of its room once, nowhere else. Not necessarily in order:
    // socketioxide runs each event in a task of its own (see the binary's docs).
    let p = &report.points[0];
    assert_eq!(
        (p.delivered, p.lost, p.duplicated, p.misrouted, p.disconnects),
        (p.expected, 0, 0, 0, 0),
        "{p:?}"
    );
    assert_eq!(p.expected, 120 * 4);
    assert!(p.deliveries_per_server_cpu_sec.is_some());
}
