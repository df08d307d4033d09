//! The observer catalogue: the plan's 23 metrics as typed handles.

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Level, Metadata, Recorder, SharedString, Unit,
};

use crate::recorder::RecorderHandle;

/// The type of a catalogue metric, as the exposition names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution over fixed buckets.
    Histogram,
}

impl MetricType {
    /// The word used on the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct CatalogueEntry {
    /// The metric name, before any configured prefix.
    pub name: &'static str,
    /// Its type.
    pub kind: MetricType,
    /// Its HELP text.
    pub help: &'static str,
    /// Its unit, shown in the HELP text.
    pub unit: Option<Unit>,
}

const fn entry(
    name: &'static str,
    kind: MetricType,
    help: &'static str,
    unit: Option<Unit>,
) -> CatalogueEntry {
    CatalogueEntry {
        name,
        kind,
        help,
        unit,
    }
}

use MetricType::{Counter as C, Gauge as G, Histogram as H};

/// The plan's 23 metrics, in the plan's order.
pub const CATALOGUE: [CatalogueEntry; 23] = [
    entry("events_processed_total", C, "Entity events processed by the observer executor.", None),
    entry("event_processing_duration_ms", H, "Time to process one entity event through its observers.", Some(Unit::Milliseconds)),
    entry("events_in_flight", G, "Entity events being processed now.", None),
    entry("actions_executed_total", C, "Observer actions executed.", None),
    entry("action_success_total", C, "Observer actions that succeeded.", None),
    entry("action_failure_total", C, "Observer actions that failed or returned an error.", None),
    entry("action_duration_ms", H, "Time to execute one observer action.", Some(Unit::Milliseconds)),
    entry("action_timeout_total", C, "Observer actions stopped at their deadline.", None),
    entry("queue_depth", G, "Jobs waiting in the job queue.", None),
    entry("queue_jobs_enqueued_total", C, "Jobs put on the job queue.", None),
    entry("queue_jobs_processed_total", C, "Jobs the queue finished successfully.", None),
    entry("queue_retry_total", C, "Job retries scheduled.", None),
    entry("queue_deadletter_total", C, "Jobs moved to the dead-letter list.", None),
    entry("cache_hits_total", C, "Result cache lookups that found an entry.", None),
    entry("cache_misses_total", C, "Result cache lookups that found nothing.", None),
    entry("cache_hit_rate", G, "Cache hits as a percentage of lookups, from the two counters (NaN before the first lookup).", Some(Unit::Percent)),
    entry("cache_size_bytes", G, "Size of the result cache.", Some(Unit::Bytes)),
    entry("dedup_checks_total", C, "Deduplication checks made.", None),
    entry("dedup_duplicates_found_total", C, "Deduplication checks that found a duplicate.", None),
    entry("dedup_hit_rate", G, "Duplicates as a percentage of dedup checks, from the two counters (NaN before the first check).", Some(Unit::Percent)),
    entry("checkpoint_saves_total", C, "Checkpoints saved.", None),
    entry("checkpoint_save_duration_ms", H, "Time to save one checkpoint.", Some(Unit::Milliseconds)),
    entry("checkpoint_recovery_total", C, "Checkpoints recovered at start.", None),
];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The observer catalogue as typed handles on an [`ObserverRecorder`](crate::ObserverRecorder).
///
/// `cache_hit_rate` and `dedup_hit_rate` have no handle: they are computed from their counters
/// when a render reads those counters, so every render shows a rate consistent with the counts
/// beside it.
///
/// ```
/// use observer_metrics::observer::ObserverMetrics;
/// use observer_metrics::MetricsBuilder;
///
/// let recorder = MetricsBuilder::new().build_recorder().unwrap();
/// let m = ObserverMetrics::new(&recorder.handle());
/// m.cache_hits_total.increment(3);
/// m.cache_misses_total.increment(1);
/// assert!(recorder.render().contains("\ncache_hit_rate 75\n"));
/// ```
///
/// With the recorder installed globally, the handles and the facade's macros reach the same series:
/// `ObserverMetrics::new(&recorder.install()?)`.
#[derive(Debug, Clone)]
pub struct ObserverMetrics {
    /// `events_processed_total`
    pub events_processed_total: Counter,
    /// `event_processing_duration_ms`
    pub event_processing_duration_ms: Histogram,
    /// `events_in_flight`
    pub events_in_flight: Gauge,
    /// `actions_executed_total`
    pub actions_executed_total: Counter,
    /// `action_success_total`
    pub action_success_total: Counter,
    /// `action_failure_total`
    pub action_failure_total: Counter,
    /// `action_duration_ms`
    pub action_duration_ms: Histogram,
    /// `action_timeout_total`
    pub action_timeout_total: Counter,
    /// `queue_depth`
    pub queue_depth: Gauge,
    /// `queue_jobs_enqueued_total`
    pub queue_jobs_enqueued_total: Counter,
    /// `queue_jobs_processed_total`
    pub queue_jobs_processed_total: Counter,
    /// `queue_retry_total`
    pub queue_retry_total: Counter,
    /// `queue_deadletter_total`
    pub queue_deadletter_total: Counter,
    /// `cache_hits_total`
    pub cache_hits_total: Counter,
    /// `cache_misses_total`
    pub cache_misses_total: Counter,
    /// `cache_size_bytes`
    pub cache_size_bytes: Gauge,
    /// `dedup_checks_total`
    pub dedup_checks_total: Counter,
    /// `dedup_duplicates_found_total`
    pub dedup_duplicates_found_total: Counter,
    /// `checkpoint_saves_total`
    pub checkpoint_saves_total: Counter,
    /// `checkpoint_save_duration_ms`
    pub checkpoint_save_duration_ms: Histogram,
    /// `checkpoint_recovery_total`
    pub checkpoint_recovery_total: Counter,
}

