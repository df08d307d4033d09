//! The metered decorators around the in-memory observer parts: the plan's named tests, with the
//! values read back from the render.

mod support;

use std::sync::Arc;
use std::time::Duration;

use observer_metrics::observer::memory::{
    JobState, MemoryCache, MemoryCheckpoints, MemoryDedup, MemoryQueue,
};
use observer_metrics::observer::metered::{
    EventGuard, MeteredCache, MeteredCheckpoints, MeteredDedup, MeteredQueue, MetricsActionExecutor,
};
use observer_metrics::observer::ObserverMetrics;
use observer_metrics::observer::{
    ActionConfig, ActionExecutor, ActionResult, CachedResult, CheckpointState, CheckpointStore,
    DedupStore, EntityEvent, Job, JobQueue, ObserverError, ResultCache,
};
use observer_metrics::{MetricsBuilder, ObserverRecorder};
use support::sample;

fn setup() -> (ObserverRecorder, ObserverMetrics) {
    let recorder = MetricsBuilder::new().build_recorder().unwrap();
    let metrics = ObserverMetrics::new(&recorder.handle());
    (recorder, metrics)
}

fn value(r: &ObserverRecorder, series: &str) -> f64 {
    sample(&r.render(), series).unwrap_or_else(|| panic!("{series} missing"))
}

fn event(id: u64) -> EntityEvent {
    EntityEvent {
        id,
        entity: format!("order:{id}"),
        key: format!("k{id}"),
    }
}

fn job(event_id: u64) -> Job {
    Job {
        event_id,
        action: "a".into(),
    }
}

fn action(name: &str) -> ActionConfig {
    ActionConfig {
        name: name.into(),
        timeout: None,
    }
}

/// An executor that answers from a script: Ok(success), Ok(failure), an error, or a hang.
#[derive(Clone, Copy)]
enum Script {
    Succeed,
    Fail,
    Error,
    Hang,
}

struct Scripted(Script);

impl ActionExecutor for Scripted {
    async fn execute(
        &self,
        event: &EntityEvent,
        action: &ActionConfig,
    ) -> Result<ActionResult, ObserverError> {
        match self.0 {
            Script::Succeed => Ok(ActionResult {
                success: true,
                output: format!("{}:{}", action.name, event.id),
            }),
            Script::Fail => Ok(ActionResult {
                success: false,
                output: "no".into(),
            }),
            Script::Error => Err(ObserverError::Action {
                action: action.name.clone(),
                reason: "boom".into(),
            }),
            Script::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                unreachable!()
            }
        }
    }
}

async fn process(metrics: &ObserverMetrics, outcome: Result<(), ()>) -> Result<(), ()> {
    let _guard = EventGuard::start(metrics);
    tokio::task::yield_now().await;
    outcome
}

#[tokio::test]
async fn test_event_processing_metrics() {
    let (r, m) = setup();
    for _ in 0..3 {
        process(&m, Ok(())).await.unwrap();
    }
    assert_eq!(value(&r, "events_processed_total"), 3.0);
    assert_eq!(value(&r, "event_processing_duration_ms_count"), 3.0);
    assert_eq!(value(&r, "events_in_flight"), 0.0);
}

#[tokio::test]
async fn test_event_metrics_on_success() {
    let (r, m) = setup();
    let guard = EventGuard::start(&m);
    assert_eq!(value(&r, "events_in_flight"), 1.0);
    assert_eq!(value(&r, "events_processed_total"), 0.0);
    drop(guard);
    assert_eq!(value(&r, "events_in_flight"), 0.0);
    assert_eq!(value(&r, "events_processed_total"), 1.0);
}

#[tokio::test]
async fn test_event_metrics_on_failure() {
    let (r, m) = setup();
    process(&m, Err(())).await.unwrap_err();
    assert_eq!(value(&r, "events_processed_total"), 1.0);
    assert_eq!(value(&r, "events_in_flight"), 0.0);
}

