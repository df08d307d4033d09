//! `MetricsConfig`: the recorder's settings and each sink's table, composed; loaded from defaults,
//! a TOML file and `OBSERVER_METRICS_*` environment variables, validated before anything starts.
//! Each layer parses its own keys and variables: the recorder its top-level keys, each sink its
//! table and its `OBSERVER_METRICS_<SINK>_*` twins. [`MetricsBuilder`] fills one in code.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError, MAX_TIMER_MS};
use crate::recorder::config::{RecorderConfig, Reserved};
#[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
use crate::sinks::pull::PullConfig;
#[cfg(feature = "push")]
use crate::sinks::push::PushConfig;
#[cfg(feature = "remote-write")]
use crate::sinks::remote_write::RemoteWriteConfig;
#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
use crate::sinks::spool::SpoolConfig;

mod builder;
mod variables;

pub use builder::{BuildError, MetricsBuilder};
pub use variables::{closest as closest_variable, env_variables, EnvVariable, TOML_ONLY};

/// The whole configuration: the recorder's settings (the file's top-level keys), the schedule,
/// and each sink's table. `Default` is the plan's: enabled, buckets
/// `[1, 5, 10, 50, 100, 500, 1000, 5000, 10000]`, `sample_rate` 1.0, `export_interval_secs` 60,
/// no sink. In code, [`MetricsBuilder`] fills one.
///
/// ```
/// let config = observer_metrics::MetricsConfig::from_toml_str(r#"
///     histogram_buckets = [0.5, 1, 2]
///     prefix = "observer"
///     export_interval_secs = 15
///     [global_labels]
///     service = "billing"
///     [bucket_overrides]
///     checkpoint_save_duration_ms = [10, 100, 1000]
/// "#).unwrap();
/// assert_eq!(config.recorder.sample_rate, 1.0);
/// assert_eq!(config.recorder.global_labels["service"], "billing");
/// assert_eq!(config.export_interval_secs, 15);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// What the recorder records and how: the top-level keys of the file.
    #[serde(flatten)]
    pub recorder: RecorderConfig,
    /// Seconds between two exports (pushes, remote writes), from 1 to 2,147,483 (the JS timers'
    /// range, about 24.8 days). Default: 60.
    pub export_interval_secs: u64,
    /// Where to push, if anywhere: the `[push]` table. Default: none.
    #[cfg(feature = "push")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<PushConfig>,
    /// Where to remote-write, if anywhere: the `[remote_write]` table. Push and remote write can be
    /// on at once; the exporter drives both on one schedule. Default: none.
    #[cfg(feature = "remote-write")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_write: Option<RemoteWriteConfig>,
    /// The pull endpoint, if any: the `[pull]` table (native targets). Default: none.
    #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullConfig>,
    /// Where final sends (and failed remote writes) wait when their receiver does not take them,
    /// until a later start or `observer-metrics replay` delivers them: the `[spool]` table (native
    /// targets). Default: none.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spool: Option<SpoolConfig>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            recorder: RecorderConfig::default(),
            export_interval_secs: 60,
            #[cfg(feature = "push")]
            push: None,
            #[cfg(feature = "remote-write")]
            remote_write: None,
            #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
            pull: None,
            #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
            spool: None,
        }
    }
}

/// The file is one table: each sink's key takes its table, any other key is the recorder's. Read
/// key by key from the parser itself (not through a buffered copy), so that an error keeps the
/// position of the value in the user's file.
impl<'de> Deserialize<'de> for MetricsConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let file = File::<de::IgnoredAny> {
            extra: None,
            table: PhantomData,
        };
        Ok(deserializer.deserialize_map(file)?.0)
    }
}

