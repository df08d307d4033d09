//! Which buckets a histogram family gets. A family `summary_metrics` names is a summary (no
//! buckets; quantiles over a window). Otherwise, in order: a `bucket_overrides` rule for its exact name,
//! then the longest `prefix*` or `*suffix` rule that matches, then `histogram_buckets_seconds` for
//! a histogram in seconds (described with `Unit::Seconds`, or named `*_seconds` as Prometheus'
//! naming convention has it) and `histogram_buckets_bytes` for one in bytes (`Unit::Bytes`,
//! `*_bytes`), then `histogram_buckets`. A unit described after the family's first series took
//! its buckets cannot change them; it is counted (`late_unit`) and, natively, logged. A rule matches the name as recorded
//! (`http.request.duration`) or as exposed (`http_request_duration`, with the prefix).
//!
//! Third-party crates record seconds, the plan's defaults are milliseconds: without the seconds
//! rule every `*_seconds` histogram from a dependency would fall into the first bucket.

use std::sync::Arc;

use super::config::RecorderConfig;
use crate::error::{invalid, ConfigError};
use crate::hash::HashMap;
use crate::naming;
use crate::recorder::storage::{CounterCell, HistogramShape, Named};
use crate::recorder::summary::SummaryShape;

/// The default `histogram_buckets_bytes`: 1 KiB to 1 GiB by fours.
pub const BYTES_BUCKETS: [f64; 11] = [
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

/// What a histogram family's values are in, as far as the recorder knows: described with a unit,
/// or named after one (`*_seconds`, `*_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    /// No unit said: by its name, or the default buckets.
    Unknown,
    /// `Unit::Seconds`.
    Seconds,
    /// `Unit::Bytes`.
    Bytes,
}

