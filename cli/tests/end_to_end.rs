//! End to end with real parts: a `simulate` batch pushes to a real Pushgateway, `serve` exposes
//! `/metrics`, and a real Prometheus scrapes both. PromQL answers must equal the batch's numbers.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use observer_metrics::observer::{MetricType, CATALOGUE};
use support::{free_port, Prometheus, Pushgateway, ScrapeJob};

fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn prometheus_sees_the_batch_through_the_gateway_and_the_service_through_pull() {
    let gw = Pushgateway::start();
    let batch = cli!()
        .args([
            "simulate",
            "--events",
            "3000",
            "--failure-rate",
            "0.2",
            "--timeout-rate",
            "0.02",
        ])
        .args(["--push-gateway", &gw.url, "--job", "e2e-batch"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&batch.stderr);
    assert_eq!(batch.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("invariants hold"), "{stderr}");

    let pull_port = free_port();
    let mut service = support::ChildGuard::spawn(
        cli!()
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{pull_port}"),
                "--rate",
                "200",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );

    let gateway_target = gw.url.trim_start_matches("http://").to_owned();
    let pull_target = format!("127.0.0.1:{pull_port}");
    let prometheus = Prometheus::start(&[
        ScrapeJob {
            name: "pushgateway",
            target: &gateway_target,
            honor_labels: true,
        },
        ScrapeJob {
            name: "observer-service",
            target: &pull_target,
            honor_labels: false,
        },
    ]);

    // The batch, through the gateway: every catalogue counter equals what was pushed.
    let batch_labels = [("job", "e2e-batch")];
    wait_until(
        "Prometheus scraping the gateway",
        Duration::from_secs(30),
        || {
            prometheus
                .scalar("events_processed_total{job=\"e2e-batch\"}")
                .is_some()
        },
    );
    assert_eq!(
        prometheus.scalar("events_processed_total{job=\"e2e-batch\"}"),
        Some(3000.0)
    );
    for entry in CATALOGUE.iter().filter(|e| e.kind == MetricType::Counter) {
        let pushed = gw.value(&batch_labels, entry.name).unwrap();
        let queried = prometheus.scalar(&format!("{}{{job=\"e2e-batch\"}}", entry.name));
        assert_eq!(queried, Some(pushed), "{}", entry.name);
    }
    let one = |expr: &str| {
        prometheus
            .scalar(expr)
            .unwrap_or_else(|| panic!("no value for {expr}"))
    };
    assert_eq!(
        one("event_processing_duration_ms_count{job=\"e2e-batch\"}"),
        3000.0
    );
    assert_eq!(one("events_in_flight{job=\"e2e-batch\"}"), 0.0);
    assert_eq!(
        one("actions_executed_total{job=\"e2e-batch\"}"),
        one("action_success_total{job=\"e2e-batch\"} + action_failure_total{job=\"e2e-batch\"}")
    );
    assert_eq!(
        one("action_duration_ms_count{job=\"e2e-batch\"}"),
        one("actions_executed_total{job=\"e2e-batch\"}")
    );
    assert!(one("action_timeout_total{job=\"e2e-batch\"}") > 0.0);
    let hits = one("cache_hits_total{job=\"e2e-batch\"}");
    let misses = one("cache_misses_total{job=\"e2e-batch\"}");
    let rate = one("cache_hit_rate{job=\"e2e-batch\"}");
    assert!(
        (rate - 100.0 * hits / (hits + misses)).abs() < 1e-9,
        "{rate} vs {hits}/{misses}"
    );
    let p99 =
        one("histogram_quantile(0.99, sum by (le) (action_duration_ms_bucket{job=\"e2e-batch\"}))");
    assert!(p99.is_finite() && p99 > 0.0, "{p99}");
    assert!(one("time() - batch_last_success_timestamp_seconds{job=\"e2e-batch\"}") < 600.0);

    // The running service, through pull: events flow and the in-flight gauge stays sane.
    wait_until(
        "events flowing through the scraped service",
        Duration::from_secs(30),
        || {
            prometheus
                .scalar("rate(events_processed_total{job=\"observer-service\"}[5s])")
                .is_some_and(|r| r > 0.0)
        },
    );
    let in_flight = one("events_in_flight{job=\"observer-service\"}");
    assert!((0.0..=1.0).contains(&in_flight), "{in_flight}");
    assert!(
        one("actions_executed_total{job=\"observer-service\"}")
            >= one("action_success_total{job=\"observer-service\"}")
    );

    let status = support::terminate(&mut service.0, Duration::from_secs(20));
    // A signal is how a service is meant to stop: a clean exit.
    assert_eq!(status.code(), Some(0));
}
