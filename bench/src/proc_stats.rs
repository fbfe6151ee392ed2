//! A process's CPU time and resident memory, read from Linux's `/proc/<pid>/stat` (fields 14
//! and 15, `utime` and `stime`, in clock ticks) and `/proc/<pid>/status` (`VmRSS`, KiB).

use std::time::Duration;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// User + system CPU time since the process started.
    pub cpu: Duration,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

/// Reads `pid` (`None`: this process); `None` when it does not exist or cannot be read.
pub fn sample(pid: Option<u32>) -> Option<Sample> {
    let dir = pid.map_or_else(|| "/proc/self".to_owned(), |p| format!("/proc/{p}"));
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    Some(Sample { cpu: cpu_from_stat(&stat)?, rss_kib: rss_from_status(&status)? })
}

/// `utime + stime` of a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn cpu_from_stat(stat: &str) -> Option<Duration> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After the name, field 3 (`state`) is index 0: utime (14) is 11, stime (15) is 12.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|&t| t > 0)?;
    Some(Duration::from_micros(ticks * 1_000_000 / per_second))
}

fn rss_from_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Raises this process's open-file limit to its hard limit: ten thousand sockets need more
/// than the usual soft limit of 1024. Returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit for the kernel to fill and read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        // SAFETY: as above.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_micros(300 * 1_000_000 / hz)));
        assert_eq!(rss_from_status("Name:\tx\nVmRSS:\t  1234 kB\n"), Some(1234));
    }

    #[test]
    fn this_process_can_be_read() {
        let own = sample(None).expect("/proc/self");
        assert!(own.rss_kib > 0);
    }
}
