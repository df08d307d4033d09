//! The synthetic workload: a seeded event stream through the metered in-memory pipeline.

use std::io::IsTerminal;
use std::time::Duration;

use observer_metrics::observer::memory::{
    MemoryCache, MemoryCheckpoints, MemoryDedup, MemoryQueue, Outcomes, SimulatedExecutor,
};
use observer_metrics::observer::metered::MetricsActionExecutor;
use observer_metrics::observer::pipeline::ObserverPipeline;
use observer_metrics::observer::{ActionConfig, EntityEvent, ObserverMetrics};
use rand::{Rng, SeedableRng};

use crate::settings::Workload;

/// The stream of synthetic events: entities skewed towards a few hot ones (so the cache hits),
/// and some events delivered twice (so dedup finds duplicates).
struct Events {
    /// Seeded: a seed gives the same events with this build.
    rng: rand::rngs::SmallRng,
    entities: u64,
    duplicate_rate: f64,
}

impl Events {
    fn event(&mut self, id: u64) -> EntityEvent {
        let skewed = self.rng.random::<f64>().powi(3);
        let entity = format!("entity-{}", (skewed * self.entities as f64) as u64);
        let key_id = if id > 0 && self.rng.random::<f64>() < self.duplicate_rate {
            (self.rng.random::<f64>() * id as f64) as u64
        } else {
            id
        };
        EntityEvent {
            id,
            entity,
            key: format!("event-{key_id}"),
        }
    }
}

pub(crate) type Pipeline =
    ObserverPipeline<SimulatedExecutor, MemoryQueue, MemoryCache, MemoryDedup, MemoryCheckpoints>;

pub(crate) fn pipeline(metrics: &ObserverMetrics, w: &Workload) -> Pipeline {
    let deadline = Duration::from_millis(w.action_timeout_ms);
    let outcomes = Outcomes {
        failure_rate: w.failure_rate,
        error_rate: w.error_rate,
        timeout_rate: w.timeout_rate,
        hang: deadline * 4,
    };
    let executor = MetricsActionExecutor::new(SimulatedExecutor::new(outcomes), metrics.clone())
        .with_deadline(deadline);
    let actions = (0..w.actions)
        .map(|i| ActionConfig {
            name: format!("action-{i}"),
            timeout: None,
        })
        .collect();
    let mut p = ObserverPipeline::in_memory(metrics, executor, actions);
    p.max_retries = w.max_retries;
    p.checkpoint_every = w.checkpoint_every;
    p
}

/// Runs events `0..limit` (forever when `None`), paced to `rate`; returns how many ran.
pub(crate) async fn drive(p: &Pipeline, w: &Workload, limit: Option<u64>) -> u64 {
    let mut events = Events {
        rng: rand::rngs::SmallRng::seed_from_u64(w.seed),
        entities: w.entities,
        duplicate_rate: w.duplicate_rate,
    };
    let _ = p.recover().await;
    let mut progress = Progress::new(limit, w.progress_secs);
    let start = tokio::time::Instant::now();
    let mut id = 0;
    while limit.is_none_or(|n| id < n) {
        // The in-memory parts never fail; a failing store would be counted by its decorator.
        let _ = p.process_event(&events.event(id)).await;
        id += 1;
        if let Some(rate) = w.rate {
            tokio::time::sleep_until(start + Duration::from_secs_f64(id as f64 / rate)).await;
        } else if id.is_multiple_of(256) {
            // Let a signal be noticed in a long unpaced batch.
            tokio::task::yield_now().await;
        }
        progress.show(id);
    }
    progress.finish();
    id
}

/// How far a run is: a bar redrawn in place on a terminal, a log line every few seconds
/// otherwise (cron, a container's log), so a long batch is never silent.
struct Progress {
    limit: Option<u64>,
    /// `None`: nothing is shown.
    every: Option<Duration>,
    terminal: bool,
    started: std::time::Instant,
    last: std::time::Instant,
}

impl Progress {
    fn new(limit: Option<u64>, secs: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let every = match (terminal, secs) {
            (true, _) => Some(Duration::from_millis(200)),
            (false, 0) => None,
            (false, secs) => Some(Duration::from_secs(secs)),
        };
        let now = std::time::Instant::now();
        Progress {
            limit,
            every,
            terminal,
            started: now,
            last: now,
        }
    }

    fn show(&mut self, done: u64) {
        // Checked every 64 events: a clock read per event would show in an unpaced batch.
        let Some(every) = self.every.filter(|_| done.is_multiple_of(64)) else {
            return;
        };
        if self.last.elapsed() < every {
            return;
        }
        self.last = std::time::Instant::now();
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match (self.terminal, self.limit) {
            (true, Some(n)) => {
                let width = 30;
                let filled = (done * width / n.max(1)) as usize;
                let bar = format!(
                    "{}{}",
                    "#".repeat(filled),
                    "-".repeat(width as usize - filled)
                );
                eprint!("\r[{bar}] {done}/{n} events, {rate:.0}/s ");
            }
            (true, None) => eprint!("\r{done} events, {rate:.0}/s "),
            (false, Some(n)) => tracing::info!(
                "progress: {done}/{n} events ({:.1}%), {rate:.0}/s",
                done as f64 * 100.0 / n.max(1) as f64
            ),
            (false, None) => tracing::info!("progress: {done} events, {rate:.0}/s"),
        }
    }

    fn finish(&self) {
        if self.terminal {
            // Clears the bar's line for the summary.
            eprint!("\r{:72}\r", "");
        }
    }
}
