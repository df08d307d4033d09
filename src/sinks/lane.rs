//! A sink's lane: its sends go one at a time ([`Turns`]), and natively what they could not
//! deliver waits in the spool the lane names. Each HTTP sink owns one; the schedule replays a
//! sink's spool in the sink's own turn, so a replayed body and a fresh send never overlap. While
//! the spool holds requests the receiver has not taken, the lane is *behind*: a remote write then
//! goes to the spool after them rather than ahead of them (Prometheus refuses a sample older than
//! a series' newest), until a replay delivers them all.

#[cfg(not(target_arch = "wasm32"))]
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
#[cfg(not(target_arch = "wasm32"))]
use std::sync::Arc;

#[cfg(not(target_arch = "wasm32"))]
use crate::sinks::spool::Spool;
use crate::sinks::turn::{Turn, Turns};

/// One sink's turns and, natively, its spool.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    turns: Turns,
    #[cfg(not(target_arch = "wasm32"))]
    spool: Option<Arc<Spool>>,
    #[cfg(not(target_arch = "wasm32"))]
    behind: AtomicBool,
}

impl Lane {
    /// The next send's turn, held until dropped.
    pub(crate) async fn turn(&self) -> Turn<'_> {
        self.turns.take().await
    }

    /// Sends this lane could not deliver go to `spool`.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn set_spool(&mut self, spool: Option<Arc<Spool>>) {
        self.spool = spool;
    }

    /// The spool, if any.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn spool(&self) -> Option<&Spool> {
        self.spool.as_deref()
    }

    /// Whether the spool holds requests of this sink its receiver has not taken.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn is_behind(&self) -> bool {
        self.spool.is_some() && self.behind.load(Relaxed)
    }

    /// Says whether the spool holds requests of this sink its receiver has not taken (a send
    /// spooled one; a replay kept or delivered them all).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn set_behind(&self, behind: bool) {
        self.behind.store(behind, Relaxed);
    }
}
