//! Where renders go. Each sink owns its settings, their `OBSERVER_METRICS_*` twins, and what it
//! reserves in the recorder (the labels it sets on every series, the names whose type it fixes);
//! the sinks are peers and never import each other. What the HTTP sinks share is in `http`,
//! `error`, `turn` and `lane` (a sink's turns and its spool); `spool` keeps on disk what a receiver did not take, and `replay` delivers
//! it; the schedule that drives them all is `schedule`; `export` is the public path of what they
//! share.

#[cfg(feature = "push")]
pub(crate) mod error;
#[cfg(feature = "push")]
pub mod export;
#[cfg(feature = "push")]
pub(crate) mod http;
#[cfg(feature = "push")]
pub(crate) mod lane;
#[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
pub mod pull;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "remote-write")]
pub mod remote_write;
#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
pub(crate) mod replay;
#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
pub(crate) mod schedule;
#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
pub mod spool;
#[cfg(feature = "push")]
pub(crate) mod turn;
