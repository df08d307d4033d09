//! Turns: the sends of one sink go one at a time, and a send that can no longer finish does not
//! hold the others back.
//!
//! A send renders only once the previous send of the same sink has finished, so bodies reach the
//! receiver in the order they were rendered and counters never go backwards there. But a holder
//! whose I/O will never settle would hold its turn forever: in workerd, a push started by a request
//! that ended without `waitUntil` is cancelled with its timers, and its promise neither resolves
//! nor rejects. Every later push of the isolate then waited on it, silently.
//!
//! So the holder says when it is next due to make progress (the end of its request's deadline, or
//! of its retry wait), and on wasm a waiter that sees that moment pass, by [`GRACE`], with no word
//! from the holder takes the turn over. A holder that is alive always makes progress by then, since its
//! own timer fires; the waiter's deadline is armed by the waiter, in its own request.

use std::sync::{Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use web_time::Instant;

/// How long past its due moment a holder is still waited for on wasm, where a holder's I/O can be
/// cancelled under it: timers fire a little late. Natively every await of a holder ends (the HTTP
/// client's deadline, a sleep, or the runtime dropping the task and its turn), and a busy machine
/// fires timers late by more than any grace, so a native holder is never taken over.
#[cfg(target_arch = "wasm32")]
pub(crate) const GRACE: Option<Duration> = Some(Duration::from_millis(250));
#[cfg(not(target_arch = "wasm32"))]
pub(crate) const GRACE: Option<Duration> = None;

/// The turn gate of one sink.
#[derive(Debug)]
pub(crate) struct Turns {
    state: Mutex<State>,
    /// `None`: a holder is never taken over.
    grace: Option<Duration>,
}

#[derive(Debug)]
struct State {
    /// The ticket whose turn it is.
    holder: Option<u64>,
    next_ticket: u64,
    /// When the holder is next due to make progress; `None` until it says (it renders and encodes
    /// first, which natively may take a while on another thread, and is never overdue then).
    due: Option<Instant>,
    waiters: Vec<Waker>,
    /// Turns taken over from a holder that made no progress.
    taken_over: u64,
}

/// One send's turn, held until dropped.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    turns: &'a Turns,
    ticket: u64,
    /// Taken over from a holder that stopped making progress: what it sent may have arrived.
    #[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
    taken_over: bool,
}

impl Default for Turns {
    fn default() -> Self {
        Turns::with_grace(GRACE)
    }
}

impl Turns {
    /// Turns whose holders are waited for `grace` past their due moment (`None`: for ever).
    pub(crate) fn with_grace(grace: Option<Duration>) -> Self {
        Turns {
            grace,
            state: Mutex::new(State {
                holder: None,
                next_ticket: 0,
                due: None,
                waiters: Vec::new(),
                taken_over: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many turns were taken over from a holder that stopped making progress.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn taken_over(&self) -> u64 {
        self.state().taken_over
    }

    /// Waits for this sink's turn: until the holder is done, or overdue by the grace.
    pub(crate) async fn take(&self) -> Turn<'_> {
        loop {
            let wait = {
                let mut state = self.state();
                let now = Instant::now();
                let deadline = state.due.zip(self.grace).map(|(due, grace)| due + grace);
                let overdue = state.holder.is_some() && deadline.is_some_and(|d| now >= d);
                if state.holder.is_none() || overdue {
                    let ticket = state.next_ticket;
                    state.next_ticket += 1;
                    state.holder = Some(ticket);
                    state.taken_over += u64::from(overdue);
                    state.due = None;
                    return Turn {
                        turns: self,
                        ticket,
                        taken_over: overdue,
                    };
                }
                // Not yet said: looked at again when the turn is released, or after a grace; never
                // taken over: only when it is released.
                deadline
                    .map(|d| d.saturating_duration_since(now))
                    .or(self.grace)
            };
            let released = std::future::poll_fn(|cx| {
                let mut state = self.state();
                if state.holder.is_none() {
                    return Poll::Ready(());
                }
                // One waker per waiter: a waiter that loops (or was cancelled) is not added again.
                if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    state.waiters.push(cx.waker().clone());
                }
                Poll::Pending
            });
            // Either way the loop looks again: the holder may have moved its due moment.
            match wait {
                Some(wait) => {
                    futures_util::future::select(
                        std::pin::pin!(released),
                        std::pin::pin!(crate::platform::sleep(wait)),
                    )
                    .await;
                }
                None => released.await,
            }
        }
    }
}

impl Turn<'_> {
    /// Whether this turn was taken over from a holder that stopped making progress, whose request
    /// may still have reached the receiver. (Remote write needs it: a pushed body replaces the
    /// last, so a push does not.)
    #[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
    pub(crate) fn taken_over(&self) -> bool {
        self.taken_over
    }

    /// The holder's next progress is due within `within` (a request's deadline, a retry's wait).
    pub(crate) fn expect(&self, within: Duration) {
        let mut state = self.turns.state();
        if state.holder == Some(self.ticket) {
            state.due = Some(Instant::now() + within);
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut state = self.turns.state();
        // A turn taken over is no longer this one's to give back.
        if state.holder == Some(self.ticket) {
            state.holder = None;
            for waker in state.waiters.drain(..) {
                waker.wake();
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn a_live_holder_keeps_its_turn_and_a_silent_one_loses_it() {
        let turns = Turns::with_grace(Some(MS * 100));
        let first = turns.take().await;
        first.expect(MS * 300);
        // Within the holder's deadline, the next send waits.
        let waited = tokio::time::timeout(MS * 300, turns.take()).await;
        assert!(
            waited.is_err(),
            "a holder within its deadline lost its turn"
        );
        assert_eq!(turns.taken_over(), 0);
        // Past it by the grace, the holder is taken as gone.
        let second = tokio::time::timeout(MS * 400, turns.take())
            .await
            .expect("an overdue holder still held its turn");
        assert_eq!(turns.taken_over(), 1);
        assert!(second.taken_over());
        // The old holder's late release does not free the new holder's turn.
        second.expect(MS * 10_000);
        drop(first);
        let third = tokio::time::timeout(MS * 50, turns.take()).await;
        assert!(
            third.is_err(),
            "a taken-over turn was given back by its old holder"
        );
        drop(second);
        let _fourth = tokio::time::timeout(MS * 50, turns.take())
            .await
            .expect("a released turn was not handed on");
    }

    #[tokio::test]
    async fn a_holder_that_has_not_said_when_is_never_overdue() {
        // It renders and encodes before its first request: however long that takes, it keeps
        // its turn.
        let turns = Turns::with_grace(Some(MS * 50));
        let first = turns.take().await;
        let waited = tokio::time::timeout(MS * 400, turns.take()).await;
        assert!(waited.is_err(), "a holder still encoding lost its turn");
        assert_eq!(turns.taken_over(), 0);
        first.expect(MS * 10);
        let _second = tokio::time::timeout(MS * 400, turns.take())
            .await
            .expect("an overdue holder still held its turn");
        assert_eq!(turns.taken_over(), 1);
    }

    #[tokio::test]
    async fn a_released_turn_wakes_its_waiter_at_once() {
        let turns = std::sync::Arc::new(Turns::with_grace(Some(MS * 100)));
        let first = turns.take().await;
        first.expect(MS * 60_000);
        let waiter = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                let _turn = turns.take().await;
                start.elapsed()
            })
        };
        tokio::time::sleep(MS * 200).await;
        drop(first);
        let waited = waiter.await.unwrap();
        assert!(waited < MS * 5_000, "waited {waited:?}");
        assert_eq!(turns.taken_over(), 0);
    }
}