#[tokio::test]
async fn in_flight_comes_down_on_panic_timeout_and_drop() {
    let (r, m) = setup();
    // A panic inside processing.
    let m2 = m.clone();
    let panicked = tokio::spawn(async move {
        let _guard = EventGuard::start(&m2);
        panic!("processing blew up");
    })
    .await;
    assert!(panicked.is_err());
    // A timeout around processing.
    let slow = async {
        let _guard = EventGuard::start(&m);
        tokio::time::sleep(Duration::from_secs(3600)).await;
    };
    assert!(tokio::time::timeout(Duration::from_millis(20), slow)
        .await
        .is_err());
    // A future dropped before it ran to the end.
    let mut dropped = Box::pin(async {
        let _guard = EventGuard::start(&m);
        std::future::pending::<()>().await;
    });
    assert!(futures_poll_once(dropped.as_mut()).await);
    assert_eq!(value(&r, "events_in_flight"), 1.0);
    drop(dropped);
    assert_eq!(value(&r, "events_in_flight"), 0.0);
    assert_eq!(value(&r, "events_processed_total"), 3.0);
}

/// Polls a future once; true if it was still pending.
async fn futures_poll_once<F: std::future::Future + ?Sized>(mut f: std::pin::Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx).is_pending())).await
}

#[tokio::test]
async fn test_action_success_metrics() {
    let (r, m) = setup();
    let e = MetricsActionExecutor::new(Scripted(Script::Succeed), m.clone());
    e.execute(&event(1), &action("email")).await.unwrap();
    assert_eq!(value(&r, "actions_executed_total"), 1.0);
    assert_eq!(value(&r, "action_success_total"), 1.0);
    assert_eq!(value(&r, "action_failure_total"), 0.0);
}

#[tokio::test]
async fn test_action_failure_metrics() {
    let (r, m) = setup();
    MetricsActionExecutor::new(Scripted(Script::Fail), m.clone())
        .execute(&event(1), &action("a"))
        .await
        .unwrap();
    MetricsActionExecutor::new(Scripted(Script::Error), m.clone())
        .execute(&event(1), &action("a"))
        .await
        .unwrap_err();
    assert_eq!(value(&r, "actions_executed_total"), 2.0);
    assert_eq!(value(&r, "action_success_total"), 0.0);
    assert_eq!(value(&r, "action_failure_total"), 2.0);
}

#[tokio::test]
async fn test_action_duration_histogram() {
    let (r, m) = setup();
    let e = MetricsActionExecutor::new(Scripted(Script::Succeed), m.clone());
    for i in 0..5 {
        e.execute(&event(i), &action("a")).await.unwrap();
    }
    assert_eq!(value(&r, "action_duration_ms_count"), 5.0);
    assert_eq!(value(&r, "action_duration_ms_bucket{le=\"+Inf\"}"), 5.0);
    assert!(value(&r, "action_duration_ms_sum") >= 0.0);
}

#[tokio::test]
async fn test_action_timeout_tracking() {
    let (r, m) = setup();
    let e = MetricsActionExecutor::new(Scripted(Script::Hang), m.clone())
        .with_deadline(Duration::from_millis(10));
    let err = e.execute(&event(1), &action("slow")).await.unwrap_err();
    assert_eq!(
        err,
        ObserverError::Timeout {
            action: "slow".into(),
            after: Duration::from_millis(10)
        }
    );
    // An action's own deadline wins over the executor's.
    let own = ActionConfig {
        name: "own".into(),
        timeout: Some(Duration::from_millis(5)),
    };
    let err = e.execute(&event(2), &own).await.unwrap_err();
    assert_eq!(
        err,
        ObserverError::Timeout {
            action: "own".into(),
            after: Duration::from_millis(5)
        }
    );
    assert_eq!(value(&r, "action_timeout_total"), 2.0);
    assert_eq!(value(&r, "action_failure_total"), 2.0);
    assert_eq!(value(&r, "actions_executed_total"), 2.0);
    assert_eq!(value(&r, "action_duration_ms_count"), 2.0);
}

