//! The interval exporter (native, tokio): pushes the recorder's render right at start, then every
//! `export_interval_secs`, one push at a time; `flush` pushes now; `shutdown` and
//! `finish_batch` push a last time within their own deadline; dropping it without either still
//! pushes a last time.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Key, Level, Metadata, Recorder};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::client::{PushClient, PushError};
use super::sender::{GroupPusher, Phase};
use crate::config::{invalid, ConfigError, MetricsConfig};
use crate::platform::{unix_time_secs, Instant};
use crate::recorder::RecorderHandle;

/// How a batch ended, for [`PushExporter::finish_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

/// The final push and, when configured, the DELETE, all within the shutdown deadline. It waits
/// for a push in flight rather than cutting it, so the final body is the last one the gateway gets.
async fn final_push(
    pusher: &GroupPusher,
    client: &PushClient,
    phase: Phase,
) -> Result<(), PushError> {
    pusher.stop_interval_pushes();
    let config = client.config();
    let method = phase.method(config.method);
    let deadline = config.shutdown_timeout();
    let work = async {
        pusher.push_via(client, method).await?;
        if config.delete_on_shutdown {
            pusher.delete_via(client).await?;
        }
        Ok(())
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(PushError::Timeout {
            method: method.as_str(),
            url: client.url().to_owned(),
            timeout: deadline,
        }),
    }
}

/// Pushes a recorder's metrics to a Pushgateway every `export_interval_secs`, and once more at the
/// end so that short-lived jobs lose nothing.
///
/// - The first push happens right at start, then one every interval. Pushes never overlap, and
///   each renders only after the previous one was answered, so an older body never lands after a
///   newer one. A failed push is retried with jittered backoff (see
///   [`RetryPolicy`](super::RetryPolicy)) and never blocks recording, which only touches atomics.
/// - Counters are cumulative, so after any outage the next successful push carries the full totals.
/// - With `method = "put"` (the default) interval pushes and [`flush`](Self::flush) use POST, and
///   only the final push of a run that completed ([`shutdown`](Self::shutdown),
///   [`finish_batch`](Self::finish_batch) with [`BatchOutcome::Success`]) uses PUT to replace the
///   group. A run that dies half-way therefore never erases what the last good run left, such as
///   `batch_last_success_timestamp_seconds`. With `post` every push is a POST.
/// - [`shutdown`](Self::shutdown) and [`finish_batch`](Self::finish_batch) stop the interval, wait
///   for a push in flight (never cutting a request that may be on the wire), push a last time, and
///   DELETE the group when `push.delete_on_shutdown` is set, all within
///   `push.shutdown_timeout_ms`.
/// - Dropping the exporter without either pushes a last time too, as an unfinished run (POST), from
///   a thread with a runtime of its own. Dropped in a plain thread or on a multi-thread runtime, the
///   drop waits for that push (on a runtime, through `block_in_place`, so other tasks keep running).
///   On a `current_thread` runtime it cannot wait without stalling every task, so the push runs on
///   in the background and is lost if the process exits first: there, call `shutdown().await`.
/// - A disabled recorder (`enabled = false`) pushes nothing at all: an empty PUT would wipe an
///   earlier run's group.
///
/// Needs a tokio runtime. The pull endpoint can serve the same recorder at the same time.
pub struct PushExporter {
    pusher: Arc<GroupPusher>,
    commands: mpsc::UnboundedSender<Command>,
    /// The interval task, until the exporter is shut down or dropped.
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
    ///
    /// Fails when `config` (all of it) is invalid, when `config.push` is missing, when called
    /// outside a tokio runtime, or when `recorder` was built without one of the grouping labels
    /// pushed here: the recorder renames a series' own label that clashes with a grouping label
    /// (`exported_<name>`) at registration, and a series the recorder did not rename would make
    /// the gateway refuse the whole push. Build both from the same `MetricsConfig`.
    pub fn start(recorder: RecorderHandle, config: &MetricsConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let push = config.push.clone().ok_or_else(|| {
            invalid(
                "push",
                "none",
                "a [push] table (or OBSERVER_METRICS_PUSH_URL and OBSERVER_METRICS_PUSH_JOB) is needed",
            )
        })?;
        if let Some(name) = push
            .group_label_names()
            .find(|name| !recorder.renames_label(name))
        {
            let field = if name == "job" {
                "push.job".to_owned()
            } else {
                format!("push.grouping.{name}")
            };
            return Err(invalid(
                field,
                name,
                "the recorder was built without this grouping label, so series labels named like \
                 it are not renamed and the gateway would refuse the push: build the recorder and \
                 the exporter from the same MetricsConfig",
            ));
        }
        let runtime = Handle::try_current().map_err(|_| {
            invalid(
                "push",
                "none",
                "PushExporter::start must be called inside a tokio runtime",
            )
        })?;
        let interval = Duration::from_secs(config.export_interval_secs);
        let pusher = Arc::new(GroupPusher::new(recorder, PushClient::new(push)?));
        let (commands, receiver) = mpsc::unbounded_channel();
        let task = runtime.spawn(run(pusher.clone(), receiver, interval));
        Ok(PushExporter {
            pusher,
            commands,
            task: Some(task),
            started: Instant::now(),
        })
    }

