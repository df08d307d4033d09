//! Pushing to a Prometheus Pushgateway: settings, the group URL, the client, and the pusher that
//! sends one push at a time. The exporter that drives this sink and remote write on one schedule
//! is [`crate::exporter`], re-exported here.

mod client;
mod sender;
mod settings;
mod url;

/// The exporter drives every sink; it is re-exported here, where it began.
#[cfg(not(target_arch = "wasm32"))]
pub use crate::exporter::{shutdown_signal, BatchOutcome, PushExporter};
pub use crate::sink::{BasicAuth, RetryPolicy, Secret, MAX_TIMER_MS};
pub use crate::sink::{LAST_PUSH_GAUGE, PUSHES_COUNTER};
pub use client::{ErrorSource, PushClient, PushError};
pub use sender::GroupPusher;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use sender::Phase;
pub use settings::{PushConfig, PushMethod};
pub use url::{group_url, redact_url};
