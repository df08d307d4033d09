//! Remote write, judged by real receivers started on loopback: Prometheus 2.42
//! (`--web.enable-remote-write-receiver`) and VictoriaMetrics 1.79.5, through their PromQL answers.
//! Faults a real receiver cannot make (5xx) come from a small local server.

mod support;

use observer_metrics::export::ExportError;
use observer_metrics::observer::ObserverMetrics;
use observer_metrics::remote_write::{RemoteWriteConfig, RemoteWriter};
use observer_metrics::{MetricsBuilder, MetricsConfig, ObserverRecorder};
use support::{Fault, FaultServer, Prometheus, VictoriaMetrics};

/// A recorder written to `url` holding the whole catalogue with known values, custom series and
/// histogram buckets.
fn recorded(url: &str) -> ObserverRecorder {
    let mut settings = MetricsConfig::default();
    settings.remote_write = Some(config(url, "p1"));
    let recorder = MetricsBuilder::from_config(settings.clone())
        .build_recorder()
        .unwrap();
    let m = ObserverMetrics::new(&recorder.handle());
    m.events_processed_total.increment(42);
    for ms in [0.5, 3.0, 7.0, 70.0, 700.0, 7000.0] {
        m.event_processing_duration_ms.record(ms);
        m.action_duration_ms.record(ms * 2.0);
        m.checkpoint_save_duration_ms.record(ms / 2.0);
    }
    m.events_in_flight.set(3.0);
    m.actions_executed_total.increment(10);
    m.action_success_total.increment(7);
    m.action_failure_total.increment(3);
    m.action_timeout_total.increment(1);
    m.queue_jobs_enqueued_total.increment(9);
    m.queue_jobs_processed_total.increment(6);
    m.queue_retry_total.increment(2);
    m.queue_deadletter_total.increment(1);
    m.queue_depth.set(2.0);
    m.cache_hits_total.increment(3);
    m.cache_misses_total.increment(1);
    m.cache_size_bytes.set(4096.0);
    m.dedup_checks_total.increment(8);
    m.dedup_duplicates_found_total.increment(2);
    m.checkpoint_saves_total.increment(6);
    m.checkpoint_recovery_total.increment(1);
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("edge_requests_total", "route" => "/a b", "job" => "own").increment(5);
    });
    recorder
}

fn config(url: &str, instance: &str) -> RemoteWriteConfig {
    let mut c = RemoteWriteConfig::new(url, "rw-test");
    c.instance = Some(instance.into());
    c.retry.base_backoff_ms = 10;
    c.retry.max_backoff_ms = 50;
    c
}

