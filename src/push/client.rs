//! The Pushgateway client: `push` (PUT), `push_add` (POST) and `delete` of one group, over the
//! platform's HTTP call (reqwest with rustls natively, `fetch` on wasm32), with a deadline on
//! every request and retries with jittered backoff for transient failures.

use std::fmt;
use std::time::Duration;

use super::settings::{PushConfig, PushMethod};
use super::url::{group_url, redact_url};
use crate::config::ConfigError;
use crate::platform::{Body, HttpClient, HttpFailure, HttpRequest, HttpResponse};
use crate::turn::Turn;
use crate::wire::TEXT_CONTENT_TYPE;

/// Why a push (or a DELETE) failed. The message names the method, the group URL and the cause;
/// a gateway's refusal carries its response body verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
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
    /// The gateway did not answer within the request deadline.
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
    /// The gateway answered with an error status.
    #[error("{method} {url} failed: the gateway answered {status}: {body}")]
    Status {
        /// `PUT`, `POST` or `DELETE`.
        method: &'static str,
        /// The group URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The response body, e.g. `pushed metrics are invalid or inconsistent with existing
        /// metrics: …`.
        body: String,
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

/// The error below a [`PushError`], reachable through `source()`: the HTTP client's own error,
/// whose chain goes down to the I/O or TLS error. Cloneable and comparable (by its message) so that
/// `PushError` stays both.
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

impl PushError {
    /// The outcome of one request to `url` (as errors show it): `Ok` for a 2xx answer, otherwise
    /// the error that says why.
    pub(crate) fn from_answer(
        method: &'static str,
        url: &str,
        timeout: Duration,
        answer: Result<HttpResponse, HttpFailure>,
    ) -> Result<(), PushError> {
        let url = url.to_owned();
        let response = answer.map_err(|failure| match failure {
            HttpFailure::Timeout => PushError::Timeout {
                method,
                url: url.clone(),
                timeout,
            },
            HttpFailure::Tls(cause) => PushError::Tls {
                method,
                url: url.clone(),
                cause: cause.message,
                source: cause.source,
            },
            HttpFailure::Connect(cause) => PushError::Connect {
                method,
                url: url.clone(),
                cause: cause.message,
                source: cause.source,
            },
            HttpFailure::Other(cause) => PushError::Other {
                method,
                url: url.clone(),
                cause: cause.message,
                source: cause.source,
            },
        })?;
        if (200..300).contains(&response.status) {
            return Ok(());
        }
        Err(PushError::Status {
            method,
            url,
            status: response.status,
            body: response.body,
        })
    }

    /// Whether trying the same request again may succeed: no connection, a timeout, 429 or 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            PushError::Status { status, .. } => *status == 429 || *status >= 500,
            PushError::Tls { .. } => false,
            _ => true,
        }
    }
}

/// A client for one group of one Pushgateway.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use observer_metrics::push::{PushClient, PushConfig};
/// let client = PushClient::new(PushConfig::new("http://127.0.0.1:9091", "nightly-import"))?;
/// client.push("# TYPE rows_total counter\nrows_total 42\n").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PushClient {
    http: HttpClient,
    config: PushConfig,
    /// Sent with every request: the configured headers and the authorization, built once.
    headers: Vec<(String, String)>,
    /// Where requests go: the group URL without any `user:password@`, which `fetch` refuses.
    target: String,
    /// `target` with any password as `***`: what errors, `Debug` and [`url`](Self::url) show.
    url: String,
}

impl fmt::Debug for PushClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushClient")
            .field("url", &self.url)
            .field("config", &self.config)
            .finish()
    }
}

impl PushClient {
    /// Validates `config` and builds the client.
    pub fn new(config: PushConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = HttpClient::new(config.ca_file.as_deref()).map_err(|reason| {
            crate::config::invalid(
                "push.ca_file",
                config.ca_file.as_deref().unwrap_or_default(),
                reason,
            )
        })?;
        let (target, headers) = crate::sink::request_headers(
            &group_url(&config),
            &config.headers,
            config.basic_auth.as_ref(),
            config.bearer_token.as_ref(),
        );
        let url = redact_url(&group_url(&config)).into_owned();
        Ok(PushClient {
            http,
            config,
            headers,
            target,
            url,
        })
    }

