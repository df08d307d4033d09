//! The exporter (native, tokio): one schedule for every configured sink, the Pushgateway and
//! remote write alike. Each sink sends right at start, then every `export_interval_secs`, one send
//! at a time and in a task of its own, so a stalled gateway never delays remote write; `flush`
//! sends now; `shutdown` and `finish_batch` send a last time within each sink's deadline; dropping
//! the exporter without either still sends a last time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use metrics::{Key, Level, Metadata, Recorder};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{invalid, ConfigError};
use crate::platform::unix_time_secs;
use crate::recorder::RecorderHandle;
use crate::sinks::error::ExportError;
use crate::sinks::push::{GroupPusher, Phase, PushClient, PushConfig};
#[cfg(feature = "remote-write")]
use crate::sinks::remote_write::{RemoteWriteConfig, RemoteWriter};
use crate::sinks::replay::{replay, Credentials};
use crate::sinks::spool::{ReplayReport, Spool, SpoolConfig};

/// How a batch ended, for [`Exporter::finish_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchOutcome {
    /// The batch did its work: the last-success time is set and pushed.
    Success,
    /// The batch failed: the run's duration and `batch_last_failure_timestamp_seconds` are pushed,
    /// with POST, so the last-success time of an earlier run stays in the group for staleness
    /// alerts.
    Failure,
    /// The batch was stopped before it finished (SIGTERM from a deploy or a node drain, SIGINT):
    /// not a failure. The run's duration and `batch_last_interrupted_timestamp_seconds` are
    /// pushed, with POST, as for a failure.
    Interrupted,
}

/// Gauge: Unix time of the last batch that finished successfully.
pub const LAST_SUCCESS_GAUGE: &str = "batch_last_success_timestamp_seconds";
/// Gauge: how long the last batch ran, in seconds.
pub const LAST_DURATION_GAUGE: &str = "batch_last_run_duration_seconds";
/// Gauge: Unix time of the last batch that failed.
pub const LAST_FAILURE_GAUGE: &str = "batch_last_failure_timestamp_seconds";
/// Gauge: Unix time of the last batch that was stopped before it finished.
pub const LAST_INTERRUPTED_GAUGE: &str = "batch_last_interrupted_timestamp_seconds";

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

enum Command {
    Flush(oneshot::Sender<Result<(), ExportError>>),
}

/// One configured sink, as the schedule drives it.
#[derive(Clone)]
enum Sink {
    Pushgateway(Arc<GroupPusher>),
    #[cfg(feature = "remote-write")]
    RemoteWrite(Arc<RemoteWriter>),
}

/// A fresh connection pool for a final send from another runtime.
enum FreshClient {
    Pushgateway(Box<PushClient>),
    #[cfg(feature = "remote-write")]
    RemoteWrite(crate::platform::HttpClient),
}

impl Sink {
    fn url(&self) -> &str {
        match self {
            Sink::Pushgateway(p) => p.client().url(),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.url(),
        }
    }

    fn shutdown_timeout(&self) -> Duration {
        match self {
            Sink::Pushgateway(p) => p.client().config().shutdown_timeout(),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.config().shutdown_timeout(),
        }
    }

    /// One request's deadline, for a replay of the spool at start.
    fn request_timeout(&self) -> Duration {
        match self {
            Sink::Pushgateway(p) => p.client().config().timeout(),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.config().timeout(),
        }
    }

    fn successes(&self) -> u64 {
        match self {
            Sink::Pushgateway(p) => p.successes(),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.successes(),
        }
    }

    fn failures(&self) -> u64 {
        match self {
            Sink::Pushgateway(p) => p.failures(),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.failures(),
        }
    }

    fn last_error(&self) -> Option<ExportError> {
        match self {
            Sink::Pushgateway(p) => p.last_error(),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.last_error(),
        }
    }

    /// A scheduled send (or a flush): with `method = "put"` a push is a POST until the run
    /// completes. Skipped once the run ends.
    async fn send_interval(&self) -> Result<(), ExportError> {
        match self {
            Sink::Pushgateway(p) => {
                let method = Phase::Interval.method(p.client().config().method);
                p.push_interval(method).await.map(|_| ())
            }
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.write_interval().await.map(|_| ()),
        }
    }

    /// Stops scheduled sends; one in flight is answered, never cut, and makes no further attempt.
    fn stop(&self) {
        match self {
            Sink::Pushgateway(p) => p.stop_interval_pushes(),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.stop_interval_writes(),
        }
    }