/// A file's visitor: the config, and the caller's own table named `extra`, if any.
struct File<'a, T> {
    extra: Option<&'a str>,
    table: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for File<'_, T> {
    type Value = (MetricsConfig, Option<T>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of metrics settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut config = MetricsConfig::default();
        let mut extra = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                // The caller's table first: it may not be shadowed by a setting of ours.
                other if Some(other) == self.extra => extra = Some(map.next_value()?),
                "export_interval_secs" => config.export_interval_secs = map.next_value()?,
                // `Option`s, so a format with nulls (JSON, YAML) may write an unset table as one.
                #[cfg(feature = "push")]
                "push" => config.push = map.next_value()?,
                #[cfg(feature = "remote-write")]
                "remote_write" => config.remote_write = map.next_value()?,
                #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
                "pull" => config.pull = map.next_value()?,
                #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
                "spool" => config.spool = map.next_value()?,
                other => {
                    if !config.recorder.read_field(other, &mut map)? {
                        map.next_value_seed(Unknown(other))?;
                    }
                }
            }
        }
        Ok((config, extra))
    }
}

/// A key nobody reads: refused, from its value so that the error carries the value's position.
struct Unknown<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for Unknown<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(unknown_field(self.0)))
    }
}

/// Why a top-level key is refused: a sink's table this build leaves out says which cargo feature
/// it needs (it reaches here only then), anything else is unknown.
fn unknown_field(key: &str) -> String {
    let feature = match key {
        "push" | "spool" => "push",
        "remote_write" => "remote-write",
        "pull" => "pull",
        _ => return format!("unknown field `{key}`"),
    };
    let native = if matches!(key, "pull" | "spool") {
        " and a native target (the wasm build has none)"
    } else {
        ""
    };
    format!("this build has no `[{key}]`: it needs the cargo feature `{feature}`{native}")
}

/// The prefix of the environment variables that override file settings.
pub const ENV_PREFIX: &str = "OBSERVER_METRICS_";

