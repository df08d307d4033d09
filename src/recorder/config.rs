//! `RecorderConfig`: what the recorder records and how (buckets, sampling, limits, labels,
//! prefix), and what the sinks downstream reserve in it. It knows no sink: a sink says what it
//! reserves ([`Reserved`]), and the config that composes them passes that in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::buckets::{validate_buckets, Matcher, SECONDS_BUCKETS};
use super::index::{Kind, OVERFLOW_LABEL};
use crate::error::{invalid, ConfigError};
use crate::naming;

/// The default `summary_quantiles`: metrics-exporter-prometheus' (a user moving from it keeps
/// their quantile series).
pub const SUMMARY_QUANTILES: [f64; 7] = [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0];

/// The default `native_histogram_zero_threshold`, client_golang's: 2^-128.
pub const NATIVE_ZERO_THRESHOLD: f64 = 2.938735877055719e-39;

/// The least `max_label_value_bytes` other than 0: room for some of the value and the `…`.
const MIN_LABEL_VALUE_BYTES: usize = 16;

/// Settings of the recorder: the top-level keys of a config file. `Default` is the plan's:
/// enabled, buckets `[1, 5, 10, 50, 100, 500, 1000, 5000, 10000]`, `sample_rate` 1.0.
///
/// ```
/// let config = observer_metrics::MetricsConfig::from_toml_str(r#"
///     histogram_buckets = [0.5, 1, 2]
///     prefix = "observer"
///     [global_labels]
///     service = "billing"
/// "#).unwrap();
/// assert_eq!(config.recorder.sample_rate, 1.0);
/// assert_eq!(config.recorder.global_labels["service"], "billing");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RecorderConfig {
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
    /// Upper bounds of the buckets of histograms in seconds: those described with
    /// `Unit::Seconds` and those named `*_seconds`, as third-party crates record them. Default:
    /// `[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]`.
    pub histogram_buckets_seconds: Vec<f64>,
    /// Upper bounds of the buckets of histograms in bytes: those described with `Unit::Bytes` and
    /// those named `*_bytes`. Default: `[1 KiB, 4 KiB, …, 1 GiB]`, by fours.
    pub histogram_buckets_bytes: Vec<f64>,
    /// Buckets by histogram name, replacing the defaults above. A key is a full name, a prefix
    /// (`"http_*"`) or a suffix (`"*_bytes"`), matched against the name as recorded or as exposed;
    /// an exact name beats a pattern, and a longer pattern a shorter one. Default: none.
    pub bucket_overrides: BTreeMap<String, Vec<f64>>,
    /// Histograms recorded as summaries instead: quantiles over a rolling window (see
    /// `summary_quantiles`, `summary_window_secs`), with `_sum` and `_count` over the lifetime. A
    /// key is a full name, `prefix*` or `*suffix`, as in `bucket_overrides`. Summaries cannot be
    /// aggregated across producers (a quantile of quantiles means nothing): for many producers
    /// keep histograms. Default: none.
    pub summary_metrics: Vec<String>,
    /// The quantiles a summary renders, each in `[0, 1]`, strictly increasing. `0` and `1` are the
    /// window's exact least and greatest observation; the others are within 1% of the true value
    /// (a DDSketch, `metrics-util`'s `Summary`). Default: `[0, 0.5, 0.9, 0.95, 0.99, 0.999, 1]`.
    pub summary_quantiles: Vec<f64>,
    /// Seconds a summary's quantiles cover, from 1 to 86,400. Default: 60.
    pub summary_window_secs: u64,
    /// How many slots the window rolls in, from 1 to 60. An observation counts from the next
    /// render (or the 256th observation of its series after it) and leaves the quantiles a slot at
    /// a time, between `summary_window_secs` minus one slot and `summary_window_secs` later; with
    /// one slot, the quantiles are those of the slot begun last. Default: 3.
    pub summary_window_buckets: u32,
    /// Histograms that also keep native (sparse, exponential) buckets, for the protobuf
    /// exposition (a scrape that asks for it): names as `bucket_overrides` takes them. Their
    /// classic buckets stay. Native only: the wasm package has none. Default: none.
    pub native_histogram_metrics: Vec<String>,
    /// The most a native bucket's bound may grow from one bucket to the next, above 1: the schema
    /// is the coarsest within it (1.1 gives schema 3, 8 buckets a doubling, a factor of 1.09), as
    /// client_golang picks it. Default: 1.1.
    pub native_histogram_bucket_factor: f64,
    /// The most native buckets a series keeps: past it, the schema drops by one (buckets double
    /// in width) until it fits, as client_golang does. `0` is no limit. Default: 160.
    pub native_histogram_max_buckets: u32,
    /// Observations within this of 0 go to the zero bucket. Default: 2^-128, client_golang's.
    pub native_histogram_zero_threshold: f64,
    /// Whether a native histogram family keeps its classic buckets too. With `false` it keeps
    /// none (less memory and fewer series): the text exposition shows its `le="+Inf"`, `_sum` and
    /// `_count` alone, the protobuf one the native histogram, and remote write with
    /// `native_histograms` on sends the native histogram alone. Default: true.
    pub native_histogram_classic_buckets: bool,
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
    /// them a meaning), and not a label a configured sink sets (`job`, a push grouping label, remote write's `instance`). Default:
    /// none.
    pub global_labels: BTreeMap<String, String>,
    /// The longest label value kept, in bytes, `0` for no limit. A longer value is cut at a UTF-8
    /// character boundary and ends in `…` (so the cut shows), within this many bytes, and counted
    /// in `observer_metrics_dropped_total{reason="label_too_long"}`; the series is kept. A value
    /// of megabytes would otherwise go into every push and write of its series. Default: 4096.
    pub max_label_value_bytes: usize,
    /// A namespace put in front of every metric name with `_` between, e.g. `observer`. Must be a
    /// valid metric name. Default: none.
    pub prefix: Option<String>,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            enabled: true,
            histogram_buckets: vec![1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0],
            sample_rate: 1.0,
            histogram_buckets_seconds: SECONDS_BUCKETS.to_vec(),
            histogram_buckets_bytes: super::buckets::BYTES_BUCKETS.to_vec(),
            bucket_overrides: BTreeMap::new(),
            summary_metrics: Vec::new(),
            summary_quantiles: SUMMARY_QUANTILES.to_vec(),
            summary_window_secs: 60,
            summary_window_buckets: 3,
            native_histogram_metrics: Vec::new(),
            native_histogram_bucket_factor: 1.1,
            native_histogram_max_buckets: 160,
            native_histogram_zero_threshold: NATIVE_ZERO_THRESHOLD,
            native_histogram_classic_buckets: true,
            max_series_per_metric: 10_000,
            idle_timeout_secs: None,
            global_labels: BTreeMap::new(),
            max_label_value_bytes: 4096,
            prefix: None,
        }
    }
}

