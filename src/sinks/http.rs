//! What every HTTP sink (the Pushgateway, remote write) shares: secrets and basic auth, the retry
//! policy and its loop, the timers' range, and the checks of URLs, headers and credentials.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError, MAX_TIMER_MS};
use crate::recorder::RecorderHandle;
use crate::sinks::error::ExportError;

/// A secret (password, token): deserialised like a string, never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password, never printed.
    pub password: Secret,
}

impl BasicAuth {
    /// A user name and its password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        BasicAuth {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

/// Retries of one push or write: transient failures (no connection, timeout, 429, 5xx) are tried again after
/// `base_backoff_ms * 2^n`, capped at `max_backoff_ms`, each wait shortened by up to `jitter` of
/// itself at random so that many workers do not retry in step. A 4xx other than 429 is not retried:
/// the same body would be refused again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per push, at least 1. Default: 3.
    pub tries: u32,
    /// First wait, in milliseconds. Default: 200.
    pub base_backoff_ms: u64,
    /// Longest wait, in milliseconds, at least `base_backoff_ms`. Default: 5000.
    pub max_backoff_ms: u64,
    /// Fraction of each wait taken off at random, in `[0, 1]`. Default: 0.5.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            tries: 3,
            base_backoff_ms: 200,
            max_backoff_ms: 5000,
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (0-based), before jitter.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64.checked_shl(attempt.min(32)).unwrap_or(u64::MAX);
        Duration::from_millis(
            self.base_backoff_ms
                .saturating_mul(factor)
                .min(self.max_backoff_ms),
        )
    }

    /// [`backoff`](Self::backoff) shortened by `jitter * unit` of itself; `unit` is a random
    /// number in `[0, 1)`.
    pub(crate) fn jittered(&self, attempt: u32, unit: f64) -> Duration {
        self.backoff(attempt)
            .mul_f64(1.0 - self.jitter * unit.clamp(0.0, 1.0))
    }
}

