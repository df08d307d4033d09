//! `observer-metrics`: drives a synthetic observer workload through the metered pipeline, pushing
//! to a Pushgateway and serving `/metrics` as configured.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use observer_metrics::observer::memory::{
    MemoryCache, MemoryCheckpoints, MemoryDedup, MemoryQueue, Outcomes, SimulatedExecutor,
};
use observer_metrics::observer::metered::MetricsActionExecutor;
use observer_metrics::observer::pipeline::ObserverPipeline;
use observer_metrics::observer::{ActionConfig, EntityEvent};
use observer_metrics::pull::PullConfig;
use observer_metrics::push::{shutdown_signal, BatchOutcome, PushConfig, PushExporter};
use observer_metrics::remote_write::RemoteWriteConfig;
use observer_metrics::{MetricsConfig, ObserverMetrics, ObserverRecorder};
use rand::{Rng, SeedableRng};
use serde::Deserialize;

const EXIT_CODES: &str = "Exit codes: 0 success; 1 the final push or write failed, or a check \
step failed; 2 a usage or configuration error; 3 a batch invariant does not hold; 130 / 143 the \
run was ended by SIGINT / SIGTERM.

Settings come from --config (TOML: a MetricsConfig plus a [workload] table with events, rate, \
duplicate_rate, failure_rate, error_rate, timeout_rate, seed, entities, actions, \
action_timeout_ms, max_retries, checkpoint_every), then OBSERVER_METRICS_* variables, then flags.";

/// Prometheus metrics for event observers: a synthetic observer workload through the metered
/// pipeline, pushed to a Pushgateway, remote-written and served for scraping; and a smoke test of
/// a deployment.
#[derive(Parser)]
#[command(name = "observer-metrics", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Run a batch of synthetic observer events through the metered pipeline (dedup, result
    /// cache, actions with failures and timeouts, retry queue, dead letters, checkpoints). Without
    /// a sink it prints the exposition on stdout; with one it sends at start, every --interval
    /// seconds and at the end, and exits 0 only when that last send succeeded. SIGTERM/SIGINT end
    /// the batch early with a last send.
    #[command(after_help = EXIT_CODES)]
    Simulate(Flags),
    /// Run the workload until SIGTERM/SIGINT with GET /metrics (and /health) on --listen,
    /// sending to the configured sinks too.
    #[command(after_help = EXIT_CODES)]
    Serve(Flags),
    /// Smoke-test a deployment as configured (URL, credentials, headers, TLS): push a canary
    /// group, read it back from the gateway's /api/v1/metrics and compare every value, delete it
    /// and confirm it is gone; with --remote-write and --query, the same through remote write and
    /// PromQL. Prints each step with its time; exits 0 only when every step passed.
    #[command(after_help = EXIT_CODES)]
    Check(Flags),
    /// Print a completion script for SHELL on stdout.
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
}

/// The flags of simulate, serve and check. Each overrides the file and the environment; the
/// defaults shown are the ones used when neither sets the value.
#[derive(clap::Args)]
struct Flags {
    /// TOML settings: a MetricsConfig plus a [workload] table.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Events to run (simulate) [default: 1000].
    #[arg(long, value_name = "N")]
    events: Option<u64>,
    /// Events per second [default: simulate as fast as it can, serve 100].
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
    /// The Pushgateway, e.g. http://127.0.0.1:9091 (push.url).
    #[arg(long, value_name = "URL", env = "OBSERVER_METRICS_PUSH_URL")]
    push_gateway: Option<String>,
    /// A remote-write receiver, e.g. http://127.0.0.1:9090/api/v1/write (remote_write.url).
    #[arg(long, value_name = "URL", env = "OBSERVER_METRICS_REMOTE_WRITE_URL")]
    remote_write: Option<String>,
    /// The remote-write instance label (remote_write.instance) [default: one generated per run].
    #[arg(
        long,
        value_name = "ID",
        env = "OBSERVER_METRICS_REMOTE_WRITE_INSTANCE"
    )]
    instance: Option<String>,
    /// The job label of both sinks (push.job, remote_write.job) [default: observer-metrics-<command>].
    #[arg(long, value_name = "NAME")]
    job: Option<String>,
    /// Another grouping label of the pushed group (push.grouping); repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    grouping: Vec<String>,
    /// Seconds between sends (export_interval_secs) [default: 60].
    #[arg(
        long,
        value_name = "SECS",
        env = "OBSERVER_METRICS_EXPORT_INTERVAL_SECS"
    )]
    interval: Option<u64>,
    /// Where serve listens for scrapes (pull.listen) [default: 127.0.0.1:9898].
    #[arg(long, value_name = "ADDR", env = "OBSERVER_METRICS_PULL_LISTEN")]
    listen: Option<String>,
    /// Fraction of events delivered twice [default: 0.1].
    #[arg(long, value_name = "F")]
    duplicate_rate: Option<f64>,
    /// Fraction of actions that report failure [default: 0.05].
    #[arg(long, value_name = "F")]
    failure_rate: Option<f64>,
    /// Fraction of actions that return an error [default: 0.02].
    #[arg(long, value_name = "F")]
    error_rate: Option<f64>,
    /// Fraction of actions that pass their deadline [default: 0.01].
    #[arg(long, value_name = "F")]
    timeout_rate: Option<f64>,
    /// Seed of the event stream [default: 1].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// check: the Prometheus-compatible query API to read remote writes back from.
    #[arg(long, value_name = "URL")]
    query: Option<String>,
}