/// What the sinks a recorder feeds reserve in it, decided when it is built.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reserved {
    /// Labels a sink sets on every series (push: `job` and the grouping labels; remote write:
    /// `job` and `instance`). A series' own label of such a name is renamed `exported_<name>`, as
    /// Prometheus does for clashing target labels: the gateway would overwrite it (merging distinct
    /// series and refusing the whole push) and a receiver refuses a label name twice. A global
    /// label may not have one.
    pub(crate) labels: Vec<String>,
    /// Families a receiver exports itself with a fixed type (the Pushgateway's `go_*`,
    /// `process_*`, ...): a caller's family of such a name with another type is refused
    /// (`reserved_name`), since the receiver would refuse the whole send.
    pub(crate) families: Vec<(&'static str, Kind)>,
}

impl Reserved {
    /// Both reservations together.
    #[cfg_attr(not(feature = "push"), allow(dead_code))]
    pub(crate) fn merge(mut self, other: Reserved) -> Reserved {
        for label in other.labels {
            if !self.labels.contains(&label) {
                self.labels.push(label);
            }
        }
        self.families.extend(other.families);
        self
    }
}

impl RecorderConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(&Reserved::default())
    }

    /// [`validate`](Self::validate), with the labels the sinks set refused as global labels.
    pub(crate) fn validate_with(&self, reserved: &Reserved) -> Result<(), ConfigError> {
        validate_buckets("histogram_buckets", &self.histogram_buckets)?;
        validate_buckets("histogram_buckets_seconds", &self.histogram_buckets_seconds)?;
        validate_buckets("histogram_buckets_bytes", &self.histogram_buckets_bytes)?;
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
        for (name, buckets) in &self.bucket_overrides {
            if Matcher::parse(name).is_none() {
                return Err(invalid(
                    "bucket_overrides",
                    name,
                    "a key is a metric name, `prefix*` or `*suffix`: not empty, and `*` only at \
                     one end",
                ));
            }
            validate_buckets(&format!("bucket_overrides.{name}"), buckets)?;
        }
        #[cfg(not(feature = "summary"))]
        if let Some(name) = self.summary_metrics.first() {
            return Err(invalid(
                "summary_metrics",
                name,
                "this build has no summaries (the cargo feature `summary`; the wasm package leaves \
                 it out): record a histogram",
            ));
        }
        #[cfg(feature = "summary")]
        self.validate_summaries()?;
        self.validate_native_histograms()?;
        for name in self.global_labels.keys() {
            let field = || format!("global_labels.{name}");
            if !naming::is_valid_label_name(name) {
                return Err(invalid(
                    field(),
                    name,
                    "label names match [a-zA-Z_][a-zA-Z0-9_]* and do not start with __",
                ));
            }
            if matches!(name.as_str(), "le" | "quantile" | OVERFLOW_LABEL) {
                return Err(invalid(
                    field(),
                    name,
                    "is reserved: the text format reads le and quantile as a bucket bound or a \
                     quantile (a gateway refuses the whole push), and otel_metric_overflow marks \
                     the series past max_series_per_metric",
                ));
            }
            if name == "job" || reserved.labels.iter().any(|g| g == name) {
                return Err(invalid(
                    field(),
                    name,
                    "is set by the sink on every series: job by every sink (a scrape too), \
                     push.grouping by the gateway, instance by remote write",
                ));
            }
        }
        if (1..MIN_LABEL_VALUE_BYTES).contains(&self.max_label_value_bytes) {
            return Err(invalid(
                "max_label_value_bytes",
                self.max_label_value_bytes,
                format!("must be 0 (no limit) or at least {MIN_LABEL_VALUE_BYTES}"),
            ));
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
        Ok(())
    }

    /// The native histogram settings: the error names the first bad one.
    fn validate_native_histograms(&self) -> Result<(), ConfigError> {
        for name in &self.native_histogram_metrics {
            if cfg!(any(
                target_arch = "wasm32",
                not(any(feature = "pull", feature = "push"))
            )) {
                return Err(invalid(
                    "native_histogram_metrics",
                    name,
                    "this build has no native histograms (they need the protobuf exposition of \
                     the `pull` or `push` feature; the wasm package has none): record a histogram",
                ));
            }
            if Matcher::parse(name).is_none() {
                return Err(invalid(
                    "native_histogram_metrics",
                    name,
                    "an entry is a metric name, `prefix*` or `*suffix`: not empty, and `*` only at \
                     one end",
                ));
            }
        }
        let factor = self.native_histogram_bucket_factor;
        if !(factor > 1.0 && factor.is_finite()) {
            return Err(invalid(
                "native_histogram_bucket_factor",
                naming::Num(factor),
                "must be a number above 1",
            ));
        }
        let zero = self.native_histogram_zero_threshold;
        if !(zero >= 0.0 && zero.is_finite()) {
            return Err(invalid(
                "native_histogram_zero_threshold",
                naming::Num(zero),
                "must be a finite number, at least 0",
            ));
        }
        Ok(())
    }

    /// The summary settings: the error names the first bad one.
    #[cfg(feature = "summary")]
    fn validate_summaries(&self) -> Result<(), ConfigError> {
        for name in &self.summary_metrics {
            if Matcher::parse(name).is_none() {
                return Err(invalid(
                    "summary_metrics",
                    name,
                    "an entry is a metric name, `prefix*` or `*suffix`: not empty, and `*` only at \
                     one end",
                ));
            }
        }
        super::buckets::validate_quantiles("summary_quantiles", &self.summary_quantiles)?;
        if !(1..=86_400).contains(&self.summary_window_secs) {
            return Err(invalid(
                "summary_window_secs",
                self.summary_window_secs,
                "must be between 1 and 86400",
            ));
        }
        if !(1..=60).contains(&self.summary_window_buckets) {
            return Err(invalid(
                "summary_window_buckets",
                self.summary_window_buckets,
                "must be between 1 and 60",
            ));
        }
        Ok(())
    }

    /// Reads the file's key `key` into its field, from `map`'s next value; `false` when `key` is
    /// not one of the recorder's. (Field by field, so that an error keeps its position in the
    /// file: the `every_field_reads_back` test checks that no field is left out here.)
    pub(crate) fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "enabled" => self.enabled = map.next_value()?,
            "histogram_buckets" => self.histogram_buckets = map.next_value()?,
            "sample_rate" => self.sample_rate = map.next_value()?,
            "histogram_buckets_seconds" => self.histogram_buckets_seconds = map.next_value()?,
            "histogram_buckets_bytes" => self.histogram_buckets_bytes = map.next_value()?,
            "bucket_overrides" => self.bucket_overrides = map.next_value()?,
            "summary_metrics" => self.summary_metrics = map.next_value()?,
            "summary_quantiles" => self.summary_quantiles = map.next_value()?,
            "summary_window_secs" => self.summary_window_secs = map.next_value()?,
            "summary_window_buckets" => self.summary_window_buckets = map.next_value()?,
            "native_histogram_metrics" => self.native_histogram_metrics = map.next_value()?,
            "native_histogram_bucket_factor" => {
                self.native_histogram_bucket_factor = map.next_value()?
            }
            "native_histogram_max_buckets" => {
                self.native_histogram_max_buckets = map.next_value()?
            }
            "native_histogram_zero_threshold" => {
                self.native_histogram_zero_threshold = map.next_value()?
            }
            "native_histogram_classic_buckets" => {
                self.native_histogram_classic_buckets = map.next_value()?
            }
            "max_series_per_metric" => self.max_series_per_metric = map.next_value()?,
            "idle_timeout_secs" => self.idle_timeout_secs = map.next_value()?,
            "global_labels" => self.global_labels = map.next_value()?,
            "max_label_value_bytes" => self.max_label_value_bytes = map.next_value()?,
            "prefix" => self.prefix = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Applies one `OBSERVER_METRICS_<FIELD>` variable of the recorder, `field` in lower case
    /// without the prefix. `None` when `field` is not one of the recorder's; otherwise the reason a
    /// value was refused.
    pub(crate) fn apply_env(
        &mut self,
        field: &str,
        value: &str,
    ) -> Option<Result<(), &'static str>> {
        use crate::env::parsed as whole;
        let applied = match field {
            "enabled" => whole(value, "expected true or false").map(|v| self.enabled = v),
            "histogram_buckets" => crate::env::numbers(value).map(|v| self.histogram_buckets = v),
            "histogram_buckets_bytes" => {
                crate::env::numbers(value).map(|v| self.histogram_buckets_bytes = v)
            }
            "histogram_buckets_seconds" => {
                crate::env::numbers(value).map(|v| self.histogram_buckets_seconds = v)
            }
            "summary_metrics" => {
                self.summary_metrics = crate::env::names(value);
                Ok(())
            }
            "summary_quantiles" => crate::env::numbers(value).map(|v| self.summary_quantiles = v),
            "summary_window_secs" => whole(value, "expected a whole number of seconds")
                .map(|v| self.summary_window_secs = v),
            "summary_window_buckets" => {
                whole(value, "expected a whole number").map(|v| self.summary_window_buckets = v)
            }
            "native_histogram_metrics" => {
                self.native_histogram_metrics = crate::env::names(value);
                Ok(())
            }
            "native_histogram_bucket_factor" => {
                whole(value, "expected a number").map(|v| self.native_histogram_bucket_factor = v)
            }
            "native_histogram_max_buckets" => whole(value, "expected a whole number (0: no limit)")
                .map(|v| self.native_histogram_max_buckets = v),
            "native_histogram_zero_threshold" => {
                whole(value, "expected a number").map(|v| self.native_histogram_zero_threshold = v)
            }
            "native_histogram_classic_buckets" => whole(value, "expected true or false")
                .map(|v| self.native_histogram_classic_buckets = v),
            "max_series_per_metric" => whole(value, "expected a whole number (0: no limit)")
                .map(|v| self.max_series_per_metric = v),
            "idle_timeout_secs" => {
                let value = value.trim();
                if value.is_empty() {
                    self.idle_timeout_secs = None;
                    Ok(())
                } else {
                    whole(value, "expected a whole number")
                        .map(|v| self.idle_timeout_secs = Some(v))
                }
            }
            "sample_rate" => whole(value, "expected a number").map(|v| self.sample_rate = v),
            "global_labels" => crate::env::pairs(value, &mut self.global_labels),
            "max_label_value_bytes" => {
                whole(value, "expected a whole number of bytes (0: no limit)")
                    .map(|v| self.max_label_value_bytes = v)
            }
            "prefix" => {
                self.prefix = Some(value.trim().to_owned()).filter(|p| !p.is_empty());
                Ok(())
            }
            _ => return None,
        };
        Some(applied)
    }
}