#[tokio::test]
async fn test_metrics_wrapper_transparent() {
    let (_r, m) = setup();
    for script in [Script::Succeed, Script::Fail, Script::Error] {
        let bare = Scripted(script).execute(&event(7), &action("a")).await;
        let wrapped = MetricsActionExecutor::new(Scripted(script), m.clone())
            .execute(&event(7), &action("a"))
            .await;
        assert_eq!(bare, wrapped);
    }
    // Queue, cache, dedup and checkpoint decorators pass results and errors through as well.
    let q = MeteredQueue::new(MemoryQueue::default(), m.clone());
    assert_eq!(
        q.mark_success("nope").await,
        MemoryQueue::default().mark_success("nope").await
    );
    let c = MeteredCache::new(MemoryCache::default(), m.clone());
    c.put("k", CachedResult { value: "v".into() })
        .await
        .unwrap();
    assert_eq!(
        c.get("k").await.unwrap(),
        Some(CachedResult { value: "v".into() })
    );
}

#[tokio::test]
async fn cancelled_action_still_balances_executed_with_outcomes() {
    let (r, m) = setup();
    let e = MetricsActionExecutor::new(Scripted(Script::Hang), m.clone());
    assert!(tokio::time::timeout(
        Duration::from_millis(10),
        e.execute(&event(1), &action("a"))
    )
    .await
    .is_err());
    assert_eq!(value(&r, "actions_executed_total"), 1.0);
    assert_eq!(value(&r, "action_failure_total"), 1.0);
}

#[tokio::test]
async fn test_queue_enqueue_metrics() {
    let (r, m) = setup();
    let q = MeteredQueue::new(MemoryQueue::default(), m.clone());
    for i in 0..4 {
        q.enqueue(&job(i)).await.unwrap();
    }
    assert_eq!(value(&r, "queue_jobs_enqueued_total"), 4.0);
    assert_eq!(value(&r, "queue_depth"), 4.0);
}

#[tokio::test]
async fn test_queue_retry_metrics() {
    let (r, m) = setup();
    let q = MeteredQueue::new(MemoryQueue::default(), m.clone());
    let id = q.enqueue(&job(1)).await.unwrap();
    q.mark_retry(&id, 0).await.unwrap();
    q.mark_retry(&id, 0).await.unwrap();
    assert_eq!(value(&r, "queue_retry_total"), 2.0);
    assert_eq!(value(&r, "queue_depth"), 1.0);
    assert_eq!(q.inner().state(&id), Some(JobState::Queued { retries: 2 }));
}

#[tokio::test]
async fn test_queue_deadletter_metrics() {
    let (r, m) = setup();
    let q = MeteredQueue::new(MemoryQueue::default(), m.clone());
    let id = q.enqueue(&job(1)).await.unwrap();
    q.mark_deadletter(&id, "gave up").await.unwrap();
    assert_eq!(value(&r, "queue_deadletter_total"), 1.0);
    assert_eq!(value(&r, "queue_depth"), 0.0);
}

#[tokio::test]
async fn test_queue_depth_tracking() {
    let (r, m) = setup();
    let q = MeteredQueue::new(MemoryQueue::default(), m.clone());
    let a = q.enqueue(&job(1)).await.unwrap();
    let b = q.enqueue(&job(2)).await.unwrap();
    let c = q.enqueue(&job(3)).await.unwrap();
    q.mark_success(&a).await.unwrap();
    q.mark_deadletter(&b, "x").await.unwrap();
    assert_eq!(value(&r, "queue_depth"), 1.0);
    // Finishing twice, or a job that never existed, is refused and does not move the depth.
    q.mark_success(&a).await.unwrap_err();
    q.mark_success("job-999").await.unwrap_err();
    q.mark_success(&c).await.unwrap();
    q.mark_success(&c).await.unwrap_err();
    assert_eq!(value(&r, "queue_depth"), 0.0);
    assert_eq!(value(&r, "queue_jobs_processed_total"), 2.0);
    let enqueued = value(&r, "queue_jobs_enqueued_total");
    let finished = value(&r, "queue_jobs_processed_total") + value(&r, "queue_deadletter_total");
    assert_eq!(value(&r, "queue_depth"), enqueued - finished);
}

/// Threads racing on one queue: the gauge must end equal to enqueued minus finished. It was set
/// from a load made after the atomic update, so a stale value could be written last.
#[test]
fn queue_depth_is_exact_under_racing_threads() {
    for round in 0..20 {
        let (r, m) = setup();
        let q = Arc::new(MeteredQueue::new(MemoryQueue::default(), m.clone()));
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        for i in 0..500 {
                            let id = q.enqueue(&job(t * 1000 + i)).await.unwrap();
                            // Keep one job in four queued; finish the rest at once.
                            if i % 4 != 0 {
                                q.mark_success(&id).await.unwrap();
                            }
                        }
                    })
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(value(&r, "queue_depth"), 500.0, "round {round}");
        assert_eq!(q.inner().depth(), 500, "round {round}");
    }
}