/// `name{labels}` of the render, as a PromQL selector with the producer's labels added.
fn selector(series: &str, instance: &str) -> String {
    let extra = format!("job=\"rw-test\",instance=\"{instance}\"");
    match series.split_once('{') {
        // The render shows a series' own `job` label as `exported_job` already.
        Some((name, labels)) => format!("{name}{{{},{extra}}}", labels.trim_end_matches('}')),
        None => format!("{series}{{{extra}}}"),
    }
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_answers_every_catalogue_series_and_the_zero_sample_comes_first() {
    let prometheus = Prometheus::start(&[]);
    let recorder = recorded(&prometheus.write_url());
    let writer =
        RemoteWriter::new(recorder.handle(), config(&prometheus.write_url(), "p1")).unwrap();
    // What is written: the render before the write (the writer then counts its own success).
    let samples = support::samples(&recorder.render());
    writer.write().await.unwrap();
    assert!(samples.len() > 50, "{} series", samples.len());
    let families: std::collections::HashSet<_> = samples
        .iter()
        .map(|(s, _)| s.split(['{', ' ']).next().unwrap().to_owned())
        .collect();
    for entry in observer_metrics::observer::CATALOGUE {
        assert!(
            families.iter().any(|f| f.starts_with(entry.name)),
            "{} not written",
            entry.name
        );
    }
    for (series, value) in &samples {
        let expr = format!("last_over_time({}[1h])", selector(series, "p1"));
        let got = prometheus.scalar(&expr);
        assert!(
            got.is_some_and(|g| same(g, *value)),
            "{expr}: Prometheus has {got:?}, the render {value}"
        );
    }
    // A counter written once still counts: a 0 sample came first.
    let raw = prometheus.samples(&format!("{}[1h]", selector("events_processed_total", "p1")));
    assert_eq!(raw.iter().map(|s| s.1).collect::<Vec<_>>(), [0.0, 42.0]);
    assert!(raw[0].0 < raw[1].0);
    // Writing again and again in the same millisecond is never "out of order" or "duplicate".
    for _ in 0..5 {
        writer.write().await.unwrap();
    }
    let raw = prometheus.samples(&format!("{}[1h]", selector("events_processed_total", "p1")));
    assert_eq!(raw.len(), 7, "{raw:?}");
    assert!(raw.windows(2).all(|w| w[0].0 < w[1].0), "{raw:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_markers_end_the_series_at_once_and_totals_stay_exact() {
    let prometheus = Prometheus::start(&[]);
    let recorder = recorded(&prometheus.write_url());
    let writer =
        RemoteWriter::new(recorder.handle(), config(&prometheus.write_url(), "p2")).unwrap();
    writer.write().await.unwrap();
    let series = selector("events_processed_total", "p2");
    assert_eq!(prometheus.scalar(&series), Some(42.0));
    writer.end().await.unwrap();
    assert_eq!(
        prometheus.query(&series),
        vec![],
        "the ended series is still there"
    );
    assert_eq!(
        prometheus.scalar(&format!("sum(last_over_time({series}[1h]))")),
        Some(42.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_answers_every_series() {
    let vm = VictoriaMetrics::start();
    let recorder = recorded(&vm.write_url());
    let writer = RemoteWriter::new(recorder.handle(), config(&vm.write_url(), "v1")).unwrap();
    let samples = support::samples(&recorder.render());
    writer.write().await.unwrap();
    // VictoriaMetrics makes fresh samples searchable a moment after a flush.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while vm.scalar("count({job=\"rw-test\",instance=\"v1\"})") != Some(samples.len() as f64) {
        assert!(
            std::time::Instant::now() < deadline,
            "VictoriaMetrics never held every series"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for (series, value) in samples {
        let expr = format!("last_over_time({}[1h])", selector(&series, "v1"));
        let got = vm.scalar(&expr);
        assert!(
            got.is_some_and(|g| same(g, value)) || (value.is_nan() && got.is_none()),
            "{expr}: VictoriaMetrics has {got:?}, the render {value}"
        );
    }
    writer.end().await.unwrap();
    assert_eq!(
        vm.scalar(&format!(
            "sum(last_over_time({}[1h]))",
            selector("events_processed_total", "v1")
        )),
        Some(42.0)
    );
}

#[tokio::test]
async fn five_hundreds_are_retried_and_four_hundreds_are_not() {
    let flaky = FaultServer::start(Fault::Statuses(vec![503, 500, 204]));
    let recorder = recorded(&flaky.url);
    let writer = RemoteWriter::new(recorder.handle(), config(&flaky.url, "f")).unwrap();
    writer.write().await.unwrap();
    assert_eq!(flaky.requests.lock().unwrap().len(), 3);

    let refusing = FaultServer::start(Fault::Statuses(vec![400]));
    let writer = RemoteWriter::new(recorder.handle(), config(&refusing.url, "f")).unwrap();
    match writer.write().await {
        Err(
            e @ ExportError::Status {
                status: 400,
                receiver,
                ..
            },
        ) => {
            let message = e.to_string();
            assert_eq!(receiver, "the remote-write receiver");
            assert!(
                message.starts_with(&format!("POST {}", refusing.url))
                    && message
                        .contains("failed: the remote-write receiver answered 400: status 400"),
                "{message}"
            )
        }
        other => panic!("expected the 400, got {other:?}"),
    }
    assert_eq!(refusing.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_wire_is_remote_write_1_0() {
    let server = FaultServer::start(Fault::Statuses(vec![204]));
    let recorder = recorded(&server.url);
    let mut c = config(&server.url, "w");
    c.max_samples_per_send = 10;
    c.headers.insert("X-Scope-OrgID".into(), "team-a".into());
    let writer = RemoteWriter::new(recorder.handle(), c).unwrap();
    writer.write().await.unwrap();
    let requests = server.request_texts();
    // Split into requests of at most 10 samples (a zero and a value per cumulative series).
    assert!(requests.len() > 5, "{} requests", requests.len());
    let head = requests[0].to_ascii_lowercase();
    for header in [
        "post /",
        "content-encoding: snappy",
        "content-type: application/x-protobuf",
        "x-prometheus-remote-write-version: 0.1.0",
        "user-agent: observer-metrics/",
        "x-scope-orgid: team-a",
    ] {
        assert!(head.contains(header), "{header} missing in {head}");
    }
}

/// One schedule for both sinks: the exporter pushes to the gateway and writes to Prometheus at
/// start and at shutdown; the shutdown ends the remote series with stale markers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_drives_both_sinks() {
    let gw = support::Pushgateway::start();
    let prometheus = Prometheus::start(&[]);
    let mut config = MetricsConfig::default();
    config.export_interval_secs = 3600;
    config.push = Some(observer_metrics::push::PushConfig::new(&gw.url, "both"));
    let mut rw = config_for(&prometheus.write_url(), "both", "b1");
    rw.shutdown_timeout_ms = 10_000;
    config.remote_write = Some(rw);
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let m = ObserverMetrics::new(&recorder.handle());
    m.events_processed_total.increment(7);
    let exporter = observer_metrics::export::Exporter::start(recorder.handle(), &config).unwrap();
    assert_eq!(exporter.remote_writer().unwrap().instance(), "b1");
    let series = "events_processed_total{job=\"both\",instance=\"b1\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while prometheus.scalar(series) != Some(7.0)
        || gw.value(&[("job", "both")], "events_processed_total") != Some(7.0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sends at start did not arrive"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    m.events_processed_total.increment(5);
    exporter.shutdown().await.unwrap();
    assert_eq!(
        gw.value(&[("job", "both")], "events_processed_total"),
        Some(12.0)
    );
    assert_eq!(
        prometheus.query(series),
        vec![],
        "stale markers did not end the series"
    );
    assert_eq!(
        prometheus.scalar(&format!("sum(last_over_time({series}[1h]))")),
        Some(12.0)
    );
    let text = recorder.render();
    for sink in ["pushgateway", "remote_write"] {
        let line = format!("observer_metrics_pushes_total{{result=\"success\",sink=\"{sink}\"}}");
        assert_eq!(support::sample(&text, &line), Some(2.0), "{text}");
    }
}

fn config_for(url: &str, job: &str, instance: &str) -> RemoteWriteConfig {
    let mut c = RemoteWriteConfig::new(url, job);
    c.instance = Some(instance.into());
    c
}

/// A series that leaves the exposition (idle expiry) ends at once at the receiver, with a stale
/// marker, as an ended producer's series do; its samples stay for range queries, and a held series
/// that comes back is written on as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_that_goes_idle_ends_at_once_at_the_receiver() {
    let prometheus = Prometheus::start(&[]);
    let mut config = MetricsConfig::from_toml_str("idle_timeout_secs = 1").unwrap();
    config.remote_write = Some(config_for(&prometheus.write_url(), "idle", "i1"));
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let held = metrics::with_local_recorder(&recorder, || {
        metrics::counter!("leaving_total", "id" => "a").increment(3);
        metrics::counter!("held_total")
    });
    held.increment(2);
    let writer = RemoteWriter::new(recorder.handle(), config.remote_write.unwrap()).unwrap();
    writer.write().await.unwrap();
    let leaving = "leaving_total{job=\"idle\",instance=\"i1\",id=\"a\"}";
    let held_series = "held_total{job=\"idle\",instance=\"i1\"}";
    assert_eq!(prometheus.scalar(leaving), Some(3.0));
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    writer.write().await.unwrap();
    assert_eq!(
        prometheus.query(leaving),
        vec![],
        "the idle series is still there"
    );
    assert_eq!(
        prometheus.query(held_series),
        vec![],
        "the hidden series is still there"
    );
    assert_eq!(
        prometheus.scalar(&format!("last_over_time({leaving}[1h])")),
        Some(3.0)
    );
    // The held one comes back without a second `0` (which `increase` would read as a reset).
    held.increment(1);
    writer.write().await.unwrap();
    assert_eq!(prometheus.scalar(held_series), Some(3.0));
    let samples = prometheus.samples(&format!("{held_series}[1h]"));
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    assert_eq!(values, [0.0, 2.0, 3.0], "{samples:?}");
}

/// A stale marker whose write failed goes out again with the next write: the series still ends at
/// the receiver, not five minutes later.
#[tokio::test]
async fn a_stale_marker_survives_a_failed_write() {
    let prometheus = Prometheus::start(&[]);
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let upstream = prometheus.write_url();
    let host = upstream
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let relay = FaultServer::start(Fault::Relay(host, down.clone()));
    let path = &upstream[upstream.find("/api").unwrap()..];
    let mut rw = config_for(&format!("{}{path}", relay.url), "fail", "i1");
    rw.retry.tries = 1;
    let mut config = MetricsConfig::from_toml_str("idle_timeout_secs = 1").unwrap();
    config.remote_write = Some(rw.clone());
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("leaving_total", "id" => "a").increment(3);
        metrics::counter!("staying_total").increment(1);
    });
    let writer = RemoteWriter::new(recorder.handle(), rw).unwrap();
    writer.write().await.unwrap();
    let leaving = "leaving_total{job=\"fail\",instance=\"i1\",id=\"a\"}";
    assert_eq!(prometheus.scalar(leaving), Some(3.0));

    // The series goes idle; the write carrying its stale marker fails.
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    down.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.write().await.is_err());
    down.store(false, std::sync::atomic::Ordering::Relaxed);
    writer.write().await.unwrap();
    let events = relay.events.lock().unwrap().clone();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("refused")).count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        prometheus.query(leaving),
        vec![],
        "the series did not end: its stale marker was lost with the failed write"
    );
    assert_eq!(
        prometheus.scalar(&format!("last_over_time({leaving}[1h])")),
        Some(3.0)
    );
}

/// A series' own `job` becomes `exported_job` at the receiver; when the series has an
/// `exported_job` of its own too, the renamed one takes the next free name
/// (`exported_exported_job`), as Prometheus does for a scrape. Two labels of one name would make
/// the receiver refuse the whole write with a final 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_with_job_and_exported_job_is_written_whole() {
    let prometheus = Prometheus::start(&[]);
    let mut settings = MetricsConfig::default();
    settings.remote_write = Some(config(&prometheus.write_url(), "p1"));
    let recorder = MetricsBuilder::from_config(settings.clone())
        .build_recorder()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("clash_total", "job" => "own", "exported_job" => "older",
            "instance" => "mine")
        .increment(3);
        metrics::counter!("plain_total").increment(1);
    });
    let writer =
        RemoteWriter::new(recorder.handle(), settings.remote_write.clone().unwrap()).unwrap();
    writer.write().await.unwrap();
    let got = prometheus.query("clash_total");
    assert_eq!(got.len(), 1, "{got:?}");
    let labels = &got[0].0;
    assert_eq!(labels["exported_job"], "older", "{labels}");
    assert_eq!(labels["exported_exported_job"], "own", "{labels}");
    assert_eq!(labels["exported_instance"], "mine", "{labels}");
    assert_eq!(labels["job"], "rw-test", "{labels}");
    assert_eq!(got[0].1, 3.0);
    assert_eq!(prometheus.scalar("plain_total"), Some(1.0));
}

