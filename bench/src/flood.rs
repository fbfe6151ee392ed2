//! The password-hashing flood: many signups and logins at once, with the server's memory read
//! every 50 ms, to show whether hashing memory is bounded and what logins cost under it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{auth::Api, proc_stats, report::Latency};

/// What to flood.
#[derive(Debug, Clone, clap::Args)]
pub struct FloodArgs {
    /// The server's base URL.
    #[arg(long, env = "CHAT_BENCH_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// A name for the server in the report.
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Users to sign up, then log in.
    #[arg(long, default_value_t = 400)]
    pub users: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// The server's process id, for its memory.
    #[arg(long)]
    pub pid: Option<u32>,
}

/// What a flood measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloodReport {
    pub label: String,
    pub users: usize,
    pub concurrency: usize,
    pub signups: Option<Latency>,
    pub logins: Option<Latency>,
    pub failures: u64,
    pub first_failure: Option<String>,
    pub secs: f64,
    pub rss_before_kib: Option<u64>,
    pub rss_peak_kib: Option<u64>,
    /// One second after the last answer.
    pub rss_after_kib: Option<u64>,
}

impl FloodReport {
    pub fn table(&self) -> String {
        let mib = |k: Option<u64>| k.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        let lat = |l: &Option<Latency>| {
            l.map_or("-".into(), |l| format!("p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms", l.p50, l.p99, l.max))
        };
        format!(
            "server {}: {} signups + logins, {} at a time, {:.1} s, {} failed{}\n\
             signup  {}\nlogin   {}\nserver RSS before / peak / after: {} / {} / {}\n",
            self.label,
            self.users,
            self.concurrency,
            self.secs,
            self.failures,
            self.first_failure.as_deref().map(|f| format!(" (first: {f})")).unwrap_or_default(),
            lat(&self.signups),
            lat(&self.logins),
            mib(self.rss_before_kib),
            mib(self.rss_peak_kib),
            mib(self.rss_after_kib),
        )
    }
}

/// Signs up `args.users` fresh users, then logs each in, `args.concurrency` requests at a time.
pub async fn flood(args: &FloodArgs) -> Result<FloodReport, crate::auth::AuthError> {
    let api = Api::new(&args.url)?;
    let rss = |pid: Option<u32>| pid.and_then(|p| proc_stats::sample(Some(p))).map(|s| s.rss_kib);
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = args.pid.map(|pid| {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kib) = rss(Some(pid)) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });
    let mut report = FloodReport {
        label: args.label.clone(),
        users: args.users,
        concurrency: args.concurrency,
        rss_before_kib: rss(args.pid),
        ..FloodReport::default()
    };
    let run = crate::random_id();
    let names: Vec<String> = (0..args.users).map(|i| format!("flood{run:x}-{i}")).collect();
    let started = Instant::now();
    let mut failures = Vec::new();
    let signups = timed(&names, args.concurrency, |name| {
        let api = api.clone();
        async move { api.signup(&name).await.map(drop) }
    })
    .await;
    let logins = timed(&names, args.concurrency, |name| {
        let api = api.clone();
        async move { api.login(&name).await.map(drop) }
    })
    .await;
    report.secs = started.elapsed().as_secs_f64();
    let mut ok = |results: Vec<Result<Duration, String>>| -> Vec<Duration> {
        results.into_iter().filter_map(|r| r.map_err(|e| failures.push(e)).ok()).collect()
    };
    report.signups = Latency::of_durations(&ok(signups));
    report.logins = Latency::of_durations(&ok(logins));
    report.failures = failures.len() as u64;
    report.first_failure = failures.into_iter().next();
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.rss_after_kib = rss(args.pid);
    if let Some(sampler) = sampler {
        sampler.abort();
        report.rss_peak_kib = Some(peak.load(Ordering::Relaxed));
    }
    Ok(report)
}

async fn timed<F, Fut>(names: &[String], concurrency: usize, call: F) -> Vec<Result<Duration, String>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), crate::auth::AuthError>>,
{
    stream::iter(names.iter().cloned())
        .map(|name| {
            let call = call(name);
            async move {
                let started = Instant::now();
                call.await.map(|()| started.elapsed()).map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}
