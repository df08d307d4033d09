//! What every sink shares, under one path: the [`Exporter`] that drives the configured sinks on one
//! schedule (native), the error of a send, and the settings every HTTP sink takes (credentials,
//! retries).

pub use super::error::ExportError;
pub use super::http::{
    redact_url, BasicAuth, RetryPolicy, Secret, LAST_PUSH_GAUGE, PUSHES_COUNTER,
};
#[cfg(not(target_arch = "wasm32"))]
pub use super::schedule::{
    shutdown_signal, BatchOutcome, Exporter, LAST_DURATION_GAUGE, LAST_FAILURE_GAUGE,
    LAST_INTERRUPTED_GAUGE, LAST_SUCCESS_GAUGE,
};
pub use crate::platform::ErrorSource;