/// `increase()` over short-lived producers, measured on both receivers. Each producer writes at
/// start (its `0`, then its first value) and at its end (its total, then stale markers): three
/// samples. Prometheus extrapolates a series' end by half its average sample spacing when the
/// window ends after it (and its start not at all, since the first sample is `0`), so it reads
/// every such producer's total times `1 + 1/(2(n-1))`, here exactly 1.25; VictoriaMetrics does not
/// extrapolate and reads the exact sum. `last_over_time` is exact on both. The other schedule the
/// README weighs, the final value written twice (four samples), is measured beside it: 1 + 1/6.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increase_over_short_lived_producers_on_each_receiver() {
    let prometheus = Prometheus::start(&[]);
    let vm = VictoriaMetrics::start();
    let mut exact = 0.0;
    // Bounded: ten producers of each schedule, each about 200 ms.
    for producer in 0..10u64 {
        for (url, job) in [
            (prometheus.write_url(), "increase"),
            (vm.write_url(), "increase"),
            (prometheus.write_url(), "increase-twice"),
        ] {
            let instance = format!("short-{producer}");
            let mut settings = MetricsConfig::default();
            settings.remote_write = Some(config_for(&url, job, &instance));
            let recorder = MetricsBuilder::from_config(settings.clone())
                .build_recorder()
                .unwrap();
            let writer =
                RemoteWriter::new(recorder.handle(), settings.remote_write.clone().unwrap())
                    .unwrap();
            let m = ObserverMetrics::new(&recorder.handle());
            writer.write().await.unwrap();
            m.events_processed_total.increment(1000 + producer * 37);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if job == "increase-twice" {
                writer.write().await.unwrap();
            }
            writer.end().await.unwrap();
        }
        exact += (1000 + producer * 37) as f64;
    }
    // An instant query's time is whole seconds: samples of this second show from the next.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let selector = "events_processed_total{job=\"increase\"}";
    let increase = format!("sum(increase({selector}[1h]))");
    let last = format!("sum(last_over_time({selector}[1h]))");
    let on_prometheus = prometheus.scalar(&increase).unwrap();
    assert!(
        (on_prometheus / exact - 1.25).abs() < 1e-9,
        "{on_prometheus} vs {exact}"
    );
    assert_eq!(prometheus.scalar(&last), Some(exact));
    let twice = prometheus
        .scalar("sum(increase(events_processed_total{job=\"increase-twice\"}[1h]))")
        .unwrap();
    assert!(
        (twice / exact - (1.0 + 1.0 / 6.0)).abs() < 1e-9,
        "{twice} vs {exact}"
    );
    assert_eq!(vm.scalar(&increase), Some(exact));
    assert_eq!(vm.scalar(&last), Some(exact));
}

