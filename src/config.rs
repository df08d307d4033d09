//! `MetricsConfig`: what the recorder records and how, loaded from defaults, a TOML file and
//! `OBSERVER_METRICS_*` environment variables, and validated before anything starts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::naming;
#[cfg(feature = "push")]
use crate::push::{BasicAuth, PushConfig, PushMethod, RetryPolicy, Secret};
#[cfg(feature = "remote-write")]
use crate::remote_write::RemoteWriteConfig;

/// The longest delay a timer takes, in milliseconds: JS timers (`setTimeout`) hold a signed 32-bit
/// count, so every interval and deadline is at most `i32::MAX` ms (about 24.8 days) on every
/// target, and a config that works natively works on wasm too.
pub const MAX_TIMER_MS: u64 = i32::MAX as u64;

/// Settings of the recorder. `Default` is the plan's: enabled, buckets
/// `[1, 5, 10, 50, 100, 500, 1000, 5000, 10000]`, `sample_rate` 1.0, `export_interval_secs` 60.
///
/// ```
/// let config = observer_metrics::MetricsConfig::from_toml_str(r#"
///     histogram_buckets = [0.5, 1, 2]
///     prefix = "observer"
///     [global_labels]
///     service = "billing"
///     [bucket_overrides]
///     checkpoint_save_duration_ms = [10, 100, 1000]
/// "#).unwrap();
/// assert_eq!(config.sample_rate, 1.0);
/// assert_eq!(config.global_labels["service"], "billing");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Record at all. When false every handle is a no-op and renders are empty. Default: true.
    pub enabled: bool,
    /// Upper bounds of the histogram buckets: non-empty, finite, strictly increasing. `+Inf` is
    /// always added. Default: `[1, 5, 10, 50, 100, 500, 1000, 5000, 10000]` (milliseconds).
    pub histogram_buckets: Vec<f64>,
    /// Fraction of histogram observations recorded, in `[0, 1]`. Each observation is kept with this
    /// probability and counted once, so `_count` and the buckets estimate `sample_rate` times the
    /// true numbers while quantiles and averages (`_sum / _count`) stay unbiased. Counters and
    /// gauges are always exact: take rates from the counter each histogram is paired with.
    /// Default: 1.0.
    pub sample_rate: f64,
    /// Seconds between two exports (pushes), from 1 to 2,147,483 (the JS timers' range, about
    /// 24.8 days). Default: 60.
    pub export_interval_secs: u64,
    /// Upper bounds of the buckets of histograms in seconds: those described with
    /// `Unit::Seconds` and those named `*_seconds`, as third-party crates record them. Default:
    /// `[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]`.
    pub histogram_buckets_seconds: Vec<f64>,
    /// Buckets by histogram name, replacing the defaults above. A key is a full name, a prefix
    /// (`"http_*"`) or a suffix (`"*_bytes"`), matched against the name as recorded or as exposed;
    /// an exact name beats a pattern, and a longer pattern a shorter one. Default: none.
    pub bucket_overrides: BTreeMap<String, Vec<f64>>,
    /// The most series one metric may have; past it, new label sets fold into one series labelled
    /// `otel_metric_overflow="true"`, counted in
    /// `observer_metrics_dropped_total{reason="cardinality_limit"}`. Existing series keep
    /// recording. `0` is no limit. Default: 10000.
    pub max_series_per_metric: usize,
    /// Seconds after which a series nobody touched leaves renders and memory, from 1 to
    /// 4,294,967,295; checked at each render. A series a caller still holds a handle to is only
    /// hidden and shows again once touched. A counter that comes back after leaving starts from 0,
    /// which Prometheus reads as a counter reset (`rate` and `increase` handle it). Default: none
    /// (series stay).
    pub idle_timeout_secs: Option<u64>,
    /// Labels added to every series, such as `service` or `env`. A series' own label of the same
    /// name wins. Names must be valid label names, not `le` or `quantile` (the text format gives
    /// them a meaning), and not `job` or a push grouping label (the gateway sets those). Default:
    /// none.
    pub global_labels: BTreeMap<String, String>,
    /// A namespace put in front of every metric name with `_` between, e.g. `observer`. Must be a
    /// valid metric name. Default: none.
    pub prefix: Option<String>,
    /// Where to push, if anywhere: the `[push]` table. Default: none.
    #[cfg(feature = "push")]
    pub push: Option<PushConfig>,
    /// Where to remote-write, if anywhere: the `[remote_write]` table. Push and remote write can be
    /// on at once; the exporter drives both on one schedule. Default: none.
    #[cfg(feature = "remote-write")]
    pub remote_write: Option<RemoteWriteConfig>,
    /// The pull endpoint, if any: the `[pull]` table (native targets). Default: none.
    #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
    pub pull: Option<crate::pull::PullConfig>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            histogram_buckets: vec![1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0],
            sample_rate: 1.0,
            export_interval_secs: 60,
            histogram_buckets_seconds: crate::buckets::SECONDS_BUCKETS.to_vec(),
            bucket_overrides: BTreeMap::new(),
            max_series_per_metric: 10_000,
            idle_timeout_secs: None,
            global_labels: BTreeMap::new(),
            prefix: None,
            #[cfg(feature = "push")]
            push: None,
            #[cfg(feature = "remote-write")]
            remote_write: None,
            #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
            pull: None,
        }
    }
}

