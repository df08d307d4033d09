//! The cardinality limit (`max_series_per_metric`) under a label explosion, judged by what a real
//! Pushgateway, Prometheus and VictoriaMetrics make of the result. Alone in its binary: it reads
//! this process's resident memory, which a test running beside it would move.

mod support;

use std::time::{Duration, Instant};

use metrics::{counter, with_local_recorder};
use observer_metrics::remote_write::{RemoteWriteConfig, RemoteWriter};
use observer_metrics::{MetricsBuilder, MetricsConfig};
use support::{
    explode, promtool_check, sample, series_of, Prometheus, Pushgateway, VictoriaMetrics,
};

const VALUES: usize = 100_000;
const LIMIT: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_explosion_folds_into_one_overflow_series_every_receiver_accepts() {
    let prometheus = Prometheus::start(&[]);
    let victoria = VictoriaMetrics::start();
    // The default limit; a recorder that writes remotely (it renames a series' own `instance`).
    let mut config = MetricsConfig::default();
    assert_eq!(config.recorder.max_series_per_metric, LIMIT);
    config.remote_write = Some(RemoteWriteConfig::new(prometheus.write_url(), "bounds"));
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    with_local_recorder(&recorder, || counter!("steady_total").increment(1));

    explode(&recorder, 0, VALUES);
    let text = recorder.render();
    assert_eq!(series_of(&text, "logins_total"), LIMIT + 1);
    let overflow = (VALUES - LIMIT) as f64;
    assert_eq!(
        sample(&text, "logins_total{otel_metric_overflow=\"true\"}"),
        Some(overflow)
    );
    assert_eq!(
        sample(
            &text,
            "observer_metrics_dropped_total{reason=\"cardinality_limit\"}"
        ),
        Some(overflow)
    );
    // Existing series keep recording, the overflow keeps counting, other metrics are untouched.
    with_local_recorder(&recorder, || {
        counter!("logins_total", "user" => "7").increment(10);
        counter!("logins_total", "user" => "new").increment(1);
        counter!("steady_total").increment(1);
    });

    // Memory stays bounded: another 100,000 fresh values add nothing but counts.
    let before = support::resident_bytes(std::process::id());
    explode(&recorder, VALUES, VALUES);
    let text = recorder.render();
    let grown = support::resident_bytes(std::process::id()).saturating_sub(before);
    assert!(
        grown < 1 << 20,
        "{grown} bytes more after 100,000 more label values"
    );
    assert_eq!(series_of(&text, "logins_total"), LIMIT + 1);
    assert_eq!(sample(&text, "logins_total{user=\"7\"}"), Some(11.0));
    let folded = (2 * VALUES - LIMIT + 1) as f64;
    assert_eq!(
        sample(&text, "logins_total{otel_metric_overflow=\"true\"}"),
        Some(folded)
    );
    assert_eq!(sample(&text, "steady_total"), Some(2.0));
    promtool_check(&text);

    // The real gateway takes the whole push and holds the overflow series.
    let gateway = Pushgateway::start();
    let (status, body) = gateway.put("bounds", &text);
    assert_eq!(status, 200, "the gateway refused the push: {body}");
    let families = gateway.families(&[("job", "bounds")]).expect("the group");
    let logins = &families["logins_total"];
    assert_eq!(logins.series.len(), LIMIT + 1);
    let overflow_value = logins
        .series
        .iter()
        .find(|m| m.labels.get("otel_metric_overflow").map(String::as_str) == Some("true"))
        .and_then(|m| m.value);
    assert_eq!(overflow_value, Some(folded));

    // Both remote-write receivers take every series, and the totals add up exactly.
    let total = (2 * VALUES + 11) as f64;
    for (url, instance) in [(prometheus.write_url(), "p"), (victoria.write_url(), "v")] {
        let mut rw = RemoteWriteConfig::new(&url, "bounds");
        rw.instance = Some(instance.into());
        let writer = RemoteWriter::new(recorder.handle(), rw).unwrap();
        writer.write().await.unwrap();
    }
    let sum =
        |instance: &str| format!("sum(logins_total{{job=\"bounds\",instance=\"{instance}\"}})");
    assert_eq!(prometheus.scalar(&sum("p")), Some(total));
    let deadline = Instant::now() + Duration::from_secs(20);
    while victoria.scalar(&sum("v")) != Some(total) {
        assert!(
            Instant::now() < deadline,
            "VictoriaMetrics has {:?}, not {total}",
            victoria.scalar(&sum("v"))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        prometheus.scalar("logins_total{otel_metric_overflow=\"true\",instance=\"p\"}"),
        Some(folded)
    );
}
