//! The recorder and sink settings, as the JS side hands them over: already checked for names,
//! types and ranges (`wasm/js/options.js`, which writes its messages in JS so the module carries
//! none of them), in plain values. What only the core can judge (a URL, a header value, a label
//! name, a timer's range) is refused by its validation, and the error goes back as
//! `field NUL value NUL reason` for the JS side to name the option as JS spells it.

use std::collections::BTreeMap;

use observer_metrics::export::RetryPolicy;
use observer_metrics::push::{PushConfig, PushMethod};
use observer_metrics::remote_write::RemoteWriteConfig;
use observer_metrics::{ConfigError, MetricsConfig};
use wasm_bindgen::prelude::*;

/// Pairs written as `name NUL value NUL …`.
pub(crate) fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut parts = text.split('\0');
    std::iter::from_fn(move || Some((parts.next()?, parts.next()?)))
}

/// `[tries, base, max, jitter]` over the defaults; empty is the defaults.
fn retry_policy(values: &[f64]) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    if let [tries, base, max, jitter] = *values {
        policy.tries = tries as u32;
        policy.base_backoff_ms = base as u64;
        policy.max_backoff_ms = max as u64;
        policy.jitter = jitter;
    }
    policy
}

fn map(text: &str) -> BTreeMap<String, String> {
    pairs(text)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A core config error, for the JS side to name by its option.
pub(crate) fn config_error(e: ConfigError) -> JsValue {
    js_sys::Error::new(&format!("{}\0{}\0{}", e.field, e.value, e.reason)).into()
}

/// The settings of one instance, each as JS checked it; absent numbers are `NaN`, absent lists
/// empty.
#[wasm_bindgen]
pub struct Settings {
    config: MetricsConfig,
}

#[wasm_bindgen]
impl Settings {
    /// The recorder's settings.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        enabled: bool,
        interval_secs: f64,
        sample_rate: f64,
        max_series: f64,
        max_label_value_bytes: f64,
        idle_secs: f64,
        prefix: Option<String>,
        global_labels: &str,
        buckets: Vec<f64>,
        seconds_buckets: Vec<f64>,
    ) -> Settings {
        let mut config = MetricsConfig::default();
        config.recorder.enabled = enabled;
        if !interval_secs.is_nan() {
            config.export_interval_secs = interval_secs as u64;
        }
        if !sample_rate.is_nan() {
            config.recorder.sample_rate = sample_rate;
        }
        if !max_series.is_nan() {
            config.recorder.max_series_per_metric = max_series as usize;
        }
        if !max_label_value_bytes.is_nan() {
            config.recorder.max_label_value_bytes = max_label_value_bytes as usize;
        }
        if !idle_secs.is_nan() {
            config.recorder.idle_timeout_secs = Some(idle_secs as u64);
        }
        config.recorder.prefix = prefix;
        config.recorder.global_labels = map(global_labels);
        if !buckets.is_empty() {
            config.recorder.histogram_buckets = buckets;
        }
        if !seconds_buckets.is_empty() {
            config.recorder.histogram_buckets_seconds = seconds_buckets;
        }
        Settings { config }
    }

    /// One `bucketOverrides` rule.
    #[wasm_bindgen(js_name = bucketRule)]
    pub fn bucket_rule(&mut self, pattern: String, bounds: Vec<f64>) {
        self.config
            .recorder
            .bucket_overrides
            .insert(pattern, bounds);
    }

    /// The Pushgateway sink. `retry` is `[tries, base, max, jitter]` or empty.
    #[wasm_bindgen(js_name = pushTo)]
    #[allow(clippy::too_many_arguments)]
    pub fn push_to(
        &mut self,
        url: String,
        job: String,
        grouping: &str,
        headers: &str,
        post: bool,
        timeout_ms: f64,
        retry: Vec<f64>,
    ) {
        let mut push = PushConfig::new(url, job);
        push.grouping = map(grouping);
        push.headers = map(headers);
        if post {
            push.method = PushMethod::Post;
        }
        if !timeout_ms.is_nan() {
            push.timeout_ms = timeout_ms as u64;
        }
        push.retry = retry_policy(&retry);
        self.config.push = Some(push);
    }

    /// The remote-write sink.
    #[wasm_bindgen(js_name = writeTo)]
    #[allow(clippy::too_many_arguments)]
    pub fn write_to(
        &mut self,
        url: String,
        job: String,
        instance: Option<String>,
        headers: &str,
        timeout_ms: f64,
        retry: Vec<f64>,
        max_samples: f64,
    ) {
        let mut rw = RemoteWriteConfig::new(url, job);
        rw.instance = instance;
        rw.headers = map(headers);
        if !timeout_ms.is_nan() {
            rw.timeout_ms = timeout_ms as u64;
        }
        rw.retry = retry_policy(&retry);
        if !max_samples.is_nan() {
            rw.max_samples_per_send = max_samples as usize;
        }
        self.config.remote_write = Some(rw);
    }
}

impl Settings {
    /// The config, validated by the core.
    pub(crate) fn into_config(self) -> Result<MetricsConfig, JsValue> {
        self.config.validate().map_err(config_error)?;
        Ok(self.config)
    }
}
