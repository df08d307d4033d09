//! The interval exporter (native, tokio): pushes the recorder's render right at start, then every
//! `export_interval_secs`, one push at a time; `flush` pushes now; `shutdown` and
//! `finish_batch` push a last time within their own deadline; dropping it without either still
//! pushes a last time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::{Key, Level, Metadata, Recorder};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::client::{PushClient, PushError};
use super::settings::PushMethod;
use crate::config::{ConfigError, MetricsConfig};
use crate::platform::{unix_time_secs, Instant};
use crate::recorder::RecorderHandle;

/// How a batch ended, for [`PushExporter::finish_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// The batch did its work: the last-success time is set and pushed.
    Success,
    /// The batch failed: only the run's duration is pushed, with POST, so the last-success time of
    /// an earlier run stays in the group for staleness alerts.
    Failure,
}

/// Gauge: Unix time of the last batch that finished successfully.
pub const LAST_SUCCESS_GAUGE: &str = "batch_last_success_timestamp_seconds";
/// Gauge: how long the last batch ran, in seconds.
pub const LAST_DURATION_GAUGE: &str = "batch_last_run_duration_seconds";

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

enum Command {
    Flush(oneshot::Sender<Result<(), PushError>>),
}

/// Counter: pushes by `result` (`success`, `failure`), retries within one push counting once.
pub const PUSHES_COUNTER: &str = "observer_metrics_pushes_total";
/// Gauge: Unix time of the last push the gateway accepted.
pub const LAST_PUSH_GAUGE: &str = "observer_metrics_last_push_success_timestamp_seconds";

/// The exporter's own metrics, on the recorder it pushes, so a service that is also scraped can
/// alert on pushes failing (`increase(observer_metrics_pushes_total{result="failure"}[15m]) > 0`).
struct OwnMetrics {
    successes: metrics::Counter,
    failures: metrics::Counter,
    last_success: metrics::Gauge,
}

impl OwnMetrics {
    fn register(recorder: &RecorderHandle) -> Self {
        let pushes = |labels: &'static [metrics::Label]| {
            recorder.register_counter(&Key::from_static_parts(PUSHES_COUNTER, labels), &METADATA)
        };
        OwnMetrics {
            successes: pushes(&SUCCESS),
            failures: pushes(&FAILURE),
            last_success: recorder
                .register_gauge(&Key::from_static_name(LAST_PUSH_GAUGE), &METADATA),
        }
    }
}

static SUCCESS: [metrics::Label; 1] = [metrics::Label::from_static_parts("result", "success")];
static FAILURE: [metrics::Label; 1] = [metrics::Label::from_static_parts("result", "failure")];

struct Shared {
    recorder: RecorderHandle,
    client: PushClient,
    successes: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<PushError>>,
    own: OwnMetrics,
}

