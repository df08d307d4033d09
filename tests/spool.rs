//! The library's last sends and its spool, judged by real receivers on loopback: a receiver that
//! restarts within `shutdown_timeout_ms` still gets the final totals; a full spool drops the
//! oldest and counts it; the spool's own series. Loopback only; every wait is bounded.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use observer_metrics::remote_write::RemoteWriteConfig;
use observer_metrics::spool::SpoolConfig;
use observer_metrics::{MetricsBuilder, MetricsConfig};
use support::{free_port, sample, Prometheus, Pushgateway, VictoriaMetrics};

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

/// The gateway down at the end: the final PUT's body stays in the spool, and a recorder started
/// later on the same spool delivers it before its own first push, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_push_waits_in_the_spool_for_the_next_start() {
    let port = free_port();
    let dir = spool_dir("push");
    let (recorder, mut config) =
        support::recorder_with_push(&format!("http://127.0.0.1:{port}"), 3600);
    config.push.as_mut().unwrap().shutdown_timeout_ms = 500;
    config.spool = Some(SpoolConfig::new(&dir));
    let exporter = observer_metrics::export::Exporter::start(recorder.handle(), &config).unwrap();
    use metrics::Recorder;
    recorder
        .handle()
        .register_counter(
            &metrics::Key::from_static_name("spooled_rows_total"),
            &metrics::Metadata::new("t", metrics::Level::INFO, None),
        )
        .increment(321);
    assert!(exporter.shutdown().await.is_err(), "the gateway is down");
    assert_eq!(spooled_files(&dir), 1);
    let text = recorder.render();
    let spooled = sample(
        &text,
        "observer_metrics_spooled_total{sink=\"pushgateway\"}",
    );
    assert_eq!(spooled, Some(1.0), "{text}");

    let gateway = Pushgateway::start_on(port);
    // Another group, pushed after the body was made: it must not pass for this body's group.
    let (status, _) = gateway.put("zzz-other", "# TYPE other_total counter\nother_total 1\n");
    assert_eq!(status, 200);
    let (later, config) = {
        let (later, mut config) =
            support::recorder_with_push(&format!("http://127.0.0.1:{port}"), 3600);
        config.push.as_mut().unwrap().job = "later".into();
        config.spool = Some(SpoolConfig::new(&dir));
        (later, config)
    };
    let exporter = observer_metrics::export::Exporter::start(later.handle(), &config).unwrap();
    exporter.shutdown().await.unwrap();
    assert_eq!(spooled_files(&dir), 0);
    assert_eq!(
        gateway.value(&[("job", "batch")], "spooled_rows_total"),
        Some(321.0)
    );
    let text = later.render();
    let replayed = sample(
        &text,
        "observer_metrics_replayed_total{sink=\"pushgateway\"}",
    );
    assert_eq!(replayed, Some(1.0), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// CRC-32 (IEEE), bit by bit: the spool's file format, written by hand here so a change to it
/// shows.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A spool file as the format says: `observer-metrics-spool 1 <crc32> <body length>`, the header
/// lines, an empty line, the body.
fn spool_file(dir: &std::path::Path, name: &str, sink: &str, url: &str, body: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    let created_ms: u64 = name[..13].parse().unwrap();
    let mut rest =
        format!("sink {sink}\nmethod POST\nurl {url}\ncreated_ms {created_ms}\n\n").into_bytes();
    rest.extend_from_slice(body);
    let mut file = format!(
        "observer-metrics-spool 1 {:08x} {}\n",
        crc32(&rest),
        body.len()
    )
    .into_bytes();
    file.extend_from_slice(&rest);
    std::fs::write(dir.join(name), file).unwrap();
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A remote write whose samples Prometheus refuses as too old (three hours, out of its head's
/// bounds) is final: dropped as `rejected` and named, not kept to be refused again forever. A
/// file that fails its checksum is set aside in `corrupt/` and counted; a recent one is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_is_dropped_and_a_corrupt_file_set_aside() {
    use metrics::Recorder;
    let prometheus = support::Prometheus::start(&[]);
    let dir = spool_dir("refused");
    let mut config = MetricsConfig::default();
    config.remote_write = Some(remote_write(&prometheus.write_url(), "old", 1000));
    let recorder = MetricsBuilder::from_config(config)
        .build_recorder()
        .unwrap();
    recorder
        .handle()
        .register_counter(
            &metrics::Key::from_static_name("old_total"),
            &metrics::Metadata::new("t", metrics::Level::INFO, None),
        )
        .increment(3);
    let old = now_ms() - 3 * 3600 * 1000;
    let request = observer_metrics::remote_write::Encoder::new("lib-spool", "old")
        .encode(&recorder.handle(), old as i64);
    let body = snap::raw::Encoder::new().compress_vec(&request).unwrap();
    let name = format!(
        "{:013}-0000000001-00000000-remote_write-POST-0000000000000001.om",
        now_ms() - 1000
    );
    spool_file(&dir, &name, "remote_write", &prometheus.write_url(), &body);
    let fresh = observer_metrics::remote_write::Encoder::new("lib-spool", "fresh")
        .encode(&recorder.handle(), now_ms() as i64 - 500);
    let fresh = snap::raw::Encoder::new().compress_vec(&fresh).unwrap();
    // Taken first: Prometheus's head then ends now, and a sample three hours old is out of bounds.
    let taken = format!(
        "{:013}-0000000001-00000002-remote_write-POST-0000000000000001.om",
        now_ms() - 2000
    );
    spool_file(
        &dir,
        &taken,
        "remote_write",
        &prometheus.write_url(),
        &fresh,
    );
    let damaged = format!(
        "{:013}-0000000001-00000001-remote_write-POST-0000000000000001.om",
        now_ms() - 900
    );
    spool_file(
        &dir,
        &damaged,
        "remote_write",
        &prometheus.write_url(),
        &body,
    );
    let path = dir.join(&damaged);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();

    let mut replaying = MetricsConfig::default();
    replaying.spool = Some(SpoolConfig::new(&dir));
    let report = replaying.replay_spool().await.unwrap();
    assert_eq!(
        (report.delivered, report.kept, report.dropped),
        (1, 0, 2),
        "{report:?}"
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains(&name) && n.contains("refused for good")),
        "{report:?}"
    );
    assert_eq!(spooled_files(&dir), 0);
    assert!(dir.join("corrupt").join(&damaged).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A spooled gateway body is never replayed over a newer push of its group: the gateway's
/// `push_time_seconds` says the group was pushed after the body was made, so it is dropped as
/// superseded, and the newer values stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spooled_body_older_than_the_groups_last_push_is_superseded() {
    let port = free_port();
    let dir = spool_dir("superseded");
    let (recorder, mut config) =
        support::recorder_with_push(&format!("http://127.0.0.1:{port}"), 3600);
    config.push.as_mut().unwrap().shutdown_timeout_ms = 500;
    config.spool = Some(SpoolConfig::new(&dir));
    let exporter = observer_metrics::export::Exporter::start(recorder.handle(), &config).unwrap();
    assert!(exporter.shutdown().await.is_err(), "the gateway is down");
    assert_eq!(spooled_files(&dir), 1);
    let gateway = Pushgateway::start_on(port);
    let (status, _) = gateway.put("batch", "# TYPE newer_total counter\nnewer_total 9\n");
    assert_eq!(status, 200);
    let report = config.replay_spool().await.unwrap();
    assert_eq!(
        (report.delivered, report.kept, report.dropped),
        (0, 0, 1),
        "{report:?}"
    );
    assert!(
        report.notes.iter().any(|n| n.contains("superseded")),
        "{report:?}"
    );
    assert_eq!(gateway.value(&[("job", "batch")], "newer_total"), Some(9.0));
    assert_eq!(spooled_files(&dir), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A spooled final PUT is replayed as a PUT, as the text format: it replaces the group, so a
/// family an earlier run left is gone, as after a final push that had gone through; another
/// group pushed since does not supersede it. The gateway answers 503 (through a relay) when the
/// run ends, then takes the replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_put_replaces_the_group() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let gateway = Pushgateway::start();
    let down = std::sync::Arc::new(AtomicBool::new(true));
    let host = gateway.url.trim_start_matches("http://").to_owned();
    let relay = support::FaultServer::start(support::Fault::Relay(host, down.clone()));
    let (status, _) = gateway.put(
        "batch",
        "# TYPE earlier_run_total counter\nearlier_run_total 4\n",
    );
    assert_eq!(status, 200);
    let dir = spool_dir("put");
    let (recorder, mut config) = support::recorder_with_push(&relay.url, 3600);
    config.push.as_mut().unwrap().shutdown_timeout_ms = 500;
    config.spool = Some(SpoolConfig::new(&dir));
    let exporter = observer_metrics::export::Exporter::start(recorder.handle(), &config).unwrap();
    assert!(exporter.shutdown().await.is_err(), "the relay answers 503");
    assert_eq!(spooled_files(&dir), 1);
    assert_eq!(
        gateway.value(&[("job", "batch")], "earlier_run_total"),
        Some(4.0)
    );
    // Another group pushed since: its push time is not this group's.
    let (status, _) = gateway.put("zzz-other", "# TYPE other_total counter\nother_total 1\n");
    assert_eq!(status, 200);
    down.store(false, Ordering::Relaxed);
    let report = config.replay_spool().await.unwrap();
    assert_eq!(
        (report.delivered, report.kept, report.dropped),
        (1, 0, 0),
        "{report:?}"
    );
    // It went as the text format it is, not with remote write's headers.
    let replayed = relay.request_texts();
    let put = replayed
        .iter()
        .rev()
        .find(|r| r.starts_with("PUT "))
        .unwrap();
    let put = put.to_ascii_lowercase();
    assert!(
        put.contains("content-type: text/plain; version=0.0.4"),
        "{put}"
    );
    assert!(
        !put.contains("snappy") && !put.contains("protobuf"),
        "{put}"
    );
    assert_eq!(
        gateway.value(&[("job", "batch")], "earlier_run_total"),
        None
    );
    let families = gateway.families(&[("job", "batch")]).unwrap();
    assert!(
        families.contains_key("observer_metrics_pushes_total"),
        "{families:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A recorder writing to a receiver not started yet (on the port returned), one try a write, with
/// a spool, and its counter `name_total`; then `writes` flushes while the receiver is down, each
/// failing and spooled.
struct DownReceiver {
    port: u16,
    dir: PathBuf,
    recorder: observer_metrics::ObserverRecorder,
    exporter: observer_metrics::export::Exporter,
    counter: metrics::Counter,
}

async fn down_receiver(name: &str, writes: u32) -> DownReceiver {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let dir = spool_dir(name);
    let mut rw = remote_write(&url, name, 5000);
    rw.retry.tries = 1;
    let mut config = MetricsConfig::default();
    config.remote_write = Some(rw);
    config.spool = Some(SpoolConfig::new(&dir));
    let (recorder, exporter) = MetricsBuilder::from_config(config).build().unwrap();
    use metrics::Recorder;
    let counter = recorder.handle().register_counter(
        &metrics::Key::from_parts(format!("{}_total", name.replace('-', "_")), vec![]),
        &metrics::Metadata::new("t", metrics::Level::INFO, None),
    );
    // Bounded: `writes` flushes, each spooled (after the write at start, which may or may not have
    // seen the counter yet).
    for _ in 0..writes {
        counter.increment(1);
        assert!(exporter.flush().await.is_err(), "the receiver is down");
    }
    DownReceiver {
        port,
        dir,
        recorder,
        exporter,
        counter,
    }
}

impl DownReceiver {
    /// The receiver, Prometheus, started on its port.
    async fn back(&self) -> Prometheus {
        let port = self.port;
        tokio::task::spawn_blocking(move || Prometheus::start_on(&[], port))
            .await
            .unwrap()
    }
}

/// Prometheus holds `0` and each of the `last` values the counter `name_total` had, in order,
/// and `recorder` counts no refused file.
fn assert_every_sample_arrived(
    recorder: &observer_metrics::ObserverRecorder,
    prometheus: &Prometheus,
    name: &str,
    last: u32,
) {
    let selector = format!(
        "{}_total{{instance=\"{name}\"}}[1h]",
        name.replace('-', "_")
    );
    let mut values: Vec<f64> = prometheus.samples(&selector).iter().map(|s| s.1).collect();
    values.dedup();
    let every: Vec<f64> = (0..=last).map(f64::from).collect();
    assert_eq!(values, every);
    let text = recorder.render();
    let rejected = "observer_metrics_spool_dropped_total{reason=\"rejected\"}";
    assert_eq!(sample(&text, rejected), None, "{text}");
}

/// A receiver back in the middle of a run gets what was spooled while it was down before the
/// run's next write, in timestamp order: Prometheus keeps every sample (it refuses a whole request
/// with one sample older than the series' newest), and nothing waits for the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_back_mid_run_gets_the_spooled_writes_first() {
    let run = down_receiver("mid-run", 3).await;
    let spooled = spooled_files(&run.dir);
    assert!(spooled >= 3, "{spooled}");
    let prometheus = run.back().await;
    run.counter.increment(1);
    run.exporter.flush().await.expect("the receiver is back");
    assert_eq!(spooled_files(&run.dir), 0, "{}", run.recorder.render());
    assert_every_sample_arrived(&run.recorder, &prometheus, "mid-run", 4);
    let text = run.recorder.render();
    let replayed = "observer_metrics_replayed_total{sink=\"remote_write\"}";
    assert_eq!(sample(&text, replayed), Some(spooled as f64), "{text}");
    run.exporter.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&run.dir);
}

/// A receiver down for a while and back only at the end: the final write goes after what the
/// spool holds for it, never ahead (Prometheus would then refuse the spooled requests as out of
/// order), and the public `RemoteWriter::write` queues behind them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_goes_ahead_of_the_spooled_writes() {
    let run = down_receiver("ahead", 2).await;
    let prometheus = run.back().await;
    run.counter.increment(1);
    let writer = run.exporter.remote_writer().unwrap();
    assert!(
        writer.write().await.is_err(),
        "queued behind the spooled writes"
    );
    run.counter.increment(1);
    run.exporter
        .shutdown()
        .await
        .expect("the final write reached the receiver");
    assert_eq!(spooled_files(&run.dir), 0);
    assert_every_sample_arrived(&run.recorder, &prometheus, "ahead", 4);
    let _ = std::fs::remove_dir_all(&run.dir);
}

/// A receiver that took every write of the run and fails only the final one: the final write is on
/// disk before it is sent, so once its deadline passes it is kept for the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_write_refused_at_the_end_of_a_good_run_is_kept() {
    let server = support::FaultServer::start(support::Fault::Statuses(vec![204, 503]));
    let dir = spool_dir("end-only");
    let mut config = MetricsConfig::default();
    config.export_interval_secs = 3600;
    config.remote_write = Some(remote_write(&server.url, "end-only", 1000));
    config.spool = Some(SpoolConfig::new(&dir));
    let (recorder, exporter) = MetricsBuilder::from_config(config).build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("end_only_total").increment(3)
    });
    // Bounded: the write at start is taken within 10 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.requests.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no write at start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        exporter.shutdown().await.is_err(),
        "the final write is refused"
    );
    assert_eq!(spooled_files(&dir), 1, "{}", recorder.render());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A write queued behind the spool counts as sent, the `0` of each new series in it included, even
