//! Registers 200,000 fresh series, for profiling registration (`valgrind --tool=callgrind`).
use metrics::counter;
use observer_metrics::MetricsBuilder;
fn main() {
    let r = MetricsBuilder::new().build_recorder().unwrap();
    let ids: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
    let t = std::time::Instant::now();
    metrics::with_local_recorder(&r, || {
        for id in &ids {
            counter!("dyn_total", "id" => id.clone()).increment(1);
        }
    });
    println!("{:?} per series", t.elapsed() / 200_000);
}