/// The default `histogram_buckets_seconds`: the Prometheus clients' default buckets.
pub const SECONDS_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How a `bucket_overrides` key matches names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Matcher<'a> {
    /// `name`: exactly this name.
    Full(&'a str),
    /// `name*`: names starting with this.
    Prefix(&'a str),
    /// `*name`: names ending with this.
    Suffix(&'a str),
}

impl<'a> Matcher<'a> {
    /// Reads a `bucket_overrides` key; `None` for an empty one or a `*` anywhere but one end.
    pub(crate) fn parse(key: &'a str) -> Option<Self> {
        let matcher = if let Some(p) = key.strip_suffix('*') {
            Matcher::Prefix(p)
        } else if let Some(s) = key.strip_prefix('*') {
            Matcher::Suffix(s)
        } else {
            Matcher::Full(key)
        };
        let text = match matcher {
            Matcher::Full(t) | Matcher::Prefix(t) | Matcher::Suffix(t) => t,
        };
        (!text.is_empty() && !text.contains('*')).then_some(matcher)
    }

    fn matches(self, name: &str) -> bool {
        match self {
            Matcher::Full(t) => name == t,
            Matcher::Prefix(t) => name.starts_with(t),
            Matcher::Suffix(t) => name.ends_with(t),
        }
    }
}

/// The config's bucket rules, each shape built once and shared by its families' series.
#[derive(Debug)]
pub(crate) struct BucketRules {
    exact: HashMap<String, Arc<HistogramShape>>,
    /// `prefix*` and `*suffix` rules in key order (the longest match wins, found by a scan: a
    /// sort here would be one more instance of the standard sort in the wasm module).
    patterns: Vec<(String, Arc<HistogramShape>)>,
    seconds: Arc<HistogramShape>,
    bytes: Arc<HistogramShape>,
    default: Arc<HistogramShape>,
    /// `summary_metrics`, and the one shape every summary family shares.
    summaries: Vec<String>,
    /// `native_histogram_metrics`, and what their native buckets are.
    #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
    natives: Vec<String>,
    #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
    native: (f64, u32, f64, bool),
    #[cfg(feature = "summary")]
    summary: Arc<HistogramShape>,
    sample_rate: f64,
    nan_drops: Arc<Named<CounterCell>>,
}

impl BucketRules {
    pub(crate) fn new(config: &RecorderConfig, nan_drops: Arc<Named<CounterCell>>) -> Self {
        let shape = |b: &[f64]| {
            Arc::new(HistogramShape::new(
                b,
                config.sample_rate,
                nan_drops.clone(),
            ))
        };
        let mut exact = HashMap::default();
        let mut patterns = Vec::new();
        for (key, buckets) in &config.bucket_overrides {
            match Matcher::parse(key) {
                Some(Matcher::Full(name)) => {
                    exact.insert(name.to_owned(), shape(buckets));
                }
                Some(_) => patterns.push((key.clone(), shape(buckets))),
                // Refused by validation.
                None => {}
            }
        }
        #[cfg(feature = "summary")]
        let summary = SummaryShape::sketched(
            &config.summary_quantiles,
            config.summary_window_secs,
            config.summary_window_buckets,
        );
        BucketRules {
            exact,
            patterns,
            seconds: shape(&config.histogram_buckets_seconds),
            bytes: shape(&config.histogram_buckets_bytes),
            default: shape(&config.histogram_buckets),
            summaries: config.summary_metrics.clone(),
            #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
            natives: config.native_histogram_metrics.clone(),
            #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
            native: (
                config.native_histogram_bucket_factor,
                config.native_histogram_max_buckets,
                config.native_histogram_zero_threshold,
                config.native_histogram_classic_buckets,
            ),
            #[cfg(feature = "summary")]
            summary: Arc::new(HistogramShape::summary(
                summary,
                config.sample_rate,
                nan_drops.clone(),
            )),
            sample_rate: config.sample_rate,
            nan_drops,
        }
    }

    /// The shape of a summary family whose quantiles the caller sets.
    pub(crate) fn given_summary(&self, quantiles: &[f64]) -> Arc<HistogramShape> {
        Arc::new(HistogramShape::summary(
            SummaryShape::given(quantiles),
            self.sample_rate,
            self.nan_drops.clone(),
        ))
    }

    /// A shape of `bounds` under the config's sampling, for buckets given at run time.
    pub(crate) fn shape(&self, bounds: &[f64]) -> Arc<HistogramShape> {
        Arc::new(HistogramShape::new(
            bounds,
            self.sample_rate,
            self.nan_drops.clone(),
        ))
    }

    /// The shape of a new histogram family recorded as `raw` and exposed as `exposed`.
    pub(crate) fn shape_for(&self, raw: &str, exposed: &str, scale: Scale) -> Arc<HistogramShape> {
        let classic = self.classic_shape_for(raw, exposed, scale);
        #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
        if classic.summary_free() && matches(&self.natives, raw, exposed) {
            let (factor, max_buckets, zero, keep_classic) = self.native;
            let native = crate::recorder::native::NativeShape::new(factor, max_buckets, zero);
            return Arc::new(classic.with_native(native, keep_classic));
        }
        classic
    }

    /// The shape of a new family without native buckets.
    fn classic_shape_for(&self, raw: &str, exposed: &str, scale: Scale) -> Arc<HistogramShape> {
        let names = [raw, exposed];
        #[cfg(feature = "summary")]
        if self.is_summary(raw, exposed) {
            return self.summary.clone();
        }
        if let Some(shape) = names.iter().find_map(|n| self.exact.get(*n)) {
            return shape.clone();
        }
        let matching = self
            .patterns
            .iter()
            .filter(|(key, _)| {
                Matcher::parse(key).is_some_and(|m| names.iter().any(|n| m.matches(n)))
            })
            // The first of the longest.
            .fold(None, |best: Option<&(String, _)>, rule| match best {
                Some(best) if best.0.len() >= rule.0.len() => Some(best),
                _ => Some(rule),
            });
        if let Some((_, shape)) = matching {
            return shape.clone();
        }
        match scale {
            Scale::Seconds => self.seconds.clone(),
            Scale::Bytes => self.bytes.clone(),
            Scale::Unknown if exposed.ends_with("_seconds") => self.seconds.clone(),
            Scale::Unknown if exposed.ends_with("_bytes") => self.bytes.clone(),
            Scale::Unknown => self.default.clone(),
        }
    }
}

impl BucketRules {
    /// Whether `summary_metrics` names the family recorded as `raw` and exposed as `exposed`.
    pub(crate) fn is_summary(&self, raw: &str, exposed: &str) -> bool {
        matches(&self.summaries, raw, exposed)
    }

    /// Whether `native_histogram_metrics` names any family.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub(crate) fn has_natives(&self) -> bool {
        !self.natives.is_empty()
    }
}

/// Whether any of `keys` (names, `prefix*`, `*suffix`) names the family recorded as `raw` and
/// exposed as `exposed`.
fn matches(keys: &[String], raw: &str, exposed: &str) -> bool {
    keys.iter()
        .any(|key| Matcher::parse(key).is_some_and(|m| m.matches(raw) || m.matches(exposed)))
}

/// Checks summary quantiles as `summary_quantiles` takes them (each in `[0, 1]`, strictly
/// increasing, at least one); the error names `field`.
pub(crate) fn validate_quantiles(field: &str, quantiles: &[f64]) -> Result<(), ConfigError> {
    if quantiles.is_empty() {
        return Err(invalid(field, "[]", "must not be empty"));
    }
    if let Some(&q) = quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(invalid(
            field,
            naming::Num(q),
            "each must be between 0 and 1",
        ));
    }
    if let Some(pair) = quantiles.windows(2).find(|w| w[0] >= w[1]) {
        return Err(invalid(
            field,
            naming::Num(pair[1]),
            "must be strictly increasing",
        ));
    }
    Ok(())
}