    /// Delivers what the spool holds for this sink's receiver (for the gateway, every group of
    /// it), before the sink's first send.
    async fn replay_spool(&self) -> Option<ReplayReport> {
        let (spool, http, base, credentials) = match self {
            Sink::Pushgateway(p) => (
                p.lane().spool()?,
                p.client().http(),
                crate::sinks::http::split_userinfo(p.client().config().url.trim()).0,
                p.client().credentials().to_vec(),
            ),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => (
                w.lane().spool()?,
                w.http(),
                w.target().to_owned(),
                w.credentials(),
            ),
        };
        let credentials = Credentials::from([(base, credentials)]);
        let timeout = self.request_timeout();
        let lane = self.lane();
        // In the sink's turn: its first send, and a shutdown's last one, go after the replay.
        let _turn = lane.turn().await;
        let report = replay(spool, http, &credentials, Some(self.spool_name()), timeout).await;
        lane.set_behind(report.waiting + report.busy > 0);
        Some(report)
    }

    /// The sink's turns and spool.
    fn lane(&self) -> &crate::sinks::lane::Lane {
        match self {
            Sink::Pushgateway(p) => p.lane(),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.lane(),
        }
    }

    /// The name its spooled files carry.
    fn spool_name(&self) -> &'static str {
        match self {
            Sink::Pushgateway(_) => "pushgateway",
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(_) => "remote_write",
        }
    }

    fn fresh_client(&self) -> Result<FreshClient, String> {
        match self {
            Sink::Pushgateway(p) => PushClient::new(p.client().config().clone())
                .map(|c| FreshClient::Pushgateway(Box::new(c)))
                .map_err(|e| e.to_string()),
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => w.fresh_client().map(FreshClient::RemoteWrite),
        }
    }

    /// The last send of a run, within the sink's shutdown deadline: for the gateway the final push
    /// (PUT only for a completed run, with `put`) and its DELETE when configured; for remote write
    /// the final values and the stale markers. It waits for a send in flight rather than cutting
    /// it, so the final body is the last one the receiver gets. `fresh` brings its own connections.
    /// `until` is the end of the shutdown deadline, taken when the shutdown began.
    async fn send_last(
        &self,
        phase: Phase,
        fresh: Option<&FreshClient>,
        until: web_time::Instant,
    ) -> Result<(), ExportError> {
        self.stop();
        let deadline = self.shutdown_timeout();
        // Requests of this run the receiver has not taken go first: a final write ahead of them
        // would make Prometheus refuse them. Still behind after that, the final write is spooled
        // after them. (Not from a drop's own runtime: the replay's client belongs to the caller's
        // runtime, and the final write then simply queues behind them.)
        if fresh.is_none() && self.lane().is_behind() {
            let replayed = self.replay_spool();
            if let Ok(Some(report)) =
                tokio::time::timeout_at(tokio::time::Instant::from_std(until), replayed).await
            {
                report.log();
            }
        }
        let (method, work): (&'static str, futures_util::future::BoxFuture<'_, _>) = match self {
            Sink::Pushgateway(p) => {
                let client = match fresh {
                    Some(FreshClient::Pushgateway(c)) => c,
                    _ => p.client(),
                };
                let config = client.config();
                let method = phase.method(config.method);
                let work = async move {
                    p.push_last(client, method, until).await?;
                    if config.delete_on_shutdown {
                        p.delete_via(client).await?;
                    }
                    Ok(())
                };
                (method.as_str(), Box::pin(work))
            }
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => match fresh {
                Some(FreshClient::RemoteWrite(http)) => {
                    ("POST", Box::pin(w.end_until(http, until)))
                }
                _ => ("POST", Box::pin(w.end_until(w.http(), until))),
            },
        };
        let left = until.saturating_duration_since(web_time::Instant::now());
        match tokio::time::timeout(left, work).await {
            Ok(result) => result,
            // The whole deadline is what the run had for its end, replays before it included.
            Err(_) => Err(ExportError::Timeout {
                method,
                url: self.url().to_owned(),
                timeout: deadline,
            }),
        }
    }
}

