//! Summaries (`summary_metrics`): the render promtool checks, the real Pushgateway taking the push
//! whole, and Prometheus 2.42 getting each quantile series by remote write. Loopback only.

mod support;

use metrics::Recorder;
use observer_metrics::{MetricsBuilder, MetricsConfig, ObserverRecorder};
use support::{sample, Prometheus, Pushgateway};

fn metadata() -> metrics::Metadata<'static> {
    metrics::Metadata::new("t", metrics::Level::INFO, None)
}

/// A recorder with `request_latency_seconds` (the plan's summary example) and `rpc_*` as
/// summaries, 1..=1000 ms recorded into the first, and a plain histogram beside them.
fn recorded(config: MetricsConfig) -> ObserverRecorder {
    let recorder = MetricsBuilder::from_config(config)
        .build_recorder()
        .unwrap();
    let handle = recorder.handle();
    let latency = handle.register_histogram(
        &metrics::Key::from_parts(
            "request_latency_seconds",
            vec![metrics::Label::new("route", "/a")],
        ),
        &metadata(),
    );
    for ms in 1..=1000 {
        latency.record(ms as f64 / 1000.0);
    }
    handle
        .register_histogram(
            &metrics::Key::from_static_name("rpc_call_seconds"),
            &metadata(),
        )
        .record(0.25);
    handle
        .register_histogram(&metrics::Key::from_static_name("plain_ms"), &metadata())
        .record(3.0);
    recorder
}

fn summaries() -> MetricsConfig {
    MetricsConfig::from_toml_str(r#"summary_metrics = ["request_latency_seconds", "rpc_*"]"#)
        .unwrap()
}

#[test]
fn a_summary_renders_its_quantiles_lifetime_sum_and_count() {
    let text = recorded(summaries()).render();
    assert!(
        text.contains("# TYPE request_latency_seconds summary\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE plain_ms histogram\n"), "{text}");
    let q = |quantile: &str| {
        sample(
            &text,
            &format!("request_latency_seconds{{route=\"/a\",quantile=\"{quantile}\"}}"),
        )
        .unwrap_or_else(|| panic!("no quantile {quantile} in {text}"))
    };
    assert_eq!(q("0"), 0.001, "the exact least");
    assert_eq!(q("1"), 1.0, "the exact greatest");
    for (quantile, exact) in [("0.5", 0.5), ("0.9", 0.9), ("0.99", 0.99), ("0.999", 0.999)] {
        let got = q(quantile);
        assert!(
            (got / exact - 1.0).abs() <= 0.01,
            "{quantile}: {got} vs {exact}"
        );
    }
    assert_eq!(
        sample(&text, "request_latency_seconds_count{route=\"/a\"}"),
        Some(1000.0)
    );
    let sum = sample(&text, "request_latency_seconds_sum{route=\"/a\"}").unwrap();
    assert!((sum - 500.5).abs() < 1e-9, "{sum}");
    assert!(!text.contains("request_latency_seconds_bucket"), "{text}");
    // Parses (it panics otherwise); only lint remarks, none about the summaries' shape.
    let report = support::promtool_check(&text);
    assert!(!report.contains("quantile"), "{report}");
}

#[test]
fn an_empty_window_renders_nan_and_the_lifetime_counts_stay() {
    let mut config = summaries();
    config.recorder.summary_window_secs = 1;
    config.recorder.summary_window_buckets = 1;
    let recorder = recorded(config);
    // The render files the observations in the current slot; they are shown until it ends.
    let text = recorder.render();
    assert_eq!(
        sample(&text, "rpc_call_seconds{quantile=\"0.5\"}"),
        Some(0.25),
        "{text}"
    );
    // Bounded: one window and a little more.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let text = recorder.render();
    let median = sample(&text, "rpc_call_seconds{quantile=\"0.5\"}").unwrap();
    assert!(median.is_nan(), "{text}");
    assert_eq!(sample(&text, "rpc_call_seconds_count"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "rpc_call_seconds_sum"), Some(0.25), "{text}");
}

#[test]
fn a_series_own_quantile_label_is_renamed() {
    let recorder = MetricsBuilder::from_config(summaries())
        .build_recorder()
        .unwrap();
    let key = metrics::Key::from_parts(
        "rpc_call_seconds",
        vec![metrics::Label::new("quantile", "mine")],
    );
    recorder
        .handle()
        .register_histogram(&key, &metadata())
        .record(1.0);
    let text = recorder.render();
    assert!(
        text.contains("rpc_call_seconds{user_quantile=\"mine\",quantile=\"0.5\"} 1\n"),
        "{text}"
    );
    support::promtool_check(&text);
}

#[test]
fn the_gateway_takes_a_push_with_summaries_whole() {
    let gateway = Pushgateway::start();
    let mut config = summaries();
    config.push = Some(observer_metrics::push::PushConfig::new(
        &gateway.url,
        "summaries",
    ));
    let recorder = recorded(config.clone());
    let client = observer_metrics::push::PushClient::new(config.push.clone().unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(client.push(&recorder.render()))
        .expect("the gateway took the push");
    let group = gateway.group(&[("job", "summaries")]).expect("the group");
    let family = &group["request_latency_seconds"];
    assert_eq!(family["type"], "SUMMARY", "{family}");
    let metric = &family["metrics"][0];
    assert_eq!(metric["count"], "1000", "{metric}");
    assert_eq!(metric["quantiles"]["1"], "1", "{metric}");
    // The rest of the push is there too.
    assert_eq!(group["plain_ms"]["type"], "HISTOGRAM", "{group}");
    assert_eq!(group["rpc_call_seconds"]["metrics"][0]["count"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_sends_each_quantile_series() {
    let prometheus = Prometheus::start(&[]);
    let mut config = summaries();
    let mut rw =
        observer_metrics::remote_write::RemoteWriteConfig::new(prometheus.write_url(), "summaries");
    rw.instance = Some("s1".into());
    config.remote_write = Some(rw.clone());
    let recorder = recorded(config);
    let writer = observer_metrics::remote_write::RemoteWriter::new(recorder.handle(), rw).unwrap();
    writer.write().await.unwrap();
    let selector = |s: &str| format!("{s}{{job=\"summaries\",instance=\"s1\",route=\"/a\"}}");
    assert_eq!(
        prometheus.scalar(&selector("request_latency_seconds_count")),
        Some(1000.0)
    );
    let p99 = prometheus
        .scalar("request_latency_seconds{job=\"summaries\",route=\"/a\",quantile=\"0.99\"}")
        .unwrap();
    assert!((p99 / 0.99 - 1.0).abs() <= 0.01, "{p99}");
    assert_eq!(
        prometheus.scalar("count(request_latency_seconds{job=\"summaries\"})"),
        Some(7.0),
        "one series per quantile"
    );
    // `_count` counts from its `0`, as every cumulative series does.
    let first = prometheus.samples(&format!(
        "{}[1h]",
        selector("request_latency_seconds_count")
    ));
    assert_eq!(first.first().map(|s| s.1), Some(0.0), "{first:?}");
}
