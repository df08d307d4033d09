//! Push settings: where and how the exporter pushes. Part of [`MetricsConfig`](crate::MetricsConfig)
//! as its `push` table.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{invalid, ConfigError};
use crate::naming;

/// How a push replaces what the gateway holds for the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushMethod {
    /// `PUT`: replaces the whole group. The default: a batch run's push replaces the last run's.
    #[default]
    Put,
    /// `POST`: replaces only the metric names present in the push.
    Post,
}

impl PushMethod {
    /// The HTTP method's name, as errors show it.
    pub fn as_str(self) -> &'static str {
        match self {
            PushMethod::Put => "PUT",
            PushMethod::Post => "POST",
        }
    }
}

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

/// HTTP basic authentication for the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password, never printed.
    pub password: Secret,
}

/// Retries of one push: transient failures (no connection, timeout, 429, 5xx) are tried again after
/// `base_backoff_ms * 2^n`, capped at `max_backoff_ms`, each wait shortened by up to `jitter` of
/// itself at random so that many workers do not retry in step. A 4xx other than 429 is not retried:
/// the same body would be refused again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64.checked_shl(attempt.min(32)).unwrap_or(u64::MAX);
        Duration::from_millis(
            self.base_backoff_ms
                .saturating_mul(factor)
                .min(self.max_backoff_ms),
        )
    }

    /// [`backoff`](Self::backoff) shortened by `jitter * unit` of itself; `unit` is a random
    /// number in `[0, 1)`.
    pub fn jittered(&self, attempt: u32, unit: f64) -> Duration {
        self.backoff(attempt)
            .mul_f64(1.0 - self.jitter * unit.clamp(0.0, 1.0))
    }
}

/// The longest wait any timer here may be given, in milliseconds: JS hosts' `setTimeout` and
/// `setInterval` take at most `2^31 - 1` ms (about 24.8 days) and fire at once past it, so every
/// duration in the config is held to it on every target.
pub const MAX_TIMER_MS: u64 = i32::MAX as u64;

/// Where and how to push: the `[push]` table of the config.
///
/// The grouping key defaults to the job alone, so each run of a batch job replaces the previous
/// run's group: that is what the Pushgateway is for, and its groups never expire. Parallel workers
/// of one job need a grouping label each (such as `instance`), or they overwrite each other; with
/// per-process values, set `delete_on_shutdown` so that finished workers do not leave groups behind
/// forever (at the price of the group vanishing once the worker is done).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// The gateway's base URL, `http://` or `https://`, e.g. `http://127.0.0.1:9091`. Required.
    pub url: String,
    /// The `job` label of the group. Required, non-empty.
    pub job: String,
    /// Further grouping labels, e.g. `instance`. Names must be valid label names other than `job`.
    pub grouping: BTreeMap<String, String>,
    /// `put` (default) or `post`. With `put`, a run pushes with POST until it completes and only
    /// its final push replaces the group with PUT, so a run that dies never erases what the last
    /// good run left; with `post`, every push is a POST.
    pub method: PushMethod,
    /// Deadline of one HTTP request, in milliseconds. A gateway can block a push when its write
    /// queue is full, so there is always one. Default: 5000.
    pub timeout_ms: u64,
    /// Deadline of the final push (and DELETE) at shutdown, retries included, in milliseconds.
    /// Default: 15000.
    pub shutdown_timeout_ms: u64,
    /// Basic authentication. Not together with `bearer_token`.
    pub basic_auth: Option<BasicAuth>,
    /// A bearer token. Not together with `basic_auth`.
    pub bearer_token: Option<Secret>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Compress bodies with gzip (Pushgateway 1.5.0 and later). Default: false.
    pub gzip: bool,
    /// DELETE the group after the final push at shutdown. Default: false.
    pub delete_on_shutdown: bool,
    /// Retries of each push.
    pub retry: RetryPolicy,
    /// A PEM file of CA certificates trusted besides the platform's store and the bundled roots,
    /// for a gateway behind a private CA (natively; on wasm the runtime's trust store applies and
    /// this is refused). Read when the client is built. Default: none.
    pub ca_file: Option<String>,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            url: String::new(),
            job: String::new(),
            grouping: BTreeMap::new(),
            method: PushMethod::Put,
            timeout_ms: 5000,
            shutdown_timeout_ms: 15_000,
            basic_auth: None,
            bearer_token: None,
            headers: BTreeMap::new(),
            gzip: false,
            delete_on_shutdown: false,
            retry: RetryPolicy::default(),
            ca_file: None,
        }
    }
}

