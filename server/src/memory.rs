//! Giving memory freed after a burst of traffic back to the OS.
//!
//! glibc returns only the free memory at the top of its heaps by itself. A storm of
//! deliveries (thousands of clients connecting at once, each join noticed to its whole room)
//! allocates and frees a write's buffers on every socket at once, and leaves whole free pages
//! between the sockets' long-lived memory, which RSS counts for as long as the process runs:
//! ~0.4 KiB per socket after 10 000 connects in rooms of 200 (chat-bench). A wave of
//! disconnects does the same with the sockets' own state: what the sockets that are still
//! connected hold keeps the freed pages between them from the top of the heap. `malloc_trim`
//! returns those pages; run once a burst is over, it costs a few milliseconds per burst.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// How often the trimmer looks at the delivery count: a burst is over once a look finds no
/// delivery since the last one.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Deliveries since the last trim that make a burst worth trimming after.
const BURST: u64 = 1_000;
/// Sockets freed since the last trim that do: each frees a socket's few KiB, as much as a few
/// hundred deliveries' buffers.
const FREED_BURST: u64 = 100;
/// The least time between two trims, however bursty the traffic: a trim takes 3-17 ms at
/// 5 000-10 000 sockets (most of it in the allocator's locks), so at most ~2% of a core.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Sockets whose state was dropped so far, for the trimmer.
static FREED: AtomicU64 = AtomicU64::new(0);

/// Kept in a socket's state: dropped with it, it counts the socket as freed, so that a wave of
/// disconnects is a burst to trim after, as deliveries are. Counted at the drop, not at the
/// disconnect: a socket's memory goes only once its last task let go of it, and a trim
/// before that returns nothing.
#[derive(Default)]
pub struct FreedOnDrop;

impl Drop for FreedOnDrop {
    fn drop(&mut self) {
        FREED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs for the life of the server: once a look finds no broadcast delivery and no socket freed
/// since the last one, after at least [`BURST`] deliveries or [`FREED_BURST`] sockets freed
/// and [`MIN_INTERVAL`] since the last trim, trims the heap; and once more a quiet
/// [`MIN_INTERVAL`] later, for what the burst's last tasks freed after the first trim (a
/// socket's writer, its presence check). Only with glibc; elsewhere it ends at once.
pub async fn trim_after_bursts() {
    #[cfg(target_env = "gnu")]
    {
        let count = || (socketioxide::socket::broadcast_deliveries(), FREED.load(Ordering::Relaxed));
        let mut every = tokio::time::interval(LOOK_EVERY);
        let (mut trimmed, mut trimmed_at, mut last) = (tokio::time::Instant::now(), (0, 0), (0, 0));
        let mut again = false;
        loop {
            every.tick().await;
            let now = count();
            let burst = now.0 - trimmed_at.0 >= BURST || now.1 - trimmed_at.1 >= FREED_BURST;
            if now == last && (burst || again) && trimmed.elapsed() >= MIN_INTERVAL {
                (trimmed, trimmed_at, again) = (tokio::time::Instant::now(), now, burst);
                // SAFETY: malloc_trim only releases free memory; it takes the allocator's locks.
                let released = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
                tracing::debug!(?released, elapsed = ?trimmed.elapsed(), "trimmed the heap after a burst");
            }
            last = now;
        }
    }
}
