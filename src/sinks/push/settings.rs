//! Push settings: where and how the exporter pushes. Part of [`MetricsConfig`](crate::MetricsConfig)
//! as its `push` table.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError};
use crate::naming;
use crate::sinks::http::{apply_sink_env, SinkFields};
use crate::sinks::http::{
    validate_auth, validate_headers, validate_timer_ms, validate_url, BasicAuth, RetryPolicy,
    Secret,
};

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

/// What a push's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushFormat {
    /// Protobuf when the recorder keeps native histograms (`native_histogram_metrics`), which only
    /// protobuf carries; text otherwise. The default.
    #[default]
    Auto,
    /// The text format 0.0.4.
    Text,
    /// Delimited protobuf `MetricFamily` messages (natively; the wasm package pushes text).
    Protobuf,
}

/// Where and how to push: the `[push]` table of the config.
///
/// The grouping key defaults to the job alone, so each run of a batch job replaces the previous
/// run's group: that is what the Pushgateway is for, and its groups never expire. Parallel workers
/// of one job need a grouping label each (such as `instance`), or they overwrite each other; with
/// per-process values, `delete_on_shutdown` keeps finished workers from leaving groups behind
/// forever, at the price of their totals: Prometheus keeps only what it scraped before the DELETE
/// (with a 5 s scrape, nothing of a one-second worker). Per-process workers whose totals matter
/// belong on remote write.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
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
    /// Compress bodies with gzip (Pushgateway 1.5.0 and later); native only, refused on wasm.
    /// Default: false.
    pub gzip: bool,
    /// `auto` (the default: protobuf when the recorder keeps native histograms, text otherwise),
    /// `text` or `protobuf`. A gateway serves a native histogram pushed in protobuf back in its
    /// protobuf exposition only (its text shows `+Inf`, `_sum` and `_count`), so Prometheus must
    /// scrape it with `--enable-feature=native-histograms` to see it.
    pub format: PushFormat,
    /// DELETE the group after the final push at shutdown. Default: false. The worker's totals then
    /// exist only in what Prometheus scraped before the DELETE; the final push is not spooled.
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
            format: PushFormat::Auto,
            delete_on_shutdown: false,
            retry: RetryPolicy::default(),
            ca_file: None,
        }
    }
}

impl fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushConfig")
            .field("url", &crate::sinks::http::redact_url(&self.url))
            .field("job", &self.job)
            .field("grouping", &self.grouping)
            .field("method", &self.method)
            .field("timeout_ms", &self.timeout_ms)
            .field("shutdown_timeout_ms", &self.shutdown_timeout_ms)
            .field("basic_auth", &self.basic_auth)
            .field("bearer_token", &self.bearer_token)
            // Names only: a value is often a credential (`Authorization`, `X-Api-Key`).
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("gzip", &self.gzip)
            .field("format", &self.format)
            .field("delete_on_shutdown", &self.delete_on_shutdown)
            .field("retry", &self.retry)
            .field("ca_file", &self.ca_file)
            .finish()
    }
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

    /// Checks every push setting; errors name the field as `push.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_url("push.url", &self.url, false)?;
        if self.gzip && crate::platform::gzip(b"").is_none() {
            return Err(invalid(
                "push.gzip",
                true,
                "is not available in the wasm build, which leaves compression out",
            ));
        }
        if self.job.is_empty() {
            return Err(invalid("push.job", &self.job, "must not be empty"));
        }
        if cfg!(target_arch = "wasm32") && self.format == PushFormat::Protobuf {
            return Err(invalid(
                "push.format",
                "protobuf",
                "is not available in the wasm build: it pushes text",
            ));
        }
        for (name, value) in &self.grouping {
            if name == "job" {
                return Err(invalid(
                    format!("push.grouping.{name}"),
                    value,
                    "the group's job is push.job (--job), not a grouping label",
                ));
            }
            if !naming::is_valid_label_name(name) {
                return Err(invalid(
                    format!("push.grouping.{name}"),
                    value,
                    format!(
                        "`{name}` is not a label name (letters, digits and _, not first a digit, \
                         not starting with __)"
                    ),
                ));
            }
        }
        validate_timer_ms("push.timeout_ms", self.timeout_ms, 1)?;
        validate_timer_ms("push.shutdown_timeout_ms", self.shutdown_timeout_ms, 1)?;
        validate_auth(
            "push",
            &self.url,
            self.basic_auth.is_some(),
            self.bearer_token.is_some(),
        )?;
        validate_headers("push.headers", &self.headers, &[])?;
        self.retry.validate("push.retry")?;
        Ok(())
    }
}

impl PushConfig {
    /// Applies one `OBSERVER_METRICS_PUSH_<FIELD>` variable, `field` in lower case without the
    /// prefix; the error is the reason.
    pub(crate) fn apply_env(&mut self, field: &str, value: &str) -> Result<(), &'static str> {
        let push = self;
        let common = SinkFields {
            url: &mut push.url,
            job: &mut push.job,
            headers: &mut push.headers,
            timeout_ms: &mut push.timeout_ms,
            shutdown_timeout_ms: &mut push.shutdown_timeout_ms,
            basic_auth: &mut push.basic_auth,
            bearer_token: &mut push.bearer_token,
            ca_file: &mut push.ca_file,
            retry: &mut push.retry,
        };
        if apply_sink_env(common, field, value)? {
            return Ok(());
        }
        match field {
            "grouping" => crate::env::pairs(value, &mut push.grouping)?,
            "method" => {
                push.method = match value.trim() {
                    "put" | "PUT" => PushMethod::Put,
                    "post" | "POST" => PushMethod::Post,
                    _ => return Err("expected put or post"),
                }
            }
            "gzip" => push.gzip = crate::env::flag(value)?,
            "format" => {
                push.format = match value.trim() {
                    "auto" => PushFormat::Auto,
                    "text" => PushFormat::Text,
                    "protobuf" => PushFormat::Protobuf,
                    _ => return Err("expected auto, text or protobuf"),
                }
            }
            "delete_on_shutdown" => push.delete_on_shutdown = crate::env::flag(value)?,
            _ => return Err("unknown variable"),
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
        // Percent-encoded credentials are sent decoded, so they must decode to text.
        PushConfig::new("http://u%C3%A9:p%20w@gw", "j")
            .validate()
            .unwrap();
        let err = PushConfig::new("http://u:hunter2%FF@gw", "j")
            .validate()
            .unwrap_err();
        assert_eq!(err.field, "push.url");
        assert!(err.reason.contains("not UTF-8"), "{err}");
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
