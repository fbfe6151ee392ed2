//! PATCH (chat): Engine.IO heartbeats on one timer per engine instead of a task per socket.
//!
//! Upstream spawns a task per session that pings (v4) or waits for the client's pings (v3) and
//! a channel that carries each pong to it: ~1.7 KiB per idle socket of a chat server's ~16, and
//! a spawn and a timer per connect. Here each socket keeps its [`Heartbeat`] state (two
//! instants), and one task per engine looks at every socket a few times per ping interval
//! ([`tick_period`]): it sends the pings that are due and closes the sockets whose pong (v4) or
//! ping (v3) is overdue. Pings go out at most one tick late, timeouts are noticed at most one
//! tick late: at most a second with socket.io's 25 s / 20 s.

use std::time::Duration;

use engineioxide_core::ProtocolVersion;
use tokio::time::Instant;

/// Where a socket is in its heartbeat.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heartbeat {
    /// The session is not open yet (its websocket handshake is under way).
    #[default]
    Stopped,
    /// v4: the next ping goes out at `next_ping`.
    Idle { next_ping: Instant },
    /// v4: a ping went out; its pong is due by `deadline`, the next ping at `next_ping`.
    AwaitingPong { deadline: Instant, next_ping: Instant },
    /// v3: the client's next ping is due by `deadline`.
    AwaitingPing { deadline: Instant },
}

/// What the engine's timer must do for a socket now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    /// Send a ping (the state already waits for its pong).
    Ping,
    /// The client missed its deadline: close the session.
    TimedOut,
}

impl Heartbeat {
    /// The state of a session opened at `now`.
    pub(crate) fn start(protocol: ProtocolVersion, now: Instant, interval: Duration, timeout: Duration) -> Self {
        match protocol {
            ProtocolVersion::V4 => Heartbeat::Idle { next_ping: now + interval },
            ProtocolVersion::V3 => Heartbeat::AwaitingPing { deadline: now + interval + timeout },
        }
    }

    /// The client answered: a pong (v4) or a ping (v3) came at `now`. A pong nobody waits for
    /// changes nothing (some clients send one first).
    pub(crate) fn on_client(&mut self, now: Instant, interval: Duration, timeout: Duration) {
        match *self {
            Heartbeat::AwaitingPong { next_ping, .. } => *self = Heartbeat::Idle { next_ping },
            Heartbeat::AwaitingPing { .. } => {
                *self = Heartbeat::AwaitingPing { deadline: now + interval + timeout }
            }
            Heartbeat::Stopped | Heartbeat::Idle { .. } => {}
        }
    }

    /// What is due at `now`. While the session upgrades from polling to websocket no ping goes
    /// out (the upgrade's own probe is under way); it goes at the first tick after.
    pub(crate) fn tick(&mut self, now: Instant, interval: Duration, timeout: Duration, upgrading: bool) -> Due {
        match *self {
            Heartbeat::Idle { next_ping } if now >= next_ping && !upgrading => {
                *self = Heartbeat::AwaitingPong { deadline: now + timeout, next_ping: now + interval };
                Due::Ping
            }
            Heartbeat::AwaitingPong { deadline, .. } | Heartbeat::AwaitingPing { deadline }
                if now >= deadline =>
            {
                Due::TimedOut
            }
            _ => Due::Nothing,
        }
    }
}

/// How often the engine's timer looks at its sockets: an eighth of the shorter of the ping
/// interval and timeout, between 10 ms and 1 s.
pub(crate) fn tick_period(interval: Duration, timeout: Duration) -> Duration {
    (interval.min(timeout) / 8).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(25);
    const TIMEOUT: Duration = Duration::from_secs(20);

    #[test]
    fn v4_pings_every_interval_and_times_out_without_a_pong() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::start(ProtocolVersion::V4, t0, INTERVAL, TIMEOUT);
        assert_eq!(hb.tick(t0 + Duration::from_secs(24), INTERVAL, TIMEOUT, false), Due::Nothing);
        let t1 = t0 + INTERVAL;
        assert_eq!(hb.tick(t1, INTERVAL, TIMEOUT, false), Due::Ping);
        assert_eq!(hb.tick(t1 + Duration::from_secs(1), INTERVAL, TIMEOUT, false), Due::Nothing);
        hb.on_client(t1 + Duration::from_secs(1), INTERVAL, TIMEOUT);
        assert_eq!(hb.tick(t1 + TIMEOUT, INTERVAL, TIMEOUT, false), Due::Nothing, "answered");
        let t2 = t1 + INTERVAL;
        assert_eq!(hb.tick(t2, INTERVAL, TIMEOUT, false), Due::Ping);
        assert_eq!(hb.tick(t2 + TIMEOUT, INTERVAL, TIMEOUT, false), Due::TimedOut);
    }

    #[test]
    fn no_ping_while_upgrading_and_none_before_the_session_opens() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::default();
        assert_eq!(hb.tick(t0 + INTERVAL * 4, INTERVAL, TIMEOUT, false), Due::Nothing);
        hb = Heartbeat::start(ProtocolVersion::V4, t0, INTERVAL, TIMEOUT);
        assert_eq!(hb.tick(t0 + INTERVAL, INTERVAL, TIMEOUT, true), Due::Nothing);
        assert_eq!(hb.tick(t0 + INTERVAL * 2, INTERVAL, TIMEOUT, false), Due::Ping);
    }

    #[test]
    fn an_early_pong_changes_nothing() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::start(ProtocolVersion::V4, t0, INTERVAL, TIMEOUT);
        hb.on_client(t0, INTERVAL, TIMEOUT);
        assert_eq!(hb.tick(t0 + INTERVAL, INTERVAL, TIMEOUT, false), Due::Ping);
        assert_eq!(hb.tick(t0 + INTERVAL + TIMEOUT, INTERVAL, TIMEOUT, false), Due::TimedOut);
    }

    #[test]
    fn v3_times_out_when_the_client_stops_pinging() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::start(ProtocolVersion::V3, t0, INTERVAL, TIMEOUT);
        hb.on_client(t0 + INTERVAL, INTERVAL, TIMEOUT);
        assert_eq!(hb.tick(t0 + INTERVAL * 2, INTERVAL, TIMEOUT, false), Due::Nothing);
        assert_eq!(hb.tick(t0 + INTERVAL * 2 + TIMEOUT, INTERVAL, TIMEOUT, false), Due::TimedOut);
    }

    #[test]
    fn ticks_are_an_eighth_of_the_shorter_period_within_bounds() {
        assert_eq!(tick_period(INTERVAL, TIMEOUT), Duration::from_secs(1));
        assert_eq!(tick_period(Duration::from_millis(400), Duration::from_millis(800)), Duration::from_millis(50));
        assert_eq!(tick_period(Duration::from_millis(20), Duration::from_millis(20)), Duration::from_millis(10));
    }
}
