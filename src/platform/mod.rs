//! What differs between native targets and wasm32, and nothing else: the clock, the timer, URL
//! parsing (the `url` crate natively; the runtime's own `URL` on wasm, which spares the module
//! the crate's IDNA tables), and the HTTP call. Natively the call is reqwest (hyper, rustls with the platform's store and an optional
//! CA file). On wasm32 it is the runtime's own `fetch`, called directly so that a finished request
//! is never aborted, a timeout is the only abort, and a failure keeps the cause the runtime gives
//! (a refused connection, a blocked port, a CORS refusal). Everything else is shared.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::{gzip, parse_url, sleep, HttpClient};

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{gzip, parse_url, sleep, HttpClient};

/// Seconds since the Unix epoch, as Prometheus timestamps are written.
pub(crate) fn unix_time_secs() -> f64 {
    web_time::SystemTime::now()
        .duration_since(web_time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A request body as it goes on the wire: shared by a request's retries, so a retry counts a
/// reference rather than copying. (Not `bytes::Bytes`: only the native HTTP client needs that,
/// and the wasm module is smaller without it.)
pub(crate) type Body = Arc<[u8]>;

/// One HTTP request, as the push client makes it.
pub(crate) struct HttpRequest<'a> {
    /// `GET`, `PUT`, `POST` or `DELETE`.
    pub(crate) method: &'static str,
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: Option<Body>,
    /// The deadline of the whole request, answer included.
    pub(crate) timeout: Duration,
}

/// The answer: its status and its body (for an error status, the receiver's reason).
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Why a request got no answer; each carries the cause as the runtime tells it.
#[derive(Debug)]
pub(crate) enum HttpFailure {
    /// No connection: refused, unreachable, the name not found.
    Connect(Cause),
    /// No answer within the request's deadline.
    Timeout,
    /// The TLS handshake failed (certificate, protocol).
    Tls(Cause),
    /// Anything else.
    Other(Cause),
}

/// A failure's cause: its innermost message, and the error itself where the platform has one
/// (natively; a JS runtime's errors are not Rust errors).
#[derive(Debug)]
pub(crate) struct Cause {
    pub(crate) message: String,
    pub(crate) source: Option<ErrorSource>,
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Cause {
            message,
            source: None,
        }
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Cause::from(message.to_owned())
    }
}

/// A URL as the HTTP call will take it: what the checks of the config and the handling of
/// credentials need.
pub(crate) struct ParsedUrl {
    /// `http`, `https`, … without the colon.
    pub(crate) scheme: String,
    pub(crate) host: String,
    /// Percent-encoded, as written; empty when there is none.
    pub(crate) username: String,
    /// Percent-encoded, as written.
    pub(crate) password: Option<String>,
    pub(crate) has_query: bool,
    pub(crate) has_fragment: bool,
    /// The URL, normalised, without its userinfo.
    pub(crate) without_userinfo: String,
}

/// The error below a [`ExportError`](crate::export::ExportError), reachable through `source()`: the HTTP client's own error,
/// whose chain goes down to the I/O or TLS error. Cloneable and comparable (by its message) so that
/// `ExportError` stays both.
#[derive(Clone)]
pub struct ErrorSource(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl ErrorSource {
    // Only the native HTTP call has Rust errors to keep.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ErrorSource(std::sync::Arc::new(error))
    }
}

impl fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for ErrorSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for ErrorSource {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for ErrorSource {}