impl MetricsConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.recorder.validate_with(&self.reserved())?;
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
        #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
        if let Some(spool) = &self.spool {
            spool.validate()?;
        }
        Ok(())
    }

    /// What the configured sinks reserve in the recorder: the labels they set on every series (a
    /// series' own label of such a name is renamed `exported_<name>`) and the names whose type
    /// their receiver fixes.
    pub(crate) fn reserved(&self) -> Reserved {
        #[allow(unused_mut)]
        let mut reserved = Reserved::default();
        #[cfg(feature = "push")]
        if let Some(push) = &self.push {
            reserved = reserved.merge(push.reserved());
        }
        #[cfg(feature = "remote-write")]
        if let Some(rw) = &self.remote_write {
            reserved = reserved.merge(rw.reserved());
        }
        reserved
    }

    /// Parses TOML (any field may be left out and keeps its default) and validates the result.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_toml_str_with::<de::IgnoredAny>(text, None).map(|(config, _)| config)
    }

    /// Reads and parses a TOML file; errors name the file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_toml_file_with::<de::IgnoredAny>(path, None).map(|(config, _)| config)
    }

    /// [`from_toml_str`](Self::from_toml_str) for a file that also holds a table of the caller's
    /// own (a tool's `[workload]`, say), read as a `T` in the same pass, so that an error in
    /// either points into the text as written. Only the config is validated.
    pub fn from_toml_str_with<T: de::DeserializeOwned>(
        text: &str,
        table: Option<&str>,
    ) -> Result<(Self, Option<T>), ConfigError> {
        let file = File {
            extra: table,
            table: PhantomData,
        };
        let (config, extra) = toml::Deserializer::new(text)
            .deserialize_map(file)
            .map_err(|e| toml_error(text, &e))?;
        config.validate()?;
        Ok((config, extra))
    }

    /// [`from_toml_str_with`](Self::from_toml_str_with) of a file; errors name the file.
    pub fn from_toml_file_with<T: de::DeserializeOwned>(
        path: impl AsRef<Path>,
        table: Option<&str>,
    ) -> Result<(Self, Option<T>), ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid("config file", path.display().to_string(), e.to_string()).with_source(e)
        })?;
        Self::from_toml_str_with(&text, table).map_err(|mut e| {
            e.at = Some(match e.at.take() {
                Some(line) => format!("{}, {line}", path.display()),
                None => path.display().to_string(),
            });
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
    /// | `OBSERVER_METRICS_HISTOGRAM_BUCKETS_SECONDS`, `_BYTES` | `0.01,0.1,1`, `1024,1048576` |
    /// | `OBSERVER_METRICS_SUMMARY_METRICS` | `request_latency_seconds,rpc_*` (empty: none) |
    /// | `OBSERVER_METRICS_SUMMARY_QUANTILES` | `0.5,0.9,0.99` |
    /// | `OBSERVER_METRICS_SUMMARY_WINDOW_SECS`, `_BUCKETS` | `60`, `3` |
    /// | `OBSERVER_METRICS_NATIVE_HISTOGRAM_METRICS` | `rpc_*` (empty: none) |
    /// | `OBSERVER_METRICS_NATIVE_HISTOGRAM_BUCKET_FACTOR`, `_MAX_BUCKETS`, `_ZERO_THRESHOLD` | `1.1`, `160`, `1e-9` |
    /// | `OBSERVER_METRICS_NATIVE_HISTOGRAM_CLASSIC_BUCKETS` | `true` / `false` |
    /// | `OBSERVER_METRICS_MAX_SERIES_PER_METRIC` | `10000` (`0`: no limit) |
    /// | `OBSERVER_METRICS_MAX_LABEL_VALUE_BYTES` | `4096` (`0`: no limit) |
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
    /// | `OBSERVER_METRICS_PUSH_FORMAT` | `auto` / `text` / `protobuf` |
    /// | `OBSERVER_METRICS_PUSH_BEARER_TOKEN` | the token |
    /// | `OBSERVER_METRICS_PUSH_CA_FILE` | `/etc/observer/ca.pem` |
    /// | `OBSERVER_METRICS_PUSH_BASIC_AUTH` | `user:password` |
    /// | `OBSERVER_METRICS_PUSH_RETRY_TRIES`, `_RETRY_BASE_BACKOFF_MS`, `_RETRY_MAX_BACKOFF_MS`, `_RETRY_JITTER` | `3`, `200`, `5000`, `0.5` |
    /// | `OBSERVER_METRICS_REMOTE_WRITE_<FIELD>` | the same for `[remote_write]`: `URL`, `JOB`, `INSTANCE`, `HEADERS`, `BEARER_TOKEN`, `BASIC_AUTH`, `TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS`, `MAX_SAMPLES_PER_SEND`, `CA_FILE`, `NATIVE_HISTOGRAMS`, `RETRY_*` |
    ///
    /// | `OBSERVER_METRICS_SPOOL_DIR`, `_MAX_BYTES`, `_MAX_AGE_SECS` | `/var/lib/om`, `67108864`, `604800` |
    ///
    /// [`env_variables`] lists them all, with their fields. Any other variable starting with
    /// `OBSERVER_METRICS_` is an error naming the closest known one, so a typo is not silently
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
            let bad = |reason: &str| {
                let known = env_variables();
                let reason = match closest_variable(&key, known.iter().map(|v| v.name)) {
                    Some(name) if reason == "unknown variable" => {
                        format!("unknown variable; did you mean {name}?")
                    }
                    _ => reason.to_owned(),
                };
                invalid(format!("{field} (from {key})"), &shown, reason)
            };
            self.apply_env_field(&field, &value).map_err(bad)?;
        }
        Ok(self)
    }

    /// One variable, to the layer whose field it names.
    fn apply_env_field(&mut self, field: &str, value: &str) -> Result<(), &'static str> {
        if let Some(applied) = self.recorder.apply_env(field, value) {
            return applied;
        }
        if field == "export_interval_secs" {
            self.export_interval_secs = crate::env::parsed(value, "expected a whole number")?;
            return Ok(());
        }
        #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
        if let Some(rest) = field.strip_prefix("pull_") {
            return self
                .pull
                .get_or_insert_with(Default::default)
                .apply_env(rest, value);
        }
        #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
        if let Some(rest) = field.strip_prefix("spool_") {
            return self
                .spool
                .get_or_insert_with(Default::default)
                .apply_env(rest, value);
        }
        #[cfg(feature = "remote-write")]
        if let Some(rest) = field.strip_prefix("remote_write_") {
            return self
                .remote_write
                .get_or_insert_with(Default::default)
                .apply_env(rest, value);
        }
        #[cfg(feature = "push")]
        if let Some(rest) = field.strip_prefix("push_") {
            return self
                .push
                .get_or_insert_with(Default::default)
                .apply_env(rest, value);
        }
        Err("unknown variable")
    }

    /// The sinks this config drives and how often.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub(crate) fn schedule(&self) -> crate::sinks::schedule::Schedule<'_> {
        crate::sinks::schedule::Schedule {
            interval: std::time::Duration::from_secs(self.export_interval_secs),
            push: self.push.as_ref(),
            #[cfg(feature = "remote-write")]
            remote_write: self.remote_write.as_ref(),
            spool: self.spool.as_ref(),
        }
    }

    /// Delivers what the `[spool]` directory holds, oldest first, each file removed only once its
    /// receiver took it (what `observer-metrics replay` runs). The credentials of `[push]` and
    /// `[remote_write]` go only to files bound for that same URL; files for any other receiver go
    /// without credentials. Fails when there is no `[spool]` table or its directory cannot be
    /// used.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub async fn replay_spool(&self) -> Result<crate::sinks::spool::ReplayReport, ConfigError> {
        let Some(spool) = &self.spool else {
            return Err(invalid(
                "spool.dir",
                "",
                "a [spool] table (or OBSERVER_METRICS_SPOOL_DIR) is needed",
            ));
        };
        crate::sinks::schedule::replay_spool(
            spool,
            self.push.as_ref(),
            #[cfg(feature = "remote-write")]
            self.remote_write.as_ref(),
        )
        .await
    }
}

