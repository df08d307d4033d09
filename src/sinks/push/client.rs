//! The Pushgateway client: `push` (PUT), `push_add` (POST) and `delete` of one group, over the
//! platform's HTTP call (reqwest with rustls natively, `fetch` on wasm32), with a deadline on
//! every request and retries with jittered backoff for transient failures.

use std::fmt;

use super::settings::{PushConfig, PushMethod};
use super::url::group_url;
use crate::encoding::wire::TEXT_CONTENT_TYPE;
use crate::error::ConfigError;
use crate::platform::{Body, HttpClient, HttpRequest};
use crate::sinks::error::{ExportError, GATEWAY};
use crate::sinks::http::redact_url;
use crate::sinks::turn::Turn;

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

/// A rendered push body and its content type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rendered<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) content_type: &'static str,
}

impl PushClient {
    /// Validates `config` and builds the client.
    pub fn new(config: PushConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = HttpClient::new(config.ca_file.as_deref()).map_err(|reason| {
            crate::error::invalid(
                "push.ca_file",
                config.ca_file.as_deref().unwrap_or_default(),
                reason,
            )
        })?;
        let (target, headers) = crate::sinks::http::request_headers(
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

    /// Where requests go: the group URL without credentials (what a spooled body names).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// The headers every request carries: the configured ones and the authorization.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn credentials(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The HTTP client, for a replay of this group's spooled bodies.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// PUT: replaces the whole group with `body` (text format 0.0.4), retrying transient failures.
    pub async fn push(&self, body: &str) -> Result<(), ExportError> {
        self.push_with(PushMethod::Put, body).await
    }

    /// POST: replaces only the metric names present in `body`, retrying transient failures.
    pub async fn push_add(&self, body: &str) -> Result<(), ExportError> {
        self.push_with(PushMethod::Post, body).await
    }

    /// [`push`](Self::push) or [`push_add`](Self::push_add), as `method` says.
    pub async fn push_with(&self, method: PushMethod, body: &str) -> Result<(), ExportError> {
        self.push_until(method, body, &|| false, None, None).await
    }

    /// [`push_with`](Self::push_with), making no further attempt once `give_up()` is true, and
    /// with `until` trying until then rather than the policy's tries. A request already sent is
    /// never cut: its body may be on the wire, and the gateway would still apply it, perhaps after
    /// a newer one.
    pub(crate) async fn push_until(
        &self,
        method: PushMethod,
        body: &str,
        give_up: &(dyn Fn() -> bool + Sync),
        turn: Option<&Turn<'_>>,
        until: Option<web_time::Instant>,
    ) -> Result<(), ExportError> {
        let body = Rendered {
            bytes: body.as_bytes(),
            content_type: TEXT_CONTENT_TYPE,
        };
        self.push_rendered(method, body, give_up, turn, until).await
    }

    /// [`push_until`](Self::push_until) of a body in any format the gateway takes.
    pub(crate) async fn push_rendered(
        &self,
        method: PushMethod,
        body: Rendered<'_>,
        give_up: &(dyn Fn() -> bool + Sync),
        turn: Option<&Turn<'_>>,
        until: Option<web_time::Instant>,
    ) -> Result<(), ExportError> {
        // Prepared once per push, not per attempt: retries share the same (gzipped) bytes.
        let payload = match self
            .config
            .gzip
            .then(|| crate::platform::gzip(body.bytes))
            .flatten()
        {
            Some(compressed) => Body::from(compressed),
            None => Body::from(body.bytes),
        };
        let payload = Some((payload, body.content_type));
        self.with_retries(method.as_str(), payload, give_up, turn, until)
            .await
    }

    /// DELETE: removes the group (the gateway answers 202 even when there was none).
    pub async fn delete(&self) -> Result<(), ExportError> {
        self.delete_in(None).await
    }

    /// [`delete`](Self::delete) in `turn`, when the group's sends are taken in turn.
    pub(crate) async fn delete_in(&self, turn: Option<&Turn<'_>>) -> Result<(), ExportError> {
        self.with_retries("DELETE", None, &|| false, turn, None)
            .await
    }

    /// GET of `path` on the gateway (`/api/v1/metrics`, say), with the configured credentials and
    /// headers; the body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<String, ExportError> {
        let (base, _) = crate::sinks::http::split_userinfo(self.config.url.trim());
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
        ExportError::from_answer("GET", &shown, GATEWAY, self.config.timeout(), answer)
            .map(|()| body)
    }

    async fn with_retries(
        &self,
        method: &'static str,
        payload: Option<(Body, &'static str)>,
        give_up: &(dyn Fn() -> bool + Sync),
        turn: Option<&Turn<'_>>,
        until: Option<web_time::Instant>,
    ) -> Result<(), ExportError> {
        self.config
            .retry
            .run(
                give_up,
                turn,
                self.config.timeout(),
                until,
                ExportError::is_transient,
                || self.send_once(method, payload.clone()),
            )
            .await
    }

    /// One request, no retry. `payload` is the body as it goes on the wire (gzipped when
    /// configured) and its content type; cloning it only counts a reference.
    async fn send_once(
        &self,
        method: &'static str,
        payload: Option<(Body, &'static str)>,
    ) -> Result<(), ExportError> {
        let mut headers = self.headers.clone();
        if let Some((_, content_type)) = &payload {
            headers.push(("content-type".into(), (*content_type).into()));
            if self.config.gzip {
                headers.push(("content-encoding".into(), "gzip".into()));
            }
        }
        let request = HttpRequest {
            method,
            url: &self.target,
            headers: &headers,
            body: payload.map(|(body, _)| body),
            timeout: self.config.timeout(),
        };
        ExportError::from_answer(
            method,
            &self.url,
            GATEWAY,
            self.config.timeout(),
            self.http.send(request).await,
        )
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// What a replay of this group's spooled bodies sends with them: the configured headers and
    /// the authorization, built once.
    #[test]
    fn credentials_are_the_headers_and_the_authorization() {
        let mut config = PushConfig::new("http://u:p@127.0.0.1:9091", "j");
        config.headers.insert("X-Team".into(), "obs".into());
        let client = PushClient::new(config).unwrap();
        let credentials = client.credentials();
        assert!(
            credentials.contains(&("X-Team".into(), "obs".into())),
            "{credentials:?}"
        );
        assert!(
            credentials.contains(&("authorization".into(), "Basic dTpw".into())),
            "{credentials:?}"
        );
        assert_eq!(client.target(), "http://127.0.0.1:9091/metrics/job/j");
    }
}
