//! Remote-write settings: the `[remote_write]` table of the config.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError};
use crate::sinks::http::{apply_sink_env, SinkFields};
use crate::sinks::http::{
    validate_auth, validate_headers, validate_timer_ms, validate_url, BasicAuth, RetryPolicy,
    Secret,
};

/// The headers remote write 1.0 sets itself; configured headers may not change them.
pub(crate) const PROTOCOL_HEADERS: [&str; 4] = [
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
];

/// Where and how to write: the `[remote_write]` table of the config.
///
/// Every series written carries `job` and `instance`. Give each producer its own `instance` (the
/// default is a value generated once per recorder, unique per process or isolate), so producers
/// never overwrite each other; totals come from `sum(...)` across instances.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RemoteWriteConfig {
    /// The receiver's write endpoint, e.g. `http://127.0.0.1:9090/api/v1/write`. A query is
    /// allowed (some receivers take `?extra_label=`). Required.
    pub url: String,
    /// The `job` label of every series. Required, non-empty.
    pub job: String,
    /// The `instance` label of every series. Default: generated per recorder.
    pub instance: Option<String>,
    /// Extra request headers, such as `X-Scope-OrgID` for Mimir; never the protocol's own.
    pub headers: BTreeMap<String, String>,
    /// Basic authentication. Not together with `bearer_token`.
    pub basic_auth: Option<BasicAuth>,
    /// A bearer token. Not together with `basic_auth`.
    pub bearer_token: Option<Secret>,
    /// Deadline of one request, in milliseconds. Default: 5000.
    pub timeout_ms: u64,
    /// Deadline of the final write (with the stale markers) at shutdown, retries included, in
    /// milliseconds. Default: 15000.
    pub shutdown_timeout_ms: u64,
    /// Retries of each request: 5xx, 429, no connection and timeouts only.
    pub retry: RetryPolicy,
    /// Samples per request, at least 1; a write of more is split. Default: 2000.
    pub max_samples_per_send: usize,
    /// A PEM file of CA certificates trusted besides the platform's store (natively). Default: none.
    pub ca_file: Option<String>,
    /// Whether a histogram the recorder keeps native buckets for (`native_histogram_metrics`) also
    /// goes as a native histogram (`TimeSeries.histograms`): a series of the family's own name,
    /// which Prometheus takes when started with `--enable-feature=native-histograms` (without it,
    /// it refuses the whole write, a final error that names the flag). VictoriaMetrics 1.79 answers
    /// 204 and stores nothing of one: leave this off for it, and it gets the classic buckets. The
    /// classic `_bucket`/`_sum`/`_count` series go either way, unless the family keeps none
    /// (`native_histogram_classic_buckets = false`). Natively only. Default: false.
    pub native_histograms: bool,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            url: String::new(),
            job: String::new(),
            instance: None,
            headers: BTreeMap::new(),
            basic_auth: None,
            bearer_token: None,
            timeout_ms: 5000,
            shutdown_timeout_ms: 15_000,
            retry: RetryPolicy::default(),
            max_samples_per_send: 2000,
            ca_file: None,
            native_histograms: false,
        }
    }
}

impl fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteConfig")
            .field("url", &crate::sinks::http::redact_url(&self.url))
            .field("job", &self.job)
            .field("instance", &self.instance)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("basic_auth", &self.basic_auth)
            .field("bearer_token", &self.bearer_token)
            .field("timeout_ms", &self.timeout_ms)
            .field("shutdown_timeout_ms", &self.shutdown_timeout_ms)
            .field("retry", &self.retry)
            .field("max_samples_per_send", &self.max_samples_per_send)
            .field("ca_file", &self.ca_file)
            .field("native_histograms", &self.native_histograms)
            .finish()
    }
}

impl RemoteWriteConfig {
    /// The labels the writer sets on every series: a recorder that writes remotely renames a
    /// series' own label of either name `exported_<name>` at registration.
    pub(crate) fn reserved(&self) -> crate::recorder::config::Reserved {
        crate::recorder::config::Reserved {
            labels: vec!["job".to_owned(), "instance".to_owned()],
            families: Vec::new(),
        }
    }

    /// A config for `url` and `job` with every other setting at its default.
    pub fn new(url: impl Into<String>, job: impl Into<String>) -> Self {
        RemoteWriteConfig {
            url: url.into(),
            job: job.into(),
            ..RemoteWriteConfig::default()
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

    /// Checks every setting; errors name the field as `remote_write.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_url("remote_write.url", &self.url, true)?;
        if self.job.is_empty() {
            return Err(invalid("remote_write.job", &self.job, "must not be empty"));
        }
        if self.instance.as_deref() == Some("") {
            return Err(invalid(
                "remote_write.instance",
                "",
                "must not be empty (leave it out for a generated one)",
            ));
        }
        validate_timer_ms("remote_write.timeout_ms", self.timeout_ms, 1)?;
        validate_timer_ms(
            "remote_write.shutdown_timeout_ms",
            self.shutdown_timeout_ms,
            1,
        )?;
        validate_auth(
            "remote_write",
            &self.url,
            self.basic_auth.is_some(),
            self.bearer_token.is_some(),
        )?;
        validate_headers("remote_write.headers", &self.headers, &PROTOCOL_HEADERS)?;
        self.retry.validate("remote_write.retry")?;
        if self.max_samples_per_send == 0 {
            return Err(invalid(
                "remote_write.max_samples_per_send",
                0usize,
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl RemoteWriteConfig {
    /// Applies one `OBSERVER_METRICS_REMOTE_WRITE_<FIELD>` variable, `field` in lower case without
    /// the prefix; the error is the reason.
    pub(crate) fn apply_env(&mut self, field: &str, value: &str) -> Result<(), &'static str> {
        let rw = self;
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
            "native_histograms" => rw.native_histograms = crate::env::flag(value)?,
            _ => return Err("unknown variable"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_fields() {
        let ok = RemoteWriteConfig::new("http://127.0.0.1:9090/api/v1/write?extra_label=a=b", "j");
        ok.validate().unwrap();
        type Edit = Box<dyn Fn(&mut RemoteWriteConfig)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|c| c.url = "ftp://x".into()), "remote_write.url"),
            (Box::new(|c| c.job = String::new()), "remote_write.job"),
            (
                Box::new(|c| c.instance = Some(String::new())),
                "remote_write.instance",
            ),
            (Box::new(|c| c.timeout_ms = 0), "remote_write.timeout_ms"),
            (
                Box::new(|c| c.max_samples_per_send = 0),
                "remote_write.max_samples_per_send",
            ),
            (Box::new(|c| c.retry.tries = 0), "remote_write.retry.tries"),
            (
                Box::new(|c| {
                    c.headers.insert("Content-Encoding".into(), "gzip".into());
                }),
                "remote_write.headers.Content-Encoding",
            ),
        ];
        for (edit, field) in cases {
            let mut c = ok.clone();
            edit(&mut c);
            assert_eq!(c.validate().unwrap_err().field, field);
        }
    }
}
