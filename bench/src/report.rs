//! What a run measured, and its three renderings: a table for people, JSON for scripts (and
//! `chat-bench plot`), CSV for spreadsheets (one line per load point).

use std::{fmt::Write as _, time::Duration};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::{client::Transport, proc_stats::Sample, run::RunArgs};

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub count: u64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn of_histogram_us(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            count: h.len(),
        }
    }

    /// From individual durations; `None` when there are none.
    pub fn of_durations(all: &[Duration]) -> Option<Self> {
        let mut sorted: Vec<f64> = all.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
        (!sorted.is_empty()).then(|| Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
            count: sorted.len() as u64,
        })
    }
}

/// One load point: an offered rate on the run's connections.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Point {
    /// Messages per second offered by all clients together; `None` when sent flat out.
    pub offered_per_sec: Option<f64>,
    pub interval_ms: f64,
    pub sent: u64,
    /// Deliveries due: every message to every member of its room, the sender included.
    pub expected: u64,
    /// Unique deliveries.
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Deliveries to a client outside the message's room.
    pub misrouted: u64,
    /// Deliveries older than one already seen from the same sender.
    pub out_of_order: u64,
    pub disconnects: u64,
    /// From the first send to the last send.
    pub sent_secs: f64,
    /// From the first send to the last delivery.
    pub duration_secs: f64,
    pub deliveries_per_sec: f64,
    pub latency_ms: Option<Latency>,
    pub server_cpu_secs: Option<f64>,
    pub deliveries_per_server_cpu_sec: Option<f64>,
    pub bench_cpu_secs: Option<f64>,
}

impl Point {
    /// What went wrong: lost, duplicated, misrouted, out of order, disconnects.
    pub fn faults(&self) -> [u64; 5] {
        [self.lost, self.duplicated, self.misrouted, self.out_of_order, self.disconnects]
    }
}

/// A whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub transport: Transport,
    pub clients: usize,
    pub rooms: usize,
    pub messages_per_client: u32,
    /// Fresh logins of this run (none when every token came from the cache).
    pub logins: Option<Latency>,
    pub connected: usize,
    pub connect_failures: usize,
    pub first_connect_error: Option<String>,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    pub server_before: Option<Sample>,
    pub server_connected: Option<Sample>,
    pub server_after: Option<Sample>,
    /// (RSS connected − RSS before) / connected clients.
    pub rss_per_socket_kib: Option<f64>,
    pub points: Vec<Point>,
    pub bench_cpu_secs: Option<f64>,
}

impl Report {
    pub fn new(args: &RunArgs) -> Self {
        Self {
            label: args.label.clone(),
            url: args.url.clone(),
            transport: args.transport,
            clients: args.clients,
            rooms: args.rooms,
            messages_per_client: args.messages,
            ..Self::default()
        }
    }

