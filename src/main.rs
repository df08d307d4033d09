//! `observer-metrics`: runs a synthetic observer batch through the catalogue and prints the
//! exposition.

use std::path::PathBuf;
use std::process::ExitCode;

use observer_metrics::{MetricsConfig, ObserverMetrics, ObserverRecorder};

const USAGE: &str = "usage: observer-metrics simulate [--events N] [--seed N] [--config FILE]

simulate   run N synthetic observer events (default 1000) through the metrics catalogue and
           print the Prometheus text exposition on stdout and a summary on stderr.
--config   a MetricsConfig TOML file; OBSERVER_METRICS_* variables override it.";

struct Args {
    events: u64,
    seed: u64,
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
        config: None,
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--events" => args.events = value()?.parse().map_err(|e| format!("--events: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--config" => args.config = Some(value()?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    Ok(args)
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

/// Runs `events` synthetic events, touching every catalogue metric.
fn simulate(m: &ObserverMetrics, events: u64, seed: u64) {
    let mut rng = Lcg(seed);
    m.checkpoint_recovery_total.increment(1);
    let mut depth = 0u64;
    let mut cache_bytes = 0.0;
    for i in 0..events {
        m.events_in_flight.increment(1.0);
        m.dedup_checks_total.increment(1);
        if rng.next_f64() < 0.1 {
            m.dedup_duplicates_found_total.increment(1);
        } else {
            if rng.next_f64() < 0.6 {
                m.cache_hits_total.increment(1);
            } else {
                m.cache_misses_total.increment(1);
                cache_bytes += 512.0;
                m.cache_size_bytes.set(cache_bytes);
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
                    depth += 1;
                    m.queue_retry_total.increment(1);
                    if rng.next_f64() < 0.5 {
                        m.queue_jobs_processed_total.increment(1);
                    } else {
                        m.queue_deadletter_total.increment(1);
                    }
                    depth -= 1;
                }
                m.action_duration_ms.record(rng.next_f64() * 200.0);
            }
            m.queue_depth.set(depth as f64);
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
    let recorder =
        match MetricsConfig::load(args.config.as_deref()).and_then(|c| ObserverRecorder::new(&c)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("observer-metrics: {e}");
                return ExitCode::from(2);
            }
        };
    let metrics = ObserverMetrics::new(&recorder.handle());
    simulate(&metrics, args.events, args.seed);
    print!("{}", recorder.render());
    eprintln!(
        "observer-metrics: simulated {} events (seed {})",
        args.events, args.seed
    );
    ExitCode::SUCCESS
}
