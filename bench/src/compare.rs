//! Markdown rows comparing two servers' reports of the same load (`chat-bench compare`), with
//! the ratio oriented so that above 1 means the first server is better.

use std::fmt::Write as _;

use serde::Deserialize;

use crate::{flood::FloodReport, report::Report};

/// A report of either kind, as `--json` wrote it.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum AnyReport {
    Run(Report),
    Flood(FloodReport),
}

/// The header of the table [`rows`] fills.
pub fn header(ours: &str, theirs: &str) -> String {
    format!("| load | measurement | {ours} | {theirs} | ratio |\n|---|---|---|---|---|\n")
}

/// Rows for one load: `ours` and `theirs` must be reports of the same kind.
pub fn rows(load: &str, ours: &AnyReport, theirs: &AnyReport) -> String {
    let mut out = String::new();
    let mut row = |what: &str, a: String, b: String, ratio: Option<f64>| {
        let ratio = ratio.filter(|r| r.is_finite()).map_or("—".into(), |r| format!("**{r:.1}×**"));
        let _ = writeln!(out, "| {load} | {what} | {a} | {b} | {ratio} |");
    };
    match (ours, theirs) {
        (AnyReport::Run(a), AnyReport::Run(b)) => {
            if let (Some(pa), Some(pb)) = (a.points.first(), b.points.first()) {
                let per_cpu = |p: &crate::report::Point| p.deliveries_per_server_cpu_sec;
                row(
                    "deliveries per server CPU-second",
                    fmt(per_cpu(pa), 0),
                    fmt(per_cpu(pb), 0),
                    div(per_cpu(pa), per_cpu(pb)),
                );
                let p99 = |p: &crate::report::Point| p.latency_ms.map(|l| l.p99);
                row(
                    "p99 latency, ms (ratio: how many times lower)",
                    fmt(p99(pa), 1),
                    fmt(p99(pb), 1),
                    div(p99(pb), p99(pa)),
                );
                let p50 = |p: &crate::report::Point| p.latency_ms.map(|l| l.p50);
                row("p50 latency, ms", fmt(p50(pa), 2), fmt(p50(pb), 2), div(p50(pb), p50(pa)));
                let faults = |p: &crate::report::Point| p.faults().map(|n| n.to_string()).join(" / ");
                row(
                    "lost / duplicated / misrouted / out of order / disconnects",
                    faults(pa),
                    faults(pb),
                    None,
                );
                row(
                    "deliveries per second",
                    format!("{:.0}", pa.deliveries_per_sec),
                    format!("{:.0}", pb.deliveries_per_sec),
                    div(Some(pa.deliveries_per_sec), Some(pb.deliveries_per_sec)),
                );
            } else {
                let per = |r: &Report| r.rss_per_socket_kib;
                row(
                    "server memory per idle socket, KiB (ratio: how many times less)",
                    fmt(per(a), 1),
                    fmt(per(b), 1),
                    div(per(b), per(a)),
                );
                let rate = |r: &Report| Some(r.connects_per_sec);
                row("connects per second", fmt(rate(a), 0), fmt(rate(b), 0), div(rate(a), rate(b)));
                let failed = |r: &Report| r.connect_failures.to_string();
                row("failed connects", failed(a), failed(b), None);
            }
        }
        (AnyReport::Flood(a), AnyReport::Flood(b)) => {
            let mib = |k: Option<u64>| k.map(|k| k as f64 / 1024.0);
            row(
                "server RSS peak, MiB (ratio: how many times less)",
                fmt(mib(a.rss_peak_kib), 0),
                fmt(mib(b.rss_peak_kib), 0),
                div(mib(b.rss_peak_kib), mib(a.rss_peak_kib)),
            );
            row("server RSS after, MiB", fmt(mib(a.rss_after_kib), 0), fmt(mib(b.rss_after_kib), 0), None);
            let p99 = |f: &FloodReport| f.logins.map(|l| l.p99);
            row("login p99, ms", fmt(p99(a), 0), fmt(p99(b), 0), div(p99(b), p99(a)));
            row("failures", a.failures.to_string(), b.failures.to_string(), None);
        }
        _ => row("reports of different kinds", String::new(), String::new(), None),
    }
    out
}

fn fmt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.decimals$}"))
}

fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|_| b != Some(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Latency, Point};

    #[test]
    fn ratios_say_how_much_better_the_first_server_is() {
        let point = |per_cpu, p99| Point {
            deliveries_per_server_cpu_sec: Some(per_cpu),
            latency_ms: Some(Latency { p99, ..Latency::default() }),
            ..Point::default()
        };
        let ours = AnyReport::Run(Report { points: vec![point(3000.0, 2.0)], ..Report::default() });
        let theirs = AnyReport::Run(Report { points: vec![point(1000.0, 40.0)], ..Report::default() });
        let rows = rows("200/10/50ms", &ours, &theirs);
        assert!(
            rows.contains("| 200/10/50ms | deliveries per server CPU-second | 3000 | 1000 | **3.0×** |"),
            "{rows}"
        );
        assert!(rows.contains("| 2.0 | 40.0 | **20.0×** |"), "{rows}");
    }
}
