//! PATCH (chat): a socket's send queue, allocated only while it holds packets.
//!
//! Upstream gives every socket a tokio `mpsc` channel (its shared state and its first block of
//! 32 slots, ~2 KiB, allocated when the socket is made and never given back) and a `watch`
//! channel for volatile packets (~0.4 KiB). Most sockets of a chat server are idle most of the
//! time, so this queue is a `VecDeque` behind a mutex, empty (no allocation) while idle: the
//! transport that drains it takes the whole `VecDeque` at once and frees it once written.
//!
//! Semantics are the channel's: bounded (`capacity` packets, counting reserved places), permits
//! that reserve a place, `Closed` once [`SendQueue::close`] was called; volatile packets keep
//! only the latest, delivered after the buffered ones. One consumer at a time, which the
//! socket's `internal_rx` lock guarantees (websocket writer or one polling request).

use std::{
    collections::VecDeque,
    sync::Mutex,
    task::{Context, Poll},
};

use engineioxide_core::PacketBuf;
use futures_util::task::AtomicWaker;
use tokio::sync::{Notify, mpsc::error::TrySendError};

/// What a consumer takes from the queue in one go: the buffered packets in order, then the
/// latest volatile packet, if any.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub packets: VecDeque<PacketBuf>,
    pub volatile: Option<PacketBuf>,
}

impl Batch {
    /// Adds the packets of a later batch (its volatile packet, if any, replaces ours).
    pub fn append(&mut self, mut later: Batch) {
        self.packets.append(&mut later.packets);
        if later.volatile.is_some() {
            self.volatile = later.volatile;
        }
    }

    /// The packets in the order they go out.
    #[cfg(any(test, feature = "__test_harness"))]
    pub fn into_packets(self) -> impl Iterator<Item = PacketBuf> {
        self.packets.into_iter().chain(self.volatile)
    }
}

#[derive(Debug, Default)]
struct State {
    packets: VecDeque<PacketBuf>,
    /// Places promised to [`Permit`]s not yet used.
    reserved: usize,
    volatile: Option<PacketBuf>,
    closed: bool,
    /// The session is closing: [`SendQueue::take`] stops once the queue is drained.
    stopping: bool,
    /// A batch was taken since the last [`SendQueue::tick`].
    busy: bool,
    /// The consumer waits in [`SendQueue::poll_linger`].
    lingering: bool,
    /// [`SendQueue::tick`] found the lingering consumer idle for a whole tick.
    quiet: bool,
}

impl State {
    fn is_empty(&self) -> bool {
        self.packets.is_empty() && self.volatile.is_none()
    }

    fn has_room(&self, capacity: usize) -> bool {
        self.packets.len() + self.reserved < capacity
    }

    /// Everything queued, leaving the queue empty and unallocated; `None` if nothing is.
    fn take_batch(&mut self) -> Option<Batch> {
        if self.is_empty() {
            return None;
        }
        self.busy = true;
        Some(Batch {
            packets: std::mem::take(&mut self.packets),
            volatile: self.volatile.take(),
        })
    }
}

/// What [`SendQueue::poll_linger`] found.
#[derive(Debug)]
pub(crate) enum More {
    Batch(Batch),
    /// The queue is closed (or the consumer stopped) and empty.
    Closed,
    /// Nothing was taken for a whole tick of the engine's timer.
    Quiet,
}

/// A bounded queue of packets for one socket; see the module's doc.
#[derive(Debug)]
pub(crate) struct SendQueue {
    state: Mutex<State>,
    capacity: usize,
    /// The consumer waiting for packets.
    rx_waker: AtomicWaker,
    /// Those waiting for [`SendQueue::closed`].
    on_close: Notify,
}

/// A place reserved in a [`SendQueue`]: [`Permit::send`] cannot fail for lack of room.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    queue: &'a SendQueue,
}

impl Permit<'_> {
    /// Queues `packets` in the reserved place (dropped if the queue closed meanwhile, as a
    /// channel would never deliver them).
    pub fn send(self, packets: PacketBuf) {
        let queue = self.queue;
        std::mem::forget(self);
        {
            let mut state = queue.lock();
            state.reserved -= 1;
            if state.closed {
                return;
            }
            state.packets.push_back(packets);
        }
        queue.rx_waker.wake();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.queue.lock().reserved -= 1;
    }
}

