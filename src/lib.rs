//! Prometheus metrics for event observer systems.
//!
//! [`ObserverRecorder`] is a [`metrics::Recorder`]: every `counter!`, `gauge!` and `histogram!` call
//! of any crate, and the typed [`ObserverMetrics`] catalogue, land in lock-free cells, and
//! [`ObserverRecorder::render`] writes them as Prometheus text format 0.0.4.
//!
//! Data flows one way: instrumentation → recorder storage (lock-free cells, indexed once per
//! series at registration) → encoder → sink.
//!
//! - [`MetricsConfig`]: defaults, TOML, `OBSERVER_METRICS_*` variables, validation.
//! - [`push`]: the Pushgateway client and, natively, the interval [`push::PushExporter`].
//! - `pull` (native): the `/metrics` router and server.
//! - `observer` (native): the observer traits, metered decorators and pipeline the catalogue
//!   instruments.
//! - Cargo features: `push`, `remote-write`, `pull`, `observer`, all on by default. With
//!   none, the crate is the recorder, its config and the text encoder.
//! - The wasm32 package with a JS API lives in the `observer-metrics-wasm` crate (`wasm/`).
//!
//! # An exposition nothing can break
//! One invalid family makes a Pushgateway reject a whole push. Whatever the `metrics` facade lets a
//! caller pass, a render stays valid text 0.0.4 that `promtool check metrics` parses and a
//! Pushgateway 1.5.1 accepts. The rules, applied once per series when it is first registered:
//!
//! | input | what happens |
//! |---|---|
//! | name with `.`, `-`, spaces or unicode | each such character becomes `_` (`a.b-c` → `a_b_c`) |
//! | name with a leading digit | `_` in front (`9x` → `_9x`) |
//! | name starting with `__` (reserved for Prometheus) | leading underscores cut to one (`__x` → `_x`) |
//! | empty name | series dropped, counted as `empty_name` |
//! | label name with invalid characters or a leading digit | as for names; `:` becomes `_` too |
//! | label name starting with `__` (reserved) | leading underscores cut to one (`__name__` → `_name__`) |
//! | empty label name | label dropped, counted as `empty_label_name` |
//! | a label name twice (after the rules above) | the pair sorting first (by original name, then value) stays; the others are counted as `duplicate_label` |
//! | the same labels in another order, or names that sanitise alike | one series: they share a cell |
//! | label values with `\`, `"`, newlines, unicode, any length | kept exactly, escaped as `\\`, `\"`, `\n` |
//! | HELP text with newlines and backslashes | escaped as `\n`, `\\`; the last description wins |
//! | one name registered as two types | the first registration wins; the later gets a no-op handle, counted as `type_conflict` |
//! | a user label `le` on a histogram | renamed `user_le` |
//! | a label the sinks set: `job` or a grouping label when pushing, `job` or `instance` when writing remotely | renamed `exported_<name>`, prefixed again while that name is taken (`exported_exported_job`), as Prometheus does (the gateway would overwrite it; a receiver refuses a name twice) |
//! | a name colliding with a histogram's `_bucket`/`_sum`/`_count` | the family registered second gets a no-op handle, counted as `name_clash` |
//! | a name the Pushgateway exports itself (`go_*`, `process_*`, `pushgateway_*`, `push_time_seconds`) with another type | no-op handle, counted as `reserved_name` |
//! | NaN or ±Inf gauge | rendered as `NaN`, `+Inf`, `-Inf` |
//! | NaN histogram observation | dropped, counted as `nan_observation`, so `_sum` stays a number |
//! | ±Inf histogram observation | counted in the `+Inf` (or first) bucket; `_sum` becomes ±Inf (NaN if both arrive), as in client_golang |
//! | a counter near `u64::MAX` | saturates at `u64::MAX` rather than wrapping to a false reset |
//! | a metric past `max_series_per_metric` series (default 10000) | new label sets share one series labelled `otel_metric_overflow="true"`, counted as `cardinality_limit`; a caller's own label of that name becomes `exported_otel_metric_overflow` |
//! | a series untouched for `idle_timeout_secs` (when set) | left out of renders and freed at the next render; hidden instead while a caller holds its handle |
//!
//! Drops are counted in `observer_metrics_dropped_total{reason="…"}`, rendered once non-zero. A
//! refused series (`empty_name`, `type_conflict`, `name_clash`, `reserved_name`) is counted at each
//! registration that asks for it (a `counter!` call is one), since no key is kept for it; label
//! drops are counted once, when their series is first registered.
//!
//! # Determinism
//! Families are sorted by name and series by their labels, so two renders of the same state are
//! byte-identical. Every histogram's `le="+Inf"` bucket equals its `_count` in every render.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod buckets;
mod catalogue;
mod config;
mod encoder;
#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
pub mod exporter;
mod hash;
mod index;
mod naming;
#[cfg(all(feature = "observer", not(target_arch = "wasm32")))]
pub mod observer;
#[cfg(feature = "push")]
mod platform;
#[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
pub mod pull;
#[cfg(feature = "push")]
pub mod push;
mod recorder;
#[cfg(feature = "remote-write")]
pub mod remote_write;
#[cfg(feature = "push")]
mod sink;
mod storage;
mod text;
#[cfg(feature = "push")]
mod turn;
#[cfg(any(feature = "push", feature = "pull"))]
mod wire;

pub use buckets::SECONDS_BUCKETS;
pub use catalogue::{CatalogueEntry, MetricType, ObserverMetrics, CATALOGUE};
pub use config::{ConfigError, MetricsConfig, ENV_PREFIX, MAX_TIMER_MS};
pub use recorder::{InstallError, ObserverRecorder, RecorderHandle};

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
}

impl DropReason {
    /// Every reason, in the order of the enum.
    pub const ALL: [DropReason; 8] = [
        DropReason::EmptyName,
        DropReason::TypeConflict,
        DropReason::NameClash,
        DropReason::ReservedName,
        DropReason::EmptyLabelName,
        DropReason::DuplicateLabel,
        DropReason::NanObservation,
        DropReason::CardinalityLimit,
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
        }
    }
}