/// A recorder keeping native buckets for `rpc_native_seconds`, with 1,001 observations (1 ms to
/// 1 s, and a 0: count 1001, sum 500.5), and its writer's config for `url` and `instance`.
fn native_recorder(
    url: &str,
    instance: &str,
    natives: bool,
    classic: bool,
) -> (ObserverRecorder, RemoteWriteConfig) {
    let mut rw = config(url, instance);
    rw.native_histograms = natives;
    let settings = MetricsBuilder::new()
        .native_histogram_for_metric("rpc_native_seconds")
        .native_histogram_classic_buckets(classic)
        .with_remote_write_config(rw.clone())
        .into_config()
        .unwrap();
    let recorder = MetricsBuilder::from_config(settings)
        .build_recorder()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        for ms in 1..=1000 {
            metrics::histogram!("rpc_native_seconds", "route" => "/a").record(f64::from(ms) / 1e3);
        }
        metrics::histogram!("rpc_native_seconds", "route" => "/a").record(0.0);
    });
    (recorder, rw)
}

/// [`native_recorder`]'s writer.
fn native_writer(url: &str, instance: &str, natives: bool, classic: bool) -> RemoteWriter {
    let (recorder, rw) = native_recorder(url, instance, natives, classic);
    RemoteWriter::new(recorder.handle(), rw).unwrap()
}