    /// The group URL every request goes to, with any password in it shown as `***`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The settings.
    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    /// PUT: replaces the whole group with `body` (text format 0.0.4), retrying transient failures.
    pub async fn push(&self, body: &str) -> Result<(), PushError> {
        self.push_with(PushMethod::Put, body).await
    }

    /// POST: replaces only the metric names present in `body`, retrying transient failures.
    pub async fn push_add(&self, body: &str) -> Result<(), PushError> {
        self.push_with(PushMethod::Post, body).await
    }

    /// [`push`](Self::push) or [`push_add`](Self::push_add), as `method` says.
    pub async fn push_with(&self, method: PushMethod, body: &str) -> Result<(), PushError> {
        self.push_until(method, body, &|| false, None).await
    }

    /// [`push_with`](Self::push_with), making no further attempt once `give_up()` is true. A request
    /// already sent is never cut: its body may be on the wire, and the gateway would still apply
    /// it, perhaps after a newer one.
    pub(crate) async fn push_until(
        &self,
        method: PushMethod,
        body: &str,
        give_up: &(dyn Fn() -> bool + Sync),
        turn: Option<&Turn<'_>>,
    ) -> Result<(), PushError> {
        // Prepared once per push, not per attempt: retries share the same (gzipped) bytes.
        let payload = match self
            .config
            .gzip
            .then(|| crate::platform::gzip(body))
            .flatten()
        {
            Some(compressed) => Body::from(compressed),
            None => Body::from(body.as_bytes()),
        };
        self.with_retries(method.as_str(), Some(payload), give_up, turn)
            .await
    }

    /// DELETE: removes the group (the gateway answers 202 even when there was none).
    pub async fn delete(&self) -> Result<(), PushError> {
        self.delete_in(None).await
    }

    /// [`delete`](Self::delete) in `turn`, when the group's sends are taken in turn.
    pub(crate) async fn delete_in(&self, turn: Option<&Turn<'_>>) -> Result<(), PushError> {
        self.with_retries("DELETE", None, &|| false, turn).await
    }

    /// GET of `path` on the gateway (`/api/v1/metrics`, say), with the configured credentials and
    /// headers; the body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<String, PushError> {
        let (base, _) = crate::sink::split_userinfo(self.config.url.trim());
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let request = HttpRequest {
            method: "GET",
            url: &url,
            headers: &self.headers,
            body: None,
            timeout: self.config.timeout(),
        };
        let shown = redact_url(&url).into_owned();
        let answer = self.http.send(request).await;
        let body = answer.as_ref().map(|r| r.body.clone()).unwrap_or_default();
        PushError::from_answer("GET", &shown, self.config.timeout(), answer).map(|()| body)
    }

    async fn with_retries(
        &self,
        method: &'static str,
        payload: Option<Body>,
        give_up: &(dyn Fn() -> bool + Sync),
        turn: Option<&Turn<'_>>,
    ) -> Result<(), PushError> {
        self.config
            .retry
            .run(
                give_up,
                turn,
                self.config.timeout(),
                PushError::is_transient,
                || self.send_once(method, payload.clone()),
            )
            .await
    }

    /// One request, no retry. `payload` is the body as it goes on the wire (gzipped when
    /// configured); cloning it only counts a reference.
    async fn send_once(
        &self,
        method: &'static str,
        payload: Option<Body>,
    ) -> Result<(), PushError> {
        let mut headers = self.headers.clone();
        if payload.is_some() {
            headers.push(("content-type".into(), TEXT_CONTENT_TYPE.into()));
            if self.config.gzip {
                headers.push(("content-encoding".into(), "gzip".into()));
            }
        }
        let request = HttpRequest {
            method,
            url: &self.target,
            headers: &headers,
            body: payload,
            timeout: self.config.timeout(),
        };
        PushError::from_answer(
            method,
            &self.url,
            self.config.timeout(),
            self.http.send(request).await,
        )
    }
}