impl RetryPolicy {
    /// Checks the policy; errors name the field as `<prefix>.<field>`.
    pub(crate) fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if self.tries == 0 {
            return Err(invalid(
                format!("{prefix}.tries"),
                0u32,
                "must be at least 1",
            ));
        }
        validate_timer_ms(&format!("{prefix}.max_backoff_ms"), self.max_backoff_ms, 0)?;
        if self.max_backoff_ms < self.base_backoff_ms {
            return Err(invalid(
                format!("{prefix}.max_backoff_ms"),
                self.max_backoff_ms,
                format!(
                    "must be at least base_backoff_ms ({})",
                    self.base_backoff_ms
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(invalid(
                format!("{prefix}.jitter"),
                crate::naming::Num(self.jitter),
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }

    /// Runs `attempt` until it succeeds, fails for good (`transient` says no), the tries are
    /// used up (with `until`, the last final send's: the next attempt would start after it), or
    /// `give_up()` (checked before each wait and after it). Each attempt takes at most
    /// `timeout`; `turn`, the sink's turn when the sends are taken in turn, is told when each
    /// attempt and each wait is due to end, so that a send that can no longer finish is known.
    pub(crate) async fn run<T, E, F, Fut>(
        &self,
        give_up: &(dyn Fn() -> bool + Sync),
        turn: Option<&crate::sinks::turn::Turn<'_>>,
        timeout: Duration,
        until: Option<web_time::Instant>,
        transient: impl Fn(&E) -> bool,
        mut attempt: F,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let expect = |within| {
            if let Some(turn) = turn {
                turn.expect(within)
            }
        };
        let mut tries = 0;
        loop {
            expect(timeout);
            match attempt().await {
                Err(e) if transient(&e) && !give_up() => {
                    let wait = self.jittered(tries, crate::recorder::storage::random_unit());
                    // A final send tries until its deadline, however many tries that takes: a
                    // receiver that restarts within it still gets the last totals.
                    let (wait, more) = match until {
                        // At least 50 ms apart: a zero backoff must not spin until the deadline.
                        Some(end) => {
                            let wait = wait.max(Duration::from_millis(50));
                            (wait, web_time::Instant::now() + wait < end)
                        }
                        None => (wait, tries + 1 < self.tries),
                    };
                    if !more {
                        return Err(e);
                    }
                    expect(wait);
                    crate::platform::sleep(wait).await;
                    if give_up() {
                        return Err(e);
                    }
                    tries += 1;
                }
                result => return result,
            }
        }
    }
}

/// Checks that `url` is an `http(s)` URL a request can go to, as the HTTP client will parse it: a
/// host, a port in range, no fragment, and a query only where `query` allows one (a Pushgateway's
/// group path is appended to its URL). `field` names it in the error, which never shows a password.
pub(crate) fn validate_url(field: &str, url: &str, query: bool) -> Result<(), ConfigError> {
    let shown = redact_url(url);
    let bad = |reason: String| invalid(field, &shown, reason);
    let parsed = crate::platform::parse_url(url.trim()).map_err(|e| {
        bad(format!(
            "not a valid URL ({e}); expected e.g. http://127.0.0.1:9091"
        ))
    })?;
    if !matches!(parsed.scheme.as_str(), "http" | "https") {
        return Err(bad("must be an http:// or https:// URL".into()));
    }
    if parsed.host.is_empty() {
        return Err(bad("has no host".into()));
    }
    if (parsed.has_query && !query) || parsed.has_fragment {
        return Err(bad(
            "must not have a ?query or #fragment: the group's path is appended to it".into(),
        ));
    }
    Ok(())
}

/// Checks that a duration in milliseconds is within what every target's timers take.
pub(crate) fn validate_timer_ms(field: &str, ms: u64, least: u64) -> Result<(), ConfigError> {
    if ms < least || ms > MAX_TIMER_MS {
        return Err(invalid(
            field,
            ms,
            format!("must be between {least} and {MAX_TIMER_MS} (about 24.8 days)"),
        ));
    }
    Ok(())
}

/// Credentials come once: in the URL, as basic auth, or as a bearer token.
pub(crate) fn validate_auth(
    prefix: &str,
    url: &str,
    basic: bool,
    bearer: bool,
) -> Result<(), ConfigError> {
    let parsed = crate::platform::parse_url(url.trim()).ok();
    let in_url = parsed
        .as_ref()
        .is_some_and(|u| !u.username.is_empty() || u.password.is_some());
    let undecodable = parsed.is_some_and(|u| {
        percent_decoded(&u.username).is_none()
            || u.password.is_some_and(|p| percent_decoded(&p).is_none())
    });
    if undecodable {
        return Err(invalid(
            format!("{prefix}.url"),
            redact_url(url),
            "holds credentials that are not UTF-8 once percent-decoded",
        ));
    }
    if in_url && (basic || bearer) {
        return Err(invalid(
            format!("{prefix}.url"),
            redact_url(url),
            "holds credentials, and basic_auth or bearer_token is set too: give them once",
        ));
    }
    if basic && bearer {
        return Err(invalid(
            format!("{prefix}.bearer_token"),
            "***",
            "basic_auth and bearer_token cannot both be set",
        ));
    }
    Ok(())
}

/// Header names are HTTP tokens, values printable ASCII (`fetch` refuses anything else at every
/// request), and none of `reserved` (case-insensitive): the protocol's own headers are not the
/// user's to change. Values are never shown: they may be credentials.
pub(crate) fn validate_headers(
    field: &str,
    headers: &BTreeMap<String, String>,
    reserved: &[&str],
) -> Result<(), ConfigError> {
    for (name, value) in headers {
        let bad = |reason: &str| invalid(format!("{field}.{name}"), "…", reason);
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            return Err(invalid(
                format!("{field}.{name}"),
                name,
                "not a valid header name",
            ));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            return Err(bad(
                "must be printable ASCII (no line breaks, control characters or non-ASCII)",
            ));
        }
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(bad("is set by the protocol and cannot be changed"));
        }
    }
    Ok(())
}

/// The URL to send to and the headers every request carries: the configured `headers`, and the
/// authorization from basic auth, a bearer token, or the URL's own userinfo, which leaves the URL
/// (`fetch` refuses a URL that holds credentials).
pub(crate) fn request_headers(
    url: &str,
    headers: &BTreeMap<String, String>,
    basic: Option<&BasicAuth>,
    bearer: Option<&Secret>,
) -> (String, Vec<(String, String)>) {
    use crate::encoding::base64::{encode_into, STANDARD};
    let (target, url_auth) = split_userinfo(url);
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(auth) = basic.or(url_auth.as_ref()) {
        let pair = format!("{}:{}", auth.username, auth.password.expose());
        let mut value = String::from("Basic ");
        encode_into(&mut value, pair.as_bytes(), STANDARD);
        all.push(("authorization".into(), value));
    }
    if let Some(token) = bearer {
        all.push(("authorization".into(), format!("Bearer {}", token.expose())));
    }
    (target, all)
}

/// `url` without its userinfo, and the userinfo as Basic credentials (percent-decoded). Native
/// reqwest would do this itself; `fetch` on wasm refuses such a URL outright, so both targets do it
/// here.
pub(crate) fn split_userinfo(url: &str) -> (String, Option<BasicAuth>) {
    let Ok(parsed) = crate::platform::parse_url(url) else {
        return (url.to_owned(), None);
    };
    if parsed.username.is_empty() && parsed.password.is_none() {
        return (url.to_owned(), None);
    }
    // Validation refused credentials that do not decode.
    let decode = |s: &str| percent_decoded(s).unwrap_or_default();
    let auth = BasicAuth {
        username: decode(&parsed.username),
        password: Secret::new(decode(parsed.password.as_deref().unwrap_or(""))),
    };
    (parsed.without_userinfo, Some(auth))
}

/// A percent-encoded part of a URL's userinfo, decoded; `None` when the bytes are not UTF-8.
fn percent_decoded(part: &str) -> Option<String> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Counter: sends by `sink` (`pushgateway`, `remote_write`) and `result` (`success`, `failure`),
/// retries within one send counting once.
pub const PUSHES_COUNTER: &str = "observer_metrics_pushes_total";
/// Gauge: Unix time of the last send a sink's receiver accepted, by `sink`.
pub const LAST_PUSH_GAUGE: &str = "observer_metrics_last_push_success_timestamp_seconds";

static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);

/// What a sink's sends came to: counts and the last error, kept for the caller and published on the
/// recorder the sink sends, so a service that is also scraped can alert on failing sends
/// (`increase(observer_metrics_pushes_total{result="failure"}[15m]) > 0`).
pub(crate) struct Outcomes {
    successes: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
    /// Failures since the last success: only the first of a streak, and the recovery, are logged.
    #[cfg(not(target_arch = "wasm32"))]
    streak: std::sync::atomic::AtomicU64,
    #[cfg(not(target_arch = "wasm32"))]
    sink: &'static str,
    last_error: std::sync::Mutex<Option<ExportError>>,
    published: (metrics::Counter, metrics::Counter, metrics::Gauge),
}

impl Outcomes {
    /// Outcomes of the sink named `sink`, published on `recorder`.
    pub(crate) fn register(recorder: &RecorderHandle, sink: &'static str) -> Self {
        use metrics::{Key, Label, Recorder};
        let sink_label = Label::from_static_parts("sink", sink);
        let counter = |result: &'static str| {
            let labels = vec![
                Label::from_static_parts("result", result),
                sink_label.clone(),
            ];
            recorder.register_counter(&Key::from_parts(PUSHES_COUNTER, labels), &METADATA)
        };
        let gauge = recorder.register_gauge(
            &Key::from_parts(LAST_PUSH_GAUGE, vec![sink_label.clone()]),
            &METADATA,
        );
        Outcomes {
            successes: Default::default(),
            failures: Default::default(),
            #[cfg(not(target_arch = "wasm32"))]
            streak: Default::default(),
            #[cfg(not(target_arch = "wasm32"))]
            sink,
            last_error: Default::default(),
            published: (counter("success"), counter("failure"), gauge),
        }
    }

    /// Counts `result` in.
    pub(crate) fn record(&self, result: &Result<(), ExportError>) {
        use std::sync::atomic::Ordering::Relaxed;
        match result {
            Ok(()) => {
                self.successes.fetch_add(1, Relaxed);
                self.published.0.increment(1);
                self.published.2.set(crate::platform::unix_time_secs());
                #[cfg(not(target_arch = "wasm32"))]
                match self.streak.swap(0, Relaxed) {
                    0 => {}
                    failed => tracing::info!(sink = self.sink, failed, "sends recovered"),
                }
            }
            Err(e) => {
                self.failures.fetch_add(1, Relaxed);
                self.published.1.increment(1);
                #[cfg(not(target_arch = "wasm32"))]
                if self.streak.fetch_add(1, Relaxed) == 0 {
                    tracing::warn!(
                        sink = self.sink,
                        error = %e,
                        "send failed; the next sends carry the totals, and a recovery is logged"
                    );
                }
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.clone());
            }
        }
    }