/// The in-memory stores stay bounded the way real ones are: a dedup window, an LRU cache whose
/// size follows its evictions, and a queue that remembers only its latest finished jobs.
#[tokio::test]
async fn in_memory_stores_are_bounded() {
    let dedup = MemoryDedup::with_window(3);
    for key in ["a", "b", "c"] {
        assert!(!dedup.is_duplicate(key).await.unwrap());
    }
    assert!(dedup.is_duplicate("a").await.unwrap());
    assert!(!dedup.is_duplicate("d").await.unwrap()); // "b" leaves the window
    assert!(!dedup.is_duplicate("b").await.unwrap());

    let cache = MemoryCache::with_capacity(2);
    let value = |v: &str| CachedResult { value: v.into() };
    cache.put("k1", value("aaaa")).await.unwrap();
    cache.put("k2", value("bb")).await.unwrap();
    cache.get("k1").await.unwrap(); // k2 is now the least recently used
    cache.put("k3", value("c")).await.unwrap();
    assert!(cache.get("k2").await.unwrap().is_none());
    assert!(cache.get("k1").await.unwrap().is_some());
    assert_eq!(cache.size_bytes(), (2 + 4) + (2 + 1));

    let queue = MemoryQueue::with_finished_capacity(2);
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = queue.enqueue(&job(i)).await.unwrap();
        ids.push(id);
    }
    for id in &ids[..4] {
        queue.mark_success(id).await.unwrap();
    }
    assert_eq!(queue.depth(), 1);
    assert_eq!(queue.state(&ids[3]), Some(JobState::Done));
    assert_eq!(
        queue.state(&ids[0]),
        None,
        "only the last 2 finished jobs are kept"
    );
    assert_eq!(queue.state(&ids[4]), Some(JobState::Queued { retries: 0 }));
    queue.mark_success(&ids[3]).await.unwrap_err();
}

#[tokio::test]
async fn test_cache_hit_metrics() {
    let (r, m) = setup();
    let c = MeteredCache::new(MemoryCache::default(), m.clone());
    c.put(
        "k",
        CachedResult {
            value: "value".into(),
        },
    )
    .await
    .unwrap();
    c.get("k").await.unwrap().unwrap();
    c.get("k").await.unwrap().unwrap();
    assert_eq!(value(&r, "cache_hits_total"), 2.0);
    assert_eq!(value(&r, "cache_size_bytes"), 6.0);
}

#[tokio::test]
async fn test_cache_miss_metrics() {
    let (r, m) = setup();
    let c = MeteredCache::new(MemoryCache::default(), m.clone());
    assert!(c.get("absent").await.unwrap().is_none());
    assert_eq!(value(&r, "cache_misses_total"), 1.0);
    assert_eq!(value(&r, "cache_hits_total"), 0.0);
}

#[tokio::test]
async fn test_cache_hit_rate_calculation() {
    let (r, m) = setup();
    let c = MeteredCache::new(MemoryCache::default(), m.clone());
    assert!(value(&r, "cache_hit_rate").is_nan());
    c.put("k", CachedResult { value: "v".into() })
        .await
        .unwrap();
    for key in ["k", "k", "k", "x"] {
        let _ = c.get(key).await.unwrap();
    }
    assert_eq!(value(&r, "cache_hit_rate"), 75.0);
}

#[tokio::test]
async fn test_dedup_check_metrics() {
    let (r, m) = setup();
    let d = MeteredDedup::new(MemoryDedup::default(), m.clone());
    for key in ["a", "b", "c"] {
        assert!(!d.is_duplicate(key).await.unwrap());
    }
    assert_eq!(value(&r, "dedup_checks_total"), 3.0);
}

