//! Giving memory freed after a burst of traffic back to the OS.
//!
//! glibc returns only the free memory at the top of its heaps by itself. A storm of
//! deliveries (thousands of clients connecting at once, each join noticed to its whole room)
//! allocates and frees a write's buffers on every socket at once, and leaves whole free pages
//! between the sockets' long-lived memory, which RSS counts for as long as the process runs:
//! ~0.4 KiB per socket after 10 000 connects in rooms of 200 (chat-bench). `malloc_trim`
//! returns those pages; run once a burst is over, it costs a few milliseconds per burst.

use std::time::Duration;

/// How often the trimmer looks at the delivery count.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// Deliveries since the last trim that make a burst worth trimming after.
const BURST: u64 = 10_000;

/// Runs for the life of the server: after at least [`BURST`] broadcast deliveries, trims the
/// heap once a whole [`LOOK_EVERY`] passed without one. Only with glibc; elsewhere it ends at
/// once.
pub async fn trim_after_bursts() {
    #[cfg(target_env = "gnu")]
    {
        let mut every = tokio::time::interval(LOOK_EVERY);
        let (mut trimmed_at, mut last) = (0, 0);
        loop {
            every.tick().await;
            let now = socketioxide::socket::broadcast_deliveries();
            if now == last && now - trimmed_at >= BURST {
                trimmed_at = now;
                let started = std::time::Instant::now();
                // SAFETY: malloc_trim only releases free memory; it takes the allocator's locks.
                let released = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
                tracing::debug!(?released, elapsed = ?started.elapsed(), "trimmed the heap after a burst");
            }
            last = now;
        }
    }
}