    pub(crate) fn successes(&self) -> u64 {
        self.successes.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn last_error(&self) -> Option<ExportError> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// `url` with the password of its userinfo, if any, shown as `***`, for errors, logs and `Debug`:
/// `http://user:pass@host/` becomes `http://user:***@host/`. A userinfo without a password is often
/// a token itself, so `http://token@host/` becomes `http://***@host/`.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some((scheme, rest)) = crate::text::split_once(url, "://") else {
        return Cow::Borrowed(url);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_owned(),
            };
            Cow::Owned(format!("{scheme}://{shown}@{host}{path}"))
        }
        None => Cow::Borrowed(url),
    }
}

/// The settings every HTTP sink has, borrowed for [`apply_sink_env`].
pub(crate) struct SinkFields<'a> {
    pub(crate) url: &'a mut String,
    pub(crate) job: &'a mut String,
    pub(crate) headers: &'a mut BTreeMap<String, String>,
    pub(crate) timeout_ms: &'a mut u64,
    pub(crate) shutdown_timeout_ms: &'a mut u64,
    pub(crate) basic_auth: &'a mut Option<BasicAuth>,
    pub(crate) bearer_token: &'a mut Option<Secret>,
    pub(crate) ca_file: &'a mut Option<String>,
    pub(crate) retry: &'a mut RetryPolicy,
}

