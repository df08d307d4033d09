//! Many producers, exact totals: 1,000 short-lived processes of the CLI each record a known number
//! of events and remote-write them, to a real Prometheus and, as many again, to a real
//! VictoriaMetrics. Afterwards each holds 1,000 series, `sum(last_over_time(...))` is the exact
//! total, and every producer's series began with its 0 sample (which `increase()` counts from).
//! Bounded: at most 4 processes at once, each with a deadline; the whole test within minutes.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{Prometheus, VictoriaMetrics};

const PRODUCERS: usize = 1000;
const PARALLEL: usize = 4;

/// Runs the producers against `url` under `job`; the total of events they recorded.
fn run_producers(url: &str, job: &str) -> u64 {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= PRODUCERS {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(600),
                    "producers took over 10 minutes"
                );
                let events = (1 + i % 7).to_string();
                let mut child = support::ChildGuard::spawn(
                    cli!()
                        .args(["simulate", "--events", &events, "--remote-write", url])
                        .args(["--job", job, "--instance", &format!("p{i}")])
                        .env("OBSERVER_METRICS_REMOTE_WRITE_SHUTDOWN_TIMEOUT_MS", "10000")
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped()),
                );
                let deadline = Instant::now() + Duration::from_secs(30);
                let status = loop {
                    if let Some(status) = child.0.try_wait().unwrap() {
                        break status;
                    }
                    assert!(Instant::now() < deadline, "producer {i} ran over 30 s");
                    std::thread::sleep(Duration::from_millis(5));
                };
                if !status.success() {
                    let mut stderr = String::new();
                    use std::io::Read;
                    let _ = child.0.stderr.take().unwrap().read_to_string(&mut stderr);
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("producer {i}: {status}: {stderr}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} producers failed, e.g. {}",
        failures.len(),
        failures[0]
    );
    (0..PRODUCERS).map(|i| 1 + (i % 7) as u64).sum()
}

fn check(query: impl Fn(&str) -> Option<f64>, job: &str, total: u64) {
    let series = format!("events_processed_total{{job=\"{job}\"}}");
    assert_eq!(
        query(&format!("count(last_over_time({series}[1h]))")),
        Some(PRODUCERS as f64)
    );
    assert_eq!(
        query(&format!("sum(last_over_time({series}[1h]))")),
        Some(total as f64)
    );
    // Each producer's series began with 0: its minimum over the run is 0, and so is the count of
    // producers whose minimum is not.
    assert_eq!(
        query(&format!("count(min_over_time({series}[1h]) == 0)")),
        Some(PRODUCERS as f64)
    );
}

#[test]
fn a_thousand_producers_give_exact_totals_in_prometheus_and_victoria_metrics() {
    let prometheus = Prometheus::start(&[]);
    let started = Instant::now();
    let total = run_producers(&prometheus.write_url(), "scale");
    eprintln!(
        "{PRODUCERS} producers into Prometheus: {total} events in {:.1?}",
        started.elapsed()
    );
    check(|q| prometheus.scalar(q), "scale", total);

    let vm = VictoriaMetrics::start();
    let started = Instant::now();
    let total = run_producers(&vm.write_url(), "scale");
    eprintln!(
        "{PRODUCERS} producers into VictoriaMetrics: {total} events in {:.1?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while vm.scalar("count(last_over_time(events_processed_total{job=\"scale\"}[1h]))")
        != Some(PRODUCERS as f64)
    {
        assert!(
            Instant::now() < deadline,
            "VictoriaMetrics never held every producer"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    check(|q| vm.scalar(q), "scale", total);
}