impl ObserverMetrics {
    /// Describes and registers the whole catalogue on `recorder`, so every metric is exported
    /// (at zero) from the start.
    pub fn new(recorder: &RecorderHandle) -> Self {
        for e in &CATALOGUE {
            let name = KeyName::from_const_str(e.name);
            let help = SharedString::const_str(e.help);
            match e.kind {
                C => recorder.describe_counter(name, e.unit, help),
                G => recorder.describe_gauge(name, e.unit, help),
                H => recorder.describe_histogram(name, e.unit, help),
            }
        }
        let key = |name: &'static str| Key::from_static_name(name);
        let counter = |name| recorder.register_counter(&key(name), &METADATA);
        let gauge = |name| recorder.register_gauge(&key(name), &METADATA);
        let histogram = |name| recorder.register_histogram(&key(name), &METADATA);

        let hits = recorder.counter_slot(&key("cache_hits_total"));
        let misses = recorder.counter_slot(&key("cache_misses_total"));
        recorder.register_ratio("cache_hit_rate", &hits, &[&hits, &misses]);
        let checks = recorder.counter_slot(&key("dedup_checks_total"));
        let duplicates = recorder.counter_slot(&key("dedup_duplicates_found_total"));
        recorder.register_ratio("dedup_hit_rate", &duplicates, &[&checks]);

        ObserverMetrics {
            events_processed_total: counter("events_processed_total"),
            event_processing_duration_ms: histogram("event_processing_duration_ms"),
            events_in_flight: gauge("events_in_flight"),
            actions_executed_total: counter("actions_executed_total"),
            action_success_total: counter("action_success_total"),
            action_failure_total: counter("action_failure_total"),
            action_duration_ms: histogram("action_duration_ms"),
            action_timeout_total: counter("action_timeout_total"),
            queue_depth: gauge("queue_depth"),
            queue_jobs_enqueued_total: counter("queue_jobs_enqueued_total"),
            queue_jobs_processed_total: counter("queue_jobs_processed_total"),
            queue_retry_total: counter("queue_retry_total"),
            queue_deadletter_total: counter("queue_deadletter_total"),
            cache_hits_total: hits.handle(),
            cache_misses_total: misses.handle(),
            cache_size_bytes: gauge("cache_size_bytes"),
            dedup_checks_total: checks.handle(),
            dedup_duplicates_found_total: duplicates.handle(),
            checkpoint_saves_total: counter("checkpoint_saves_total"),
            checkpoint_save_duration_ms: histogram("checkpoint_save_duration_ms"),
            checkpoint_recovery_total: counter("checkpoint_recovery_total"),
        }
    }
}