/// With `remote_write.native_histograms`, a native histogram reaches Prometheus 2.42 started with
/// `--enable-feature=native-histograms` as `TimeSeries.histograms`: exact count and sum, its
/// quantiles within a bucket, a zero histogram first, a stale marker at the end; its classic
/// series beside it, or none when the family keeps no classic buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_takes_native_histograms_through_remote_write() {
    let prometheus = Prometheus::start_with(&[], &["--enable-feature=native-histograms"]);
    let both = native_writer(&prometheus.write_url(), "both", true, true);
    let native_only = native_writer(&prometheus.write_url(), "native-only", true, false);
    both.write().await.unwrap();
    native_only.write().await.unwrap();
    // An instant query's time is whole seconds: samples of this second show from the next.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for instance in ["both", "native-only"] {
        let series = format!("rpc_native_seconds{{instance=\"{instance}\",route=\"/a\"}}");
        let q = |e: String| prometheus.scalar(&e);
        assert_eq!(
            q(format!("histogram_count({series})")),
            Some(1001.0),
            "{instance}"
        );
        let sum = q(format!("histogram_sum({series})")).unwrap();
        assert!((sum - 500.5).abs() < 1e-9, "{instance}: {sum}");
        // Schema 3: a bucket spans a factor of 2^(1/8), about 9%.
        for (quantile, exact) in [(0.5, 0.5), (0.99, 0.99)] {
            let got = q(format!("histogram_quantile({quantile}, {series})")).unwrap();
            assert!((got / exact - 1.0).abs() < 0.09, "{instance}: {got}");
        }
        // The empty histogram first, so `increase` counts a producer that writes once.
        let raw = prometheus.histogram_samples(&format!("{series}[1h]"));
        assert_eq!(
            raw.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
            [(0.0, 0.0), (1001.0, 500.5)],
            "{instance}"
        );
        assert!(raw[0].0 < raw[1].0, "{raw:?}");
    }
    let classic_count = |instance: &str| {
        prometheus.scalar(&format!(
            "rpc_native_seconds_count{{instance=\"{instance}\"}}"
        ))
    };
    assert_eq!(classic_count("both"), Some(1001.0));
    assert_eq!(
        prometheus.scalar("count(rpc_native_seconds_bucket{instance=\"both\"})"),
        Some(
            MetricsConfig::default()
                .recorder
                .histogram_buckets_seconds
                .len() as f64
                + 1.0
        )
    );
    assert_eq!(classic_count("native-only"), None);
    assert!(prometheus
        .query("{__name__=~\"rpc_native_seconds_.+\",instance=\"native-only\"}")
        .is_empty());
    // The end: a stale marker ends the native series for instant queries at once.
    both.end().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let series = "rpc_native_seconds{instance=\"both\"}";
    assert_eq!(
        prometheus.scalar(&format!("histogram_count({series})")),
        None
    );
    assert_eq!(classic_count("both"), None);
    // The zero, the first write and the end's value; the stale marker is not a sample.
    let last = prometheus.histogram_samples(&format!("{series}[1h]"));
    assert_eq!(last.len(), 3, "{last:?}");
    assert_eq!((last[2].1, last[2].2), (1001.0, 500.5));
}

