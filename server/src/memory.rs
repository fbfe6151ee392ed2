//! Giving memory freed after a burst of traffic back to the OS.
//!
//! glibc returns only the free memory at the top of its heaps by itself. A storm of
//! deliveries (thousands of clients connecting at once, each join noticed to its whole room)
//! allocates and frees a write's buffers on every socket at once, and leaves whole free pages
//! between the sockets' long-lived memory, which RSS counts for as long as the process runs:
//! ~0.4 KiB per socket after 10 000 connects in rooms of 200 (chat-bench). `malloc_trim`
//! returns those pages; run once a burst is over, it costs a few milliseconds per burst.

use std::time::Duration;

/// How often the trimmer looks at the delivery count: a burst is over once a look finds no
/// delivery since the last one.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Deliveries since the last trim that make a burst worth trimming after.
const BURST: u64 = 1_000;
/// The least time between two trims, however bursty the traffic: a trim takes 3-17 ms at
/// 5 000-10 000 sockets (most of it in the allocator's locks), so at most ~2% of a core.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Runs for the life of the server: once a look finds no broadcast delivery since the last
/// one, after at least [`BURST`] of them and [`MIN_INTERVAL`] since the last trim, trims the
/// heap. Only with glibc; elsewhere it ends at once.
pub async fn trim_after_bursts() {
    #[cfg(target_env = "gnu")]
    {
        let mut every = tokio::time::interval(LOOK_EVERY);
        let (mut trimmed, mut trimmed_at, mut last) = (tokio::time::Instant::now(), 0, 0);
        loop {
            every.tick().await;
            let now = socketioxide::socket::broadcast_deliveries();
            if now == last && now - trimmed_at >= BURST && trimmed.elapsed() >= MIN_INTERVAL {
                (trimmed, trimmed_at) = (tokio::time::Instant::now(), now);
                // SAFETY: malloc_trim only releases free memory; it takes the allocator's locks.
                let released = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
                tracing::debug!(?released, elapsed = ?trimmed.elapsed(), "trimmed the heap after a burst");
            }
            last = now;
        }
    }
}