/// Sends a recorder's metrics to every configured sink, a Pushgateway (`[push]`) and a remote-write
/// receiver (`[remote_write]`), one or both, on one schedule: right at start, every
/// `export_interval_secs`, on [`flush`](Self::flush), and once more at the end so that short-lived
/// jobs lose nothing.
///
/// - Each sink sends one at a time, in a task of its own, and renders only after its previous send
///   was answered, so an older body never lands after a newer one. A failed send is retried with
///   jittered backoff (see [`RetryPolicy`](crate::export::RetryPolicy)) and never blocks recording,
///   which only touches atomics. Outcomes are counted in
///   `observer_metrics_pushes_total{sink, result}` on the same recorder.
/// - Counters are cumulative, so after any outage the next successful send carries the full totals.
/// - Pushgateway: with `method = "put"` (the default) interval pushes and `flush` use POST, and
///   only the final push of a run that completed ([`shutdown`](Self::shutdown),
///   [`finish_batch`](Self::finish_batch) with [`BatchOutcome::Success`]) uses PUT to replace the
///   group. A run that dies half-way therefore never erases what the last good run left, such as
///   `batch_last_success_timestamp_seconds`. With `post` every push is a POST.
/// - Remote write: the last send writes the final values and a stale marker for every series (see
///   [`RemoteWriter`]).
/// - [`shutdown`](Self::shutdown) and [`finish_batch`](Self::finish_batch) stop the schedule, wait
///   for a send in flight (never cutting a request that may be on the wire), and send a last time,
///   each sink within its `shutdown_timeout_ms`.
/// - Dropping the exporter without either sends a last time too, as an unfinished run, from a
///   thread with a runtime of its own. Dropped in a plain thread or on a multi-thread runtime, the
///   drop waits for that send (on a runtime, through `block_in_place`, so other tasks keep running).
///   On a `current_thread` runtime it cannot wait without stalling every task, so the send runs on
///   in the background and is lost if the process exits first: there, call `shutdown().await`.
/// - A disabled recorder (`enabled = false`) sends nothing at all: an empty PUT would wipe an
///   earlier run's group.
///
/// Needs a tokio runtime. The pull endpoint can serve the same recorder at the same time.
pub struct Exporter {
    sinks: Vec<Sink>,
    recorder: RecorderHandle,
    /// One per sink, to its task.
    commands: Vec<mpsc::UnboundedSender<Command>>,
    /// The sinks' scheduled tasks, until the exporter is shut down or dropped.
    tasks: Vec<JoinHandle<()>>,
    /// One per sink: answered once its task has replayed the spool.
    replays: Vec<oneshot::Receiver<()>>,
    started: Instant,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field(
                "urls",
                &self.sinks.iter().map(Sink::url).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The tokio runtime an exporter's tasks run on: the caller's.
fn runtime() -> Result<Handle, ConfigError> {
    Handle::try_current().map_err(|_| {
        invalid(
            "tokio runtime",
            "none",
            "the exporter (MetricsBuilder::build, Exporter::start) runs its sends on the \
             caller's tokio runtime: start it inside one (#[tokio::main], Runtime::block_on, or \
             after Handle::enter)",
        )
    })
}

/// The sinks one [`Exporter`] drives, and how often.
pub(crate) struct Schedule<'a> {
    /// Between two sends.
    pub(crate) interval: Duration,
    /// The Pushgateway group, if any.
    pub(crate) push: Option<&'a PushConfig>,
    /// The remote-write receiver, if any.
    #[cfg(feature = "remote-write")]
    pub(crate) remote_write: Option<&'a RemoteWriteConfig>,
    /// Where final sends (and failed remote writes) wait for a later run, if anywhere.
    pub(crate) spool: Option<&'a SpoolConfig>,
}

/// An exporter with every fallible step done (its sinks' clients built, the runtime found) and
/// nothing sent yet: [`spawn`](Self::spawn) starts it.
pub(crate) struct Prepared {
    recorder: RecorderHandle,
    sinks: Vec<Sink>,
    interval: Duration,
    runtime: Handle,
}

impl Prepared {
    /// Starts a task per sink; the first send goes now.
    pub(crate) fn spawn(self) -> Exporter {
        let Prepared {
            recorder,
            sinks,
            interval,
            runtime,
        } = self;
        let mut replays = Vec::new();
        let (commands, tasks) = sinks
            .iter()
            .map(|sink| {
                let (commands, receiver) = mpsc::unbounded_channel();
                let (replayed, replay) = oneshot::channel();
                replays.push(replay);
                (
                    commands,
                    runtime.spawn(run(sink.clone(), receiver, interval, replayed)),
                )
            })
            .unzip();
        Exporter {
            sinks,
            recorder,
            commands,
            tasks,
            replays,
            started: Instant::now(),
        }
    }
}

impl Exporter {
    /// Starts sending `recorder` to the sinks of `schedule`, every `schedule.interval`
    /// ([`prepare`](Self::prepare), then [`Prepared::spawn`]).
    pub(crate) fn launch(
        recorder: RecorderHandle,
        schedule: Schedule<'_>,
    ) -> Result<Self, ConfigError> {
        Ok(Self::prepare(recorder, schedule)?.spawn())
    }

