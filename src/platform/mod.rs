//! What differs between native targets and wasm32: the clock, the timer, extra trusted CAs (a file
//! natively; the runtime's store on wasm), and how an HTTP failure is told apart (the HTTP call
//! itself is
//! reqwest on both: hyper natively, the runtime's `fetch` on wasm32). Everything else is shared.

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::{is_connect_error, is_tls_error, sleep, trust_ca_file};

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{is_connect_error, is_tls_error, sleep, trust_ca_file};

/// A monotonic instant; `std::time::Instant` panics on wasm32-unknown-unknown, this one does not.
pub use web_time::Instant;

/// Seconds since the Unix epoch, as Prometheus timestamps are written.
pub fn unix_time_secs() -> f64 {
    web_time::SystemTime::now()
        .duration_since(web_time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
