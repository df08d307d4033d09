//! The observer executor's path for one event, through metered parts: dedup, then for each action
//! the result cache, the action, and on failure the retry queue until success or the dead-letter
//! list; a checkpoint every so many events.

use super::memory::{MemoryCache, MemoryCheckpoints, MemoryDedup, MemoryQueue};
use super::metered::{
    EventGuard, MeteredCache, MeteredCheckpoints, MeteredDedup, MeteredQueue, MetricsActionExecutor,
};
use super::{
    ActionConfig, ActionExecutor, CachedResult, CheckpointState, CheckpointStore, DedupStore,
    EntityEvent, Job, JobQueue, Result, ResultCache,
};
use crate::observer::ObserverMetrics;

/// What happened to one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionSummary {
    /// The event was a duplicate and nothing ran.
    pub duplicate: bool,
    /// Actions answered from the cache.
    pub cached: u32,
    /// Actions that succeeded, first time or on a retry.
    pub succeeded: u32,
    /// Actions that ended on the dead-letter list.
    pub dead_lettered: u32,
}

/// The parts of an observer pipeline, each metered.
#[derive(Debug)]
pub struct ObserverPipeline<E, Q, C, D, S> {
    /// The action executor.
    pub executor: MetricsActionExecutor<E>,
    /// The retry queue.
    pub queue: MeteredQueue<Q>,
    /// The result cache.
    pub cache: MeteredCache<C>,
    /// The dedup store.
    pub dedup: MeteredDedup<D>,
    /// The checkpoint store.
    pub checkpoints: MeteredCheckpoints<S>,
    /// The actions every event runs.
    pub actions: Vec<ActionConfig>,
    /// Retries before a job is dead-lettered.
    pub max_retries: u32,
    /// A checkpoint is saved after every this many events (0: never).
    pub checkpoint_every: u64,
    /// The listener whose progress is checkpointed.
    pub listener: String,
    metrics: ObserverMetrics,
}

impl<E: ActionExecutor>
    ObserverPipeline<E, MemoryQueue, MemoryCache, MemoryDedup, MemoryCheckpoints>
{
    /// A pipeline around `executor` whose queue, cache, dedup and checkpoint stores are the
    /// in-memory ones.
    pub fn in_memory(
        metrics: &ObserverMetrics,
        executor: MetricsActionExecutor<E>,
        actions: Vec<ActionConfig>,
    ) -> Self {
        ObserverPipeline::new(
            metrics,
            executor,
            MemoryQueue::default(),
            MemoryCache::default(),
            MemoryDedup::default(),
            MemoryCheckpoints::default(),
            actions,
        )
    }
}

impl<E, Q, C, D, S> ObserverPipeline<E, Q, C, D, S>
where
    E: ActionExecutor,
    Q: JobQueue,
    C: ResultCache,
    D: DedupStore,
    S: CheckpointStore,
{
    /// Wraps each part in its metered decorator.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        metrics: &ObserverMetrics,
        executor: MetricsActionExecutor<E>,
        queue: Q,
        cache: C,
        dedup: D,
        checkpoints: S,
        actions: Vec<ActionConfig>,
    ) -> Self {
        ObserverPipeline {
            executor,
            queue: MeteredQueue::new(queue, metrics.clone()),
            cache: MeteredCache::new(cache, metrics.clone()),
            dedup: MeteredDedup::new(dedup, metrics.clone()),
            checkpoints: MeteredCheckpoints::new(checkpoints, metrics.clone()),
            actions,
            max_retries: 3,
            checkpoint_every: 100,
            listener: "observer".into(),
            metrics: metrics.clone(),
        }
    }

    /// Where the listener got to before a restart (counted in `checkpoint_recovery_total`).
    pub async fn recover(&self) -> Result<Option<CheckpointState>> {
        self.checkpoints.recover(&self.listener).await
    }

    /// Processes one event.
    pub async fn process_event(&self, event: &EntityEvent) -> Result<ExecutionSummary> {
        let _in_flight = EventGuard::start(&self.metrics);
        let mut summary = ExecutionSummary::default();
        if self.dedup.is_duplicate(&event.key).await? {
            summary.duplicate = true;
            return Ok(summary);
        }
        for action in &self.actions {
            let cache_key = format!("{}/{}", event.entity, action.name);
            if self.cache.get(&cache_key).await?.is_some() {
                summary.cached += 1;
                continue;
            }
            if let Some(output) = self.run_with_retries(event, action).await? {
                self.cache
                    .put(&cache_key, CachedResult { value: output })
                    .await?;
                summary.succeeded += 1;
            } else {
                summary.dead_lettered += 1;
            }
        }
        if self.checkpoint_every > 0 && event.id.is_multiple_of(self.checkpoint_every) {
            self.checkpoints
                .save(
                    &self.listener,
                    &CheckpointState {
                        last_event_id: event.id,
                    },
                )
                .await?;
        }
        Ok(summary)
    }

    /// Runs `action`; on failure queues a job and retries it up to `max_retries` times. The output
    /// on success, `None` once dead-lettered.
    async fn run_with_retries(
        &self,
        event: &EntityEvent,
        action: &ActionConfig,
    ) -> Result<Option<String>> {
        if let Ok(result) = self.executor.execute(event, action).await {
            if result.success {
                return Ok(Some(result.output));
            }
        }
        let job = Job {
            event_id: event.id,
            action: action.name.clone(),
        };
        let id = self.queue.enqueue(&job).await?;
        for attempt in 1..=self.max_retries {
            let next_retry_at = unix_time_secs() as i64 + (1i64 << attempt.min(20));
            self.queue.mark_retry(&id, next_retry_at).await?;
            if let Ok(result) = self.executor.execute(event, action).await {
                if result.success {
                    self.queue.mark_success(&id).await?;
                    return Ok(Some(result.output));
                }
            }
        }
        self.queue.mark_deadletter(&id, "retries exhausted").await?;
        Ok(None)
    }
}

/// Seconds since the Unix epoch.
fn unix_time_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