impl Flags {
    /// The flags given, as `(name, value)` overrides for [`load`].
    fn overrides(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push((name.to_owned(), value));
            }
        };
        add("events", self.events.map(|v| v.to_string()));
        add("rate", self.rate.map(|v| v.to_string()));
        add("push-gateway", self.push_gateway.clone());
        add("remote-write", self.remote_write.clone());
        add("instance", self.instance.clone());
        add("job", self.job.clone());
        add("interval", self.interval.map(|v| v.to_string()));
        add("listen", self.listen.clone());
        add("duplicate-rate", self.duplicate_rate.map(|v| v.to_string()));
        add("failure-rate", self.failure_rate.map(|v| v.to_string()));
        add("error-rate", self.error_rate.map(|v| v.to_string()));
        add("timeout-rate", self.timeout_rate.map(|v| v.to_string()));
        add("seed", self.seed.map(|v| v.to_string()));
        add("query", self.query.clone());
        for pair in &self.grouping {
            add("grouping", Some(pair.clone()));
        }
        out
    }
}

/// The workload's settings: the `[workload]` table, overridden by flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Workload {
    events: u64,
    rate: Option<f64>,
    seed: u64,
    duplicate_rate: f64,
    failure_rate: f64,
    error_rate: f64,
    timeout_rate: f64,
    /// Distinct entities events are about: repeats are what the result cache hits.
    entities: u64,
    /// Actions each event runs.
    actions: u32,
    action_timeout_ms: u64,
    max_retries: u32,
    checkpoint_every: u64,
    /// `check --query`: not a workload setting, carried here from the flags.
    #[serde(skip)]
    query: Option<String>,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            events: 1000,
            rate: None,
            seed: 1,
            duplicate_rate: 0.1,
            failure_rate: 0.05,
            error_rate: 0.02,
            timeout_rate: 0.01,
            entities: 2000,
            actions: 2,
            action_timeout_ms: 5,
            max_retries: 3,
            checkpoint_every: 100,
            query: None,
        }
    }
}

impl Workload {
    fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("duplicate_rate", self.duplicate_rate),
            ("failure_rate", self.failure_rate),
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("workload.{name} = {rate}: must be between 0 and 1"));
            }
        }
        if self.failure_rate + self.error_rate + self.timeout_rate > 1.0 {
            return Err(
                "workload: failure_rate + error_rate + timeout_rate must not exceed 1".into(),
            );
        }
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(format!("workload.rate = {rate}: must be a positive number"));
            }
        }
        if self.entities == 0 || self.action_timeout_ms == 0 {
            return Err("workload: entities and action_timeout_ms must be greater than 0".into());
        }
        Ok(())
    }
}

#[derive(PartialEq)]
enum Mode {
    Simulate,
    Serve,
    Check,
}

struct Args {
    mode: Mode,
    config: Option<PathBuf>,
    /// Flag overrides, applied after the file and the environment.
    overrides: Vec<(String, String)>,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("--{flag}: `{value}` is not a valid number"))
}

