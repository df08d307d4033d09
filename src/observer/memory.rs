//! Simple in-memory implementations of the observer traits, and an action executor whose outcomes
//! follow configured rates (the `simulate` workload).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lru::LruCache;

use super::{
    ActionConfig, ActionExecutor, ActionResult, CachedResult, CheckpointState, CheckpointStore,
    DedupStore, EntityEvent, Job, JobQueue, ObserverError, Result, ResultCache,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting, possibly after failed attempts.
    Queued {
        /// Retries scheduled so far.
        retries: u32,
    },
    /// Finished successfully.
    Done,
    /// Given up.
    DeadLetter {
        /// Why.
        reason: String,
    },
}

/// How many finished jobs (done or dead-lettered) a [`MemoryQueue`] remembers by default.
pub const DEFAULT_FINISHED_JOBS: usize = 10_000;
/// How many entries a [`MemoryCache`] holds by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;
/// How many recent keys a [`MemoryDedup`] remembers by default: its dedup window.
pub const DEFAULT_DEDUP_WINDOW: usize = 10_000;

fn capacity(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

/// An in-memory job queue. Finishing a job that is not queued is an error. Memory stays bounded
/// under any load: queued jobs are held until they finish, and only the most recent finished jobs
/// (done or dead-lettered) are remembered for [`state`](Self::state), as a real queue archives or
/// expires them.
#[derive(Debug)]
pub struct MemoryQueue {
    next_id: AtomicU64,
    jobs: Mutex<Jobs>,
}

#[derive(Debug)]
struct Jobs {
    queued: HashMap<String, (Job, u32)>,
    finished: LruCache<String, JobState>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        MemoryQueue::with_finished_capacity(DEFAULT_FINISHED_JOBS)
    }
}

impl MemoryQueue {
    /// A queue that remembers the last `finished` finished jobs (at least 1).
    pub fn with_finished_capacity(finished: usize) -> Self {
        MemoryQueue {
            next_id: AtomicU64::new(0),
            jobs: Mutex::new(Jobs {
                queued: HashMap::new(),
                finished: LruCache::new(capacity(finished)),
            }),
        }
    }

    /// The state of job `id`, if it is queued or among the finished jobs remembered.
    pub fn state(&self, id: &str) -> Option<JobState> {
        let mut jobs = lock(&self.jobs);
        if let Some((_, retries)) = jobs.queued.get(id) {
            return Some(JobState::Queued { retries: *retries });
        }
        jobs.finished.get(id).cloned()
    }

    /// Jobs still queued.
    pub fn depth(&self) -> usize {
        lock(&self.jobs).queued.len()
    }

    fn finish(&self, id: &str, state: JobState) -> Result<()> {
        let mut jobs = lock(&self.jobs);
        match jobs.queued.remove(id) {
            Some(_) => {
                jobs.finished.put(id.to_owned(), state);
                Ok(())
            }
            None if jobs.finished.contains(id) => {
                Err(ObserverError::NotFound(format!("queued job {id}")))
            }
            None => Err(ObserverError::NotFound(format!("job {id}"))),
        }
    }
}

impl JobQueue for MemoryQueue {
    async fn enqueue(&self, job: &Job) -> Result<String> {
        let id = format!("job-{}", self.next_id.fetch_add(1, Relaxed));
        lock(&self.jobs).queued.insert(id.clone(), (job.clone(), 0));
        Ok(id)
    }

    async fn mark_success(&self, job_id: &str) -> Result<()> {
        self.finish(job_id, JobState::Done)
    }

    async fn mark_retry(&self, job_id: &str, _next_retry_at: i64) -> Result<()> {
        match lock(&self.jobs).queued.get_mut(job_id) {
            Some((_, retries)) => {
                *retries += 1;
                Ok(())
            }
            None => Err(ObserverError::NotFound(format!("queued job {job_id}"))),
        }
    }

    async fn mark_deadletter(&self, job_id: &str, reason: &str) -> Result<()> {
        self.finish(
            job_id,
            JobState::DeadLetter {
                reason: reason.to_owned(),
            },
        )
    }
}

/// An in-memory result cache of bounded size: past its capacity the least recently used entry
/// goes. Its size is the bytes of its keys and values.
#[derive(Debug)]
pub struct MemoryCache {
    entries: Mutex<LruCache<String, CachedResult>>,
    bytes: AtomicU64,
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::with_capacity(DEFAULT_CACHE_ENTRIES)
    }
}