    /// Everything that can fail before the first send: the schedule has no sink, there is no tokio
    /// runtime, a sink's client cannot be built (a `ca_file` unreadable), or `recorder` was not
    /// built for these sinks: the recorder renames a series' own label that clashes with one a
    /// sink sets (`exported_<name>`) and keeps the names a receiver fixes at registration, and a
    /// series it let through would make the gateway refuse the whole push. The settings are
    /// validated by the caller.
    pub(crate) fn prepare(
        recorder: RecorderHandle,
        schedule: Schedule<'_>,
    ) -> Result<Prepared, ConfigError> {
        #[cfg(feature = "remote-write")]
        let writes = schedule.remote_write.is_some();
        #[cfg(not(feature = "remote-write"))]
        let writes = false;
        if schedule.push.is_none() && !writes {
            return Err(invalid(
                "push",
                "none",
                "a [push] or [remote_write] table (or OBSERVER_METRICS_PUSH_URL, \
                 OBSERVER_METRICS_REMOTE_WRITE_URL) is needed",
            ));
        }
        if let Some(push) = schedule.push {
            let reserved = push.reserved();
            if let Some(name) = reserved
                .labels
                .iter()
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
                    "the recorder was built without this grouping label, so series labels named \
                     like it are not renamed and the gateway would refuse the push: build the \
                     recorder and the exporter together (MetricsBuilder::build)",
                ));
            }
            if let Some(&(name, _)) = reserved
                .families
                .iter()
                .find(|(name, kind)| !recorder.reserves_family(name, *kind))
            {
                return Err(invalid(
                    "push",
                    name,
                    "the recorder was built without a [push] table, so it does not keep the \
                     gateway's own names to the gateway's types, and the gateway would refuse a \
                     push holding one: build the recorder and the exporter together \
                     (MetricsBuilder::build)",
                ));
            }
        }
        let runtime = runtime()?;
        let spool = schedule
            .spool
            .map(|config| Spool::open(config, Some(&recorder)).map(Arc::new))
            .transpose()?;
        let mut sinks = Vec::new();
        if let Some(push) = schedule.push {
            let client = PushClient::new(push.clone())?;
            let pusher = GroupPusher::new(recorder.clone(), client).with_spool(spool.clone());
            sinks.push(Sink::Pushgateway(Arc::new(pusher)));
        }
        #[cfg(feature = "remote-write")]
        if let Some(rw) = schedule.remote_write {
            let writer = RemoteWriter::new(recorder.clone(), rw.clone())?.with_spool(spool.clone());
            sinks.push(Sink::RemoteWrite(Arc::new(writer)));
        }
        Ok(Prepared {
            recorder,
            sinks,
            interval: schedule.interval,
            runtime,
        })
    }

    /// The Pushgateway group URL, or the remote-write URL when only that is configured, with any
    /// password shown as `***`.
    pub fn url(&self) -> &str {
        self.sinks[0].url()
    }

    /// The URL of every sink, in the order `push`, `remote_write`, passwords as `***`.
    pub fn urls(&self) -> Vec<&str> {
        self.sinks.iter().map(Sink::url).collect()
    }

    /// The remote writer, when `[remote_write]` is configured: its instance, its counts.
    #[cfg(feature = "remote-write")]
    pub fn remote_writer(&self) -> Option<&RemoteWriter> {
        self.sinks.iter().find_map(|s| match s {
            #[cfg(feature = "remote-write")]
            Sink::RemoteWrite(w) => Some(&**w),
            Sink::Pushgateway(_) => None,
        })
    }

    /// Sends that succeeded so far, every sink together (retries within one send count once).
    pub fn successful_pushes(&self) -> u64 {
        self.sinks.iter().map(Sink::successes).sum()
    }

    /// Sends that failed so far, after their retries, every sink together.
    pub fn failed_pushes(&self) -> u64 {
        self.sinks.iter().map(Sink::failures).sum()
    }

    /// The error of the last failed send of the first sink that has one.
    pub fn last_error(&self) -> Option<ExportError> {
        self.sinks.iter().find_map(Sink::last_error)
    }

    /// Sends now to every sink, after any send in progress, and returns the first error. Each sink
    /// is bounded, waiting included, by its `shutdown_timeout_ms`.
    pub async fn flush(&self) -> Result<(), ExportError> {
        let flushes = self
            .sinks
            .iter()
            .zip(&self.commands)
            .map(|(sink, commands)| async move {
                let deadline = sink.shutdown_timeout();
                let work = async {
                    let (reply, answer) = oneshot::channel();
                    let _ = commands.send(Command::Flush(reply));
                    match answer.await {
                        Ok(result) => result,
                        // The sink's task is gone (it can only have panicked): send from here.
                        Err(_) => sink.send_interval().await,
                    }
                };
                tokio::time::timeout(deadline, work)
                    .await
                    .unwrap_or_else(|_| {
                        Err(ExportError::Timeout {
                            method: "POST",
                            url: sink.url().to_owned(),
                            timeout: deadline,
                        })
                    })
            });
        join_all(flushes).await.into_iter().collect()
    }

    /// Stops the schedule and sends a last time to every sink (for the gateway, PUT with the
    /// default `method`, then DELETE when `push.delete_on_shutdown` is set; for remote write, the
    /// final values and the stale markers), each within its `shutdown_timeout_ms`. Returns the
    /// first error.
    pub async fn shutdown(mut self) -> Result<(), ExportError> {
        self.finish(Phase::Complete).await
    }

    /// Records the conventional batch-job gauges and shuts down: `batch_last_run_duration_seconds`
    /// and the time of this end, as `batch_last_success_timestamp_seconds` (pushed with the
    /// configured method), `batch_last_failure_timestamp_seconds` or
    /// `batch_last_interrupted_timestamp_seconds` (both pushed with POST, so that an earlier run's
    /// success time stays in the group). The shipped rules (`pushgateway/rules.yml`) alert on a
    /// success older than a day, on a failed last run, and (for information) on an interrupted one,
    /// for the gateway and remote write alike. A service that is not a batch (the CLI's `serve`)
    /// calls [`shutdown`](Self::shutdown) instead: no batch gauges.
    pub async fn finish_batch(mut self, outcome: BatchOutcome) -> Result<(), ExportError> {
        let recorder = &self.recorder;
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        gauge(LAST_DURATION_GAUGE).set(self.started.elapsed().as_secs_f64());
        let (ended, phase) = match outcome {
            BatchOutcome::Success => (LAST_SUCCESS_GAUGE, Phase::Complete),
            BatchOutcome::Failure => (LAST_FAILURE_GAUGE, Phase::Incomplete),
            BatchOutcome::Interrupted => (LAST_INTERRUPTED_GAUGE, Phase::Incomplete),
        };
        gauge(ended).set(unix_time_secs());
        self.finish(phase).await
    }

    async fn finish(&mut self, phase: Phase) -> Result<(), ExportError> {
        let tasks = std::mem::take(&mut self.tasks);
        let replays = std::mem::take(&mut self.replays);
        let last_sends = self
            .sinks
            .iter()
            .zip(replays)
            .map(|(sink, replayed)| async move {
                // What an earlier run left goes before this run's last send, both within one
                // deadline: a replay still going when the run ends does not add a second one.
                let until = web_time::Instant::now() + sink.shutdown_timeout();
                let _ =
                    tokio::time::timeout_at(tokio::time::Instant::from_std(until), replayed).await;
                sink.send_last(phase, None, until).await
            });
        let results = join_all(last_sends).await;
        // Only now: a task may have had a send on the wire, which the last send waited for.
        for task in tasks {
            task.abort();
        }
        results.into_iter().collect()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if self.tasks.is_empty() {
            return;
        }
        // The tasks end by themselves once their send in flight (if any) is answered: their
        // command channels close with `self`. Aborting them could cut a request on the wire.
        self.tasks.clear();
        for sink in &self.sinks {
            sink.stop();
        }
        let sinks = self.sinks.clone();
        let final_sends = move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let result: Result<(), String> = match runtime {
                Ok(rt) => rt.block_on(async {
                    // Fresh connection pools: the old ones belong to the caller's runtime, which
                    // may be shutting down around us.
                    let sends = sinks.iter().map(|sink| async move {
                        let fresh = sink.fresh_client()?;
                        let until = web_time::Instant::now() + sink.shutdown_timeout();
                        sink.send_last(Phase::Incomplete, Some(&fresh), until)
                            .await
                            .map_err(|e| e.to_string())
                    });
                    join_all(sends).await.into_iter().collect()
                }),
                Err(e) => Err(format!("no runtime for the final push: {e}")),
            };
            if let Err(e) = result {
                // Drop cannot return an error: this event (and the failure count) is its trace.
                tracing::error!(error = %e, "the final send on drop failed");
            }
        };
        let thread = std::thread::Builder::new()
            .name("observer-metrics-final-push".into())
            .spawn(final_sends);
        let Ok(thread) = thread else {
            tracing::error!("the final send on drop failed: no thread for it");
            return;
        };
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            // Blocking the only worker would stall every task, the send in flight included.
            Ok(RuntimeFlavor::CurrentThread) => tracing::warn!(
                "exporter dropped on a current_thread runtime: its final send runs on a thread \
                 of its own that nothing waits for, and is lost if the process exits first; \
                 call `shutdown().await` (or `finish_batch`) before the runtime ends"
            ),
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
    sink: Sink,
    mut commands: mpsc::UnboundedReceiver<Command>,
    interval: Duration,
    replayed: oneshot::Sender<()>,
) {
    // What an earlier run could not deliver goes first, oldest first.
    if let Some(report) = sink.replay_spool().await {
        report.log();
    }
    let _ = replayed.send(());
    let mut failed = false;
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                // Failures are kept in `last_error`; the next interval tries again with the totals.
                let _ = send_in_order(&sink, &mut failed).await;
                next = tokio::time::Instant::now() + interval;
            }
            command = commands.recv() => match command {
                Some(Command::Flush(reply)) => {
                    let _ = reply.send(send_in_order(&sink, &mut failed).await);
                }
                None => return,
            },
        }
    }
}