#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
impl crate::sinks::export::Exporter {
    /// Starts sending `recorder` to the sinks `config` configures (`[push]`, `[remote_write]`, or
    /// both), every `config.export_interval_secs`: the lower-level half of
    /// [`MetricsBuilder::build`], for a recorder built earlier.
    ///
    /// Fails when `config` (all of it) is invalid, when it configures no sink, when called outside
    /// a tokio runtime, or when `recorder` was not built for these sinks (a series' own label named
    /// like one a sink sets would not have been renamed, and the receiver would refuse the whole
    /// send): [`MetricsBuilder::build`] builds both together.
    pub fn start(
        recorder: crate::recorder::RecorderHandle,
        config: &MetricsConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Self::launch(recorder, config.schedule())
    }
}

/// A TOML error as the other config errors are: the field (its table and key, found from where
/// the parser points), the value as written, the parser's reason, and the line and column in `at`
/// (the parser's own message repeats the line with a caret, once for each of those).
fn toml_error(text: &str, error: &toml::de::Error) -> ConfigError {
    // One line: a syntax error's message has several.
    let reason = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let parts = error.span().and_then(|span| {
        let before = text.get(..span.start)?;
        let written = text.get(span.clone())?;
        let after = text.get(span.end..)?;
        Some((before, written, after))
    });
    let Some((before, written, after)) = parts else {
        return invalid("config", "…", reason);
    };
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let prefix = &before[line_start..];
    let column = prefix.chars().count() + 1;
    let at = Some(format!("line {line}, column {column}"));
    let written = written.trim();
    // The table the error is in: the last header above it.
    let headers_above = before[..line_start].lines().rev();
    let table = headers_above
        .map(str::trim)
        .find_map(header_of)
        .unwrap_or_default();
    let within = |key: &str| match table {
        "" => key.to_owned(),
        table => format!("{table}.{key}"),
    };
    let one_line = |text: &str| text.lines().next().unwrap_or("").trim().to_owned();
    let (field, value) =
        if let Some(header) = header_of(written).filter(|_| prefix.trim().is_empty()) {
            // The error is about a whole table (an unknown `[remote-write]`, a missing field): its
            // span runs from its header over its values.
            (header.to_owned(), "…".to_owned())
        } else if after.trim_start().starts_with('=') && !written.is_empty() {
            // At a key (an unknown one): in an inline table, after the keys that open it.
            let outer = prefix
                .split_once('=')
                .map(|(k, _)| k.trim())
                .filter(|_| prefix.contains('{'));
            let mut value = one_line(after.trim_start().trim_start_matches('='));
            if outer.is_some() {
                // Up to the next key or the table's end.
                value.truncate(value.find([',', '}']).unwrap_or(value.len()));
                value = value.trim().to_owned();
            }
            let key = match outer {
                Some(outer) => format!("{outer}.{written}"),
                // A dotted key (`push.bogus = 1`) points at its last part.
                None => format!("{}{written}", prefix.trim_start()),
            };
            (within(&key), value)
        } else if let Some(eq) = prefix.rfind('=') {
            // At a value, after `key =` (the last key before it, in an inline table).
            let head = prefix[..eq].trim();
            let key = head.rsplit(['{', ',']).next().unwrap_or(head).trim();
            let key = match head.split_once('=') {
                Some((outer, _)) => format!("{}.{key}", outer.trim()),
                None => key.to_owned(),
            };
            (within(&key), one_line(written))
        } else {
            // On a line of its own: inside a multi-line array (the key is on the last line above
            // with one), or a syntax error that points at no key (an unclosed `[push`).
            let key = before[..line_start]
                .lines()
                .rev()
                .map(str::trim)
                .take_while(|l| header_of(l).is_none())
                .find_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
                .filter(|k| !k.is_empty());
            match key {
                Some(key) => (within(key), one_line(written)),
                None => {
                    let so_far = match prefix.trim() {
                        "" => "config".to_owned(),
                        text => text.to_owned(),
                    };
                    (so_far, "…".to_owned())
                }
            }
        };
    // A key that is empty as written (`= 1`, a line of a broken multi-line string): the table,
    // or the file as a whole.
    let field = match field.trim_end_matches('.') {
        "" => "config".to_owned(),
        named => named.to_owned(),
    };
    let mut e = invalid(field, "", reason);
    e.value = if value.is_empty() {
        "…".into()
    } else {
        value
    };
    e.at = at;
    e
}