/// Why a configuration was refused. The message names the field (or the file or variable it came
/// from) and the offending value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The field, e.g. `histogram_buckets` or `global_labels.env`.
    pub field: String,
    /// The offending value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid metrics config: `{}` = {}: {}",
            self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn invalid(
    field: impl Into<String>,
    value: impl naming::Shown,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError {
        field: field.into(),
        value: value.shown(),
        reason: reason.into(),
    }
}

/// The prefix of the environment variables that override file settings.
pub const ENV_PREFIX: &str = "OBSERVER_METRICS_";

impl MetricsConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_buckets("histogram_buckets", &self.histogram_buckets)?;
        validate_buckets("histogram_buckets_seconds", &self.histogram_buckets_seconds)?;
        if let Some(idle) = self.idle_timeout_secs {
            if idle == 0 || idle > u64::from(u32::MAX) {
                return Err(invalid(
                    "idle_timeout_secs",
                    idle,
                    format!("must be between 1 and {}", u32::MAX),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(invalid(
                "sample_rate",
                naming::Num(self.sample_rate),
                "must be between 0 and 1",
            ));
        }
        if self.export_interval_secs == 0 || self.export_interval_secs > MAX_TIMER_MS / 1000 {
            return Err(invalid(
                "export_interval_secs",
                self.export_interval_secs,
                format!(
                    "must be between 1 and {} (about 24.8 days)",
                    MAX_TIMER_MS / 1000
                ),
            ));
        }
        for (name, buckets) in &self.bucket_overrides {
            if crate::buckets::Matcher::parse(name).is_none() {
                return Err(invalid(
                    "bucket_overrides",
                    name,
                    "a key is a metric name, `prefix*` or `*suffix`: not empty, and `*` only at \
                     one end",
                ));
            }
            validate_buckets(&format!("bucket_overrides.{name}"), buckets)?;
        }
        for name in self.global_labels.keys() {
            let field = || format!("global_labels.{name}");
            if !naming::is_valid_label_name(name) {
                return Err(invalid(
                    field(),
                    name,
                    "label names match [a-zA-Z_][a-zA-Z0-9_]* and do not start with __",
                ));
            }
            if matches!(
                name.as_str(),
                "le" | "quantile" | crate::index::OVERFLOW_LABEL
            ) {
                return Err(invalid(
                    field(),
                    name,
                    "is reserved: the text format reads le and quantile as a bucket bound or a \
                     quantile (a gateway refuses the whole push), and otel_metric_overflow marks \
                     the series past max_series_per_metric",
                ));
            }
            if name == "job" || self.sink_label_names().any(|g| g == name) {
                return Err(invalid(
                    field(),
                    name,
                    "is set by the sink: job and push.grouping by the gateway, instance by remote \
                     write, on every series",
                ));
            }
        }
        if let Some(prefix) = &self.prefix {
            if !naming::is_valid_metric_name(prefix) {
                return Err(invalid(
                    "prefix",
                    prefix,
                    "must match [a-zA-Z_:][a-zA-Z0-9_:]*",
                ));
            }
        }
        #[cfg(feature = "push")]
        if let Some(push) = &self.push {
            push.validate()?;
        }
        #[cfg(feature = "remote-write")]
        if let Some(rw) = &self.remote_write {
            rw.validate()?;
        }
        #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
        if let Some(pull) = &self.pull {
            pull.address()?;
        }
        Ok(())
    }

    /// The labels the configured sinks set on every series: `job` and the push grouping labels
    /// with a `[push]` table, `job` and `instance` with a `[remote_write]` one. A series' own label
    /// of such a name is renamed `exported_<name>`; a global label may not have one.
    pub(crate) fn sink_label_names(&self) -> impl Iterator<Item = &str> {
        #[cfg(feature = "push")]
        let push = self.push.iter().flat_map(|p| p.group_label_names());
        #[cfg(not(feature = "push"))]
        let push = std::iter::empty();
        #[cfg(feature = "remote-write")]
        let remote = self
            .remote_write
            .iter()
            .flat_map(|_| crate::remote_write::RemoteWriteConfig::IDENTITY_LABELS);
        #[cfg(not(feature = "remote-write"))]
        let remote = std::iter::empty();
        push.chain(remote)
    }

    /// Whether a `[remote_write]` table is set.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub(crate) fn writes_remotely(&self) -> bool {
        #[cfg(feature = "remote-write")]
        let set = self.remote_write.is_some();
        #[cfg(not(feature = "remote-write"))]
        let set = false;
        set
    }

    /// Parses TOML (any field may be left out and keeps its default) and validates the result.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: MetricsConfig = toml::from_str(text)
            .map_err(|e| invalid("toml", e.message(), e.to_string().trim_end().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file; errors name the file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid("config file", path.display().to_string(), e.to_string()))?;
        Self::from_toml_str(&text).map_err(|mut e| {
            e.field = format!("{} in {}", e.field, path.display());
            e
        })
    }

    /// The effective configuration: the file's (or the defaults when `path` is `None`), then the
    /// process's `OBSERVER_METRICS_*` variables, validated.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let base = match path {
            Some(p) => Self::from_toml_file(p)?,
            None => Self::default(),
        };
        base.with_env(Self::process_env()?)
    }

    /// This process's `OBSERVER_METRICS_*` variables, for [`with_env`](Self::with_env) or
    /// [`apply_env`](Self::apply_env). Only those are read, so another variable that is not UTF-8
    /// (which `std::env::vars` panics on) does no harm; one of ours that is not UTF-8 is an error
    /// naming it.
    pub fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
        std::env::vars_os()
            .filter(|(key, _)| key.as_encoded_bytes().starts_with(ENV_PREFIX.as_bytes()))
            .map(|(key, value)| {
                let key = key.to_string_lossy().into_owned();
                match value.into_string() {
                    Ok(value) => Ok((key, value)),
                    // The value itself is not shown: it may be a token.
                    Err(_) => Err(invalid(key, "…", "is not valid UTF-8")),
                }
            })
            .collect()
    }

    /// Applies `OBSERVER_METRICS_<FIELD>` overrides from `vars` and validates the result.
    ///
    /// | variable | form |
    /// |---|---|
    /// | `OBSERVER_METRICS_ENABLED` | `true` / `false` |
    /// | `OBSERVER_METRICS_HISTOGRAM_BUCKETS` | `1,5,10` |
    /// | `OBSERVER_METRICS_HISTOGRAM_BUCKETS_SECONDS` | `0.01,0.1,1` |
    /// | `OBSERVER_METRICS_MAX_SERIES_PER_METRIC` | `10000` (`0`: no limit) |
    /// | `OBSERVER_METRICS_IDLE_TIMEOUT_SECS` | `600` (empty: never) |
    /// | `OBSERVER_METRICS_SAMPLE_RATE` | `0.5` |
    /// | `OBSERVER_METRICS_EXPORT_INTERVAL_SECS` | `30` |
    /// | `OBSERVER_METRICS_GLOBAL_LABELS` | `service=billing,env=prod` (merged over the file's) |
    /// | `OBSERVER_METRICS_PREFIX` | `observer` (empty removes it) |
    /// | `OBSERVER_METRICS_PULL_LISTEN` | `127.0.0.1:9898` |
    /// | `OBSERVER_METRICS_PUSH_URL`, `_JOB` | `http://127.0.0.1:9091`, `nightly-import` |
    /// | `OBSERVER_METRICS_PUSH_GROUPING`, `_HEADERS` | `instance=a,zone=b` (merged over the file's) |
    /// | `OBSERVER_METRICS_PUSH_METHOD` | `put` / `post` |
    /// | `OBSERVER_METRICS_PUSH_TIMEOUT_MS`, `_SHUTDOWN_TIMEOUT_MS` | `5000` |
    /// | `OBSERVER_METRICS_PUSH_GZIP`, `_DELETE_ON_SHUTDOWN` | `true` / `false` |
    /// | `OBSERVER_METRICS_PUSH_BEARER_TOKEN` | the token |
    /// | `OBSERVER_METRICS_PUSH_CA_FILE` | `/etc/observer/ca.pem` |
    /// | `OBSERVER_METRICS_PUSH_BASIC_AUTH` | `user:password` |
    /// | `OBSERVER_METRICS_PUSH_RETRY_TRIES`, `_RETRY_BASE_BACKOFF_MS`, `_RETRY_MAX_BACKOFF_MS`, `_RETRY_JITTER` | `3`, `200`, `5000`, `0.5` |
    /// | `OBSERVER_METRICS_REMOTE_WRITE_<FIELD>` | the same for `[remote_write]`: `URL`, `JOB`, `INSTANCE`, `HEADERS`, `BEARER_TOKEN`, `BASIC_AUTH`, `TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS`, `MAX_SAMPLES_PER_SEND`, `CA_FILE`, `RETRY_*` |
    ///
    /// Any other variable starting with `OBSERVER_METRICS_` is an error, so a typo is not silently
    /// ignored.
    pub fn with_env<I>(self, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let config = self.apply_env(vars)?;
        config.validate()?;
        Ok(config)
    }

    /// [`with_env`](Self::with_env) without the final [`validate`](Self::validate): each variable
    /// is parsed and applied, but the whole is not checked, so that a later source (a command
    /// line's flags, say) can still complete it: `OBSERVER_METRICS_PUSH_TIMEOUT_MS` with the URL
    /// from a flag. Call `validate` once the last source is applied.
    pub fn apply_env<I>(mut self, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut vars: Vec<_> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        for (key, value) in vars {
            let field = key[ENV_PREFIX.len()..].to_ascii_lowercase();
            // Headers often carry credentials (`Authorization`) too.
            let secret = ["token", "auth", "headers"]
                .iter()
                .any(|s| field.contains(s));
            let shown = if secret {
                "***".to_owned()
            } else {
                value.clone()
            };
            let bad = |reason: &str| invalid(format!("{field} (from {key})"), &shown, reason);
            match field.as_str() {
                "enabled" => {
                    self.enabled = value
                        .trim()
                        .parse()
                        .map_err(|_| bad("expected true or false"))?
                }
                "histogram_buckets" => self.histogram_buckets = numbers(&value).map_err(&bad)?,
                "histogram_buckets_seconds" => {
                    self.histogram_buckets_seconds = numbers(&value).map_err(&bad)?
                }
                "max_series_per_metric" => {
                    self.max_series_per_metric = value
                        .trim()
                        .parse()
                        .map_err(|_| bad("expected a whole number (0: no limit)"))?
                }
                "idle_timeout_secs" => {
                    let value = value.trim();
                    self.idle_timeout_secs = if value.is_empty() {
                        None
                    } else {
                        Some(value.parse().map_err(|_| bad("expected a whole number"))?)
                    }
                }
                "sample_rate" => {
                    self.sample_rate = value.trim().parse().map_err(|_| bad("expected a number"))?
                }
                "export_interval_secs" => {
                    self.export_interval_secs = value
                        .trim()
                        .parse()
                        .map_err(|_| bad("expected a whole number"))?
                }
                "global_labels" => pairs(&value, &mut self.global_labels).map_err(&bad)?,
                "prefix" => self.prefix = Some(value.trim().to_owned()).filter(|p| !p.is_empty()),
                #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
                "pull_listen" => {
                    self.pull.get_or_insert_with(Default::default).listen = value.trim().to_owned()
                }
                #[cfg(feature = "remote-write")]
                rw_field if rw_field.starts_with("remote_write_") => {
                    let rw = self
                        .remote_write
                        .get_or_insert_with(RemoteWriteConfig::default);
                    apply_remote_write_env(rw, &rw_field["remote_write_".len()..], &value)
                        .map_err(&bad)?;
                }
                #[cfg(feature = "push")]
                push_field if push_field.starts_with("push_") => {
                    let push = self.push.get_or_insert_with(PushConfig::default);
                    apply_push_env(push, &push_field["push_".len()..], &value).map_err(&bad)?;
                }
                _ => return Err(bad("unknown variable")),
            }
        }
        Ok(self)
    }
}