impl MemoryCache {
    /// A cache of at most `entries` entries (at least 1).
    pub fn with_capacity(entries: usize) -> Self {
        MemoryCache {
            entries: Mutex::new(LruCache::new(capacity(entries))),
            bytes: AtomicU64::new(0),
        }
    }
}

impl ResultCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<CachedResult>> {
        Ok(lock(&self.entries).get(key).cloned())
    }

    async fn put(&self, key: &str, value: CachedResult) -> Result<()> {
        let size = |k: &str, v: &CachedResult| (k.len() + v.value.len()) as u64;
        let added = size(key, &value);
        // `push` hands back what left: the old value of this key, or the evicted entry.
        let left = lock(&self.entries).push(key.to_owned(), value);
        let removed = left.map_or(0, |(k, v)| size(&k, &v));
        self.bytes.fetch_add(added, Relaxed);
        self.bytes.fetch_sub(removed, Relaxed);
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }
}

/// An in-memory dedup store with a window: it remembers the most recent keys it was asked about
/// (its capacity), as a real dedup store keeps keys for a while. A duplicate arriving after that
/// many newer keys is not caught.
#[derive(Debug)]
pub struct MemoryDedup {
    seen: Mutex<LruCache<String, ()>>,
}

impl Default for MemoryDedup {
    fn default() -> Self {
        MemoryDedup::with_window(DEFAULT_DEDUP_WINDOW)
    }
}

impl MemoryDedup {
    /// A store that remembers the last `keys` keys (at least 1).
    pub fn with_window(keys: usize) -> Self {
        MemoryDedup {
            seen: Mutex::new(LruCache::new(capacity(keys))),
        }
    }
}

impl DedupStore for MemoryDedup {
    async fn is_duplicate(&self, key: &str) -> Result<bool> {
        Ok(lock(&self.seen).put(key.to_owned(), ()).is_some())
    }
}

/// An in-memory checkpoint store: one state per listener.
#[derive(Debug, Default)]
pub struct MemoryCheckpoints {
    states: Mutex<HashMap<String, CheckpointState>>,
}

impl CheckpointStore for MemoryCheckpoints {
    async fn save(&self, listener_id: &str, state: &CheckpointState) -> Result<()> {
        lock(&self.states).insert(listener_id.to_owned(), state.clone());
        Ok(())
    }

    async fn recover(&self, listener_id: &str) -> Result<Option<CheckpointState>> {
        Ok(lock(&self.states).get(listener_id).cloned())
    }
}

/// How a [`SimulatedExecutor`] behaves: fractions of executions that report failure, return an
/// error, or hang past any deadline. The rest succeed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcomes {
    /// Fraction that return `ActionResult { success: false, .. }`.
    pub failure_rate: f64,
    /// Fraction that return an error.
    pub error_rate: f64,
    /// Fraction that do not finish for `hang`.
    pub timeout_rate: f64,
    /// How long a hanging action takes.
    pub hang: Duration,
}

impl Default for Outcomes {
    fn default() -> Self {
        Outcomes {
            failure_rate: 0.05,
            error_rate: 0.02,
            timeout_rate: 0.01,
            hang: Duration::from_millis(50),
        }
    }
}

/// An action executor whose outcomes are drawn at random with the configured rates.
#[derive(Debug)]
pub struct SimulatedExecutor {
    outcomes: Outcomes,
}

impl SimulatedExecutor {
    /// An executor with these outcome rates.
    pub fn new(outcomes: Outcomes) -> Self {
        SimulatedExecutor { outcomes }
    }
}

impl ActionExecutor for SimulatedExecutor {
    async fn execute(&self, event: &EntityEvent, action: &ActionConfig) -> Result<ActionResult> {
        let o = &self.outcomes;
        let draw = crate::recorder::storage::random_unit();
        if draw < o.timeout_rate {
            tokio::time::sleep(o.hang).await;
        }
        if draw < o.timeout_rate + o.error_rate {
            return Err(ObserverError::Action {
                action: action.name.clone(),
                reason: "simulated error".into(),
            });
        }
        let success = draw >= o.timeout_rate + o.error_rate + o.failure_rate;
        Ok(ActionResult {
            success,
            output: format!("{}:{}:{}", action.name, event.entity, event.id),
        })
    }
}
