//! The send phase: every connected client sends its messages to its room at a fixed interval
//! (or flat out) while reading everything the server sends it, and checks each delivery of the
//! bench's own messages: latency from the send time it carries, duplicates, order per sender,
//! and the room it was meant for.
//!
//! A message's text is `<prefix><room>|<sender>|<seq>|<sent µs>`: the prefix names the run and
//! the load point, so late deliveries of an earlier point or another run are not counted.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Frame, Incoming, Socket};

/// Largest latency the histograms hold, µs (longer ones are clamped to it).
const MAX_LATENCY_US: u64 = 600_000_000;

/// What one client does in a load point.
pub struct Plan {
    pub prefix: Arc<str>,
    pub room: u32,
    pub sender: u32,
    pub count: u32,
    /// Zero: flat out.
    pub interval: Duration,
    pub first_send: Instant,
    /// Send times are µs since this instant, the same for every client.
    pub epoch: Instant,
}

/// What every client of a load point shares.
pub struct Shared {
    /// Unique deliveries of this point's messages, all clients together.
    pub delivered: AtomicU64,
    /// Messages sent, per room.
    pub room_sent: Vec<AtomicU64>,
    /// Clients that sent all their messages (or stopped, disconnected).
    pub senders_done: AtomicUsize,
    /// Messages sent, all clients (progress).
    pub sent: AtomicU64,
    /// Ends the point: every client stops reading and hands its socket back.
    pub stop: CancellationToken,
}

impl Shared {
    pub fn new(rooms: usize) -> Arc<Self> {
        Arc::new(Self {
            delivered: AtomicU64::new(0),
            room_sent: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            senders_done: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            stop: CancellationToken::new(),
        })
    }
}

/// Which sequence numbers of one sender a client has seen.
#[derive(Default)]
struct Seen {
    bits: Vec<u64>,
    highest: Option<u32>,
}

impl Seen {
    /// Marks `seq`; `Some(in_order)` for a first delivery, `None` for a duplicate.
    fn mark(&mut self, seq: u32) -> Option<bool> {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) != 0 {
            return None;
        }
        self.bits[word] |= 1 << bit;
        let in_order = self.highest.is_none_or(|h| seq > h);
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        Some(in_order)
    }
}

/// One client's findings in a load point.
#[derive(Default)]
pub struct ClientStats {
    pub latency_us: Option<Histogram<u64>>,
    pub delivered: u64,
    pub duplicated: u64,
    pub misrouted: u64,
    pub out_of_order: u64,
    pub disconnected: bool,
    seen: HashMap<u32, Seen>,
    /// Deliveries not yet added to [`Shared::delivered`] (added once per read, not per frame).
    unpublished: u64,
}

impl ClientStats {
    fn publish(&mut self, shared: &Shared) {
        if self.unpublished > 0 {
            shared.delivered.fetch_add(std::mem::take(&mut self.unpublished), Ordering::Relaxed);
        }
    }

    fn record(&mut self, text: &str, plan: &Plan) {
        let mut fields = text[plan.prefix.len()..].split('|').map(|f| f.parse::<u64>().ok());
        let (Some(Some(room)), Some(Some(sender)), Some(Some(seq)), Some(Some(sent_us))) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return;
        };
        if room != u64::from(plan.room) {
            self.misrouted += 1;
            return;
        }
        let Ok(sender) = u32::try_from(sender) else { return };
        match self.seen.entry(sender).or_default().mark(seq.min(u64::from(u32::MAX)) as u32) {
            None => self.duplicated += 1,
            Some(in_order) => {
                self.out_of_order += u64::from(!in_order);
                self.delivered += 1;
                self.unpublished += 1;
                let now_us = plan.epoch.elapsed().as_micros() as u64;
                let latency = now_us.saturating_sub(sent_us).clamp(1, MAX_LATENCY_US);
                self.latency_us
                    .get_or_insert_with(|| {
                        Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("valid bounds")
                    })
                    .saturating_record(latency);
            }
        }
    }
}