    /// The group URL pushes go to, with any credentials in it shown as `***`.
    pub fn url(&self) -> &str {
        self.pusher.client().url()
    }

    /// Pushes that succeeded so far (retries within one push count once).
    pub fn successful_pushes(&self) -> u64 {
        self.pusher.successes()
    }

    /// Pushes that failed so far, after their retries.
    pub fn failed_pushes(&self) -> u64 {
        self.pusher.failures()
    }

    /// The error of the last failed push, if any push failed.
    pub fn last_error(&self) -> Option<PushError> {
        self.pusher.last_error()
    }

    /// Pushes now, after any push in progress, and returns its result. Bounded, waiting included,
    /// by `push.shutdown_timeout_ms`.
    pub async fn flush(&self) -> Result<(), PushError> {
        let client = self.pusher.client();
        let deadline = client.config().shutdown_timeout();
        let method = Phase::Interval.method(client.config().method);
        let work = async {
            let (reply, answer) = oneshot::channel();
            let _ = self.commands.send(Command::Flush(reply));
            match answer.await {
                Ok(result) => result,
                // The interval task is gone (it can only have panicked): push from here.
                Err(_) => self.pusher.push(method).await,
            }
        };
        tokio::time::timeout(deadline, work)
            .await
            .unwrap_or_else(|_| {
                Err(PushError::Timeout {
                    method: method.as_str(),
                    url: client.url().to_owned(),
                    timeout: deadline,
                })
            })
    }

    /// Stops the interval pushes and pushes a last time (PUT with the default `method`), then
    /// DELETEs the group when `push.delete_on_shutdown` is set, all within
    /// `push.shutdown_timeout_ms`. Returns the result of that last push.
    pub async fn shutdown(mut self) -> Result<(), PushError> {
        self.finish(Phase::Complete).await
    }

    /// Records the conventional batch-job gauges and shuts down: on success
    /// `batch_last_success_timestamp_seconds` (now) and `batch_last_run_duration_seconds`, pushed
    /// with the configured method; on failure only the duration, pushed with POST so that an
    /// earlier run's success time stays in the group. Alert on
    /// `time() - batch_last_success_timestamp_seconds > …`, and on its absence.
    pub async fn finish_batch(mut self, outcome: BatchOutcome) -> Result<(), PushError> {
        let recorder = self.pusher.recorder();
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        gauge(LAST_DURATION_GAUGE).set(self.started.elapsed().as_secs_f64());
        let phase = match outcome {
            BatchOutcome::Success => {
                gauge(LAST_SUCCESS_GAUGE).set(unix_time_secs());
                Phase::Complete
            }
            BatchOutcome::Failure => Phase::Incomplete,
        };
        self.finish(phase).await
    }

    async fn finish(&mut self, phase: Phase) -> Result<(), PushError> {
        let task = self.task.take();
        let result = final_push(&self.pusher, self.pusher.client(), phase).await;
        // Only now: the task may have had a push on the wire, which the final push waited for.
        if let Some(task) = task {
            task.abort();
        }
        result
    }
}

impl Drop for PushExporter {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else { return };
        // The task ends by itself once its push in flight (if any) is answered: its command
        // channel closes with `self`. Aborting it could cut a request already on the wire.
        drop(task);
        self.pusher.stop_interval_pushes();
        let pusher = self.pusher.clone();
        let final_push = move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let result = match runtime {
                Ok(rt) => rt.block_on(async {
                    // A fresh connection pool: the old one belongs to the caller's runtime, which
                    // may be shutting down around us.
                    let client = PushClient::new(pusher.client().config().clone())
                        .map_err(|e| e.to_string())?;
                    final_push(&pusher, &client, Phase::Incomplete)
                        .await
                        .map_err(|e| e.to_string())
                }),
                Err(e) => Err(format!("no runtime for the final push: {e}")),
            };
            if let Err(e) = result {
                // Drop cannot return an error; this line is the only trace a lost push would leave.
                eprintln!("observer-metrics: final push on drop failed: {e}");
            }
        };
        let thread = std::thread::Builder::new()
            .name("observer-metrics-final-push".into())
            .spawn(final_push);
        let Ok(thread) = thread else {
            eprintln!("observer-metrics: final push on drop failed: no thread for it");
            return;
        };
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            // Blocking the only worker would stall every task, the push in flight included.
            Ok(RuntimeFlavor::CurrentThread) => {}
            Ok(_) => {
                let _ = tokio::task::block_in_place(|| thread.join());
            }
            Err(_) => {
                let _ = thread.join();
            }
        }
    }
}

async fn run(
    pusher: Arc<GroupPusher>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    interval: Duration,
) {
    let method = Phase::Interval.method(pusher.client().config().method);
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                // Failures are kept in `last_error`; the next interval tries again with the totals.
                let _ = pusher.push_interval(method).await;
                next = tokio::time::Instant::now() + interval;
            }
            command = commands.recv() => match command {
                Some(Command::Flush(reply)) => {
                    let _ = reply.send(pusher.push_interval(method).await.map(|_| ()));
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