/// The file (a MetricsConfig plus `[workload]`), then the environment, then the flags; validated.
fn load(args: &Args) -> Result<(MetricsConfig, Workload), String> {
    let (mut config, mut workload) = match &args.config {
        None => (MetricsConfig::default(), Workload::default()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("config file {}: {e}", path.display()))?;
            let mut table: toml::Table =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let workload = match table.remove("workload") {
                Some(w) => w
                    .try_into()
                    .map_err(|e| format!("{}: [workload]: {e}", path.display()))?,
                None => Workload::default(),
            };
            let rest = toml::to_string(&table).map_err(|e| e.to_string())?;
            let config = MetricsConfig::from_toml_str(&rest)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            (config, workload)
        }
    };
    // Validated once the flags below are applied too: an env push setting may need the flag's URL.
    config = MetricsConfig::process_env()
        .and_then(|vars| config.apply_env(vars))
        .map_err(|e| e.to_string())?;
    let command = match args.mode {
        Mode::Serve => "serve",
        Mode::Check => "check",
        Mode::Simulate => "simulate",
    };
    let mut job = None;
    let mut query = None;
    for (flag, value) in &args.overrides {
        match flag.as_str() {
            "events" => workload.events = number(flag, value)?,
            "rate" => workload.rate = Some(number(flag, value)?),
            "seed" => workload.seed = number(flag, value)?,
            "duplicate-rate" => workload.duplicate_rate = number(flag, value)?,
            "failure-rate" => workload.failure_rate = number(flag, value)?,
            "error-rate" => workload.error_rate = number(flag, value)?,
            "timeout-rate" => workload.timeout_rate = number(flag, value)?,
            "interval" => config.export_interval_secs = number(flag, value)?,
            "listen" => config.pull.get_or_insert_with(PullConfig::default).listen = value.clone(),
            "push-gateway" => {
                config.push.get_or_insert_with(PushConfig::default).url = value.clone()
            }
            "remote-write" => {
                config
                    .remote_write
                    .get_or_insert_with(RemoteWriteConfig::default)
                    .url = value.clone()
            }
            "instance" => {
                config
                    .remote_write
                    .get_or_insert_with(RemoteWriteConfig::default)
                    .instance = Some(value.clone())
            }
            "job" => job = Some(value.clone()),
            "query" => query = Some(value.clone()),
            "grouping" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--grouping: expected KEY=VALUE, got `{value}`"))?;
                let push = config.push.get_or_insert_with(PushConfig::default);
                push.grouping.insert(k.to_owned(), v.to_owned());
            }
            _ => unreachable!("parse() only keeps known flags"),
        }
    }
    // `--job` names both sinks' job, whichever flag came first; without one, a default.
    let default_job = format!("observer-metrics-{command}");
    if let Some(push) = &mut config.push {
        push.job = job
            .clone()
            .unwrap_or_else(|| take_or(&push.job, &default_job));
    }
    if let Some(rw) = &mut config.remote_write {
        rw.job = job
            .clone()
            .unwrap_or_else(|| take_or(&rw.job, &default_job));
    }
    if args.mode == Mode::Serve {
        config.pull.get_or_insert_with(PullConfig::default);
        workload.rate.get_or_insert(100.0);
    }
    config.validate().map_err(|e| e.to_string())?;
    workload.validate()?;
    if args.mode == Mode::Check {
        if config.push.is_none() && config.remote_write.is_none() {
            return Err("check needs --push-gateway, or --remote-write with --query".into());
        }
        if config.remote_write.is_some() && query.is_none() {
            return Err("check --remote-write needs --query URL to read the canary back".into());
        }
        workload.query = query;
    }
    Ok((config, workload))
}

/// `value`, or `default` when it is empty.
fn take_or(value: &str, default: &str) -> String {
    if value.is_empty() { default } else { value }.to_owned()
}

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

type Pipeline =
    ObserverPipeline<SimulatedExecutor, MemoryQueue, MemoryCache, MemoryDedup, MemoryCheckpoints>;

fn pipeline(metrics: &ObserverMetrics, w: &Workload) -> Pipeline {
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
async fn drive(p: &Pipeline, w: &Workload, limit: Option<u64>) -> u64 {
    let mut events = Events {
        rng: rand::rngs::SmallRng::seed_from_u64(w.seed),
        entities: w.entities,
        duplicate_rate: w.duplicate_rate,
    };
    let _ = p.recover().await;
    let progress = std::io::stderr().is_terminal();
    let start = tokio::time::Instant::now();
    let mut last_progress = start;
    let mut id = 0;
    while limit.is_none_or(|n| id < n) {
        // The in-memory parts never fail; a failing store would be counted by its decorator.
        let _ = p.process_event(&events.event(id)).await;
        id += 1;
        if let Some(rate) = w.rate {
            tokio::time::sleep_until(start + Duration::from_secs_f64(id as f64 / rate)).await;
        } else if id % 256 == 0 {
            // Let a signal be noticed in a long unpaced batch.
            tokio::task::yield_now().await;
        }
        if progress && last_progress.elapsed() >= Duration::from_millis(200) {
            last_progress = tokio::time::Instant::now();
            match limit {
                Some(n) => eprint!("\r{id}/{n} events"),
                None => eprint!("\r{id} events"),
            }
        }
    }
    if progress {
        eprint!("\r");
    }
    id
}

/// The value of the catalogue metric `name` in a render: the exposition name carries the
/// configured prefix, and the one series of a catalogue metric carries only the global labels.
fn sample(text: &str, prefix: Option<&str>, name: &str) -> f64 {
    let family = match prefix {
        Some(p) => format!("{p}_{name}"),
        None => name.to_owned(),
    };
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(family.as_str())?;
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                return None;
            }
            line.rsplit_once(' ')?.1.parse().ok()
        })
        .unwrap_or(f64::NAN)
}

