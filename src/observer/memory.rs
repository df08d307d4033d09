//! Simple in-memory implementations of the observer traits, and an action executor whose outcomes
//! follow configured rates (the `simulate` workload).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

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

/// An in-memory job queue. Finishing a job that is not queued is an error.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    next_id: AtomicU64,
    jobs: Mutex<HashMap<String, (Job, JobState)>>,
}

impl MemoryQueue {
    /// The state of job `id`.
    pub fn state(&self, id: &str) -> Option<JobState> {
        lock(&self.jobs).get(id).map(|(_, s)| s.clone())
    }

    /// Jobs still queued.
    pub fn depth(&self) -> usize {
        lock(&self.jobs)
            .values()
            .filter(|(_, s)| matches!(s, JobState::Queued { .. }))
            .count()
    }

    fn transition(&self, id: &str, next: impl FnOnce(u32) -> JobState) -> Result<()> {
        let mut jobs = lock(&self.jobs);
        match jobs.get_mut(id) {
            Some((_, state)) => match state {
                JobState::Queued { retries } => {
                    *state = next(*retries);
                    Ok(())
                }
                _ => Err(ObserverError::NotFound(format!("queued job {id}"))),
            },
            None => Err(ObserverError::NotFound(format!("job {id}"))),
        }
    }
}

impl JobQueue for MemoryQueue {
    async fn enqueue(&self, job: &Job) -> Result<String> {
        let id = format!("job-{}", self.next_id.fetch_add(1, Relaxed));
        lock(&self.jobs).insert(id.clone(), (job.clone(), JobState::Queued { retries: 0 }));
        Ok(id)
    }

    async fn mark_success(&self, job_id: &str) -> Result<()> {
        self.transition(job_id, |_| JobState::Done)
    }

    async fn mark_retry(&self, job_id: &str, _next_retry_at: i64) -> Result<()> {
        self.transition(job_id, |retries| JobState::Queued {
            retries: retries + 1,
        })
    }

    async fn mark_deadletter(&self, job_id: &str, reason: &str) -> Result<()> {
        self.transition(job_id, |_| JobState::DeadLetter {
            reason: reason.to_owned(),
        })
    }
}

/// An in-memory result cache; its size is the bytes of its keys and values.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, CachedResult>>,
    bytes: AtomicU64,
}

impl ResultCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<CachedResult>> {
        Ok(lock(&self.entries).get(key).cloned())
    }

    async fn put(&self, key: &str, value: CachedResult) -> Result<()> {
        let added = (key.len() + value.value.len()) as u64;
        let old = lock(&self.entries).insert(key.to_owned(), value);
        let removed = old.map_or(0, |o| (key.len() + o.value.len()) as u64);
        self.bytes.fetch_add(added, Relaxed);
        self.bytes.fetch_sub(removed, Relaxed);
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }
}

/// An in-memory dedup store that remembers every key.
#[derive(Debug, Default)]
pub struct MemoryDedup {
    seen: Mutex<HashSet<String>>,
}

impl DedupStore for MemoryDedup {
    async fn is_duplicate(&self, key: &str) -> Result<bool> {
        Ok(!lock(&self.seen).insert(key.to_owned()))
    }
}

/// An in-memory checkpoint store.
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
        let draw = crate::storage::random_unit();
        if draw < o.timeout_rate {
            crate::platform::sleep(o.hang).await;
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