/// An interval send, after what the spool holds for this sink when a send failed since the last
/// replay or the spool holds requests its receiver has not taken: a receiver back mid-run then
/// gets the spooled requests first (remote write: in timestamp order, or Prometheus refuses the
/// older ones; the gateway: an earlier run's final PUT before this run's POSTs, which would
/// otherwise supersede it). While it still takes nothing, a remote write queues behind them.
async fn send_in_order(sink: &Sink, failed: &mut bool) -> Result<(), ExportError> {
    if *failed || sink.lane().is_behind() {
        if let Some(report) = sink.replay_spool().await {
            // Logged when it did something: while the receiver stays down, each one keeps all.
            if report.delivered + report.dropped > 0 {
                report.log();
            }
        }
    }
    let sent = sink.send_interval().await;
    *failed = sent.is_err();
    sent
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

/// Delivers what the spool of `config` holds, oldest first, and reports what it did: the
/// `replay` command. Credentials configured for a receiver (`push`, `remote_write`) go only to that
/// receiver's files; the files of any other receiver go without credentials.
pub(crate) async fn replay_spool(
    config: &SpoolConfig,
    push: Option<&PushConfig>,
    #[cfg(feature = "remote-write")] remote_write: Option<&RemoteWriteConfig>,
) -> Result<ReplayReport, ConfigError> {
    let spool = Spool::open(config, None)?;
    // A private CA configured for either receiver is trusted for the replay too.
    #[cfg(feature = "remote-write")]
    let ca_file = push
        .and_then(|p| p.ca_file.as_deref())
        .or(remote_write.and_then(|rw| rw.ca_file.as_deref()));
    #[cfg(not(feature = "remote-write"))]
    let ca_file = push.and_then(|p| p.ca_file.as_deref());
    let http = crate::platform::HttpClient::new(ca_file)
        .map_err(|reason| invalid("spool", ca_file.unwrap_or_default(), reason))?;
    let mut credentials = Credentials::new();
    let mut timeout = PushConfig::default().shutdown_timeout();
    if let Some(push) = push {
        // The gateway's address: its credentials cover every group under it.
        let client = PushClient::new(push.clone())?;
        let (base, _) = crate::sinks::http::split_userinfo(push.url.trim());
        credentials.insert(base, client.credentials().to_vec());
        timeout = push.shutdown_timeout();
    }
    #[cfg(feature = "remote-write")]
    if let Some(rw) = remote_write {
        let (target, headers) = crate::sinks::http::request_headers(
            &rw.url,
            &rw.headers,
            rw.basic_auth.as_ref(),
            rw.bearer_token.as_ref(),
        );
        credentials.insert(target, headers);
        timeout = timeout.max(rw.shutdown_timeout());
    }
    Ok(replay(&spool, &http, &credentials, None, timeout).await)
}
