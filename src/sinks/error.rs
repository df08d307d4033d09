//! Why a send failed: [`ExportError`], one type for every HTTP sink (the Pushgateway and remote
//! write), built from the platform's answer.

use std::fmt;
use std::time::Duration;

use crate::platform::{ErrorSource, HttpFailure, HttpResponse};

/// Why a push (or a DELETE) failed. The message names the method, the group URL and the cause;
/// a gateway's refusal carries its response body verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Nothing accepted the connection (refused, unreachable, DNS).
    #[error("{method} {url} failed: cannot connect: {cause}")]
    Connect {
        /// `PUT`, `POST` or `DELETE`.
        method: &'static str,
        /// The group URL.
        url: String,
        /// The innermost message of the underlying error.
        cause: String,
        /// The underlying error, natively (`None` on wasm, whose runtime errors are JS values).
        #[source]
        source: Option<ErrorSource>,
    },
    /// The receiver did not answer within the request deadline.
    #[error("{method} {url} failed: no answer within {}", Shown(*timeout))]
    Timeout {
        /// `PUT`, `POST` or `DELETE`.
        method: &'static str,
        /// The group URL.
        url: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The TLS handshake failed (certificate, protocol).
    #[error("{method} {url} failed: TLS: {cause}")]
    Tls {
        /// `PUT`, `POST` or `DELETE`.
        method: &'static str,
        /// The group URL.
        url: String,
        /// The innermost message of the underlying error.
        cause: String,
        /// The underlying error, natively (`None` on wasm, whose runtime errors are JS values).
        #[source]
        source: Option<ErrorSource>,
    },
    /// The receiver answered with an error status.
    #[error("{method} {url} failed: {receiver} answered {status}: {body}")]
    Status {
        /// `PUT`, `POST` or `DELETE`.
        method: &'static str,
        /// The group URL.
        url: String,
        /// What answered, as the message names it: `the gateway` or `the remote-write receiver`.
        receiver: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The response body, e.g. `pushed metrics are invalid or inconsistent with existing
        /// metrics: …`.
        body: String,
    },
    /// The receiver refused the request for a reason trying again cannot change, and the message
    /// says what to change: Prometheus started without `--enable-feature=native-histograms`
    /// answers a native histogram with 500 "native histograms are disabled" (a status that says
    /// to retry); a write refused with 400 "out of order sample" or "duplicate sample for
    /// timestamp" is another producer writing the same series, under the same `instance`.
    /// Natively only (the wasm build has no native histograms, and its writes keep the plain
    /// 400).
    #[cfg(not(target_arch = "wasm32"))]
    #[error("{method} {url} failed: the receiver answered {status}: {body}; {remedy}")]
    Refused {
        /// `POST`.
        method: &'static str,
        /// The receiver's URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The response body.
        body: String,
        /// What to change, on the receiver or in this config.
        remedy: &'static str,
    },
    /// Any other failure of the request.
    #[error("{method} {url} failed: {cause}")]
    Other {
        /// `PUT`, `POST` or `DELETE`.
        method: &'static str,
        /// The group URL.
        url: String,
        /// The innermost message of the underlying error.
        cause: String,
        /// The underlying error, natively (`None` on wasm, whose runtime errors are JS values).
        #[source]
        source: Option<ErrorSource>,
    },
}

/// A deadline as a message shows it: `5s`, `300ms` (whole milliseconds; deadlines are set in
/// them). Not `Duration`'s `Debug`, whose decimal formatting weighs on the wasm module.
struct Shown(Duration);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // u64, not the u128 `as_millis` gives: its formatting is one more routine in the wasm
        // module, and deadlines are capped far below.
        let ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms > 0 && ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// `receiver` of [`ExportError::Status`] for the Pushgateway.
pub(crate) const GATEWAY: &str = "the gateway";
/// `receiver` of [`ExportError::Status`] for a remote-write receiver.
pub(crate) const REMOTE_WRITE_RECEIVER: &str = "the remote-write receiver";

impl ExportError {
    /// The outcome of one request to `url` (as errors show it): `Ok` for a 2xx answer, otherwise
    /// the error that says why.
    pub(crate) fn from_answer(
        method: &'static str,
        url: &str,
        receiver: &'static str,
        timeout: Duration,
        answer: Result<HttpResponse, HttpFailure>,
    ) -> Result<(), ExportError> {
        let url = url.to_owned();
        let response = answer.map_err(|failure| match failure {
            HttpFailure::Timeout => ExportError::Timeout {
                method,
                url: url.clone(),
                timeout,
            },
            HttpFailure::Tls(cause) => ExportError::Tls {
                method,
                url: url.clone(),
                cause: cause.message,
                source: cause.source,
            },
            HttpFailure::Connect(cause) => ExportError::Connect {
                method,
                url: url.clone(),
                cause: cause.message,
                source: cause.source,
            },
            HttpFailure::Other(cause) => ExportError::Other {
                method,
                url: url.clone(),
                cause: cause.message,
                source: cause.source,
            },
        })?;
        if (200..300).contains(&response.status) {
            return Ok(());
        }
        Err(ExportError::Status {
            method,
            url,
            receiver,
            status: response.status,
            body: response.body,
        })
    }

    /// Whether trying the same request again may succeed: no connection, a timeout, 429 or 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ExportError::Status { status, .. } => *status == 429 || *status >= 500,
            ExportError::Tls { .. } => false,
            #[cfg(not(target_arch = "wasm32"))]
            ExportError::Refused { .. } => false,
            _ => true,
        }
    }
}