/// The settings every HTTP sink has, borrowed for [`apply_sink_env`].
#[cfg(feature = "push")]
struct SinkFields<'a> {
    url: &'a mut String,
    job: &'a mut String,
    headers: &'a mut BTreeMap<String, String>,
    timeout_ms: &'a mut u64,
    shutdown_timeout_ms: &'a mut u64,
    basic_auth: &'a mut Option<BasicAuth>,
    bearer_token: &'a mut Option<Secret>,
    ca_file: &'a mut Option<String>,
    retry: &'a mut RetryPolicy,
}

/// `1,5,10` as numbers; the error is the reason.
fn numbers(value: &str) -> Result<Vec<f64>, &'static str> {
    value
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| "expected numbers separated by commas")
}

#[cfg(feature = "push")]
fn millis(v: &str) -> Result<u64, &'static str> {
    v.trim().parse::<u64>().map_err(|_| "expected milliseconds")
}

#[cfg(feature = "push")]
/// Applies one variable of the fields every sink has; `Ok(false)` when `field` is not one of them.
fn apply_sink_env(s: SinkFields<'_>, field: &str, value: &str) -> Result<bool, &'static str> {
    match field {
        "url" => *s.url = value.trim().to_owned(),
        "job" => *s.job = value.trim().to_owned(),
        "headers" => pairs(value, s.headers)?,
        "timeout_ms" => *s.timeout_ms = millis(value)?,
        "shutdown_timeout_ms" => *s.shutdown_timeout_ms = millis(value)?,
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
        "retry_base_backoff_ms" => s.retry.base_backoff_ms = millis(value)?,
        "retry_max_backoff_ms" => s.retry.max_backoff_ms = millis(value)?,
        "retry_jitter" => s.retry.jitter = value.trim().parse().map_err(|_| "expected a number")?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Applies one `OBSERVER_METRICS_PUSH_<FIELD>` variable; the error is the reason.
#[cfg(feature = "push")]
fn apply_push_env(push: &mut PushConfig, field: &str, value: &str) -> Result<(), &'static str> {
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
    let flag = |v: &str| {
        v.trim()
            .parse::<bool>()
            .map_err(|_| "expected true or false")
    };
    match field {
        "grouping" => pairs(value, &mut push.grouping)?,
        "method" => {
            push.method = match value.trim() {
                "put" | "PUT" => PushMethod::Put,
                "post" | "POST" => PushMethod::Post,
                _ => return Err("expected put or post"),
            }
        }
        "gzip" => push.gzip = flag(value)?,
        "delete_on_shutdown" => push.delete_on_shutdown = flag(value)?,
        _ => return Err("unknown variable"),
    }
    Ok(())
}

/// Applies one `OBSERVER_METRICS_REMOTE_WRITE_<FIELD>` variable; the error is the reason.
#[cfg(feature = "remote-write")]
fn apply_remote_write_env(
    rw: &mut RemoteWriteConfig,
    field: &str,
    value: &str,
) -> Result<(), &'static str> {
    let common = SinkFields {
        url: &mut rw.url,
        job: &mut rw.job,
        headers: &mut rw.headers,
        timeout_ms: &mut rw.timeout_ms,
        shutdown_timeout_ms: &mut rw.shutdown_timeout_ms,
        basic_auth: &mut rw.basic_auth,
        bearer_token: &mut rw.bearer_token,
        ca_file: &mut rw.ca_file,
        retry: &mut rw.retry,
    };
    if apply_sink_env(common, field, value)? {
        return Ok(());
    }
    match field {
        "instance" => rw.instance = Some(value.trim().to_owned()).filter(|i| !i.is_empty()),
        "max_samples_per_send" => {
            rw.max_samples_per_send = value
                .trim()
                .parse()
                .map_err(|_| "expected a whole number")?
        }
        _ => return Err("unknown variable"),
    }
    Ok(())
}

/// `k=v,k=v` merged into `map`.
fn pairs(value: &str, map: &mut BTreeMap<String, String>) -> Result<(), &'static str> {
    for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=').ok_or("expected k=v,k=v")?;
        map.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(())
}

