//! `ObserverRecorder`: the `metrics::Recorder` that stores what any crate records and renders it.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::error::ConfigError;
use config::{RecorderConfig, Reserved};
use index::SeriesIndex;
use storage::{CounterCell, GaugeCell, HistogramCell, Named, Slot};

pub(crate) mod buckets;
pub(crate) mod config;
pub(crate) mod index;
#[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
pub(crate) mod native;
pub(crate) mod storage;
pub(crate) mod summary;
pub(crate) mod walk;

/// A [`metrics::Recorder`] that aggregates every `counter!`, `gauge!` and `histogram!` call (and the
/// [`ObserverMetrics`](crate::observer::ObserverMetrics) catalogue) into lock-free cells and renders
/// them as Prometheus text format 0.0.4. Build it with [`MetricsBuilder`](crate::MetricsBuilder),
/// which also builds the exporter of the sinks it feeds.
///
/// ```
/// use observer_metrics::MetricsBuilder;
///
/// let recorder = MetricsBuilder::new().build_recorder().unwrap();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("jobs.done", "queue" => "emails").increment(3);
/// });
/// assert_eq!(recorder.render(), "# TYPE jobs_done counter\njobs_done{queue=\"emails\"} 3\n");
/// ```
#[derive(Debug)]
pub struct ObserverRecorder {
    handle: RecorderHandle,
}

/// A cheap, cloneable view of an [`ObserverRecorder`] for exporters and for the catalogue: it renders
/// and registers into the same storage. It is itself a [`Recorder`], so it also serves
/// `metrics::with_local_recorder`.
#[derive(Clone)]
pub struct RecorderHandle {
    inner: Arc<Inner>,
}

/// How many families and series, not what they are: a handle may hold a million series.
impl std::fmt::Debug for RecorderHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("RecorderHandle");
        match &self.inner.index {
            Some(index) => {
                let (families, series) = index.sizes();
                out.field("families", &families).field("series", &series)
            }
            None => out.field("enabled", &false),
        }
        .finish()
    }
}

#[derive(Debug)]
struct Inner {
    /// `None` when the config disables recording: every handle is then a no-op.
    index: Option<SeriesIndex>,
    /// The size of the last render, to allocate the next one in one go.
    last_len: AtomicUsize,
}

/// Why [`ObserverRecorder::install`] failed: a global recorder was already set. It hands the
/// recorder back, so that it can still be used locally (`metrics::with_local_recorder`) or
/// rendered.
#[derive(thiserror::Error)]
#[error("a global metrics recorder is already installed")]
pub struct InstallError(ObserverRecorder);

impl InstallError {
    /// The recorder that was not installed.
    pub fn into_recorder(self) -> ObserverRecorder {
        self.0
    }
}

impl std::fmt::Debug for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The recorder's index is no part of why installing failed.
        f.write_str("InstallError")
    }
}

impl ObserverRecorder {
    /// Validates `config` and builds an empty recorder that feeds no sink: the labels a sink sets
    /// are not renamed, no receiver's names are reserved. A recorder for a push gateway or remote
    /// write comes from [`MetricsBuilder`](crate::MetricsBuilder).
    pub fn new(config: &RecorderConfig) -> Result<Self, ConfigError> {
        Self::feeding(config, &Reserved::default())
    }

    /// A recorder for sinks that reserve `reserved`.
    pub(crate) fn feeding(
        config: &RecorderConfig,
        reserved: &Reserved,
    ) -> Result<Self, ConfigError> {
        config.validate_with(reserved)?;
        let index = config.enabled.then(|| SeriesIndex::new(config, reserved));
        let inner = Arc::new(Inner {
            index,
            last_len: AtomicUsize::new(0),
        });
        Ok(ObserverRecorder {
            handle: RecorderHandle { inner },
        })
    }

    /// A cloneable handle to this recorder's storage.
    pub fn handle(&self) -> RecorderHandle {
        self.handle.clone()
    }

    /// Makes this the process-wide recorder of the `metrics` facade and returns a handle to it.
    pub fn install(self) -> Result<RecorderHandle, InstallError> {
        let handle = self.handle();
        metrics::set_global_recorder(self).map_err(|e| InstallError(e.into_inner()))?;
        Ok(handle)
    }
}

impl RecorderHandle {
    /// Walks the exposition with `visitor`, as a render does (nothing when recording is disabled).
    pub(crate) fn walk(&self, visitor: &mut impl walk::Visit) {
        if let Some(index) = &self.inner.index {
            index.walk(visitor);
        }
    }

    /// The size of the last text render, to allocate the next one in one go.
    pub(crate) fn last_render_len(&self) -> &AtomicUsize {
        &self.inner.last_len
    }

    /// Whether this recorder records at all (`MetricsConfig::enabled`).
    pub fn is_enabled(&self) -> bool {
        self.inner.index.is_some()
    }