/// `Encoder::with_native_histograms`, for a caller with an HTTP client of its own: its body, once
/// compressed, is a write Prometheus takes whole, native histogram included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoder_of_ones_own_writes_native_histograms() {
    let prometheus = Prometheus::start_with(&[], &["--enable-feature=native-histograms"]);
    let (recorder, _) = native_recorder(&prometheus.write_url(), "own", true, true);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut encoder =
        observer_metrics::remote_write::Encoder::new("rw-test", "own").with_native_histograms(true);
    let body = encoder.encode(&recorder.handle(), now_ms);
    let compressed = snap::raw::Encoder::new().compress_vec(&body).unwrap();
    let status = tokio::task::spawn_blocking({
        let url = prometheus.write_url();
        move || {
            ureq::post(&url)
                .set("content-encoding", "snappy")
                .set("content-type", "application/x-protobuf")
                .set("x-prometheus-remote-write-version", "0.1.0")
                .send_bytes(&compressed)
                .map(|r| r.status())
                .unwrap_or_else(|e| panic!("{e}"))
        }
    })
    .await
    .unwrap();
    assert_eq!(status, 204);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let own = "{instance=\"own\",route=\"/a\"}";
    assert_eq!(
        prometheus.scalar(&format!("histogram_count(rpc_native_seconds{own})")),
        Some(1001.0)
    );
    assert_eq!(
        prometheus.scalar(&format!("histogram_sum(rpc_native_seconds{own})")),
        Some(500.5)
    );
    assert_eq!(
        prometheus.scalar(&format!("rpc_native_seconds_count{own}")),
        Some(1001.0)
    );
}

/// Prometheus without `--enable-feature=native-histograms` answers a native histogram with 500
/// "native histograms are disabled": the writer makes it a final error that names the flag and
/// the setting, after one request, not a retry loop; the classic write it suggests goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_histograms_refused_are_a_final_error_naming_the_flag() {
    let prometheus = Prometheus::start(&[]);
    let writer = native_writer(&prometheus.write_url(), "refused", true, true);
    let err = writer.write().await.unwrap_err();
    assert!(
        matches!(err, ExportError::Refused { status: 500, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let message = err.to_string();
    for needle in [
        "native histograms are disabled",
        "--enable-feature=native-histograms",
        "remote_write.native_histograms = false",
    ] {
        assert!(message.contains(needle), "{message}");
    }
    let own = prometheus.own_metrics();
    let refused = support::sample(
        &own,
        "prometheus_http_requests_total{code=\"500\",handler=\"/api/v1/write\"}",
    );
    assert_eq!(refused, Some(1.0), "one request, no retries");
    assert_eq!(writer.failures(), 1);
    let classic = native_writer(&prometheus.write_url(), "classic", false, true);
    classic.write().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        prometheus.scalar("rpc_native_seconds_count{instance=\"classic\"}"),
        Some(1001.0)
    );
}

/// VictoriaMetrics 1.79 stores nothing of a native histogram: with the setting off (the default)
/// it gets the classic buckets of a native family, exact; with it on, the classic series still
/// arrive beside the native one it drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_gets_the_classic_buckets_of_a_native_family() {
    let vm = VictoriaMetrics::start();
    for (instance, natives) in [("off", false), ("on", true)] {
        let writer = native_writer(&vm.write_url(), instance, natives, true);
        writer.write().await.unwrap();
    }
    vm.flush();
    // VictoriaMetrics makes fresh samples searchable a moment after a flush.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while vm.scalar("count(rpc_native_seconds_count)") != Some(2.0) {
        assert!(std::time::Instant::now() < deadline, "nothing searchable");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for instance in ["off", "on"] {
        let q = |e: String| vm.scalar(&format!("last_over_time({e}[1h])"));
        let selector = format!("{{instance=\"{instance}\",route=\"/a\"}}");
        assert_eq!(
            q(format!("rpc_native_seconds_count{selector}")),
            Some(1001.0),
            "{instance}"
        );
        assert_eq!(
            q(format!(
                "rpc_native_seconds_bucket{{instance=\"{instance}\",le=\"0.1\"}}"
            )),
            Some(101.0),
            "{instance}: 0 and 1..=100 ms"
        );
        let p99 = vm
            .scalar(&format!(
                "histogram_quantile(0.99, last_over_time(rpc_native_seconds_bucket{selector}[1h]))"
            ))
            .unwrap();
        assert!((0.75..=1.0).contains(&p99), "{instance}: {p99}");
    }
}

