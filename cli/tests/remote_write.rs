//! The command line writing remotely, judged by a real Prometheus 2.42
//! (`--web.enable-remote-write-receiver`) through its PromQL answers.

#[path = "../../tests/support/mod.rs"]
mod support;

use support::Prometheus;

/// The CLI writes a batch to Prometheus; the exact total comes back through PromQL, and a dead
/// receiver fails the run naming it.
#[test]
fn simulate_writes_a_batch_and_fails_naming_a_dead_receiver() {
    let prometheus = Prometheus::start(&[]);
    let out = cli!()
        .args([
            "simulate",
            "--events",
            "321",
            "--remote-write",
            &prometheus.write_url(),
        ])
        .args(["--job", "cli-rw", "--instance", "run-1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("(instance run-1)"), "{stderr}");
    assert_eq!(
        prometheus.scalar("sum(last_over_time(events_processed_total{job=\"cli-rw\"}[1h]))"),
        Some(321.0)
    );
    let dead = format!("http://127.0.0.1:{}/api/v1/write", support::free_port());
    let out = cli!()
        .args(["simulate", "--events", "3", "--remote-write", &dead])
        .env("OBSERVER_METRICS_REMOTE_WRITE_SHUTDOWN_TIMEOUT_MS", "3000")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&dead) && last.contains("cannot connect"),
        "{stderr}"
    );
}