pub(crate) fn validate_buckets(field: &str, buckets: &[f64]) -> Result<(), ConfigError> {
    use naming::{Num, Nums};
    if buckets.is_empty() {
        return Err(invalid(field, Nums(buckets), "must not be empty"));
    }
    if let Some(&b) = buckets.iter().find(|b| !b.is_finite()) {
        return Err(invalid(
            field,
            Nums(buckets),
            format!("{} is not finite (+Inf is always added)", Num(b)),
        ));
    }
    if let Some(w) = buckets.windows(2).find(|w| w[0] >= w[1]) {
        return Err(invalid(
            field,
            Nums(buckets),
            format!(
                "must be strictly increasing ({} is followed by {})",
                Num(w[0]),
                Num(w[1])
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn test_metrics_config_defaults() {
        let c = MetricsConfig::default();
        assert!(c.enabled);
        assert_eq!(
            c.histogram_buckets,
            [1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0]
        );
        assert_eq!(c.sample_rate, 1.0);
        assert_eq!(c.export_interval_secs, 60);
        assert!(c.global_labels.is_empty() && c.bucket_overrides.is_empty() && c.prefix.is_none());
        c.validate().unwrap();
        assert_eq!(MetricsConfig::from_toml_str("").unwrap(), c);
    }

    #[test]
    fn test_metrics_config_custom() {
        let c = MetricsConfig::from_toml_str(
            "enabled = false\nhistogram_buckets = [0.1, 2]\nsample_rate = 0.5\n\
             export_interval_secs = 5\nprefix = \"obs\"\n[global_labels]\nenv = \"prod\"\n\
             [bucket_overrides]\nx = [3]\n",
        )
        .unwrap();
        assert!(!c.enabled);
        assert_eq!(c.histogram_buckets, [0.1, 2.0]);
        assert_eq!(c.sample_rate, 0.5);
        assert_eq!(c.export_interval_secs, 5);
        assert_eq!(c.prefix.as_deref(), Some("obs"));
        assert_eq!(c.global_labels["env"], "prod");
        assert_eq!(c.bucket_overrides["x"], [3.0]);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("histogram_buckets = []", "`histogram_buckets`"),
            (
                "histogram_buckets_seconds = [2, 1]",
                "`histogram_buckets_seconds`",
            ),
            ("idle_timeout_secs = 0", "`idle_timeout_secs`"),
            ("idle_timeout_secs = 4294967296", "`idle_timeout_secs`"),
            ("[bucket_overrides]\n\"a*b\" = [1]", "`bucket_overrides`"),
            ("[bucket_overrides]\n\"*\" = [1]", "`bucket_overrides`"),
            (
                "[global_labels]\notel_metric_overflow = \"x\"",
                "`global_labels.otel_metric_overflow`",
            ),
            (
                "histogram_buckets = [1, 1]",
                "strictly increasing (1 is followed by 1)",
            ),
            ("histogram_buckets = [1, nan]", "NaN is not finite"),
            ("sample_rate = 1.5", "`sample_rate` = 1.5"),
            ("sample_rate = nan", "`sample_rate` = NaN"),
            ("export_interval_secs = 0", "`export_interval_secs` = 0"),
            ("prefix = \"a-b\"", "`prefix` = \"a-b\""),
            ("[global_labels]\n__x = \"1\"", "`global_labels.__x`"),
            ("[bucket_overrides]\nh = [2, 1]", "`bucket_overrides.h`"),
            ("sample_rte = 1", "unknown field `sample_rte`"),
            ("[global_labels]\nle = \"1\"", "`global_labels.le`"),
            (
                "[global_labels]\nquantile = \"1\"",
                "`global_labels.quantile`",
            ),
            ("[global_labels]\njob = \"x\"", "`global_labels.job`"),
            (
                "[global_labels]\nzone = \"x\"\n[push]\nurl = \"http://gw\"\njob = \"j\"\n\
                 [push.grouping]\nzone = \"y\"",
                "`global_labels.zone`",
            ),
            (
                "export_interval_secs = 9223372036854775807",
                "`export_interval_secs`",
            ),
            ("export_interval_secs = 2147484", "about 24.8 days"),
            (
                "[push]\nurl = \"http://gw:99999\"\njob = \"j\"",
                "`push.url`",
            ),
            ("[pull]\nlisten = \"nowhere\"", "`pull.listen`"),
        ];
        for (toml, expected) in cases {
            let err = MetricsConfig::from_toml_str(toml).unwrap_err().to_string();
            assert!(err.contains(expected), "{toml:?} gave {err:?}");
        }
    }

    #[test]
    fn env_overrides() {
        let c = MetricsConfig::default()
            .with_env(env(&[
                ("OBSERVER_METRICS_SAMPLE_RATE", "0.25"),
                ("OBSERVER_METRICS_HISTOGRAM_BUCKETS", "1, 2,3"),
                ("OBSERVER_METRICS_GLOBAL_LABELS", "service=a,env=b"),
                ("OBSERVER_METRICS_EXPORT_INTERVAL_SECS", "7"),
                ("OBSERVER_METRICS_ENABLED", "false"),
                ("OBSERVER_METRICS_PREFIX", "p"),
                ("PATH", "/bin"),
            ]))
            .unwrap();
        assert_eq!(c.sample_rate, 0.25);
        assert_eq!(c.histogram_buckets, [1.0, 2.0, 3.0]);
        assert_eq!(c.global_labels.len(), 2);
        assert_eq!(c.export_interval_secs, 7);
        assert!(!c.enabled);
        assert_eq!(c.prefix.as_deref(), Some("p"));

        let err = MetricsConfig::default()
            .with_env(env(&[("OBSERVER_METRICS_SAMPLE_RATE", "2")]))
            .unwrap_err();
        assert_eq!(err.field, "sample_rate");
        let err = MetricsConfig::default()
            .with_env(env(&[(
                "OBSERVER_METRICS_EXPORT_INTERVAL_SECS",
                &u64::MAX.to_string(),
            )]))
            .unwrap_err();
        assert_eq!(err.field, "export_interval_secs");
        let err = MetricsConfig::default()
            .with_env(env(&[("OBSERVER_METRICS_SAMPEL_RATE", "1")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("OBSERVER_METRICS_SAMPEL_RATE"),
            "{err}"
        );
        let err = MetricsConfig::default()
            .with_env(env(&[("OBSERVER_METRICS_HISTOGRAM_BUCKETS", "1,x")]))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("histogram_buckets (from OBSERVER_METRICS_"),
            "{err}"
        );
    }

    #[test]
    fn every_push_setting_has_an_env_twin() {
        let c = MetricsConfig::default()
            .with_env(env(&[
                ("OBSERVER_METRICS_PUSH_URL", "http://gw:9091"),
                ("OBSERVER_METRICS_PUSH_JOB", "j"),
                ("OBSERVER_METRICS_PUSH_HEADERS", "X-Team=obs,X-Env=prod"),
                ("OBSERVER_METRICS_PUSH_RETRY_TRIES", "5"),
                ("OBSERVER_METRICS_PUSH_RETRY_BASE_BACKOFF_MS", "10"),
                ("OBSERVER_METRICS_PUSH_RETRY_MAX_BACKOFF_MS", "20"),
                ("OBSERVER_METRICS_PUSH_RETRY_JITTER", "0.1"),
            ]))
            .unwrap();
        let push = c.push.unwrap();
        assert_eq!(push.headers["X-Team"], "obs");
        assert_eq!(push.headers["X-Env"], "prod");
        assert_eq!(
            (
                push.retry.tries,
                push.retry.base_backoff_ms,
                push.retry.max_backoff_ms
            ),
            (5, 10, 20)
        );
        assert_eq!(push.retry.jitter, 0.1);
        // Header values may be credentials: never shown in an error.
        let err = MetricsConfig::default()
            .with_env(env(&[("OBSERVER_METRICS_PUSH_HEADERS", "Authorization")]))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("Authorization"), "{err}");
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("om-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "sample_rate = -1\n").unwrap();
        let err = MetricsConfig::from_toml_file(&path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sample_rate in") && err.contains("bad.toml"),
            "{err}"
        );
        let missing = MetricsConfig::from_toml_file(dir.join("none.toml")).unwrap_err();
        assert_eq!(missing.field, "config file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