/// The table a line opens (`[push]`, `[[jobs]]`, `[push.retry]`): its name, or `None`.
fn header_of(line: &str) -> Option<&str> {
    let first = line.lines().next()?.trim();
    let inner = first.strip_prefix('[')?.trim_start_matches('[');
    let name = inner.split(']').next()?.trim();
    // `[1, 2]` opens no table: a value of an array.
    let bare =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\'' | ' ');
    (!name.is_empty() && name.chars().all(bare) && first.contains(']')).then_some(name)
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

    /// Every field of the recorder's settings is read from the file: a field `read_field` left
    /// out would come back as "unknown field".
    #[test]
    fn every_field_reads_back() {
        let recorder = RecorderConfig {
            enabled: false,
            histogram_buckets: vec![2.0, 4.0],
            sample_rate: 0.5,
            histogram_buckets_seconds: vec![0.5],
            histogram_buckets_bytes: vec![64.0],
            bucket_overrides: [("x_*".to_owned(), vec![3.0])].into(),
            summary_metrics: vec!["lat_seconds".into(), "rpc_*".into()],
            summary_quantiles: vec![0.5, 0.99],
            summary_window_secs: 30,
            summary_window_buckets: 2,
            native_histogram_metrics: vec!["rpc_*".into()],
            native_histogram_bucket_factor: 2.0,
            native_histogram_max_buckets: 10,
            native_histogram_zero_threshold: 0.001,
            native_histogram_classic_buckets: false,
            max_series_per_metric: 7,
            idle_timeout_secs: Some(9),
            global_labels: [("env".to_owned(), "prod".to_owned())].into(),
            max_label_value_bytes: 100,
            prefix: Some("p".into()),
        };
        let text = toml::to_string(&recorder).unwrap();
        for key in toml::from_str::<toml::Table>(&text).unwrap().keys() {
            assert!(text.contains(key.as_str()));
        }
        let back = MetricsConfig::from_toml_str(&text).unwrap();
        assert_eq!(back.recorder, recorder, "{text}");
    }

    /// A whole config written as TOML (the recorder's keys flattened to the top, the sinks'
    /// tables) reads back as itself.
    #[test]
    fn a_written_config_reads_back() {
        let config = MetricsConfig::from_toml_str(
            "prefix = \"p\"\nexport_interval_secs = 9\n[global_labels]\nenv = \"prod\"\n\
             [push]\nurl = \"http://gw:9091\"\njob = \"j\"\ngrouping = { zone = \"a\" }\n\
             [remote_write]\nurl = \"http://rw/api/v1/write\"\njob = \"j\"\n\
             [pull]\nlisten = \"127.0.0.1:9898\"\n",
        )
        .unwrap();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(
            MetricsConfig::from_toml_str(&text).unwrap(),
            config,
            "{text}"
        );
    }

    /// An error in a top-level key, a sink's table or a caller's own table points at the value's
    /// line in the text as written.
    #[test]
    fn errors_point_into_the_text() {
        let text = "prefix = \"p\"\n\nsample_rate = \"half\"\n";
        let err = MetricsConfig::from_toml_str(text).unwrap_err();
        assert_eq!(err.at.as_deref(), Some("line 3, column 15"), "{err}");
        let text = "[push]\nurl = \"http://gw\"\njob = 3\n";
        let err = MetricsConfig::from_toml_str(text).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.at.as_deref()),
            ("push.job", Some("line 3, column 7"))
        );
        let text = "export_interval_secs = 5\nbogus = 1\n";
        let err = MetricsConfig::from_toml_str(text).unwrap_err();
        assert!(
            err.at.as_deref().is_some_and(|at| at.starts_with("line 2")),
            "{err}"
        );
        assert!(err.reason.contains("unknown field `bogus`"), "{err}");
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Extra {
            #[allow(dead_code)]
            events: u64,
        }
        let text = "prefix = \"p\"\n[extra]\nevents = -1\n";
        let err = MetricsConfig::from_toml_str_with::<Extra>(text, Some("extra")).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.at.as_deref()),
            ("extra.events", Some("line 3, column 10"))
        );
        let text = "[extra]\nevents = 5\n";
        let (_, extra) = MetricsConfig::from_toml_str_with::<Extra>(text, Some("extra")).unwrap();
        assert_eq!(extra.unwrap().events, 5);
        // Without the table's name, the table is unknown.
        assert!(MetricsConfig::from_toml_str(text).is_err());
    }

    #[test]
    fn test_metrics_config_defaults() {
        let c = MetricsConfig::default();
        assert!(c.recorder.enabled);
        assert_eq!(
            c.recorder.histogram_buckets,
            [1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0]
        );
        assert_eq!(c.recorder.sample_rate, 1.0);
        assert_eq!(c.export_interval_secs, 60);
        assert!(
            c.recorder.global_labels.is_empty()
                && c.recorder.bucket_overrides.is_empty()
                && c.recorder.prefix.is_none()
        );
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
        assert!(!c.recorder.enabled);
        assert_eq!(c.recorder.histogram_buckets, [0.1, 2.0]);
        assert_eq!(c.recorder.sample_rate, 0.5);
        assert_eq!(c.export_interval_secs, 5);
        assert_eq!(c.recorder.prefix.as_deref(), Some("obs"));
        assert_eq!(c.recorder.global_labels["env"], "prod");
        assert_eq!(c.recorder.bucket_overrides["x"], [3.0]);
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
        assert_eq!(c.recorder.sample_rate, 0.25);
        assert_eq!(c.recorder.histogram_buckets, [1.0, 2.0, 3.0]);
        assert_eq!(c.recorder.global_labels.len(), 2);
        assert_eq!(c.export_interval_secs, 7);
        assert!(!c.recorder.enabled);
        assert_eq!(c.recorder.prefix.as_deref(), Some("p"));

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

    /// The native histogram switches have their env twins, and a bad value names its field.
    #[cfg(all(feature = "remote-write", not(target_arch = "wasm32")))]
    #[test]
    fn native_histogram_switches_have_env_twins() {
        let c = MetricsConfig::default()
            .with_env(env(&[
                ("OBSERVER_METRICS_NATIVE_HISTOGRAM_METRICS", "rpc_*"),
                ("OBSERVER_METRICS_NATIVE_HISTOGRAM_CLASSIC_BUCKETS", "false"),
                (
                    "OBSERVER_METRICS_REMOTE_WRITE_URL",
                    "http://127.0.0.1:9090/api/v1/write",
                ),
                ("OBSERVER_METRICS_REMOTE_WRITE_JOB", "j"),
                ("OBSERVER_METRICS_REMOTE_WRITE_NATIVE_HISTOGRAMS", "true"),
            ]))
            .unwrap();
        assert!(!c.recorder.native_histogram_classic_buckets);
        assert!(c.remote_write.unwrap().native_histograms);
        for (var, field) in [
            (
                "OBSERVER_METRICS_NATIVE_HISTOGRAM_CLASSIC_BUCKETS",
                "native_histogram_classic_buckets",
            ),
            (
                "OBSERVER_METRICS_REMOTE_WRITE_NATIVE_HISTOGRAMS",
                "remote_write_native_histograms (from OBSERVER_METRICS_",
            ),
        ] {
            let err = MetricsConfig::default()
                .with_env(env(&[(var, "yes")]))
                .unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
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
        let err = MetricsConfig::from_toml_file(&path).unwrap_err();
        assert_eq!(err.field, "sample_rate");
        assert_eq!(err.at.as_deref(), Some(path.to_str().unwrap()));
        assert!(err
            .to_string()
            .contains(&format!("{}: `sample_rate` = ", path.display())));
        let missing = MetricsConfig::from_toml_file(dir.join("none.toml")).unwrap_err();
        assert_eq!(missing.field, "config file");
        // The I/O error is there to match on, and as the source.
        assert_eq!(
            missing.io_error().map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
        let source = std::error::Error::source(&missing).expect("a source");
        assert!(source.to_string().contains("No such file"), "{source}");
        std::fs::write(
            &path,
            "[push]\nurl = \"http://127.0.0.1:9\"\ntimeout_ms = \"fast\"\n",
        )
        .unwrap();
        let err = MetricsConfig::from_toml_file(&path).unwrap_err();
        assert_eq!(
            err.at,
            Some(format!("{}, line 3, column 14", path.display()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Every listed variable is read, is named after its field, and sets it; every field of a
    /// full config (each sink's table, each optional setting given) has a variable or is listed as
    /// TOML-only: a new setting without a twin fails here.
    #[test]
    fn every_setting_has_a_listed_variable() {
        let vars = env_variables();
        for v in &vars {
            let expected = format!(
                "{ENV_PREFIX}{}",
                v.field.replace('.', "_").to_ascii_uppercase()
            );
            assert_eq!(v.name, expected, "{v:?}");
            let applied = MetricsConfig::default()
                .apply_env([(v.name.to_owned(), v.example.to_owned())])
                .unwrap_or_else(|e| panic!("{}={}: {e}", v.name, v.example));
            assert_ne!(applied, MetricsConfig::default(), "{} set nothing", v.name);
        }
        let mut full = MetricsConfig::from_toml_str(
            "prefix = \"p\"\nidle_timeout_secs = 60\n\
             [push]\nurl = \"http://gw\"\njob = \"j\"\nca_file = \"ca.pem\"\n\
             basic_auth = { username = \"u\", password = \"p\" }\n\
             [remote_write]\nurl = \"http://rw\"\njob = \"j\"\ninstance = \"i\"\n\
             bearer_token = \"t\"\n[pull]\n[spool]\ndir = \"/tmp/s\"\n",
        )
        .unwrap();
        full.push.as_mut().unwrap().bearer_token = None;
        let text = toml::to_string(&full).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        let fields: Vec<&str> = vars
            .iter()
            .map(|v| v.field)
            .chain(TOML_ONLY.iter().copied())
            .collect();
        fn walk(table: &toml::Table, path: &str, fields: &[&str], missing: &mut Vec<String>) {
            for (key, value) in table {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if fields.contains(&here.as_str()) {
                    continue;
                }
                match value {
                    toml::Value::Table(inner) => walk(inner, &here, fields, missing),
                    _ => missing.push(here),
                }
            }
        }
        let mut missing = Vec::new();
        walk(value.as_table().unwrap(), "", &fields, &mut missing);
        // The push table's bearer token, left out above (one of the two auths), is listed too.
        assert!(fields.contains(&"push.bearer_token"));
        assert_eq!(missing, Vec::<String>::new(), "settings without a variable");
    }

    /// An unknown variable close to a known one says which was meant.
    #[test]
    fn an_unknown_variable_suggests_the_one_meant() {
        let err = MetricsConfig::default()
            .apply_env([(
                "OBSERVER_METRICS_PUSH_UR".to_owned(),
                "http://gw".to_owned(),
            )])
            .unwrap_err();
        assert_eq!(
            err.reason,
            "unknown variable; did you mean OBSERVER_METRICS_PUSH_URL?"
        );
        let err = MetricsConfig::default()
            .apply_env([(
                "OBSERVER_METRICS_EXPORT_INTERVAL".to_owned(),
                "5".to_owned(),
            )])
            .unwrap_err();
        assert!(
            err.reason
                .ends_with("OBSERVER_METRICS_EXPORT_INTERVAL_SECS?"),
            "{err}"
        );
        let err = MetricsConfig::default()
            .apply_env([("OBSERVER_METRICS_QWERTY".to_owned(), "1".to_owned())])
            .unwrap_err();
        assert_eq!(err.reason, "unknown variable");
    }

    /// A sink's table in a build without its feature says which feature; any other key is
    /// unknown.
    #[test]
    fn a_table_this_build_leaves_out_names_its_feature() {
        assert_eq!(
            unknown_field("remote_write"),
            "this build has no `[remote_write]`: it needs the cargo feature `remote-write`"
        );
        assert!(unknown_field("spool")
            .ends_with("cargo feature `push` and a native target (the wasm build has none)"));
        assert_eq!(unknown_field("pussh"), "unknown field `pussh`");
    }

    /// A TOML error names its table and key, the value as written and the line and column, on one
    /// line; syntax errors pointing at a line's end do not panic.
    #[test]
    fn toml_errors_name_the_field_where_the_parser_points() {
        let cases: [(&str, &str, &str, &str); 12] = [
            (
                "export_interval_secs = \"x\"\n",
                "export_interval_secs",
                "\"x\"",
                "line 1, column 24",
            ),
            (
                "[push]\nurl = \"u\"\n\n# c\ntimeout_ms = [1]\n",
                "push.timeout_ms",
                "[1]",
                "line 5, column 14",
            ),
            ("push = { url = 5 }\n", "push.url", "5", "line 1, column 16"),
            ("evnets = 3\n", "evnets", "3", "line 1, column 10"),
            ("[push\nurl=1\n", "[push", "…", "line 1, column 6"),
            ("x = \n", "x", "…", "line 1, column 5"),
            (
                "[remote_write]\n\"u r l\" = 1\n",
                "remote_write.\"u r l\"",
                "1",
                "line 2, column 1",
            ),
            // A whole table's error (unknown, or missing a field): the table, not its first key.
            (
                "[push]\nurl = \"u\"\n[remote-write]\nurl = \"x\"\n",
                "remote-write",
                "…",
                "line 3, column 1",
            ),
            // An unknown key in an inline table: that key, not the one before it.
            (
                "[push]\nbasic_auth = { username = \"u\", pasword = \"p\" }\n",
                "push.basic_auth.pasword",
                "\"p\"",
                "line 2, column 32",
            ),
            // No key at all: the file.
            ("= 1\n", "config", "…", "line 1, column 1"),
            // A dotted key: all of it.
            ("push.bogus = 1\n", "push.bogus", "1", "line 1, column 6"),
            // A bad element on its own line of a multi-line array: the array's key.
            (
                "histogram_buckets = [\n  0.1,\n  \"x\",\n]\n",
                "histogram_buckets",
                "\"x\"",
                "line 3, column 3",
            ),
        ];
        for (toml, field, value, at) in cases {
            let err = MetricsConfig::from_toml_str(toml).unwrap_err();
            assert_eq!(
                (err.field.as_str(), err.value.as_str(), err.at.as_deref()),
                (field, value, Some(at)),
                "{toml:?}: {err}"
            );
            assert!(!err.to_string().contains('\n'), "{err}");
        }
    }
}