/// Whether a request's body (snappy, after the headers) carries a stale marker: a final write.
fn carries_stale_marker(request: &[u8]) -> bool {
    let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let Ok(body) = snap::raw::Decoder::new().decompress_vec(&request[at + 4..]) else {
        return false;
    };
    let stale = 0x7ff0_0000_0000_0002u64.to_le_bytes();
    body.windows(8).any(|w| w == stale)
}

/// Shutdown stops an interval write's retries, as it does a push's: against a receiver answering
/// 503, the write at start retries under a long policy; at shutdown it gives up after its current
/// wait and the final write (with its stale markers) goes out within the deadline. With
/// `stop_interval_writes` a no-op (a mutant no test noticed) the interval write held the turn
/// past the deadline and no final write was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_retries_of_an_interval_write() {
    let server = FaultServer::start(Fault::Statuses(vec![503]));
    let mut rw = config(&server.url, "stops");
    rw.retry.tries = 100;
    rw.retry.base_backoff_ms = 100;
    rw.retry.max_backoff_ms = 100;
    rw.retry.jitter = 0.0;
    rw.shutdown_timeout_ms = 2000;
    let mut settings = MetricsConfig::default();
    settings.export_interval_secs = 3600;
    settings.remote_write = Some(rw);
    let (recorder, exporter) = MetricsBuilder::from_config(settings).build().unwrap();
    metrics::with_local_recorder(&recorder, || metrics::counter!("stops_total").increment(1));
    // Bounded: the write at start is retrying once the server has seen two attempts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.requests.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no retries at start");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        exporter.shutdown().await.is_err(),
        "the receiver answers 503"
    );
    let requests = server.requests.lock().unwrap().clone();
    let finals = requests.iter().filter(|r| carries_stale_marker(r)).count();
    assert!(finals > 0, "no final write in {} requests", requests.len());
}