/// Checks histogram bounds as `histogram_buckets` takes them; the error names `field`.
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

    #[test]
    fn matchers() {
        assert_eq!(Matcher::parse("a_b"), Some(Matcher::Full("a_b")));
        assert_eq!(Matcher::parse("http_*"), Some(Matcher::Prefix("http_")));
        assert_eq!(Matcher::parse("*_bytes"), Some(Matcher::Suffix("_bytes")));
        for bad in ["", "*", "**", "a*b", "*a*"] {
            assert_eq!(Matcher::parse(bad), None, "{bad}");
        }
    }

    fn rules(toml: &str) -> BucketRules {
        let config = crate::MetricsConfig::from_toml_str(toml).unwrap();
        let drops = crate::recorder::storage::DropCounts::new("d");
        BucketRules::new(
            &config.recorder,
            drops
                .cell(crate::recorder::DropReason::NanObservation)
                .clone(),
        )
    }

    #[test]
    fn exact_beats_the_longest_pattern_which_beats_units_and_defaults() {
        let r = rules(
            "histogram_buckets = [1]\nhistogram_buckets_seconds = [2]\n[bucket_overrides]\n\
             \"http.request\" = [3]\n\"http_*\" = [4]\n\"http_req*\" = [5]\n\"*_bytes\" = [6]\n",
        );
        let first = |raw: &str, exposed: &str, scale| r.shape_for(raw, exposed, scale).bounds[0];
        use Scale::{Seconds, Unknown};
        assert_eq!(first("http.request", "http_request", Unknown), 3.0);
        assert_eq!(first("http.requests", "http_requests", Unknown), 5.0);
        assert_eq!(first("http.x", "http_x", Seconds), 4.0);
        assert_eq!(first("body_bytes", "body_bytes", Seconds), 6.0);
        assert_eq!(first("latency", "latency", Seconds), 2.0);
        assert_eq!(first("latency.seconds", "latency_seconds", Unknown), 2.0);
        assert_eq!(first("latency", "latency", Unknown), 1.0);
    }

    /// A histogram in bytes, by its unit or its name, gets byte-scale buckets, not the
    /// millisecond defaults.
    #[test]
    fn bytes_get_byte_buckets() {
        let r = rules("histogram_buckets_bytes = [512, 4096]\n");
        let bounds = |raw: &str, scale| r.shape_for(raw, raw, scale).bounds.to_vec();
        assert_eq!(bounds("payload", Scale::Bytes), [512.0, 4096.0]);
        assert_eq!(bounds("payload_bytes", Scale::Unknown), [512.0, 4096.0]);
        assert_eq!(
            bounds("payload", Scale::Unknown),
            rules("").default.bounds.to_vec()
        );
        assert_eq!(rules("").bytes.bounds.to_vec(), BYTES_BUCKETS);
    }

    #[cfg(feature = "summary")]
    #[test]
    fn summary_metrics_beat_every_bucket_rule() {
        let r = rules(
            "summary_metrics = [\"lat_seconds\", \"rpc_*\"]\n[bucket_overrides]\nlat_seconds = [3]\n",
        );
        assert!(r
            .shape_for("lat_seconds", "lat_seconds", Scale::Seconds)
            .summary
            .is_some());
        assert!(r
            .shape_for("rpc.call", "rpc_call", Scale::Unknown)
            .summary
            .is_some());
        assert!(r
            .shape_for("other", "other", Scale::Unknown)
            .summary
            .is_none());
    }
}
