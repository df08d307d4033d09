//! [`MetricsBuilder`]: a [`MetricsConfig`] filled in code with typed setters (or loaded from a
//! file and the environment), then built into the recorder and the exporter of its sinks together,
//! so that the two cannot disagree about the labels a sink sets.

use std::path::Path;

use super::MetricsConfig;
use crate::error::ConfigError;
use crate::recorder::{InstallError, ObserverRecorder, RecorderHandle};
#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
use crate::sinks::export::Exporter;
#[cfg(feature = "push")]
use crate::sinks::push::PushConfig;
#[cfg(feature = "remote-write")]
use crate::sinks::remote_write::RemoteWriteConfig;

/// Builds the recorder, and the exporter of the sinks it feeds, from one config.
///
/// Setters take typed values and never fail; [`build`](Self::build) (and the other finishers)
/// validate the whole and name the first bad field. A file and the `OBSERVER_METRICS_*` variables
/// are one way to fill it ([`load`](Self::load)); setters called afterwards override them.
///
/// ```no_run
/// use observer_metrics::MetricsBuilder;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (handle, exporter) = MetricsBuilder::new()
///     .with_push_gateway("http://127.0.0.1:9091", "nightly-import")
///     .add_push_grouping("instance", "worker-1")
///     .add_global_label("service", "billing")
///     .export_interval_secs(15)
///     .install()?;                  // the global `metrics` recorder, and its exporter
/// metrics::counter!("rows_total").increment(42);
/// # drop(handle);
/// exporter.shutdown().await?;      // one last push
/// # Ok(()) }
/// ```
///
/// Without a sink (a pull endpoint, a test), [`build_recorder`](Self::build_recorder) and
/// [`install_recorder`](Self::install_recorder) build the recorder alone:
///
/// ```
/// let recorder = observer_metrics::MetricsBuilder::new()
///     .set_buckets(&[0.5, 1.0, 2.0])
///     .build_recorder()
///     .unwrap();
/// metrics::with_local_recorder(&recorder, || metrics::histogram!("lat_ms").record(0.7));
/// assert!(recorder.render().contains("lat_ms_bucket{le=\"1\"} 1\n"));
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until it is built"]
pub struct MetricsBuilder {
    config: MetricsConfig,
}

/// Why [`MetricsBuilder::install`] or [`install_recorder`](MetricsBuilder::install_recorder)
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is invalid, or the exporter could not start; nothing was installed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A global recorder was already installed; the error hands this one back.
    #[error(transparent)]
    Install(#[from] InstallError),
}

impl MetricsBuilder {
    /// The plan's defaults and no sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from `config`, from a file or built elsewhere.
    pub fn from_config(config: MetricsConfig) -> Self {
        MetricsBuilder { config }
    }