/// A request spooled while the receiver failed is replayed with the writer's own credentials and
/// headers (the bearer token, `X-Scope-OrgID`), each protocol header once, before the next write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spooled_write_is_replayed_with_the_writers_credentials() {
    let server = FaultServer::start(Fault::Statuses(vec![503, 204]));
    let dir = std::env::temp_dir().join(format!("om-rw-credentials-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut rw = config(&server.url, "credentials");
    rw.retry.tries = 1;
    rw.bearer_token = Some(observer_metrics::export::Secret::new("t0ken"));
    rw.headers.insert("X-Scope-OrgID".into(), "team-a".into());
    let mut settings = MetricsConfig::default();
    settings.export_interval_secs = 3600;
    settings.remote_write = Some(rw);
    settings.spool = Some(observer_metrics::spool::SpoolConfig::new(&dir));
    let (recorder, exporter) = MetricsBuilder::from_config(settings).build().unwrap();
    metrics::with_local_recorder(&recorder, || metrics::counter!("creds_total").increment(1));
    // The first write (at start, or this flush) fails and is spooled; the next flush replays it
    // first, then writes.
    let _ = exporter.flush().await;
    exporter.flush().await.unwrap();
    let requests = server.request_texts();
    assert!(requests.len() >= 3, "{} requests", requests.len());
    for (n, request) in requests.iter().enumerate() {
        let head = request
            .split("\r\n\r\n")
            .next()
            .unwrap()
            .to_ascii_lowercase();
        let count = |h: &str| head.lines().filter(|l| l.starts_with(h)).count();
        assert_eq!(
            count("authorization: bearer t0ken"),
            1,
            "request {n}: {head}"
        );
        assert_eq!(count("x-scope-orgid: team-a"), 1, "request {n}: {head}");
        assert_eq!(count("content-encoding: snappy"), 1, "request {n}: {head}");
        assert_eq!(
            count("x-prometheus-remote-write-version:"),
            1,
            "request {n}: {head}"
        );
    }
    let text = recorder.render();
    assert_eq!(
        support::sample(
            &text,
            "observer_metrics_replayed_total{sink=\"remote_write\"}"
        ),
        Some(1.0),
        "{text}"
    );
    exporter.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a writer says of itself: its URL with the password hidden, its settings, its successes
/// and failures, and a `Debug` that shows who it is without secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_reports_its_url_settings_and_outcomes() {
    let server = FaultServer::start(Fault::Statuses(vec![204, 204, 400]));
    let url = server.url.replacen("http://", "http://user:s3cret@", 1);
    let mut settings = MetricsConfig::default();
    settings.remote_write = Some(config(&url, "reports"));
    let recorder = MetricsBuilder::from_config(settings.clone())
        .build_recorder()
        .unwrap();
    let writer = RemoteWriter::new(recorder.handle(), settings.remote_write.unwrap()).unwrap();
    assert_eq!(writer.url(), url.replacen("s3cret", "***", 1));
    assert_eq!(writer.config().job, "rw-test");
    assert_eq!(writer.instance(), "reports");
    for _ in 0..2 {
        writer.write().await.unwrap();
    }
    for _ in 0..2 {
        assert!(writer.write().await.is_err());
    }
    assert_eq!((writer.successes(), writer.failures()), (2, 2));
    let shown = format!("{writer:?}");
    for needle in ["RemoteWriter", "***", "rw-test", "reports"] {
        assert!(shown.contains(needle), "{shown}");
    }
    assert!(!shown.contains("s3cret"), "{shown}");
}

/// A new series' `0` goes at the time of the last write the receiver took: neither earlier (the
/// writer's start, when a write was taken since) nor at the time of a write that failed since
/// (which may have arrived unanswered, holding another value at that time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_series_zero_goes_at_the_last_write_taken() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let prometheus = Prometheus::start(&[]);
    let down = std::sync::Arc::new(AtomicBool::new(false));
    let host = prometheus.url.trim_start_matches("http://").to_owned();
    let relay = FaultServer::start(Fault::Relay(host, down.clone()));
    let url = format!("{}/api/v1/write", relay.url);
    let mut rw = config(&url, "zero-time");
    rw.retry.tries = 1;
    let mut settings = MetricsConfig::default();
    settings.remote_write = Some(rw.clone());
    let recorder = MetricsBuilder::from_config(settings)
        .build_recorder()
        .unwrap();
    let writer = RemoteWriter::new(recorder.handle(), rw).unwrap();
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as f64
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let before_taken = now_ms();
    writer.write().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    metrics::with_local_recorder(&recorder, || metrics::counter!("late_total").increment(5));
    let before_failed = now_ms();
    down.store(true, Ordering::Relaxed);
    assert!(writer.write().await.is_err(), "the receiver answers 503");
    down.store(false, Ordering::Relaxed);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    writer.write().await.unwrap();
    let raw = prometheus.samples("late_total{instance=\"zero-time\"}[1h]");
    assert_eq!(raw.iter().map(|s| s.1).collect::<Vec<_>>(), [0.0, 5.0]);
    let zero_ms = raw[0].0 * 1000.0;
    assert!(
        before_taken <= zero_ms && zero_ms < before_failed,
        "the 0 at {zero_ms}: the write taken began at {before_taken}, the failed one at {before_failed}"
    );
}

/// Two producers sharing one `instance` write one series: Prometheus refuses a whole write as out
/// of order (here: the second producer's `0` for a series the first wrote later). The error is
/// final, one request, and says to give each process its own instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_producers_on_one_instance_are_told_to_give_each_its_own() {
    use metrics::{counter, with_local_recorder};
    let prometheus = Prometheus::start(&[]);
    let url = prometheus.write_url();
    let producer = || {
        let mut settings = MetricsConfig::default();
        settings.remote_write = Some(config(&url, "shared"));
        let recorder = MetricsBuilder::from_config(settings)
            .build_recorder()
            .unwrap();
        let writer = RemoteWriter::new(recorder.handle(), config(&url, "shared")).unwrap();
        (recorder, writer)
    };
    let (a, a_writer) = producer();
    let (b, b_writer) = producer();
    with_local_recorder(&b, || counter!("other_total").increment(1));
    b_writer.write().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    with_local_recorder(&a, || counter!("shared_total").increment(5));
    let first = a_writer.write().await;
    with_local_recorder(&b, || counter!("shared_total").increment(3));
    let second = b_writer.write().await;
    let err = match (first, second) {
        (Err(e), _) | (Ok(()), Err(e)) => e,
        (Ok(()), Ok(())) => panic!("Prometheus took both producers' writes of one series"),
    };
    assert!(
        matches!(err, ExportError::Refused { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let message = err.to_string();
    for needle in [
        "out of order sample",
        "its own instance label",
        "OBSERVER_METRICS_REMOTE_WRITE_INSTANCE",
    ] {
        assert!(message.contains(needle), "{message}");
    }
    let own = prometheus.own_metrics();
    let refused = support::sample(
        &own,
        "prometheus_http_requests_total{code=\"400\",handler=\"/api/v1/write\"}",
    );
    assert_eq!(refused, Some(1.0), "one request, no retries: {own}");
}
