//! Metered decorators: each wraps an implementation of an observer trait, records exactly the
//! plan's metrics around it, and is otherwise transparent (results and errors pass through
//! unchanged; only a deadline, when set, adds its own timeout error).

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::Poll;
use std::time::Duration;

use super::{
    ActionConfig, ActionExecutor, ActionResult, CachedResult, CheckpointState, CheckpointStore,
    DedupStore, EntityEvent, Job, JobQueue, ObserverError, Result, ResultCache,
};
use crate::observer::ObserverMetrics;
use std::time::Instant;

fn millis_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Runs `work` until it finishes or `deadline` passes (`None`); works on every target.
async fn within<F: Future>(deadline: Duration, work: F) -> Option<F::Output> {
    let mut work = pin!(work);
    let mut timer = pin!(tokio::time::sleep(deadline));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Tracks one event through processing: `events_in_flight` goes up when it starts and comes back
/// down when the guard is dropped, however processing ends (success, error, timeout, panic, or its
/// future being dropped); then `events_processed_total` and `event_processing_duration_ms` record
/// it.
#[derive(Debug)]
#[must_use = "the event counts as in flight until the guard is dropped"]
pub struct EventGuard<'m> {
    metrics: &'m ObserverMetrics,
    start: Instant,
}

impl<'m> EventGuard<'m> {
    /// An event starts.
    pub fn start(metrics: &'m ObserverMetrics) -> Self {
        metrics.events_in_flight.increment(1.0);
        EventGuard {
            metrics,
            start: Instant::now(),
        }
    }
}

impl Drop for EventGuard<'_> {
    fn drop(&mut self) {
        self.metrics
            .event_processing_duration_ms
            .record(millis_since(self.start));
        self.metrics.events_processed_total.increment(1);
        self.metrics.events_in_flight.decrement(1.0);
    }
}

/// Records one action execution when it ends; an execution whose future is dropped before it ends
/// counts as a failure, so `actions_executed_total` always equals success plus failure.
struct ActionRecord<'m> {
    metrics: &'m ObserverMetrics,
    start: Instant,
    success: Option<bool>,
}

impl Drop for ActionRecord<'_> {
    fn drop(&mut self) {
        let m = self.metrics;
        m.actions_executed_total.increment(1);
        if self.success == Some(true) {
            m.action_success_total.increment(1);
        } else {
            m.action_failure_total.increment(1);
        }
        m.action_duration_ms.record(millis_since(self.start));
    }
}

/// Meters an [`ActionExecutor`]: `actions_executed_total`, `action_success_total`,
/// `action_failure_total` (an `Err`, `success: false`, a timeout or a cancellation),
/// `action_duration_ms`, and `action_timeout_total` when an action passes its deadline (the
/// action's own `timeout`, else the default set with [`with_deadline`](Self::with_deadline)).
#[derive(Debug, Clone)]
pub struct MetricsActionExecutor<E> {
    inner: E,
    metrics: ObserverMetrics,
    deadline: Option<Duration>,
}

impl<E> MetricsActionExecutor<E> {
    /// Wraps `inner`.
    pub fn new(inner: E, metrics: ObserverMetrics) -> Self {
        MetricsActionExecutor {
            inner,
            metrics,
            deadline: None,
        }
    }

    /// A default deadline for actions that do not set their own.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The wrapped executor.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: ActionExecutor> ActionExecutor for MetricsActionExecutor<E> {
    async fn execute(&self, event: &EntityEvent, action: &ActionConfig) -> Result<ActionResult> {
        let mut record = ActionRecord {
            metrics: &self.metrics,
            start: Instant::now(),
            success: None,
        };
        let result = match action.timeout.or(self.deadline) {
            None => self.inner.execute(event, action).await,
            Some(deadline) => match within(deadline, self.inner.execute(event, action)).await {
                Some(result) => result,
                None => {
                    self.metrics.action_timeout_total.increment(1);
                    Err(ObserverError::Timeout {
                        action: action.name.clone(),
                        after: deadline,
                    })
                }
            },
        };
        record.success = Some(matches!(result, Ok(ActionResult { success: true, .. })));
        result
    }
}

/// Meters a [`JobQueue`]: `queue_jobs_enqueued_total`, `queue_jobs_processed_total`,
/// `queue_retry_total`, `queue_deadletter_total`, and `queue_depth` = jobs enqueued minus jobs
/// finished (processed or dead-lettered). Only operations the inner queue accepted count, so the
/// depth never goes negative.
#[derive(Debug)]
pub struct MeteredQueue<Q> {
    inner: Q,
    metrics: ObserverMetrics,
    depth: AtomicU64,
}

