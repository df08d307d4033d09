//! The library's last sends and its spool, judged by real receivers on loopback: a receiver that
//! restarts within `shutdown_timeout_ms` still gets the final totals; a full spool drops the
//! oldest and counts it; the spool's own series. Loopback only; every wait is bounded.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use observer_metrics::remote_write::RemoteWriteConfig;
use observer_metrics::spool::SpoolConfig;
use observer_metrics::{MetricsBuilder, MetricsConfig};
use support::{free_port, sample, Pushgateway, VictoriaMetrics};

fn spool_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("om-lib-spool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn spooled_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".om"))
        .count()
}

fn remote_write(url: &str, instance: &str, shutdown_ms: u64) -> RemoteWriteConfig {
    let mut rw = RemoteWriteConfig::new(url, "lib-spool");
    rw.instance = Some(instance.into());
    rw.timeout_ms = 500;
    rw.shutdown_timeout_ms = shutdown_ms;
    rw
}

/// From the library, remote write used to give up 0.43 s into a 3 s deadline (three tries): a
/// receiver back 1.5 s after the shutdown began lost the last interval. The final write now
/// tries until its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_write_waits_for_a_receiver_that_restarts_within_its_deadline() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let mut config = MetricsConfig::default();
    config.remote_write = Some(remote_write(&url, "restarts", 8000));
    let (recorder, exporter) = MetricsBuilder::from_config(config).build().unwrap();
    let counter = metrics::Key::from_static_name("restarted_total");
    use metrics::Recorder;
    recorder
        .handle()
        .register_counter(
            &counter,
            &metrics::Metadata::new("t", metrics::Level::INFO, None),
        )
        .increment(500);
    let receiver = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(1500));
        VictoriaMetrics::start_on(port)
    });
    exporter
        .shutdown()
        .await
        .expect("the final write reached the receiver in time");
    let vm = receiver.await.unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        vm.scalar("last_over_time(restarted_total{instance=\"restarts\"}[1h])"),
        Some(500.0)
    );
}

/// The same for the gateway's final PUT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_push_waits_for_a_gateway_that_restarts_within_its_deadline() {
    let port = free_port();
    let (recorder, mut config) =
        support::recorder_with_push(&format!("http://127.0.0.1:{port}"), 60);
    config.push.as_mut().unwrap().shutdown_timeout_ms = 8000;
    let exporter = observer_metrics::export::Exporter::start(recorder.handle(), &config).unwrap();
    use metrics::Recorder;
    recorder
        .handle()
        .register_counter(
            &metrics::Key::from_static_name("restarted_total"),
            &metrics::Metadata::new("t", metrics::Level::INFO, None),
        )
        .increment(7);
    let gateway = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(1500));
        Pushgateway::start_on(port)
    });
    exporter
        .shutdown()
        .await
        .expect("the final push reached the gateway in time");
    let gateway = gateway.await.unwrap();
    assert_eq!(
        gateway.value(&[("job", "batch")], "restarted_total"),
        Some(7.0)
    );
}

/// A spool bounded at 16 KiB under a receiver that is down: every failed write is spooled, the
/// oldest go once the bound is reached, and the counts say so. Back, the receiver gets the
/// newest values from a recorder started later on the same spool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_the_oldest_and_counts_them() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let dir = spool_dir("full");
    let mut rw = remote_write(&url, "full", 500);
    rw.retry.tries = 1;
    let mut spool = SpoolConfig::new(&dir);
    spool.max_bytes = 16 * 1024;
    let mut config = MetricsConfig::default();
    config.remote_write = Some(rw);
    config.spool = Some(spool);
    let (recorder, exporter) = MetricsBuilder::from_config(config.clone()).build().unwrap();
    use metrics::Recorder;
    let metadata = metrics::Metadata::new("t", metrics::Level::INFO, None);
    // Bounded: twenty failed writes of a few hundred series.
    for round in 0..20u64 {
        for series in 0..300 {
            let key = metrics::Key::from_parts(
                "filled_total",
                vec![metrics::Label::new("n", format!("{series}"))],
            );
            recorder
                .handle()
                .register_counter(&key, &metadata)
                .absolute(round + 1);
        }
        assert!(exporter.flush().await.is_err(), "the receiver is down");
    }
    let text = recorder.render();
    let dropped = sample(
        &text,
        "observer_metrics_spool_dropped_total{reason=\"full\"}",
    );
    assert!(dropped.is_some_and(|d| d > 0.0), "{text}");
    let spooled = sample(
        &text,
        "observer_metrics_spooled_total{sink=\"remote_write\"}",
    );
    assert!(spooled.is_some_and(|s| s >= 20.0), "{text}");
    let bytes = sample(&text, "observer_metrics_spool_bytes").unwrap();
    assert!(bytes > 0.0 && bytes <= 16384.0, "{bytes}");
    drop(exporter);

    let vm = VictoriaMetrics::start_on(port);
    let left = spooled_files(&dir);
    assert!(left > 0);
    // A later recorder on the same spool delivers what is left before its own first write.
    let (later, exporter) = MetricsBuilder::from_config(config).build().unwrap();
    exporter.shutdown().await.unwrap();
    assert_eq!(spooled_files(&dir), 0, "{}", later.render());
    let text = later.render();
    let replayed = sample(
        &text,
        "observer_metrics_replayed_total{sink=\"remote_write\"}",
    );
    assert_eq!(replayed, Some(left as f64), "{text}");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        vm.scalar("max(last_over_time(filled_total{instance=\"full\"}[1h]))"),
        Some(20.0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