/// when it also ends series that went idle: back, the receiver gets no second `0` for them (at a
/// time it holds another value, Prometheus would refuse the whole write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_write_that_also_ends_series_marks_its_new_ones_sent() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let dir = spool_dir("queued-ends");
    let mut rw = remote_write(&url, "queued-ends", 2000);
    rw.retry.tries = 1;
    let mut config = MetricsConfig::from_toml_str("idle_timeout_secs = 1").unwrap();
    config.export_interval_secs = 3600;
    config.remote_write = Some(rw);
    config.spool = Some(SpoolConfig::new(&dir));
    let (recorder, exporter) = MetricsBuilder::from_config(config).build().unwrap();
    metrics::with_local_recorder(&recorder, || metrics::counter!("a_idle_total").increment(1));
    assert!(exporter.flush().await.is_err(), "the receiver is down");
    std::thread::sleep(Duration::from_millis(1100));
    // Last in the walk's order, new in a write that also ends `a_idle_total`.
    metrics::with_local_recorder(&recorder, || metrics::counter!("zz_new_total").increment(7));
    assert!(exporter.flush().await.is_err(), "queued behind the spool");
    let prometheus = tokio::task::spawn_blocking(move || Prometheus::start_on(&[], port))
        .await
        .unwrap();
    exporter
        .flush()
        .await
        .expect("the spool, then a write the receiver takes");
    let values: Vec<f64> = prometheus
        .samples("zz_new_total{instance=\"queued-ends\"}[1h]")
        .iter()
        .map(|s| s.1)
        .collect();
    assert_eq!(values.first(), Some(&0.0), "{values:?}");
    assert!(values[1..].iter().all(|&v| v == 7.0), "{values:?}");
    exporter.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A receiver still down at the end: the final write goes to the spool once, after the requests