    /// A two-column table of the run, then one line per load point.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "{name:<28} {value}");
        };
        row("server", format!("{} ({})", self.label, self.url));
        row("clients / rooms", format!("{} / {}", self.clients, self.rooms));
        row("transport", format!("{:?}", self.transport).to_lowercase());
        if let Some(l) = &self.logins {
            row(
                "login ms p50/p99/max",
                format!("{:.1} / {:.1} / {:.1} ({} logins)", l.p50, l.p99, l.max, l.count),
            );
        }
        row(
            "connected",
            format!(
                "{} in {:.2} s, {:.0}/s, {} failed",
                self.connected, self.connect_secs, self.connects_per_sec, self.connect_failures
            ),
        );
        if let Some(e) = &self.first_connect_error {
            row("first connect error", e.clone());
        }
        let rss =
            |s: &Option<Sample>| s.map_or("-".into(), |s| format!("{:.1} MiB", s.rss_kib as f64 / 1024.0));
        row(
            "server RSS before/conn/after",
            format!(
                "{} / {} / {}",
                rss(&self.server_before),
                rss(&self.server_connected),
                rss(&self.server_after)
            ),
        );
        if let Some(per) = self.rss_per_socket_kib {
            row("server RSS per socket", format!("{per:.1} KiB"));
        }
        if let Some(cpu) = self.bench_cpu_secs {
            row("bench CPU", format!("{cpu:.2} s"));
        }
        if !self.points.is_empty() {
            let _ = writeln!(
                out,
                "\n{:>10} {:>9} {:>10} {:>6} {:>4} {:>4} {:>4} {:>4} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>7}",
                "offered/s",
                "sent",
                "delivered",
                "lost",
                "dup",
                "mis",
                "ooo",
                "disc",
                "deliv/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "srv CPU",
                "deliv/CPU-s",
                "bench"
            );
        }
        for p in &self.points {
            let (l, faults) = (p.latency_ms.unwrap_or_default(), p.faults());
            let opt = |v: Option<f64>, d: usize| v.map_or("-".into(), |v| format!("{v:.d$}"));
            let _ = writeln!(
                out,
                "{:>10} {:>9} {:>10} {:>6} {:>4} {:>4} {:>4} {:>4} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>12} {:>7}",
                p.offered_per_sec.map_or("max".into(), |o| format!("{o:.0}")),
                p.sent,
                p.delivered,
                faults[0],
                faults[1],
                faults[2],
                faults[3],
                faults[4],
                p.deliveries_per_sec,
                l.p50,
                l.p90,
                l.p99,
                l.max,
                opt(p.server_cpu_secs, 2),
                opt(p.deliveries_per_server_cpu_sec, 0),
                opt(p.bench_cpu_secs, 2),
            );
        }
        out
    }

    /// CSV: a header and one line per load point (an idle run has one line without a point).
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "label,clients,rooms,messages,connected,connects_per_sec,rss_per_socket_kib,offered_per_sec,\
             sent,expected,delivered,lost,duplicated,misrouted,out_of_order,disconnects,deliveries_per_sec,\
             p50_ms,p90_ms,p99_ms,max_ms,server_cpu_secs,deliveries_per_server_cpu_sec,bench_cpu_secs\n",
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
        let run = format!(
            "{},{},{},{},{},{:.1},{}",
            self.label.replace(',', " "),
            self.clients,
            self.rooms,
            self.messages_per_client,
            self.connected,
            self.connects_per_sec,
            opt(self.rss_per_socket_kib)
        );
        if self.points.is_empty() {
            let _ = writeln!(out, "{run},,,,,,,,,,,,,,,,,");
        }
        for p in &self.points {
            let l = p.latency_ms;
            let _ = writeln!(
                out,
                "{run},{},{},{},{},{},{:.1},{},{},{},{},{},{},{}",
                opt(p.offered_per_sec),
                p.sent,
                p.expected,
                p.delivered,
                p.faults().map(|n| n.to_string()).join(","),
                p.deliveries_per_sec,
                opt(l.map(|l| l.p50)),
                opt(l.map(|l| l.p90)),
                opt(l.map(|l| l.p99)),
                opt(l.map(|l| l.max)),
                opt(p.server_cpu_secs),
                opt(p.deliveries_per_server_cpu_sec),
                opt(p.bench_cpu_secs),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_durations_use_the_nearest_rank() {
        let all: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of_durations(&all).unwrap();
        assert_eq!((l.p50, l.p90, l.p99, l.max, l.count), (50.0, 90.0, 99.0, 100.0, 100));
        assert!(Latency::of_durations(&[]).is_none());
    }

    #[test]
    fn csv_has_one_line_per_point_and_as_many_fields_as_the_header() {
        let mut report = Report { label: "a,b".into(), ..Report::default() };
        let header_fields = report.csv().lines().next().unwrap().split(',').count();
        assert_eq!(report.csv().lines().nth(1).unwrap().split(',').count(), header_fields);
        report.points = vec![Point::default(), Point::default()];
        let csv = report.csv();
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.lines().all(|l| l.split(',').count() == header_fields), "{csv}");
    }
}