#[tokio::test]
async fn test_dedup_duplicate_tracking() {
    let (r, m) = setup();
    let d = MeteredDedup::new(MemoryDedup::default(), m.clone());
    assert!(!d.is_duplicate("a").await.unwrap());
    assert!(d.is_duplicate("a").await.unwrap());
    assert!(d.is_duplicate("a").await.unwrap());
    assert_eq!(value(&r, "dedup_duplicates_found_total"), 2.0);
}

#[tokio::test]
async fn test_dedup_rate_calculation() {
    let (r, m) = setup();
    let d = MeteredDedup::new(MemoryDedup::default(), m.clone());
    for key in ["a", "a", "b", "c"] {
        d.is_duplicate(key).await.unwrap();
    }
    assert_eq!(value(&r, "dedup_hit_rate"), 25.0);
}

#[tokio::test]
async fn test_checkpoint_save_metrics() {
    let (r, m) = setup();
    let s = MeteredCheckpoints::new(MemoryCheckpoints::default(), m.clone());
    s.save("l", &CheckpointState { last_event_id: 5 })
        .await
        .unwrap();
    s.save("l", &CheckpointState { last_event_id: 9 })
        .await
        .unwrap();
    assert_eq!(value(&r, "checkpoint_saves_total"), 2.0);
}

#[tokio::test]
async fn test_checkpoint_recovery_metrics() {
    let (r, m) = setup();
    let s = MeteredCheckpoints::new(MemoryCheckpoints::default(), m.clone());
    assert_eq!(s.recover("l").await.unwrap(), None);
    assert_eq!(value(&r, "checkpoint_recovery_total"), 0.0);
    s.save("l", &CheckpointState { last_event_id: 5 })
        .await
        .unwrap();
    assert_eq!(
        s.recover("l").await.unwrap(),
        Some(CheckpointState { last_event_id: 5 })
    );
    assert_eq!(value(&r, "checkpoint_recovery_total"), 1.0);
}

#[tokio::test]
async fn test_checkpoint_duration_tracking() {
    let (r, m) = setup();
    let s = MeteredCheckpoints::new(MemoryCheckpoints::default(), m.clone());
    for i in 0..3 {
        s.save("l", &CheckpointState { last_event_id: i })
            .await
            .unwrap();
    }
    assert_eq!(value(&r, "checkpoint_save_duration_ms_count"), 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pipeline_keeps_every_invariant() {
    use observer_metrics::observer::memory::{Outcomes, SimulatedExecutor};
    use observer_metrics::observer::pipeline::ObserverPipeline;
    let (r, m) = setup();
    let outcomes = Outcomes {
        failure_rate: 0.2,
        error_rate: 0.1,
        timeout_rate: 0.05,
        hang: Duration::from_millis(20),
    };
    let executor = MetricsActionExecutor::new(SimulatedExecutor::new(outcomes), m.clone())
        .with_deadline(Duration::from_millis(5));
    let actions = vec![action("a"), action("b")];
    let mut p = ObserverPipeline::in_memory(&m, executor, actions);
    p.max_retries = 1;
    let p = Arc::new(p);
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..150u64 {
                let id = t * 1000 + i;
                let e = EntityEvent {
                    id,
                    entity: format!("e{}", id % 50),
                    key: format!("k{}", id % 500),
                };
                p.process_event(&e).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let text = r.render();
    let v = |s: &str| sample(&text, s).unwrap();
    assert_eq!(v("events_processed_total"), 600.0);
    assert_eq!(v("event_processing_duration_ms_count"), 600.0);
    assert_eq!(v("events_in_flight"), 0.0);
    assert_eq!(
        v("actions_executed_total"),
        v("action_success_total") + v("action_failure_total")
    );
    assert_eq!(v("action_duration_ms_count"), v("actions_executed_total"));
    assert_eq!(v("queue_depth"), 0.0);
    assert_eq!(
        v("queue_jobs_enqueued_total"),
        v("queue_jobs_processed_total") + v("queue_deadletter_total")
    );
    assert!(v("queue_deadletter_total") > 0.0 && v("action_timeout_total") > 0.0);
    assert_eq!(v("dedup_checks_total"), 600.0);
    assert_eq!(
        v("cache_hit_rate"),
        100.0 * v("cache_hits_total") / (v("cache_hits_total") + v("cache_misses_total"))
    );
}
