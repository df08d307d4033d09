//! Profiles the `counter!` path with two static labels on existing series (for `perf record`).
//!
//! `cargo run --release --example lookprof`

use metrics::counter;
use observer_metrics::MetricsBuilder;

fn main() {
    let recorder = MetricsBuilder::new().build_recorder().unwrap();
    let start = std::time::Instant::now();
    let calls = 20_000_000u64;
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..calls {
            counter!("requests_total", "method" => "get", "status" => "200").increment(1);
        }
    });
    println!(
        "{:.1} ns per call",
        start.elapsed().as_nanos() as f64 / calls as f64
    );
}
