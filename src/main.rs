//! `observer-metrics`: runs a synthetic observer batch through the metrics catalogue, pushing to a
//! Pushgateway when one is configured, and prints the exposition.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use observer_metrics::push::{shutdown_signal, BatchOutcome, PushConfig, PushExporter};
use observer_metrics::{MetricsConfig, ObserverMetrics, ObserverRecorder};

const USAGE: &str =
    "usage: observer-metrics simulate [--events N] [--rate EVENTS_PER_SEC] [--seed N]
         [--push-gateway URL] [--job NAME] [--grouping KEY=VALUE]... [--interval SECS]
         [--config FILE]

simulate        run N synthetic observer events (default 1000) through the metrics catalogue.
                Without a gateway: print the Prometheus text exposition on stdout.
                With one: push right away, every --interval seconds, and once at the end;
                exit 0 only when that last push succeeded. SIGTERM/SIGINT end the batch
                early with a last push.
--rate          events per second (default: as fast as possible)
--push-gateway  the Pushgateway's URL, e.g. http://127.0.0.1:9091 (sets push.url)
--job           the job label (push.job; default observer-metrics-simulate)
--grouping      another grouping label, repeatable (push.grouping)
--interval      seconds between pushes (export_interval_secs)
--config        a MetricsConfig TOML file; OBSERVER_METRICS_* variables override it, flags
                override both.";