    /// Starts from the file at `path` (or the defaults when `None`), then this process's
    /// `OBSERVER_METRICS_*` variables, as [`MetricsConfig::load`] reads them; errors name the file
    /// or the variable.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        MetricsConfig::load(path).map(Self::from_config)
    }

    /// The config as filled so far.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The config as filled so far, validated.
    pub fn into_config(self) -> Result<MetricsConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }

    /// Records at all (`enabled`). When false every handle is a no-op and renders are empty.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.config.recorder.enabled = enabled;
        self
    }

    /// The default histogram buckets' upper bounds (`histogram_buckets`).
    pub fn set_buckets(mut self, bounds: &[f64]) -> Self {
        self.config.recorder.histogram_buckets = bounds.to_vec();
        self
    }

    /// The buckets of histograms in seconds (`histogram_buckets_seconds`).
    pub fn set_seconds_buckets(mut self, bounds: &[f64]) -> Self {
        self.config.recorder.histogram_buckets_seconds = bounds.to_vec();
        self
    }

    /// The buckets of histograms in bytes (`histogram_buckets_bytes`).
    pub fn set_bytes_buckets(mut self, bounds: &[f64]) -> Self {
        self.config.recorder.histogram_buckets_bytes = bounds.to_vec();
        self
    }

    /// Buckets for the histograms `matcher` names: a full name, `prefix*` or `*suffix`
    /// (`bucket_overrides`).
    pub fn set_buckets_for_metric(mut self, matcher: impl Into<String>, bounds: &[f64]) -> Self {
        let overrides = &mut self.config.recorder.bucket_overrides;
        overrides.insert(matcher.into(), bounds.to_vec());
        self
    }

    /// Records the histograms `matcher` names (a full name, `prefix*` or `*suffix`) as summaries
    /// (`summary_metrics`), as metrics-exporter-prometheus renders a histogram without buckets.
    pub fn summary_for_metric(mut self, matcher: impl Into<String>) -> Self {
        self.config.recorder.summary_metrics.push(matcher.into());
        self
    }

    /// Keeps native buckets for the histograms `matcher` names (a full name, `prefix*` or
    /// `*suffix`; `native_histogram_metrics`), beside their classic ones unless
    /// [`native_histogram_classic_buckets`](Self::native_histogram_classic_buckets) says not to.
    pub fn native_histogram_for_metric(mut self, matcher: impl Into<String>) -> Self {
        let natives = &mut self.config.recorder.native_histogram_metrics;
        natives.push(matcher.into());
        self
    }

    /// Whether native histogram families keep their classic buckets too
    /// (`native_histogram_classic_buckets`, default true).
    pub fn native_histogram_classic_buckets(mut self, keep: bool) -> Self {
        self.config.recorder.native_histogram_classic_buckets = keep;
        self
    }

    /// The quantiles summaries render (`summary_quantiles`).
    pub fn set_quantiles(mut self, quantiles: &[f64]) -> Self {
        self.config.recorder.summary_quantiles = quantiles.to_vec();
        self
    }

    /// The seconds a summary's quantiles cover and the slots the window rolls in
    /// (`summary_window_secs`, `summary_window_buckets`).
    pub fn summary_window(mut self, secs: u64, buckets: u32) -> Self {
        self.config.recorder.summary_window_secs = secs;
        self.config.recorder.summary_window_buckets = buckets;
        self
    }

    /// The fraction of histogram observations recorded (`sample_rate`).
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.config.recorder.sample_rate = rate;
        self
    }

    /// The most series one metric may have, `0` for no limit (`max_series_per_metric`).
    pub fn max_series_per_metric(mut self, max: usize) -> Self {
        self.config.recorder.max_series_per_metric = max;
        self
    }

    /// The longest label value kept, in bytes, `0` for no limit (`max_label_value_bytes`).
    pub fn max_label_value_bytes(mut self, max: usize) -> Self {
        self.config.recorder.max_label_value_bytes = max;
        self
    }

    /// Seconds after which an untouched series leaves renders (`idle_timeout_secs`); `None`
    /// keeps series.
    pub fn idle_timeout_secs(mut self, secs: Option<u64>) -> Self {
        self.config.recorder.idle_timeout_secs = secs;
        self
    }

    /// A label added to every series (`global_labels`).
    pub fn add_global_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let labels = &mut self.config.recorder.global_labels;
        labels.insert(name.into(), value.into());
        self
    }

    /// A namespace in front of every metric name (`prefix`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.recorder.prefix = Some(prefix.into());
        self
    }

    /// Seconds between two exports (`export_interval_secs`).
    pub fn export_interval_secs(mut self, secs: u64) -> Self {
        self.config.export_interval_secs = secs;
        self
    }

    /// Pushes to the Pushgateway at `url` as `job`. Other push settings already set (from a file,
    /// [`add_push_grouping`](Self::add_push_grouping)) stay; without any, they are the defaults.
    #[cfg(feature = "push")]
    pub fn with_push_gateway(mut self, url: impl Into<String>, job: impl Into<String>) -> Self {
        let push = self.config.push.get_or_insert_with(PushConfig::default);
        push.url = url.into();
        push.job = job.into();
        self
    }

    /// Pushes with these settings (the `[push]` table), replacing any set before.
    #[cfg(feature = "push")]
    pub fn with_push(mut self, push: PushConfig) -> Self {
        self.config.push = Some(push);
        self
    }

    /// A grouping label of the push, beside `job` (`push.grouping`); the push's URL and job come
    /// from [`with_push_gateway`](Self::with_push_gateway).
    #[cfg(feature = "push")]
    pub fn add_push_grouping(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let push = self.config.push.get_or_insert_with(PushConfig::default);
        push.grouping.insert(name.into(), value.into());
        self
    }

    /// Writes remotely to `url` as `job`. Other remote-write settings already set (from a file)
    /// stay; without any, they are the defaults.
    #[cfg(feature = "remote-write")]
    pub fn with_remote_write(mut self, url: impl Into<String>, job: impl Into<String>) -> Self {
        let rw = self
            .config
            .remote_write
            .get_or_insert_with(RemoteWriteConfig::default);
        rw.url = url.into();
        rw.job = job.into();
        self
    }

    /// Writes remotely with these settings (the `[remote_write]` table), replacing any set before.
    #[cfg(feature = "remote-write")]
    pub fn with_remote_write_config(mut self, remote_write: RemoteWriteConfig) -> Self {
        self.config.remote_write = Some(remote_write);
        self
    }

    /// Keeps what a receiver does not take in a spool at `dir` (the `[spool]` table, default
    /// bounds), for a later start or `observer-metrics replay` to deliver.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub fn spool_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.spool = Some(crate::sinks::spool::SpoolConfig::new(dir));
        self
    }

    /// The recorder alone, for the sinks the config names (their labels renamed, their reserved
    /// names kept), without starting an exporter: for a pull endpoint, a test, or a caller that
    /// sends renders itself.
    pub fn build_recorder(&self) -> Result<ObserverRecorder, ConfigError> {
        self.config.validate()?;
        ObserverRecorder::feeding(&self.config.recorder, &self.config.reserved())
    }

    /// The recorder and the exporter of its sinks, started (the first send goes now). Call inside
    /// a tokio runtime; fails, naming the field, on an invalid setting or when the config names no
    /// sink.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub fn build(self) -> Result<(ObserverRecorder, Exporter), ConfigError> {
        let recorder = self.build_recorder()?;
        let exporter = Exporter::launch(recorder.handle(), self.config.schedule())?;
        Ok((recorder, exporter))
    }

    /// [`build_recorder`](Self::build_recorder), installed as the process-wide recorder of the
    /// `metrics` facade.
    pub fn install_recorder(self) -> Result<RecorderHandle, BuildError> {
        Ok(self.build_recorder()?.install()?)
    }

    /// [`build`](Self::build), with the recorder installed as the process-wide recorder of the
    /// `metrics` facade. Everything that can fail is checked before installing, and the exporter
    /// sends nothing until the recorder is installed: on any error nothing was installed or sent,
    /// and when another recorder already is, the error hands this one back.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub fn install(self) -> Result<(RecorderHandle, Exporter), BuildError> {
        let recorder = self.build_recorder()?;
        // Everything that can fail before installing; nothing is sent until the task spawns.
        let prepared = Exporter::prepare(recorder.handle(), self.config.schedule())?;
        let handle = recorder.install()?;
        Ok((handle, prepared.spawn()))
    }
}