impl fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushConfig")
            .field("url", &super::url::redact_url(&self.url))
            .field("job", &self.job)
            .field("grouping", &self.grouping)
            .field("method", &self.method)
            .field("timeout_ms", &self.timeout_ms)
            .field("shutdown_timeout_ms", &self.shutdown_timeout_ms)
            .field("basic_auth", &self.basic_auth)
            .field("bearer_token", &self.bearer_token)
            .field("headers", &self.headers)
            .field("gzip", &self.gzip)
            .field("delete_on_shutdown", &self.delete_on_shutdown)
            .field("retry", &self.retry)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Checks that `url` is an `http(s)` base URL a request can go to, as the HTTP client will parse
/// it: a host, a port in range, no query or fragment (the group path is appended to it). `field`
/// names it in the error, which never shows a password.
pub(crate) fn validate_base_url(field: &str, url: &str) -> Result<(), ConfigError> {
    let shown = super::url::redact_url(url);
    let bad = |reason: String| invalid(field, &shown, reason);
    let parsed = url::Url::parse(url.trim()).map_err(|e| {
        bad(format!(
            "not a valid URL ({e}); expected e.g. http://127.0.0.1:9091"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must be an http:// or https:// URL".into()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host".into()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
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

impl PushConfig {
    /// A config for `url` and `job` with every other setting at its default.
    pub fn new(url: impl Into<String>, job: impl Into<String>) -> Self {
        PushConfig {
            url: url.into(),
            job: job.into(),
            ..PushConfig::default()
        }
    }

    /// The request deadline.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The shutdown deadline.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    /// The label names a pushed series may not carry itself, because the gateway would overwrite
    /// them with the group's: `job` and the grouping labels.
    pub fn group_label_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once("job").chain(self.grouping.keys().map(String::as_str))
    }

    /// Checks every push setting; errors name the field as `push.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_base_url("push.url", &self.url)?;
        if self.job.is_empty() {
            return Err(invalid("push.job", &self.job, "must not be empty"));
        }
        for name in self.grouping.keys() {
            if name == "job" || !naming::is_valid_label_name(name) {
                return Err(invalid(
                    format!("push.grouping.{name}"),
                    name,
                    "must be a valid label name other than job",
                ));
            }
        }
        validate_timer_ms("push.timeout_ms", self.timeout_ms, 1)?;
        validate_timer_ms("push.shutdown_timeout_ms", self.shutdown_timeout_ms, 1)?;
        let url_credentials = url::Url::parse(self.url.trim())
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some());
        if url_credentials && (self.basic_auth.is_some() || self.bearer_token.is_some()) {
            return Err(invalid(
                "push.url",
                super::url::redact_url(&self.url),
                "holds credentials, and basic_auth or bearer_token is set too: give them once",
            ));
        }
        if self.basic_auth.is_some() && self.bearer_token.is_some() {
            return Err(invalid(
                "push.bearer_token",
                "***",
                "basic_auth and bearer_token cannot both be set",
            ));
        }
        for (name, value) in &self.headers {
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid_name {
                return Err(invalid(
                    format!("push.headers.{name}"),
                    name,
                    "not a valid header name",
                ));
            }
            // Printable ASCII, space and tab: `fetch` refuses anything else at every request, and
            // HTTP/1.1 gives other bytes no portable meaning.
            if !value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                return Err(invalid(
                    format!("push.headers.{name}"),
                    "…",
                    "must be printable ASCII (no line breaks, control characters or non-ASCII)",
                ));
            }
        }
        let r = &self.retry;
        if r.tries == 0 {
            return Err(invalid("push.retry.tries", 0, "must be at least 1"));
        }
        validate_timer_ms("push.retry.max_backoff_ms", r.max_backoff_ms, 0)?;
        if r.max_backoff_ms < r.base_backoff_ms {
            return Err(invalid(
                "push.retry.max_backoff_ms",
                r.max_backoff_ms,
                format!("must be at least base_backoff_ms ({})", r.base_backoff_ms),
            ));
        }
        if !(0.0..=1.0).contains(&r.jitter) {
            return Err(invalid(
                "push.retry.jitter",
                r.jitter,
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut c = PushConfig::new("http://127.0.0.1:9091", "j");
        c.basic_auth = Some(BasicAuth {
            username: "u".into(),
            password: Secret::new("hunter2"),
        });
        c.bearer_token = Some(Secret::new("tok3n"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
        let err = c.validate().unwrap_err().to_string();
        assert!(
            !err.contains("tok3n") && err.contains("push.bearer_token"),
            "{err}"
        );
    }

    #[test]
    fn validation_names_fields() {
        let ok = PushConfig::new("http://127.0.0.1:9091", "j");
        ok.validate().unwrap();
        type Edit = Box<dyn Fn(&mut PushConfig)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|c| c.url = "ftp://x".into()), "push.url"),
            (Box::new(|c| c.url = "127.0.0.1:9091".into()), "push.url"),
            (Box::new(|c| c.job = String::new()), "push.job"),
            (
                Box::new(|c| {
                    c.grouping.insert("job".into(), "x".into());
                }),
                "push.grouping.job",
            ),
            (
                Box::new(|c| {
                    c.grouping.insert("a-b".into(), "x".into());
                }),
                "push.grouping.a-b",
            ),
            (Box::new(|c| c.timeout_ms = 0), "push.timeout_ms"),
            (Box::new(|c| c.timeout_ms = 1 << 31), "push.timeout_ms"),
            (Box::new(|c| c.url = "http://gw:99999".into()), "push.url"),
            (Box::new(|c| c.url = "http://g w:9091".into()), "push.url"),
            (
                Box::new(|c| c.url = "http://gw:9091/?x=1".into()),
                "push.url",
            ),
            (Box::new(|c| c.url = "http://gw:9091/#x".into()), "push.url"),
            (Box::new(|c| c.url = "http://:9091".into()), "push.url"),
            (Box::new(|c| c.retry.tries = 0), "push.retry.tries"),
            (
                Box::new(|c| c.retry.max_backoff_ms = 1),
                "push.retry.max_backoff_ms",
            ),
            (Box::new(|c| c.retry.jitter = 2.0), "push.retry.jitter"),
            (
                Box::new(|c| {
                    c.headers.insert("X Bad".into(), "v".into());
                }),
                "push.headers.X Bad",
            ),
            (
                Box::new(|c| {
                    c.headers.insert("X-Ok".into(), "a\nb".into());
                }),
                "push.headers.X-Ok",
            ),
            (
                Box::new(|c| {
                    c.headers.insert("X-Ok".into(), "ünï".into());
                }),
                "push.headers.X-Ok",
            ),
        ];
        for (edit, field) in cases {
            let mut c = ok.clone();
            edit(&mut c);
            assert_eq!(c.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn urls_parse_as_the_client_will() {
        for url in [
            "HTTP://127.0.0.1:9091",
            "https://gw.example:443/base/",
            "http://u:p@gw",
        ] {
            PushConfig::new(url, "j").validate().unwrap();
        }
        let err = PushConfig::new("http://u:hunter2@gw:99999", "j")
            .validate()
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let shown = format!("{:?}", PushConfig::new("http://u:hunter2@gw", "j"));
        assert!(
            !shown.contains("hunter2") && shown.contains("u:***@gw"),
            "{shown}"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let r = RetryPolicy {
            tries: 5,
            base_backoff_ms: 100,
            max_backoff_ms: 350,
            jitter: 0.5,
        };
        assert_eq!(r.backoff(0), Duration::from_millis(100));
        assert_eq!(r.backoff(1), Duration::from_millis(200));
        assert_eq!(r.backoff(2), Duration::from_millis(350));
        assert_eq!(r.backoff(60), Duration::from_millis(350));
        assert_eq!(r.jittered(1, 0.0), Duration::from_millis(200));
        assert_eq!(r.jittered(1, 1.0), Duration::from_millis(100));
    }
}