#[derive(Default)]
struct Args {
    events: u64,
    rate: Option<f64>,
    seed: u64,
    gateway: Option<String>,
    job: Option<String>,
    grouping: Vec<(String, String)>,
    interval: Option<u64>,
    config: Option<PathBuf>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    match argv.next().as_deref() {
        Some("simulate") => {}
        Some("-h" | "--help") => return Err(String::new()),
        Some(other) => return Err(format!("unknown command `{other}`")),
        None => return Err("a command is needed".into()),
    }
    let mut args = Args {
        events: 1000,
        seed: 1,
        ..Args::default()
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--events" => args.events = value()?.parse().map_err(|e| format!("--events: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--rate" => {
                let rate: f64 = value()?.parse().map_err(|e| format!("--rate: {e}"))?;
                if !(rate > 0.0 && rate.is_finite()) {
                    return Err(format!("--rate: {rate} is not a positive number"));
                }
                args.rate = Some(rate);
            }
            "--push-gateway" => args.gateway = Some(value()?),
            "--job" => args.job = Some(value()?),
            "--grouping" => {
                let pair = value()?;
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--grouping: expected KEY=VALUE, got `{pair}`"))?;
                args.grouping.push((k.to_owned(), v.to_owned()));
            }
            "--interval" => {
                args.interval = Some(value()?.parse().map_err(|e| format!("--interval: {e}"))?)
            }
            "--config" => args.config = Some(value()?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    Ok(args)
}

/// The config file, then the environment, then the flags; validated.
fn config(args: &Args) -> Result<MetricsConfig, String> {
    let mut config = MetricsConfig::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(secs) = args.interval {
        config.export_interval_secs = secs;
    }
    let push_flags = args.gateway.is_some() || args.job.is_some() || !args.grouping.is_empty();
    if push_flags {
        let push = config.push.get_or_insert_with(PushConfig::default);
        if let Some(url) = &args.gateway {
            push.url = url.clone();
        }
        if let Some(job) = &args.job {
            push.job = job.clone();
        }
        if push.job.is_empty() {
            push.job = "observer-metrics-simulate".into();
        }
        push.grouping.extend(args.grouping.iter().cloned());
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// A small deterministic generator, so that a batch with the same seed gives the same numbers.
struct Lcg(u64);

impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The synthetic workload: every catalogue metric moves.
struct Workload {
    rng: Lcg,
    depth: u64,
    cache_bytes: f64,
}

impl Workload {
    fn new(m: &ObserverMetrics, seed: u64) -> Self {
        m.checkpoint_recovery_total.increment(1);
        Workload {
            rng: Lcg(seed),
            depth: 0,
            cache_bytes: 0.0,
        }
    }

    /// Runs event number `i`.
    fn event(&mut self, m: &ObserverMetrics, i: u64) {
        let Workload {
            rng,
            depth,
            cache_bytes,
        } = self;
        m.events_in_flight.increment(1.0);
        m.dedup_checks_total.increment(1);
        if rng.next_f64() < 0.1 {
            m.dedup_duplicates_found_total.increment(1);
        } else {
            if rng.next_f64() < 0.6 {
                m.cache_hits_total.increment(1);
            } else {
                m.cache_misses_total.increment(1);
                *cache_bytes += 512.0;
                m.cache_size_bytes.set(*cache_bytes);
                m.actions_executed_total.increment(1);
                let outcome = rng.next_f64();
                if outcome < 0.9 {
                    m.action_success_total.increment(1);
                } else {
                    m.action_failure_total.increment(1);
                    if outcome > 0.97 {
                        m.action_timeout_total.increment(1);
                    }
                    m.queue_jobs_enqueued_total.increment(1);
                    *depth += 1;
                    m.queue_retry_total.increment(1);
                    if rng.next_f64() < 0.5 {
                        m.queue_jobs_processed_total.increment(1);
                    } else {
                        m.queue_deadletter_total.increment(1);
                    }
                    *depth -= 1;
                }
                m.action_duration_ms.record(rng.next_f64() * 200.0);
            }
            m.queue_depth.set(*depth as f64);
        }
        m.event_processing_duration_ms
            .record(rng.next_f64() * 250.0);
        m.events_processed_total.increment(1);
        m.events_in_flight.decrement(1.0);
        if i % 100 == 99 {
            m.checkpoint_saves_total.increment(1);
            m.checkpoint_save_duration_ms.record(rng.next_f64() * 40.0);
        }
    }
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("observer-metrics: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let recorder = match config(&args).and_then(|c| {
        let r = ObserverRecorder::new(&c).map_err(|e| e.to_string())?;
        Ok((c, r))
    }) {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("observer-metrics: {e}");
            return ExitCode::from(2);
        }
    };
    let (config, recorder) = recorder;
    let metrics = ObserverMetrics::new(&recorder.handle());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("observer-metrics: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(&args, &config, &recorder, &metrics))
}

/// Runs the batch; pushes when configured; the exit status follows the final push.
async fn run(
    args: &Args,
    config: &MetricsConfig,
    recorder: &ObserverRecorder,
    metrics: &ObserverMetrics,
) -> ExitCode {
    let exporter = match config.push {
        Some(_) => match PushExporter::start(recorder.handle(), config) {
            Ok(exporter) => Some(exporter),
            Err(e) => {
                eprintln!("observer-metrics: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let started = std::time::Instant::now();
    let interrupted = tokio::select! {
        ran = drive(metrics, args) => { let () = ran; None }
        signal = shutdown_signal() => Some(signal),
    };
    let elapsed = started.elapsed();
    let Some(exporter) = exporter else {
        print!("{}", recorder.render());
        eprintln!(
            "observer-metrics: simulated {} events in {:.2?} (seed {}), no gateway configured",
            args.events, elapsed, args.seed
        );
        return if interrupted.is_some() {
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        };
    };
    let url = exporter.url().to_owned();
    let outcome = if interrupted.is_some() {
        BatchOutcome::Failure
    } else {
        BatchOutcome::Success
    };
    let result = exporter.finish_batch(outcome).await;
    match (&result, interrupted) {
        (Ok(()), None) => {
            eprintln!(
                "observer-metrics: simulated {} events in {elapsed:.2?}; pushed to {url}",
                args.events
            );
            ExitCode::SUCCESS
        }
        (Ok(()), Some(signal)) => {
            eprintln!(
                "observer-metrics: stopped by {signal}; the events so far were pushed to {url}"
            );
            ExitCode::from(if signal == "SIGTERM" { 143 } else { 130 })
        }
        (Err(e), _) => {
            eprintln!("observer-metrics: final push failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the events, paced to `--rate` when given.
async fn drive(metrics: &ObserverMetrics, args: &Args) {
    let mut workload = Workload::new(metrics, args.seed);
    let start = tokio::time::Instant::now();
    for i in 0..args.events {
        workload.event(metrics, i);
        match args.rate {
            Some(rate) => {
                let due = start + Duration::from_secs_f64((i + 1) as f64 / rate);
                tokio::time::sleep_until(due).await;
            }
            // Let a signal be noticed in a long unpaced batch.
            None if i % 4096 == 4095 => tokio::task::yield_now().await,
            None => {}
        }
    }
}