impl Shared {
    fn new(recorder: RecorderHandle, client: PushClient) -> Self {
        Shared {
            own: OwnMetrics::register(&recorder),
            recorder,
            client,
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    async fn push(&self, method: PushMethod) -> Result<(), PushError> {
        let body = self.recorder.render();
        let result = self.client.push_with(method, &body).await;
        match &result {
            Ok(()) => {
                self.successes.fetch_add(1, Relaxed);
                self.own.successes.increment(1);
                self.own.last_success.set(unix_time_secs());
            }
            Err(e) => {
                self.failures.fetch_add(1, Relaxed);
                self.own.failures.increment(1);
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e.clone());
            }
        }
        result
    }

    /// The final push and, when configured, the DELETE, all within the shutdown deadline.
    async fn final_push(&self, method: PushMethod) -> Result<(), PushError> {
        let config = self.client.config();
        let deadline = config.shutdown_timeout();
        let work = async {
            self.push(method).await?;
            if config.delete_on_shutdown {
                self.client.delete().await?;
            }
            Ok(())
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(PushError::Timeout {
                method: method.as_str(),
                url: self.client.url().to_owned(),
                timeout: deadline,
            }),
        }
    }
}

/// Pushes a recorder's metrics to a Pushgateway every `export_interval_secs`, and once more at the
/// end so that short-lived jobs lose nothing.
///
/// - The first push happens right at start, then one every interval. Pushes never overlap; a failed
///   push is retried with jittered backoff (see [`RetryPolicy`](super::RetryPolicy)) and never
///   blocks recording, which only touches atomics.
/// - Counters are cumulative, so after any outage the next successful push carries the full totals.
/// - [`flush`](Self::flush) pushes now; [`shutdown`](Self::shutdown) and
///   [`finish_batch`](Self::finish_batch) stop the interval and push a last time within
///   `push.shutdown_timeout_ms`, then DELETE the group when `push.delete_on_shutdown` is set.
/// - Dropping the exporter without either does the same final push on a thread of its own (the
///   dropping thread waits for it, within the shutdown deadline).
///
/// Needs a tokio runtime. The pull endpoint can serve the same recorder at the same time.
pub struct PushExporter {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    task: Option<JoinHandle<()>>,
    started: Instant,
}

impl std::fmt::Debug for PushExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushExporter")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl PushExporter {
    /// Starts pushing `recorder` as `config.push` says, every `config.export_interval_secs`.
    /// Fails when `config.push` is missing or invalid, or when called outside a tokio runtime.
    pub fn start(recorder: RecorderHandle, config: &MetricsConfig) -> Result<Self, ConfigError> {
        let missing = |reason: &str| ConfigError {
            field: "push".into(),
            value: "none".into(),
            reason: reason.into(),
        };
        let push = config.push.clone().ok_or_else(|| {
            missing("a [push] table (or OBSERVER_METRICS_PUSH_URL and OBSERVER_METRICS_PUSH_JOB) is needed")
        })?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| missing("PushExporter::start must be called inside a tokio runtime"))?;
        let interval = Duration::from_secs(config.export_interval_secs);
        let shared = Arc::new(Shared::new(recorder, PushClient::new(push)?));
        let (commands, receiver) = mpsc::unbounded_channel();
        let task = runtime.spawn(run(shared.clone(), receiver, interval));
        Ok(PushExporter {
            shared,
            commands,
            task: Some(task),
            started: Instant::now(),
        })
    }

    /// The group URL pushes go to.
    pub fn url(&self) -> &str {
        self.shared.client.url()
    }

    /// Pushes that succeeded so far (retries within one push count once).
    pub fn successful_pushes(&self) -> u64 {
        self.shared.successes.load(Relaxed)
    }

    /// Pushes that failed so far, after their retries.
    pub fn failed_pushes(&self) -> u64 {
        self.shared.failures.load(Relaxed)
    }

    /// The error of the last failed push, if any push failed.
    pub fn last_error(&self) -> Option<PushError> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Pushes now, after any push in progress, and returns its result.
    pub async fn flush(&self) -> Result<(), PushError> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Flush(reply)).is_ok() {
            if let Ok(result) = answer.await {
                return result;
            }
        }
        // The interval task is gone (shut down): push directly.
        self.shared.push(self.shared.client.config().method).await
    }

    /// Stops the interval pushes and pushes a last time (with the configured method), then
    /// DELETEs the group when `push.delete_on_shutdown` is set, all within
    /// `push.shutdown_timeout_ms`. Returns the result of that last push.
    pub async fn shutdown(mut self) -> Result<(), PushError> {
        self.stop().await;
        self.shared
            .final_push(self.shared.client.config().method)
            .await
    }

    /// Records the conventional batch-job gauges and shuts down: on success
    /// `batch_last_success_timestamp_seconds` (now) and `batch_last_run_duration_seconds`, pushed
    /// with the configured method; on failure only the duration, pushed with POST so that an
    /// earlier run's success time stays in the group. Alert on
    /// `time() - batch_last_success_timestamp_seconds > …`.
    pub async fn finish_batch(mut self, outcome: BatchOutcome) -> Result<(), PushError> {
        self.stop().await;
        let recorder = &self.shared.recorder;
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        gauge(LAST_DURATION_GAUGE).set(self.started.elapsed().as_secs_f64());
        let method = match outcome {
            BatchOutcome::Success => {
                gauge(LAST_SUCCESS_GAUGE).set(unix_time_secs());
                self.shared.client.config().method
            }
            BatchOutcome::Failure => PushMethod::Post,
        };
        self.shared.final_push(method).await
    }

    /// Ends the interval task; a push it had in flight is cancelled (the final push follows).
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for PushExporter {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else { return };
        task.abort();
        // The caller's runtime may be shutting down around us: push from a thread with a runtime
        // of its own, and wait for it (bounded by the shutdown deadline).
        let shared = self.shared.clone();
        let method = shared.client.config().method;
        let pushed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(async {
                    // A fresh connection pool: the old one belongs to the caller's runtime.
                    let client = PushClient::new(shared.client.config().clone())
                        .map_err(|e| e.to_string())?;
                    let fresh = Shared::new(shared.recorder.clone(), client);
                    fresh.final_push(method).await.map_err(|e| e.to_string())
                }),
                Err(e) => Err(format!("no runtime for the final push: {e}")),
            }
        })
        .join();
        if let Ok(Err(e)) = pushed {
            // Drop cannot return an error; this line is the only trace a lost push would leave.
            eprintln!("observer-metrics: final push on drop failed: {e}");
        }
    }
}

async fn run(
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    interval: Duration,
) {
    let method = shared.client.config().method;
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                // Failures are kept in `last_error`; the next interval tries again with the totals.
                let _ = shared.push(method).await;
                next = tokio::time::Instant::now() + interval;
            }
            command = commands.recv() => match command {
                Some(Command::Flush(reply)) => {
                    let _ = reply.send(shared.push(method).await);
                }
                None => return,
            },
        }
    }
}

/// Resolves when the process receives SIGTERM (a Kubernetes Job being stopped) or SIGINT
/// (Ctrl-C), with the signal's name, so a job can push a last time before it exits.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "SIGINT",
                _ = terminate.recv() => return "SIGTERM",
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}
