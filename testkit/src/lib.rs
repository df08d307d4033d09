//! Real components for integration tests: a Pushgateway, Prometheus (with the remote-write
//! receiver) and VictoriaMetrics started on free loopback ports, memory only or in a temporary
//! directory, and killed on drop (or with the test process, when nothing drops them); `promtool
//! check metrics`; typed reads of a gateway group; bounded
//! waits. observer-metrics' own tests run on it. It knows nothing of observer-metrics: it tests
//! what any Prometheus producer sends.
//!
//! A missing binary panics with its name and the Debian package that has it
//! (`prometheus-pushgateway`, `prometheus`, `victoria-metrics`): integration tests should fail
//! loudly, never skip, when a real component is not there.
//!
//! ```no_run
//! use observer_metrics_testkit::Pushgateway;
//! let gw = Pushgateway::start();
//! assert_eq!(gw.put("nightly", "# TYPE rows_total counter\nrows_total 42\n").0, 200);
//! assert_eq!(gw.value(&[("job", "nightly")], "rows_total"), Some(42.0));
//! ```
//!
//! Every function here panics on what a test should not survive (a component that does not start,
//! an answer that is not JSON); none waits without a bound.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod exposition;
mod process;
mod prometheus;
mod pushgateway;
mod victoria_metrics;
mod wait;

pub use exposition::{promtool_check, read_varint, sample, samples};
pub use process::{free_port, resident_bytes, terminate, ChildGuard};
pub use prometheus::{instant_query, raw_samples, Prometheus, ScrapeJob};
pub use pushgateway::{Family, GroupSeries, Pushgateway};
pub use victoria_metrics::VictoriaMetrics;
pub use wait::{pause, until};
