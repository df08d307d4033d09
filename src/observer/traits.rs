//! The observer system's parts as traits, shaped after the plan's signatures, and their types.

use std::future::Future;
use std::time::Duration;

/// An entity event that observers react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityEvent {
    /// A sequence number, unique per event.
    pub id: u64,
    /// The entity the event is about, e.g. `order:42`.
    pub entity: String,
    /// The deduplication key: events with the same key are one event delivered twice.
    pub key: String,
}

/// One action an observer runs for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionConfig {
    /// The action's name, e.g. `send_email`.
    pub name: String,
    /// Its deadline; `None` uses the executor's default, if any.
    pub timeout: Option<Duration>,
}

/// What an action produced. `success: false` is a failure the action reported itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    /// Whether the action did its work.
    pub success: bool,
    /// Its output, cached for the same entity and action.
    pub output: String,
}

/// A job on the retry queue: an action to run again for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The event's id.
    pub event_id: u64,
    /// The action's name.
    pub action: String,
}

/// A cached action result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResult {
    /// The cached output.
    pub value: String,
}

/// Where a listener got to, saved so that it can resume after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointState {
    /// The last event the listener finished.
    pub last_event_id: u64,
}

/// Why an observer operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserverError {
    /// The action failed with an error.
    #[error("action {action} failed: {reason}")]
    Action {
        /// The action's name.
        action: String,
        /// What went wrong.
        reason: String,
    },
    /// The action did not finish before its deadline.
    #[error("action {action} timed out after {after:?}")]
    Timeout {
        /// The action's name.
        action: String,
        /// The deadline.
        after: Duration,
    },
    /// The job, checkpoint or entry does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The store failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// Result alias of the observer traits.
pub type Result<T, E = ObserverError> = std::result::Result<T, E>;

/// Runs observer actions.
pub trait ActionExecutor: Send + Sync {
    /// Runs `action` for `event`.
    fn execute(
        &self,
        event: &EntityEvent,
        action: &ActionConfig,
    ) -> impl Future<Output = Result<ActionResult>> + Send;
}

/// The job queue with retries and a dead-letter list.
pub trait JobQueue: Send + Sync {
    /// Puts `job` on the queue; returns its id.
    fn enqueue(&self, job: &Job) -> impl Future<Output = Result<String>> + Send;
    /// The job succeeded and leaves the queue.
    fn mark_success(&self, job_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// The job failed and runs again at `next_retry_at` (Unix seconds); it stays queued.
    fn mark_retry(
        &self,
        job_id: &str,
        next_retry_at: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The job gave up and moves to the dead-letter list.
    fn mark_deadletter(
        &self,
        job_id: &str,
        reason: &str,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// The result cache.
pub trait ResultCache: Send + Sync {
    /// The cached result for `key`, if any.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<CachedResult>>> + Send;
    /// Caches `value` under `key`.
    fn put(&self, key: &str, value: CachedResult) -> impl Future<Output = Result<()>> + Send;
    /// The cache's size in bytes.
    fn size_bytes(&self) -> u64;
}

/// The deduplication store.
pub trait DedupStore: Send + Sync {
    /// Whether `key` was seen before; remembers it if not.
    fn is_duplicate(&self, key: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// The checkpoint store.
pub trait CheckpointStore: Send + Sync {
    /// Saves `state` for `listener_id`.
    fn save(
        &self,
        listener_id: &str,
        state: &CheckpointState,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The last saved state of `listener_id`, if any.
    fn recover(
        &self,
        listener_id: &str,
    ) -> impl Future<Output = Result<Option<CheckpointState>>> + Send;
}
