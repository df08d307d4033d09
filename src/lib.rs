//! Prometheus metrics for event observer systems.
//!
//! [`ObserverRecorder`] is a [`metrics::Recorder`]: every `counter!`, `gauge!` and `histogram!` call
//! of any crate, and the typed [`ObserverMetrics`](observer::ObserverMetrics) catalogue, land in
//! lock-free cells, and [`ObserverRecorder::render`] writes them as Prometheus text format 0.0.4.
//! [`MetricsBuilder`] builds the recorder and the exporter of its sinks together:
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (_handle, exporter) = observer_metrics::MetricsBuilder::new()
//!     .with_push_gateway("http://127.0.0.1:9091", "nightly-import")
//!     .install()?;
//! metrics::counter!("rows_total").increment(42);
//! exporter.shutdown().await?; // the last push
//! # Ok(()) }
//! ```
//!
//! Data flows one way: instrumentation → recorder (lock-free cells, indexed once per series at
//! registration) → encoders (text, remote write's protobuf) → sinks.
//!
//! - [`MetricsBuilder`], [`MetricsConfig`]: typed setters, TOML, `OBSERVER_METRICS_*` variables,
//!   validation; [`RecorderConfig`] is the recorder's part of it.
//! - [`export`]: what every sink shares, and natively the [`Exporter`](export::Exporter) that
//!   drives them on one schedule.
//! - [`push`]: the Pushgateway. [`remote_write`]: Prometheus remote write 1.0. `pull` (native):
//!   the `/metrics` router and server.
//! - [`observer`]: the plan's catalogue, and natively the observer traits, metered decorators and
//!   pipeline it instruments.
//! - Cargo features: `push`, `remote-write`, `pull`, `observer`, all on by default. With none, the
//!   crate is the recorder, its config and the text encoder.
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
//! | label values with `\`, `"`, newlines, unicode | kept exactly, escaped as `\\`, `\"`, `\n` |
//! | a label value longer than `max_label_value_bytes` (default 4096) | cut at a character boundary, ending in `…`, within that many bytes; counted as `label_too_long`; values alike up to the cut share a series |
//! | HELP text with newlines and backslashes | escaped as `\n`, `\\`; the last description wins |
//! | one name registered as two types | the first registration wins; the later gets a no-op handle, counted as `type_conflict` |
//! | a user label `le` on a histogram (`quantile` on a summary) | renamed `user_le` (`user_quantile`) |
//! | a label the sinks set: `job` or a grouping label when pushing, `job` or `instance` when writing remotely | renamed `exported_<name>`, prefixed again while that name is taken (`exported_exported_job`), as Prometheus does (the gateway would overwrite it; a receiver refuses a name twice) |
//! | a name colliding with a histogram's `_bucket`/`_sum`/`_count` | the family registered second gets a no-op handle, counted as `name_clash` |
//! | when pushing: a name the Pushgateway exports itself (`go_*`, `process_*`, `pushgateway_*`, `push_time_seconds`) with another type | no-op handle, counted as `reserved_name` |
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
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, lowest first; each imports only from those above it in this list (`tests/layers.rs`
// checks it): pure text and hashing, naming rules, errors and env parsing, the recorder, the
// encoders, the platform seam, the sinks and the observer instrumentation (peers), and the config
// that composes them.
mod hash;
mod text;

mod naming;

mod env;
mod error;

mod recorder;

mod encoding;

#[cfg(feature = "push")]
mod platform;

pub mod observer;
mod sinks;

mod config;

pub use config::{
    closest_variable, env_variables, BuildError, EnvVariable, MetricsBuilder, MetricsConfig,
    ENV_PREFIX, TOML_ONLY,
};
pub use error::{ConfigError, MAX_TIMER_MS};
pub use recorder::buckets::SECONDS_BUCKETS;
pub use recorder::config::RecorderConfig;
pub use recorder::{DropReason, InstallError, ObserverRecorder, RecorderHandle, SummarySeries};
#[cfg(feature = "push")]
#[cfg_attr(docsrs, doc(cfg(feature = "push")))]
pub use sinks::export;
#[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "pull", not(target_arch = "wasm32")))))]
pub use sinks::pull;
#[cfg(feature = "push")]
#[cfg_attr(docsrs, doc(cfg(feature = "push")))]
pub use sinks::push;
#[cfg(feature = "remote-write")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote-write")))]
pub use sinks::remote_write;
#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "push", not(target_arch = "wasm32")))))]
pub use sinks::spool;