/// The end-of-batch summary, and whether the catalogue's invariants hold. With `sample_rate < 1`
/// histogram counts are estimates, so the checks that compare them to counters are left out.
fn summarise(render: &str, prefix: Option<&str>, events: u64, sampled: bool) -> (String, bool) {
    let s = |name: &str| sample(render, prefix, name);
    let executed = s("actions_executed_total");
    let histogram_checks = [
        "event histogram count = events run",
        "action histogram count = executed",
    ];
    let checks = [
        (
            "events_processed_total = events run",
            s("events_processed_total") == events as f64,
        ),
        (
            "event histogram count = events run",
            s("event_processing_duration_ms_count") == events as f64,
        ),
        ("events_in_flight = 0", s("events_in_flight") == 0.0),
        (
            "executed = success + failure",
            executed == s("action_success_total") + s("action_failure_total"),
        ),
        (
            "action histogram count = executed",
            s("action_duration_ms_count") == executed,
        ),
        (
            "queue_depth = enqueued - processed - dead-lettered",
            s("queue_depth")
                == s("queue_jobs_enqueued_total")
                    - s("queue_jobs_processed_total")
                    - s("queue_deadletter_total"),
        ),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(name, holds)| !(*holds || sampled && histogram_checks.contains(name)))
        .map(|c| c.0)
        .collect();
    let text = format!(
        "{events} events: {} duplicates, {} cache hits / {} misses, {executed} actions \
         ({} ok, {} failed, {} timed out), {} retries, {} dead letters, {} checkpoints; {}",
        s("dedup_duplicates_found_total"),
        s("cache_hits_total"),
        s("cache_misses_total"),
        s("action_success_total"),
        s("action_failure_total"),
        s("action_timeout_total"),
        s("queue_retry_total"),
        s("queue_deadletter_total"),
        s("checkpoint_saves_total"),
        if failed.is_empty() {
            "invariants hold".to_owned()
        } else {
            format!("VIOLATED: {}", failed.join(", "))
        },
    );
    (text, failed.is_empty())
}