    /// Whether a series' own label `name` is renamed `exported_<name>` because it is `job` or a
    /// push grouping label of the config this recorder was built from. A disabled recorder renders
    /// nothing, so it has nothing to rename.
    #[cfg_attr(any(target_arch = "wasm32", not(feature = "push")), allow(dead_code))]
    pub(crate) fn renames_label(&self, name: &str) -> bool {
        self.inner
            .index
            .as_ref()
            .is_none_or(|i| i.renames_label(name))
    }

    /// Whether the config names native histograms (`native_histogram_metrics`), which only the
    /// protobuf formats carry.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub(crate) fn keeps_native_histograms(&self) -> bool {
        self.inner
            .index
            .as_ref()
            .is_some_and(|i| i.keeps_native_histograms())
    }

    /// Whether this recorder keeps the family `name` to `kind` for a receiver that exports it
    /// itself (a Pushgateway's own names). A disabled recorder renders nothing, so it keeps all.
    #[cfg_attr(any(target_arch = "wasm32", not(feature = "push")), allow(dead_code))]
    pub(crate) fn reserves_family(&self, name: &str, kind: index::Kind) -> bool {
        self.inner
            .index
            .as_ref()
            .is_none_or(|i| i.reserves_family(name, kind))
    }

    /// Removes the counter series of `key` now, as `prom-client`'s `remove(labels)` does: it leaves
    /// the next render, and `key` registered again starts a new series from zero (which
    /// Prometheus' `rate` and `increase` read as a counter reset). Returns `false`, and keeps the
    /// series, when there is none or a handle to it is still held: a held handle must keep
    /// counting. Drop the handles first.
    pub fn remove_counter(&self, key: &Key) -> bool {
        self.inner
            .index
            .as_ref()
            .is_some_and(|i| i.remove::<CounterCell>(key))
    }

    /// [`remove_counter`](Self::remove_counter) for a gauge series.
    pub fn remove_gauge(&self, key: &Key) -> bool {
        self.inner
            .index
            .as_ref()
            .is_some_and(|i| i.remove::<GaugeCell>(key))
    }

    /// [`remove_counter`](Self::remove_counter) for a histogram series.
    pub fn remove_histogram(&self, key: &Key) -> bool {
        self.inner
            .index
            .as_ref()
            .is_some_and(|i| i.remove::<HistogramCell>(key))
    }

    /// Gives the histogram `name` these buckets, ahead of `bucket_overrides` and the defaults, as
    /// a per-histogram `buckets` option does in other clients. The bounds are checked as
    /// `histogram_buckets` is (the error names `field`). `Ok(false)` when the family has recorded
    /// already: its buckets are fixed by its first series.
    pub fn set_histogram_buckets(
        &self,
        field: &str,
        name: &str,
        bounds: &[f64],
    ) -> Result<bool, ConfigError> {
        buckets::validate_buckets(field, bounds)?;
        Ok(self
            .inner
            .index
            .as_ref()
            .is_none_or(|i| i.set_buckets(name, bounds)))
    }

    /// Makes the histogram family `name` a summary whose quantiles your code computes (from a
    /// sketch or a library of its own): it renders `quantiles` (each in `[0, 1]`, strictly
    /// increasing; the error names `field`), `_sum` and `_count`, and every sink sends it as a
    /// summary. Set each series with [`summary_series`](Self::summary_series). The npm package
    /// keeps its summaries' observations in JS this way. `Ok(false)` when the family has a shape
    /// already (it recorded, or was given buckets or quantiles before).
    ///
    /// A series' own `quantile` label is renamed `user_quantile`, as for `summary_metrics`; a
    /// `histogram!` record into the family is ignored (count and sum come from `set` too).
    ///
    /// ```
    /// use metrics::Key;
    /// use observer_metrics::MetricsBuilder;
    ///
    /// let recorder = MetricsBuilder::new().build_recorder().unwrap();
    /// let handle = recorder.handle();
    /// assert!(handle.set_summary_quantiles("quantiles", "rpc_seconds", &[0.5, 0.99]).unwrap());
    /// handle.summary_series(&Key::from_name("rpc_seconds")).set(4, 1.5, &[0.25, 0.75]);
    /// assert_eq!(
    ///     recorder.render(),
    ///     "# TYPE rpc_seconds summary\n\
    ///      rpc_seconds{quantile=\"0.5\"} 0.25\n\
    ///      rpc_seconds{quantile=\"0.99\"} 0.75\n\
    ///      rpc_seconds_sum 1.5\n\
    ///      rpc_seconds_count 4\n"
    /// );
    /// ```
    pub fn set_summary_quantiles(
        &self,
        field: &str,
        name: &str,
        quantiles: &[f64],
    ) -> Result<bool, ConfigError> {
        buckets::validate_quantiles(field, quantiles)?;
        Ok(self
            .inner
            .index
            .as_ref()
            .is_none_or(|i| i.set_given_summary(name, quantiles)))
    }

    /// The series `key` of a family made by [`set_summary_quantiles`](Self::set_summary_quantiles),
    /// registered now (it shows from the next render, `NaN` quantiles until set). Like a
    /// [`metrics::Histogram`], keep it rather than looking it up on every set.
    pub fn summary_series(&self, key: &Key) -> SummarySeries {
        SummarySeries(match &self.inner.index {
            Some(index) => index.series(key),
            None => Slot(None),
        })
    }

    pub(crate) fn counter_slot(&self, key: &Key) -> Slot<Named<CounterCell>> {
        match &self.inner.index {
            Some(index) => index.series(key),
            None => Slot(None),
        }
    }

    pub(crate) fn register_ratio(
        &self,
        name: &str,
        numerator: &Slot<Named<CounterCell>>,
        denominator: &[&Slot<Named<CounterCell>>],
    ) -> bool {
        self.inner
            .index
            .as_ref()
            .is_some_and(|i| i.register_ratio(name, numerator, denominator))
    }
}