impl<Q> MeteredQueue<Q> {
    /// Wraps `inner`.
    pub fn new(inner: Q, metrics: ObserverMetrics) -> Self {
        MeteredQueue {
            inner,
            metrics,
            depth: AtomicU64::new(0),
        }
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Q {
        &self.inner
    }

    fn finished(&self) {
        // Saturating: a queue that reports finishing a job it never had cannot push the gauge
        // below zero. The gauge moves by the same steps as the count, never by a value read back
        // later, which a racing thread could already have made stale.
        if self
            .depth
            .fetch_update(Relaxed, Relaxed, |d| d.checked_sub(1))
            .is_ok()
        {
            self.metrics.queue_depth.decrement(1.0);
        }
    }
}

impl<Q: JobQueue> JobQueue for MeteredQueue<Q> {
    async fn enqueue(&self, job: &Job) -> Result<String> {
        let id = self.inner.enqueue(job).await?;
        self.metrics.queue_jobs_enqueued_total.increment(1);
        self.depth.fetch_add(1, Relaxed);
        self.metrics.queue_depth.increment(1.0);
        Ok(id)
    }

    async fn mark_success(&self, job_id: &str) -> Result<()> {
        self.inner.mark_success(job_id).await?;
        self.metrics.queue_jobs_processed_total.increment(1);
        self.finished();
        Ok(())
    }

    async fn mark_retry(&self, job_id: &str, next_retry_at: i64) -> Result<()> {
        self.inner.mark_retry(job_id, next_retry_at).await?;
        self.metrics.queue_retry_total.increment(1);
        Ok(())
    }

    async fn mark_deadletter(&self, job_id: &str, reason: &str) -> Result<()> {
        self.inner.mark_deadletter(job_id, reason).await?;
        self.metrics.queue_deadletter_total.increment(1);
        self.finished();
        Ok(())
    }
}

/// Meters a [`ResultCache`]: `cache_hits_total`, `cache_misses_total` (and so `cache_hit_rate`),
/// and `cache_size_bytes` after each `put`.
#[derive(Debug)]
pub struct MeteredCache<C> {
    inner: C,
    metrics: ObserverMetrics,
}

impl<C> MeteredCache<C> {
    /// Wraps `inner`.
    pub fn new(inner: C, metrics: ObserverMetrics) -> Self {
        MeteredCache { inner, metrics }
    }
}

impl<C: ResultCache> ResultCache for MeteredCache<C> {
    async fn get(&self, key: &str) -> Result<Option<CachedResult>> {
        let found = self.inner.get(key).await?;
        match found {
            Some(_) => self.metrics.cache_hits_total.increment(1),
            None => self.metrics.cache_misses_total.increment(1),
        }
        Ok(found)
    }

    async fn put(&self, key: &str, value: CachedResult) -> Result<()> {
        self.inner.put(key, value).await?;
        self.metrics
            .cache_size_bytes
            .set(self.inner.size_bytes() as f64);
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }
}

/// Meters a [`DedupStore`]: `dedup_checks_total` and `dedup_duplicates_found_total` (and so
/// `dedup_hit_rate`).
#[derive(Debug)]
pub struct MeteredDedup<D> {
    inner: D,
    metrics: ObserverMetrics,
}

impl<D> MeteredDedup<D> {
    /// Wraps `inner`.
    pub fn new(inner: D, metrics: ObserverMetrics) -> Self {
        MeteredDedup { inner, metrics }
    }
}

impl<D: DedupStore> DedupStore for MeteredDedup<D> {
    async fn is_duplicate(&self, key: &str) -> Result<bool> {
        let duplicate = self.inner.is_duplicate(key).await?;
        self.metrics.dedup_checks_total.increment(1);
        if duplicate {
            self.metrics.dedup_duplicates_found_total.increment(1);
        }
        Ok(duplicate)
    }
}

/// Meters a [`CheckpointStore`]: `checkpoint_saves_total` and `checkpoint_save_duration_ms` for
/// saves that succeeded, `checkpoint_recovery_total` for recoveries that found a checkpoint.
#[derive(Debug)]
pub struct MeteredCheckpoints<S> {
    inner: S,
    metrics: ObserverMetrics,
}

impl<S> MeteredCheckpoints<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, metrics: ObserverMetrics) -> Self {
        MeteredCheckpoints { inner, metrics }
    }
}

impl<S: CheckpointStore> CheckpointStore for MeteredCheckpoints<S> {
    async fn save(&self, listener_id: &str, state: &CheckpointState) -> Result<()> {
        let start = Instant::now();
        self.inner.save(listener_id, state).await?;
        self.metrics
            .checkpoint_save_duration_ms
            .record(millis_since(start));
        self.metrics.checkpoint_saves_total.increment(1);
        Ok(())
    }

    async fn recover(&self, listener_id: &str) -> Result<Option<CheckpointState>> {
        let state = self.inner.recover(listener_id).await?;
        if state.is_some() {
            self.metrics.checkpoint_recovery_total.increment(1);
        }
        Ok(state)
    }
}
