//! The Pushgateway client: `push` (PUT), `push_add` (POST) and `delete` of one group, over reqwest
//! (rustls natively, `fetch` on wasm32), with a deadline on every request and retries with
//! jittered backoff for transient failures.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};

use super::settings::{BasicAuth, PushConfig, PushMethod, Secret};
use super::url::{group_url, redact_url};
use crate::config::ConfigError;

use crate::wire::{gzip, TEXT_CONTENT_TYPE};

/// Why a push (or a DELETE) failed. The message names the method, the group URL and the cause;
/// a gateway's refusal carries its response body verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Nothing accepted the connection (refused, unreachable, DNS).
    #[error("{method} {url} failed: cannot connect: {cause}")]
    Connect {
        /// `PUT`, `POST` or `DELETE`.
        method: &'static str,
        /// The group URL.
        url: String,
        /// The underlying error.
        cause: String,
    },
    /// The gateway did not answer within the request deadline.
    #[error("{method} {url} failed: no answer within {timeout:?}")]
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
        /// The underlying error.
        cause: String,
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
        /// The underlying error.
        cause: String,
    },
}

impl PushError {
    /// Whether trying the same request again may succeed: no connection, a timeout, 429 or 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            PushError::Status { status, .. } => *status == 429 || *status >= 500,
            PushError::Tls { .. } => false,
            _ => true,
        }
    }
}

/// The innermost message of an error chain: "Connection refused (os error 111)" rather than
/// "error sending request". Only its first line: on wasm32 a JS error's text carries its stack.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let text = inner.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("JsValue(").unwrap_or(first).to_owned()
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
    http: reqwest::Client,
    config: PushConfig,
    /// Where requests go: the group URL without any `user:password@`, which `fetch` refuses.
    target: String,
    /// Basic credentials from the URL's userinfo, sent as a header instead.
    url_auth: Option<BasicAuth>,
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
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let bad = |reason: &str| ConfigError {
                field: format!("push.headers.{name}"),
                value: format!("{value:?}"),
                reason: reason.to_owned(),
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("bad name"))?;
            let value = HeaderValue::from_str(value).map_err(|_| bad("bad value"))?;
            headers.insert(name, value);
        }
        // Configured headers go on the client once rather than on every request.
        let mut builder = reqwest::Client::builder().default_headers(headers);
        if let Some(path) = &config.ca_file {
            builder =
                crate::platform::trust_ca_file(builder, path).map_err(|reason| ConfigError {
                    field: "push.ca_file".into(),
                    value: format!("{path:?}"),
                    reason,
                })?;
        }
        let http = builder.build().map_err(|e| ConfigError {
            field: "push".into(),
            value: format!("{:?}", redact_url(&config.url)),
            reason: format!("the HTTP client could not be built: {}", root_cause(&e)),
        })?;
        let (target, url_auth) = split_userinfo(&group_url(&config));
        let url = redact_url(&group_url(&config)).into_owned();
        Ok(PushClient {
            http,
            config,
            target,
            url_auth,
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
        self.push_until(method, body, &|| false).await
    }

    /// [`push_with`](Self::push_with), making no further attempt once `give_up()` is true. A request
    /// already sent is never cut: its body may be on the wire, and the gateway would still apply
    /// it, perhaps after a newer one.
    pub(crate) async fn push_until(
        &self,
        method: PushMethod,
        body: &str,
        give_up: &(dyn Fn() -> bool + Sync),
    ) -> Result<(), PushError> {
        // Prepared once per push, not per attempt: retries share the same (gzipped) bytes.
        let payload = if self.config.gzip {
            Bytes::from(gzip(body))
        } else {
            Bytes::copy_from_slice(body.as_bytes())
        };
        self.with_retries(method.into(), Some(payload), give_up)
            .await
    }

    /// DELETE: removes the group (the gateway answers 202 even when there was none).
    pub async fn delete(&self) -> Result<(), PushError> {
        self.with_retries(reqwest::Method::DELETE, None, &|| false)
            .await
    }

    async fn with_retries(
        &self,
        method: reqwest::Method,
        payload: Option<Bytes>,
        give_up: &(dyn Fn() -> bool + Sync),
    ) -> Result<(), PushError> {
        let retry = &self.config.retry;
        let mut attempt = 0;
        loop {
            match self.send_once(method.clone(), payload.clone()).await {
                Err(e) if e.is_transient() && attempt + 1 < retry.tries && !give_up() => {
                    crate::platform::sleep(retry.jittered(attempt, crate::storage::random_unit()))
                        .await;
                    if give_up() {
                        return Err(e);
                    }
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// One request, no retry. `payload` is the body as it goes on the wire (gzipped when
    /// configured); cloning it only counts a reference.
    async fn send_once(
        &self,
        method: reqwest::Method,
        payload: Option<Bytes>,
    ) -> Result<(), PushError> {
        let name = method_name(&method);
        let mut request = self
            .http
            .request(method, &self.target)
            .timeout(self.config.timeout());
        if let Some(auth) = self.config.basic_auth.as_ref().or(self.url_auth.as_ref()) {
            request = request.basic_auth(&auth.username, Some(auth.password.expose()));
        }
        if let Some(token) = &self.config.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(payload) = payload {
            request = request.header(CONTENT_TYPE, TEXT_CONTENT_TYPE);
            if self.config.gzip {
                request = request.header(CONTENT_ENCODING, "gzip");
            }
            request = request.body(payload);
        }
        let url = || self.url.clone();
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                PushError::Timeout {
                    method: name,
                    url: url(),
                    timeout: self.config.timeout(),
                }
            } else if crate::platform::is_tls_error(&e) {
                PushError::Tls {
                    method: name,
                    url: url(),
                    cause: root_cause(&e),
                }
            } else if crate::platform::is_connect_error(&e) {
                PushError::Connect {
                    method: name,
                    url: url(),
                    cause: root_cause(&e),
                }
            } else {
                PushError::Other {
                    method: name,
                    url: url(),
                    cause: root_cause(&e),
                }
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = match response.text().await {
            Ok(text) => text.trim_end().to_owned(),
            Err(e) => format!("(the response body could not be read: {})", root_cause(&e)),
        };
        Err(PushError::Status {
            method: name,
            url: url(),
            status: status.as_u16(),
            body,
        })
    }
}

/// `url` without its userinfo, and the userinfo as Basic credentials (percent-decoded). Native
/// reqwest would do this itself; `fetch` on wasm refuses such a URL outright, so both targets do it
/// here.
fn split_userinfo(url: &str) -> (String, Option<BasicAuth>) {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return (url.to_owned(), None);
    };
    if parsed.username().is_empty() && parsed.password().is_none() {
        return (url.to_owned(), None);
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let auth = BasicAuth {
        username: decode(parsed.username()),
        password: Secret::new(decode(parsed.password().unwrap_or(""))),
    };
    // Cannot fail on an http(s) URL, the only kind validation lets through.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    (parsed.into(), Some(auth))
}

impl From<PushMethod> for reqwest::Method {
    fn from(method: PushMethod) -> Self {
        match method {
            PushMethod::Put => reqwest::Method::PUT,
            PushMethod::Post => reqwest::Method::POST,
        }
    }
}

fn method_name(method: &reqwest::Method) -> &'static str {
    match *method {
        reqwest::Method::PUT => "PUT",
        reqwest::Method::POST => "POST",
        reqwest::Method::DELETE => "DELETE",
        _ => "request",
    }
}