fn main() -> ExitCode {
    // Usage errors exit 2 in clap's format; --help and --version exit 0.
    let cli = Cli::parse();
    let (mode, flags) = match cli.command {
        CliCommand::Simulate(flags) => (Mode::Simulate, flags),
        CliCommand::Serve(flags) => (Mode::Serve, flags),
        CliCommand::Check(flags) => (Mode::Check, flags),
        CliCommand::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "observer-metrics",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
    };
    let args = Args {
        mode,
        overrides: flags.overrides(),
        config: flags.config,
    };
    let (config, workload) = match load(&args) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("observer-metrics: {e}");
            return ExitCode::from(2);
        }
    };
    let recorder = match ObserverRecorder::new(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("observer-metrics: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("observer-metrics: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.mode == Mode::Check {
        return runtime.block_on(check(&config, workload.query.as_deref()));
    }
    runtime.block_on(run(args.mode, &config, &workload, recorder))
}

/// `observer-metrics check`: each configured sink checked in turn, every step printed.
async fn check(config: &MetricsConfig, query: Option<&str>) -> ExitCode {
    use observer_metrics::check::{check_pushgateway, check_remote_write, Report};
    let mut reports: Vec<(String, Report)> = Vec::new();
    if let Some(push) = &config.push {
        reports.push((
            format!(
                "Pushgateway {}",
                observer_metrics::push::redact_url(&push.url)
            ),
            check_pushgateway(push).await,
        ));
    }
    if let (Some(rw), Some(query)) = (&config.remote_write, query) {
        reports.push((
            format!(
                "remote write {} read back from {query}",
                observer_metrics::push::redact_url(&rw.url)
            ),
            check_remote_write(rw, query, Duration::from_secs(30)).await,
        ));
    }
    let mut passed = true;
    for (what, report) in &reports {
        println!("check: {what}");
        for step in &report.steps {
            match &step.outcome {
                Ok(()) => println!("  ok    {} ({:.0?})", step.name, step.elapsed),
                Err(cause) => println!("  FAIL  {} ({:.0?}): {cause}", step.name, step.elapsed),
            }
        }
        passed &= report.passed();
    }
    if passed {
        println!("check: all passed");
        return ExitCode::SUCCESS;
    }
    if let Some((what, step, cause)) = reports.iter().find_map(|(w, r)| {
        r.steps
            .iter()
            .find_map(|s| s.outcome.as_ref().err().map(|c| (w, s.name, c)))
    }) {
        eprintln!("observer-metrics: check failed at \"{step}\" ({what}): {cause}");
    }
    ExitCode::FAILURE
}

async fn run(
    mode: Mode,
    config: &MetricsConfig,
    workload: &Workload,
    recorder: ObserverRecorder,
) -> ExitCode {
    let metrics = ObserverMetrics::new(&recorder.handle());
    let p = pipeline(&metrics, workload);
    // Bind first: a listen address that cannot be had must fail before anything is pushed.
    let (stop_pull, pull_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = match (&mode, &config.pull) {
        (Mode::Serve, Some(pull)) => {
            let address = match pull.address() {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("observer-metrics: {e}");
                    return ExitCode::from(2);
                }
            };
            let listener = match tokio::net::TcpListener::bind(address).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("observer-metrics: cannot listen on {address}: {e}");
                    return ExitCode::from(2);
                }
            };
            eprintln!(
                "observer-metrics: serving http://{}/metrics",
                listener.local_addr().map_or(address, |a| a)
            );
            let shutdown = async {
                let _ = pull_stopped.await;
            };
            Some(tokio::spawn(observer_metrics::pull::serve(
                listener,
                recorder.handle(),
                shutdown,
            )))
        }
        _ => None,
    };
    let exporter = match config.push.is_some() || config.remote_write.is_some() {
        true => match PushExporter::start(recorder.handle(), config) {
            Ok(exporter) => Some(exporter),
            Err(e) => {
                eprintln!("observer-metrics: {e}");
                return ExitCode::from(2);
            }
        },
        false => None,
    };

    let limit = (mode == Mode::Simulate).then_some(workload.events);
    let started = std::time::Instant::now();
    let (ran, signal) = tokio::select! {
        ran = drive(&p, workload, limit) => (ran, None),
        signal = shutdown_signal() => (sample(&recorder.render(), config.prefix.as_deref(), "events_processed_total") as u64, Some(signal)),
    };
    let elapsed = started.elapsed();
    if let Some(first) = signal {
        // The final push below is bounded, but a person pressing Ctrl-C again means now.
        tokio::spawn(async move {
            let again = shutdown_signal().await;
            eprintln!("observer-metrics: {again} after {first}: exiting without the final push");
            std::process::exit(if again == "SIGTERM" { 143 } else { 130 });
        });
    }
    let _ = stop_pull.send(());
    if let Some(server) = server {
        let _ = server.await;
    }

    let render = recorder.render();
    let (summary, invariants_hold) = summarise(
        &render,
        config.prefix.as_deref(),
        ran,
        config.sample_rate < 1.0,
    );
    let Some(exporter) = exporter else {
        if mode == Mode::Simulate {
            print!("{render}");
        }
        eprintln!("observer-metrics: {summary} ({elapsed:.2?})");
        return exit_code(&mode, signal, invariants_hold);
    };
    let mut destinations = exporter.urls().join(" and ");
    if let Some(writer) = exporter.remote_writer() {
        destinations.push_str(&format!(" (instance {})", writer.instance()));
    }
    let outcome = if signal.is_none() && invariants_hold {
        BatchOutcome::Success
    } else {
        BatchOutcome::Failure
    };
    match exporter.finish_batch(outcome).await {
        Ok(()) => {
            eprintln!("observer-metrics: {summary} ({elapsed:.2?}); pushed to {destinations}");
            exit_code(&mode, signal, invariants_hold)
        }
        Err(e) => {
            eprintln!("observer-metrics: final push failed: {e}");
            match signal {
                // The run was ended by a signal: its exit code says so, as a shell expects.
                Some(_) => exit_code(&Mode::Simulate, signal, true),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// 3 if an invariant failed; for a batch cut short by SIGTERM / SIGINT, 143 / 130; otherwise 0
/// (a signal is how `serve` is meant to end).
fn exit_code(mode: &Mode, signal: Option<&str>, invariants_hold: bool) -> ExitCode {
    match (mode, signal) {
        _ if !invariants_hold => ExitCode::from(3),
        (Mode::Simulate, Some("SIGTERM")) => ExitCode::from(143),
        (Mode::Simulate, Some(_)) => ExitCode::from(130),
        _ => ExitCode::SUCCESS,
    }
}
