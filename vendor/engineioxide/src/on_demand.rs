//! PATCH (chat): the run state of a websocket half that has a task only while it has work.
//!
//! Upstream spawns two tasks per websocket session, a reader and a writer, that live as long as
//! the session: ~0.9 KiB of a ~5.3 KiB idle socket (task cells of 384 and 512 bytes, valgrind
//! massif), although a chat socket is idle nearly all its life. Here each half keeps what it
//! needs between turns in a small shared value whose waker ([`std::task::Wake`]) spawns a task
//! when the half is idle, and only marks it when a task runs; the task ends once the half has
//! nothing left to do and is registered for the next wake-up.

use std::sync::atomic::{AtomicU8, Ordering};

/// No task runs; the next wake-up spawns one.
const IDLE: u8 = 0;
/// A task runs.
const RUNNING: u8 = 1;
/// A task runs and was woken since it last looked for work: it must look again before ending.
const NOTIFIED: u8 = 2;

/// Whether a half's task runs, see the module's doc.
#[derive(Debug)]
pub(crate) struct OnDemand {
    state: AtomicU8,
}

impl OnDemand {
    /// A half whose first task the caller starts (or runs) itself.
    pub fn running() -> Self {
        Self {
            state: AtomicU8::new(RUNNING),
        }
    }

    /// A wake-up: true if the half was idle and the caller must spawn its task now.
    pub fn wake(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => RUNNING,
                RUNNING => NOTIFIED,
                _ => return false,
            };
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return state == IDLE,
                Err(actual) => state = actual,
            }
        }
    }

    /// The running task found nothing to do and registered its waker: true if it may end now;
    /// false if a wake-up came meanwhile, and then it still runs and must look again.
    pub fn park(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                self.state.store(RUNNING, Ordering::Release);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_half_parks_and_the_next_wake_up_starts_it_once() {
        let half = OnDemand::running();
        assert!(half.park());
        assert!(half.wake(), "the first wake-up of an idle half spawns");
        assert!(!half.wake(), "a running half is only marked");
        assert!(!half.wake());
    }

    #[test]
    fn a_wake_up_while_running_makes_the_task_look_again() {
        let half = OnDemand::running();
        assert!(!half.wake());
        assert!(!half.park(), "woken meanwhile: look again");
        assert!(half.park(), "nothing came since");
        assert!(half.wake());
    }
}
