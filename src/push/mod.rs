//! Pushing to a Prometheus Pushgateway: settings, the group URL, the client and (natively) the
//! interval exporter. The exporter only moves bytes: it asks a [`RecorderHandle`](crate::RecorderHandle)
//! for a render and sends it.

mod client;
#[cfg(not(target_arch = "wasm32"))]
mod exporter;
mod sender;
mod settings;
mod url;

pub use crate::sink::{BasicAuth, RetryPolicy, Secret, MAX_TIMER_MS};
pub use crate::sink::{LAST_PUSH_GAUGE, PUSHES_COUNTER};
pub use client::{PushClient, PushError};
#[cfg(not(target_arch = "wasm32"))]
pub use exporter::{shutdown_signal, BatchOutcome, PushExporter};
pub use sender::GroupPusher;
pub use settings::{PushConfig, PushMethod};
pub use url::{group_url, redact_url};