/// Applies one variable of the fields every sink has; `Ok(false)` when `field` is not one of them.
pub(crate) fn apply_sink_env(
    s: SinkFields<'_>,
    field: &str,
    value: &str,
) -> Result<bool, &'static str> {
    match field {
        "url" => *s.url = value.trim().to_owned(),
        "job" => *s.job = value.trim().to_owned(),
        "headers" => crate::env::pairs(value, s.headers)?,
        "timeout_ms" => *s.timeout_ms = crate::env::millis(value)?,
        "shutdown_timeout_ms" => *s.shutdown_timeout_ms = crate::env::millis(value)?,
        "bearer_token" => *s.bearer_token = Some(Secret::new(value.trim())),
        "ca_file" => *s.ca_file = Some(value.trim().to_owned()).filter(|f| !f.is_empty()),
        "basic_auth" => {
            let (username, password) = value.split_once(':').ok_or("expected user:password")?;
            *s.basic_auth = Some(BasicAuth {
                username: username.to_owned(),
                password: Secret::new(password),
            });
        }
        "retry_tries" => {
            s.retry.tries = value
                .trim()
                .parse()
                .map_err(|_| "expected a whole number")?
        }
        "retry_base_backoff_ms" => s.retry.base_backoff_ms = crate::env::millis(value)?,
        "retry_max_backoff_ms" => s.retry.max_backoff_ms = crate::env::millis(value)?,
        "retry_jitter" => s.retry.jitter = value.trim().parse().map_err(|_| "expected a number")?,
        _ => return Ok(false),
    }
    Ok(true)
}
