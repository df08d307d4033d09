//! Bounded waits for async tests, on any runtime: a pause is a thread that sleeps and then wakes
//! the task, so a `current_thread` runtime's only thread stays free to run what is awaited (the
//! exporter's pushes), where `std::thread::sleep` would stop it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Ready once `duration` has passed; needs no runtime of its own.
pub async fn pause(duration: Duration) {
    Pause {
        shared: Arc::new(Mutex::new((false, None))),
        duration,
        started: false,
    }
    .await
}

struct Pause {
    /// Whether the time has passed, and the waker to call when it has.
    shared: Arc<Mutex<(bool, Option<Waker>)>>,
    duration: Duration,
    started: bool,
}

impl Future for Pause {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 {
            return Poll::Ready(());
        }
        state.1 = Some(cx.waker().clone());
        drop(state);
        if !self.started {
            self.started = true;
            let (shared, duration) = (self.shared.clone(), self.duration);
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                state.0 = true;
                if let Some(waker) = state.1.take() {
                    waker.wake();
                }
            });
        }
        Poll::Pending
    }
}

/// Polls `check` every 50 ms until it holds, for at most `limit`, pausing (not blocking) in
/// between; whether it came to hold.
pub async fn until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        pause(Duration::from_millis(50)).await;
    }
    check()
}