/// already there (not also ahead of them), and a later start delivers every one of them in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_write_behind_the_spool_is_spooled_once() {
    let run = down_receiver("down-at-end", 2).await;
    let before = spooled_files(&run.dir);
    assert!(
        run.exporter.shutdown().await.is_err(),
        "the receiver is down"
    );
    assert_eq!(
        spooled_files(&run.dir),
        before + 1,
        "{}",
        run.recorder.render()
    );
    let port = run.port;
    let prometheus = tokio::task::spawn_blocking(move || Prometheus::start_on(&[], port))
        .await
        .unwrap();
    let mut replaying = MetricsConfig::default();
    replaying.spool = Some(SpoolConfig::new(&run.dir));
    let report = replaying.replay_spool().await.unwrap();
    assert_eq!(
        (report.delivered, report.kept),
        (before as u64 + 1, 0),
        "{report:?}"
    );
    assert_every_sample_arrived(&run.recorder, &prometheus, "down-at-end", 2);
    let _ = std::fs::remove_dir_all(&run.dir);
}

/// Prometheus without `--enable-feature=native-histograms` refuses every write that carries one:
/// with a spool, neither an interval write nor the final one stays on disk to be refused again at
/// every later start (the final one is counted as rejected), and the error names the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_refused_for_native_histograms_do_not_stay_in_the_spool() {
    let prometheus = Prometheus::start(&[]);
    let dir = spool_dir("refused-native");
    let mut rw = remote_write(&prometheus.write_url(), "refused-native", 2000);
    rw.native_histograms = true;
    let mut config = MetricsConfig::default();
    config.recorder.native_histogram_metrics = vec!["rpc_native_seconds".into()];
    config.remote_write = Some(rw);
    config.spool = Some(SpoolConfig::new(&dir));
    let (recorder, exporter) = MetricsBuilder::from_config(config).build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::histogram!("rpc_native_seconds").record(0.25);
    });
    let err = exporter.flush().await.unwrap_err().to_string();
    assert!(err.contains("--enable-feature=native-histograms"), "{err}");
    assert_eq!(spooled_files(&dir), 0, "an interval write was spooled");
    let err = exporter.shutdown().await.unwrap_err().to_string();
    assert!(err.contains("native histograms are disabled"), "{err}");
    assert_eq!(spooled_files(&dir), 0, "the final write was kept");
    let text = recorder.render();
    let rejected = sample(
        &text,
        "observer_metrics_spool_dropped_total{reason=\"rejected\"}",
    );
    assert_eq!(rejected, Some(1.0), "{text}");
    // A native write spooled while the receiver was down (or by an older version) meets the same
    // answer when replayed: dropped as refused for good, the flag named, not kept for ever.
    let request = observer_metrics::remote_write::Encoder::new("lib-spool", "refused-native")
        .with_native_histograms(true)
        .encode(&recorder.handle(), now_ms() as i64);
    let body = snap::raw::Encoder::new().compress_vec(&request).unwrap();
    let name = format!(
        "{:013}-0000000001-00000000-remote_write-POST-0000000000000001.om",
        now_ms() - 1000
    );
    spool_file(&dir, &name, "remote_write", &prometheus.write_url(), &body);
    let mut replaying = MetricsConfig::default();
    replaying.spool = Some(SpoolConfig::new(&dir));
    let report = replaying.replay_spool().await.unwrap();
    assert_eq!((report.delivered, report.kept, report.dropped), (0, 0, 1));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("refused for good")
                && n.contains("--enable-feature=native-histograms")),
        "{report:?}"
    );
    assert_eq!(spooled_files(&dir), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A start whose replay finds a spooled file held by another replayer (another process, say)
/// leaves the run behind the spool: older samples are being delivered, so the run's writes queue
/// behind them in the spool rather than go ahead (Prometheus would then refuse the older ones as
/// out of order). Nothing reaches the receiver while the file is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_finds_a_spooled_file_held_stays_behind_it() {
    let server = support::FaultServer::start(support::Fault::Statuses(vec![204]));
    let dir = spool_dir("held-at-start");
    let name = format!(
        "{:013}-0000000001-00000000-remote_write-POST-0000000000000001.om",
        now_ms() - 1000
    );
    spool_file(
        &dir,
        &name,
        "remote_write",
        &server.url,
        b"held by another replayer",
    );
    let held = std::fs::File::open(dir.join(&name)).unwrap();
    held.try_lock().unwrap();
    let mut config = MetricsConfig::default();
    config.export_interval_secs = 3600;
    config.remote_write = Some(remote_write(&server.url, "held-at-start", 1000));
    config.spool = Some(SpoolConfig::new(&dir));
    let (recorder, exporter) = MetricsBuilder::from_config(config).build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("held_at_start_total").increment(3)
    });
    let ended = exporter.shutdown().await;
    assert_eq!(
        server.requests.lock().unwrap().len(),
        0,
        "a write went ahead of the held file ({ended:?}): {}",
        recorder.render()
    );
    assert!(dir.join(&name).exists(), "the held file is its holder's");
    let cause = ended
        .expect_err("the final write waits behind the held file")
        .to_string();
    assert!(cause.contains("queued in the spool"), "{cause}");
    // The held file, the final write, and the write at start when it came before the shutdown:
    // all queued behind the held one.
    let files = spooled_files(&dir);
    assert!(
        (2..=3).contains(&files),
        "{files} files: the held one and the run's"
    );
    drop(held);
    let _ = std::fs::remove_dir_all(&dir);
}