impl SendQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            capacity,
            rx_waker: AtomicWaker::new(),
            on_close: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `packets`, or gives them back if the queue is full or closed.
    pub fn try_send(&self, packets: PacketBuf) -> Result<(), TrySendError<PacketBuf>> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(TrySendError::Closed(packets));
            }
            if !state.has_room(self.capacity) {
                return Err(TrySendError::Full(packets));
            }
            state.packets.push_back(packets);
        }
        self.rx_waker.wake();
        Ok(())
    }

    /// Queues `packets` even above the capacity (the upgrade's `Noop`, which must get through
    /// to end a pending polling request); false if closed.
    pub fn force_send(&self, packets: PacketBuf) -> bool {
        {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            state.packets.push_back(packets);
        }
        self.rx_waker.wake();
        true
    }

    /// Reserves a place for one [`PacketBuf`].
    pub fn try_reserve(&self) -> Result<Permit<'_>, TrySendError<()>> {
        let mut state = self.lock();
        if state.closed {
            return Err(TrySendError::Closed(()));
        }
        if !state.has_room(self.capacity) {
            return Err(TrySendError::Full(()));
        }
        state.reserved += 1;
        Ok(Permit { queue: self })
    }

    /// Replaces the volatile packet waiting to go out; false if closed.
    pub fn send_volatile(&self, packets: PacketBuf) -> bool {
        {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            state.volatile = Some(packets);
        }
        self.rx_waker.wake();
        true
    }

    /// Takes everything queued; `None` if nothing is.
    pub fn try_take(&self) -> Option<Batch> {
        self.lock().take_batch()
    }

    /// Waits for packets and takes everything queued; `None` once the queue is empty and closed
    /// or stopping (see [`SendQueue::stop_consumer`]). For the one consumer (see the module's
    /// doc).
    #[cfg(test)]
    pub async fn take(&self) -> Option<Batch> {
        std::future::poll_fn(|cx| self.poll_take(cx)).await
    }

    /// [`SendQueue::take`] as a poll: `Pending` registers `cx`'s waker, which the next packet,
    /// the close or the stop wakes.
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Batch>> {
        let mut state = self.lock();
        if let Some(batch) = state.take_batch() {
            return Poll::Ready(Some(batch));
        }
        if state.closed || state.stopping {
            return Poll::Ready(None);
        }
        // Registered under the lock: a producer that pushes after our look wakes this.
        self.rx_waker.register(cx.waker());
        Poll::Pending
    }

    /// PATCH (chat): [`SendQueue::poll_take`] for a consumer whose task should end once the
    /// socket is idle (the websocket writer, see `crate::on_demand`): `Quiet` when a whole tick
    /// of the engine's timer ([`SendQueue::tick`], at most a second) went by without a batch,
    /// so a socket written to often keeps its task, and its wait costs no timer of its own. A
    /// spawn per burst cost CPU, and the task cells freed between bursts fragmented the
    /// allocator's memory (idle memory per socket 5.3 -> 6.1 KiB after 10 000 connects with
    /// join notices, chat-bench).
    pub fn poll_linger(&self, cx: &mut Context<'_>) -> Poll<More> {
        let mut state = self.lock();
        state.lingering = false;
        if let Some(batch) = state.take_batch() {
            return Poll::Ready(More::Batch(batch));
        }
        if state.closed || state.stopping {
            return Poll::Ready(More::Closed);
        }
        if std::mem::take(&mut state.quiet) {
            return Poll::Ready(More::Quiet);
        }
        state.lingering = true;
        self.rx_waker.register(cx.waker());
        Poll::Pending
    }

    /// PATCH (chat): a tick of the engine's timer (see [`SendQueue::poll_linger`]).
    pub fn tick(&self) {
        {
            let mut state = self.lock();
            if std::mem::take(&mut state.busy) || !state.lingering || state.quiet {
                return;
            }
            state.quiet = true;
        }
        self.rx_waker.wake();
    }

    /// Whether the consumer waits in [`SendQueue::poll_linger`].
    #[cfg(test)]
    fn is_lingering(&self) -> bool {
        self.lock().lingering
    }

    /// The next packet buffer (buffered ones first, then the volatile one); `None` once the
    /// queue is closed and empty. For the one consumer (see the module's doc).
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<PacketBuf>> {
        let mut state = self.lock();
        if let Some(packets) = state.packets.pop_front() {
            if state.packets.is_empty() {
                // Give the allocation back while the socket is idle.
                state.packets = VecDeque::new();
            }
            return Poll::Ready(Some(packets));
        }
        if let Some(packets) = state.volatile.take() {
            return Poll::Ready(Some(packets));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        self.rx_waker.register(cx.waker());
        Poll::Pending
    }

    /// Tells the consumer waiting in [`SendQueue::take`] to stop once it has taken what is
    /// queued: the session is closing. The writer's own wait on the session's cancellation
    /// token cost a waiter registered and removed on every wake-up (~1.5% of server CPU).
    pub fn stop_consumer(&self) {
        self.lock().stopping = true;
        self.rx_waker.wake();
    }

    /// Closes the queue: sends fail from now on, what is queued can still be taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.rx_waker.wake();
        self.on_close.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Resolves once the queue is closed.
    pub async fn closed(&self) {
        let notified = self.on_close.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_closed() {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engineioxide_core::{Packet, Str};
    use smallvec::smallvec;
    use std::time::Duration;

    fn msg(s: &'static str) -> PacketBuf {
        smallvec![Packet::Message(Str::from(s))]
    }

    fn texts(batch: Batch) -> Vec<String> {
        batch
            .into_packets()
            .flatten()
            .map(|p| match p {
                Packet::Message(s) => s.to_string(),
                p => format!("{p:?}"),
            })
            .collect()
    }

    #[test]
    fn idle_queue_holds_no_allocation() {
        let queue = SendQueue::new(4);
        queue.try_send(msg("a")).unwrap();
        assert_eq!(texts(queue.try_take().unwrap()), ["a"]);
        assert_eq!(queue.lock().packets.capacity(), 0);
        assert!(queue.try_take().is_none());
    }

    #[test]
    fn capacity_counts_reserved_places() {
        let queue = SendQueue::new(2);
        let permit = queue.try_reserve().unwrap();
        queue.try_send(msg("a")).unwrap();
        assert!(matches!(queue.try_send(msg("b")), Err(TrySendError::Full(_))));
        assert!(matches!(queue.try_reserve(), Err(TrySendError::Full(()))));
        drop(permit);
        let permit = queue.try_reserve().unwrap();
        permit.send(msg("c"));
        assert_eq!(texts(queue.try_take().unwrap()), ["a", "c"]);
        assert_eq!(queue.lock().reserved, 0);
    }

    #[test]
    fn closed_queue_refuses_and_keeps_what_was_queued() {
        let queue = SendQueue::new(4);
        queue.try_send(msg("a")).unwrap();
        let permit = queue.try_reserve().unwrap();
        queue.close();
        permit.send(msg("dropped"));
        assert!(matches!(queue.try_send(msg("b")), Err(TrySendError::Closed(_))));
        assert!(matches!(queue.try_reserve(), Err(TrySendError::Closed(()))));
        assert!(!queue.force_send(msg("c")));
        assert!(!queue.send_volatile(msg("d")));
        assert_eq!(texts(queue.try_take().unwrap()), ["a"]);
    }

    #[test]
    fn volatile_keeps_the_latest_after_the_buffered() {
        let queue = SendQueue::new(1);
        queue.send_volatile(msg("v1"));
        queue.try_send(msg("a")).unwrap();
        queue.send_volatile(msg("v2"));
        assert!(queue.force_send(msg("above capacity")));
        assert_eq!(texts(queue.try_take().unwrap()), ["a", "above capacity", "v2"]);
    }

    #[tokio::test]
    async fn take_waits_for_a_packet_and_ends_when_closed() {
        let queue = std::sync::Arc::new(SendQueue::new(4));
        let consumer = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut got = Vec::new();
                while let Some(batch) = queue.take().await {
                    got.extend(texts(batch));
                }
                got
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        queue.try_send(msg("a")).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        queue.try_reserve().unwrap().send(msg("b"));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let closed = tokio::spawn({
            let queue = queue.clone();
            async move { queue.closed().await }
        });
        queue.close();
        assert_eq!(consumer.await.unwrap(), ["a", "b"]);
        tokio::time::timeout(Duration::from_secs(1), closed).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_stopped_consumer_drains_the_queue_first() {
        let queue = SendQueue::new(4);
        queue.try_send(msg("a")).unwrap();
        queue.stop_consumer();
        assert_eq!(texts(queue.take().await.unwrap()), ["a"]);
        let end = tokio::time::timeout(Duration::from_secs(1), queue.take()).await;
        assert!(end.unwrap().is_none());
        assert!(!queue.is_closed(), "stopping the consumer does not refuse sends");
    }

    #[tokio::test]
    async fn poll_recv_gives_packets_one_by_one_then_frees_the_buffer() {
        let queue = SendQueue::new(4);
        queue.try_send(msg("a")).unwrap();
        queue.try_send(msg("b")).unwrap();
        queue.send_volatile(msg("v"));
        let mut got = Vec::new();
        for _ in 0..3 {
            let packets = std::future::poll_fn(|cx| queue.poll_recv(cx)).await.unwrap();
            got.extend(texts(Batch { packets: [packets].into(), volatile: None }));
        }
        assert_eq!(got, ["a", "b", "v"]);
        assert_eq!(queue.lock().packets.capacity(), 0);
        queue.close();
        assert!(std::future::poll_fn(|cx| queue.poll_recv(cx)).await.is_none());
    }

    /// PATCH (chat): a waiting consumer hears `Quiet` after a whole tick without a batch.
    #[test]
    fn a_lingering_consumer_is_told_when_a_whole_tick_went_by_idle() {
        let queue = SendQueue::new(8);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        queue.try_send(msg("a")).unwrap();
        assert!(matches!(queue.poll_linger(&mut cx), Poll::Ready(More::Batch(_))));
        assert!(queue.poll_linger(&mut cx).is_pending());
        assert!(queue.is_lingering());
        queue.tick(); // the tick that saw the batch
        assert!(queue.poll_linger(&mut cx).is_pending());
        queue.tick(); // a whole tick idle
        assert!(matches!(queue.poll_linger(&mut cx), Poll::Ready(More::Quiet)));
        assert!(!queue.is_lingering());
        queue.tick(); // nobody lingers: nothing to tell
        assert!(queue.poll_take(&mut cx).is_pending());
        queue.close();
        assert!(matches!(queue.poll_linger(&mut cx), Poll::Ready(More::Closed)));
    }
}