/// One series of a summary whose quantiles the caller computes; see
/// [`RecorderHandle::set_summary_quantiles`].
#[derive(Clone)]
pub struct SummarySeries(Slot<Named<HistogramCell>>);

impl SummarySeries {
    /// A series that sets nothing (as [`metrics::Histogram::noop`]).
    pub fn noop() -> Self {
        SummarySeries(Slot(None))
    }

    /// Sets what the series renders: its lifetime `count` and `sum`, and its quantiles in the
    /// family's order (`NaN` for one the window has no observation for; a missing value is `NaN`,
    /// an extra one is ignored). A series of a family with buckets or a `summary_metrics` sketch
    /// is left alone.
    ///
    /// Each value is stored on its own: a render racing a `set` from another thread may show some
    /// values of the new set and some of the one before. Set a series from one place.
    pub fn set(&self, count: u64, sum: f64, quantiles: &[f64]) {
        if let Some(named) = &self.0 .0 {
            named.set_summary(count, sum, quantiles);
        }
    }

    /// Whether this is the family's overflow series: past `max_series_per_metric`, every new
    /// label set gets the same one (labelled `otel_metric_overflow="true"`), so its callers must
    /// merge what they set into one count, sum and quantiles.
    pub fn is_overflow(&self) -> bool {
        self.0 .0.as_ref().is_some_and(|n| n.is_overflow())
    }
}

impl std::fmt::Debug for SummarySeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SummarySeries")
    }
}

impl Recorder for RecorderHandle {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(index) = &self.inner.index {
            index.describe(&key, unit, &description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe_counter(key, unit, description)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe_counter(key, unit, description)
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.counter_slot(key).handle()
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        match &self.inner.index {
            Some(index) => index.series::<GaugeCell>(key).handle(),
            None => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match &self.inner.index {
            Some(index) => index.series::<HistogramCell>(key).handle(),
            None => Histogram::noop(),
        }
    }
}

impl Recorder for ObserverRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.handle.describe_counter(key, unit, description)
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.handle.describe_gauge(key, unit, description)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.handle.describe_histogram(key, unit, description)
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.handle.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.handle.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.handle.register_histogram(key, metadata)
    }
}

/// Why the exposition rules dropped a series, a label or an observation. Each reason is a series of
/// `observer_metrics_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The metric name was empty.
    EmptyName,
    /// The name was first registered as another type.
    TypeConflict,
    /// The name collides with a histogram's `_bucket`, `_sum` or `_count` series.
    NameClash,
    /// The name is the recorder's own, or the Pushgateway's with another type.
    ReservedName,
    /// A label name was empty; the label was dropped, the series kept.
    EmptyLabelName,
    /// A label name appeared twice; one pair was kept.
    DuplicateLabel,
    /// A histogram observation was NaN.
    NanObservation,
    /// A new label set arrived for a metric already at `max_series_per_metric`; it was recorded
    /// into the metric's `otel_metric_overflow="true"` series.
    CardinalityLimit,
    /// A label value was longer than `max_label_value_bytes`; it was cut, the series kept.
    LabelTooLong,
    /// A histogram's unit (`Unit::Seconds`, `Unit::Bytes`) was described after its first series
    /// took its buckets, which then do not follow the unit: describe it before recording.
    LateUnit,
}

impl DropReason {
    /// Every reason, in the order of the enum.
    pub const ALL: [DropReason; 10] = [
        DropReason::EmptyName,
        DropReason::TypeConflict,
        DropReason::NameClash,
        DropReason::ReservedName,
        DropReason::EmptyLabelName,
        DropReason::DuplicateLabel,
        DropReason::NanObservation,
        DropReason::CardinalityLimit,
        DropReason::LabelTooLong,
        DropReason::LateUnit,
    ];

    /// The value of the `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::EmptyName => "empty_name",
            DropReason::TypeConflict => "type_conflict",
            DropReason::NameClash => "name_clash",
            DropReason::ReservedName => "reserved_name",
            DropReason::EmptyLabelName => "empty_label_name",
            DropReason::DuplicateLabel => "duplicate_label",
            DropReason::NanObservation => "nan_observation",
            DropReason::CardinalityLimit => "cardinality_limit",
            DropReason::LabelTooLong => "label_too_long",
            DropReason::LateUnit => "late_unit",
        }
    }
}