/// Runs one client through a load point: sends its messages on schedule, answers pings and
/// records deliveries until `shared.stop`. Hands the socket back unless it was lost.
pub async fn drive(mut ws: Socket, plan: Plan, shared: Arc<Shared>) -> (Option<Socket>, ClientStats) {
    let mut stats = ClientStats::default();
    let mut seq = 0u32;
    let mut next_send = plan.first_send;
    if plan.count == 0 {
        shared.senders_done.fetch_add(1, Ordering::Relaxed);
    }
    'run: loop {
        // Everything already read, in place; then what it asks for.
        let (mut pong, mut ping) = (false, None::<Vec<u8>>);
        loop {
            match ws.next_frame() {
                Ok(Some(Frame::Text(text))) => match client::classify(text, &plan.prefix) {
                    Incoming::Marked(text) => stats.record(text, &plan),
                    Incoming::Ping => pong = true,
                    Incoming::Closed => {
                        stats.disconnected = true;
                        break 'run;
                    }
                    Incoming::Other => {}
                },
                Ok(Some(Frame::Ping(payload))) => ping = Some(payload.to_vec()),
                Ok(Some(Frame::Close)) | Err(_) => {
                    stats.disconnected = true;
                    break 'run;
                }
                Ok(Some(Frame::Other)) => {}
                Ok(None) => break,
            }
        }
        stats.publish(&shared);
        let answered = match (pong, ping) {
            (true, _) => ws.send_text("3").await,
            (_, Some(payload)) => ws.send_pong(&payload).await,
            _ => Ok(()),
        };
        if answered.is_err() {
            stats.disconnected = true;
            break;
        }
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            read = ws.fill() => if !matches!(read, Ok(n) if n > 0) {
                stats.disconnected = true;
                break;
            },
            _ = tokio::time::sleep_until(next_send), if seq < plan.count => {
                let sent_us = plan.epoch.elapsed().as_micros();
                let text = format!("{}{}|{}|{seq}|{sent_us}", plan.prefix, plan.room, plan.sender);
                if ws.send_text(&client::chat_message(&text)).await.is_err() {
                    stats.disconnected = true;
                    break;
                }
                shared.room_sent[plan.room as usize].fetch_add(1, Ordering::Relaxed);
                shared.sent.fetch_add(1, Ordering::Relaxed);
                seq += 1;
                if seq == plan.count {
                    shared.senders_done.fetch_add(1, Ordering::Relaxed);
                }
                next_send = if plan.interval.is_zero() { Instant::now() } else { next_send + plan.interval };
            }
        }
    }
    stats.publish(&shared);
    if stats.disconnected && seq < plan.count {
        shared.senders_done.fetch_add(1, Ordering::Relaxed);
    }
    ((!stats.disconnected).then_some(ws), stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_tells_first_deliveries_duplicates_and_order() {
        let mut seen = Seen::default();
        assert_eq!(seen.mark(0), Some(true));
        assert_eq!(seen.mark(2), Some(true));
        assert_eq!(seen.mark(1), Some(false));
        assert_eq!(seen.mark(2), None);
        assert_eq!(seen.mark(200), Some(true));
        assert_eq!(seen.mark(0), None);
    }

    #[test]
    fn deliveries_are_checked_for_room_duplicates_and_latency() {
        let shared = Shared::new(2);
        let epoch = Instant::now();
        let plan = Plan {
            prefix: "cb7.0|".into(),
            room: 1,
            sender: 3,
            count: 0,
            interval: Duration::ZERO,
            first_send: epoch,
            epoch,
        };
        let mut stats = ClientStats::default();
        stats.record("cb7.0|1|5|0|0", &plan);
        stats.record("cb7.0|1|5|0|0", &plan);
        stats.record("cb7.0|0|5|1|0", &plan);
        stats.record("cb7.0|1|5|x|0", &plan);
        assert_eq!((stats.delivered, stats.duplicated, stats.misrouted), (1, 1, 1));
        assert_eq!(shared.delivered.load(Ordering::Relaxed), 0);
        stats.publish(&shared);
        assert_eq!(shared.delivered.load(Ordering::Relaxed), 1);
        assert_eq!(stats.latency_us.as_ref().map(Histogram::len), Some(1));
    }
}
