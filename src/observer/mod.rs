//! The observer system the plan instruments: the catalogue of its 23 metrics as typed handles
//! ([`ObserverMetrics`], on every target); and natively, with the `observer` feature, the system's
//! parts as small traits shaped after the plan's signatures, simple in-memory implementations
//! ([`memory`]), metered decorators that record the plan's metrics around any implementation
//! ([`metered`]), and a pipeline that wires them together the way the observer executor does
//! ([`pipeline`]).

mod catalogue;
#[cfg(all(feature = "observer", not(target_arch = "wasm32")))]
pub mod memory;
#[cfg(all(feature = "observer", not(target_arch = "wasm32")))]
pub mod metered;
#[cfg(all(feature = "observer", not(target_arch = "wasm32")))]
pub mod pipeline;
#[cfg(all(feature = "observer", not(target_arch = "wasm32")))]
mod traits;

pub use catalogue::{CatalogueEntry, MetricType, ObserverMetrics, CATALOGUE};
#[cfg(all(feature = "observer", not(target_arch = "wasm32")))]
pub use traits::{
    ActionConfig, ActionExecutor, ActionResult, CachedResult, CheckpointState, CheckpointStore,
    DedupStore, EntityEvent, Job, JobQueue, ObserverError, Result, ResultCache,
};
