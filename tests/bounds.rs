//! Bounds on what a recorder keeps: the cardinality limit's settings and marker, and idle expiry
//! (`idle_timeout_secs`) judged by a real Pushgateway. The label explosion is `tests/cardinality.rs`.

mod support;

use std::time::Duration;

use metrics::{counter, histogram, with_local_recorder};
use observer_metrics::{MetricsBuilder, MetricsConfig};
use support::{explode, promtool_check, sample, series_of, Pushgateway};

const LIMIT: usize = 10_000;

#[test]
fn a_limit_from_the_environment_and_zero_for_none() {
    let env = |v: &str| {
        vec![(
            "OBSERVER_METRICS_MAX_SERIES_PER_METRIC".to_owned(),
            v.to_owned(),
        )]
    };
    let three = MetricsConfig::default().with_env(env("3")).unwrap();
    let recorder = MetricsBuilder::from_config(three.clone())
        .build_recorder()
        .unwrap();
    explode(&recorder, 0, 5);
    let text = recorder.render();
    assert_eq!(series_of(&text, "logins_total"), 4);
    assert_eq!(
        sample(&text, "logins_total{otel_metric_overflow=\"true\"}"),
        Some(2.0)
    );

    let unlimited = MetricsConfig::default().with_env(env("0")).unwrap();
    let recorder = MetricsBuilder::from_config(unlimited.clone())
        .build_recorder()
        .unwrap();
    explode(&recorder, 0, LIMIT + 5);
    let text = recorder.render();
    assert_eq!(series_of(&text, "logins_total"), LIMIT + 5);
    assert!(!text.contains("otel_metric_overflow"));

    let err = MetricsConfig::default().with_env(env("many")).unwrap_err();
    assert!(err.field.starts_with("max_series_per_metric"), "{err}");
}

#[test]
fn a_caller_label_named_like_the_overflow_marker_is_renamed() {
    let config = MetricsConfig::from_toml_str("max_series_per_metric = 1").unwrap();
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    with_local_recorder(&recorder, || {
        counter!("x_total", "otel_metric_overflow" => "true").increment(1);
        counter!("x_total", "other" => "1").increment(1);
    });
    let text = recorder.render();
    assert_eq!(
        sample(&text, "x_total{exported_otel_metric_overflow=\"true\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "x_total{otel_metric_overflow=\"true\"}"),
        Some(1.0)
    );
    promtool_check(&text);
}

#[test]
fn idle_series_leave_renders_and_the_gateway_and_come_back_when_touched() {
    let config = MetricsConfig::from_toml_str("idle_timeout_secs = 1").unwrap();
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let held = with_local_recorder(&recorder, || {
        counter!("passing_total", "id" => "a").increment(3);
        histogram!("passing_ms", "id" => "a").record(2.0);
        let held = counter!("held_total");
        held.increment(5);
        held
    });
    let first = recorder.render();
    assert_eq!(sample(&first, "passing_total{id=\"a\"}"), Some(3.0));
    assert_eq!(sample(&first, "passing_ms_count{id=\"a\"}"), Some(1.0));
    assert_eq!(sample(&first, "held_total"), Some(5.0));

    // Untouched for longer than the timeout: gone from the render, and from the gateway's group
    // after the next PUT.
    std::thread::sleep(Duration::from_millis(2_100));
    let idle = recorder.render();
    for gone in ["passing_total", "passing_ms", "held_total"] {
        assert!(
            !idle.contains(&format!("# TYPE {gone} ")),
            "{gone} stayed:\n{idle}"
        );
    }
    let gateway = Pushgateway::start();
    gateway.put("idle", &first);
    let (status, body) = gateway.put("idle", &idle);
    assert_eq!(status, 200, "{body}");
    let families = gateway.families(&[("job", "idle")]).expect("the group");
    assert!(!families.contains_key("passing_total"));
    assert!(!families.contains_key("held_total"));

    // The held handle still works and its series comes back with its total; a series that left
    // starts again from 0, which Prometheus reads as a counter reset.
    held.increment(1);
    with_local_recorder(&recorder, || {
        counter!("passing_total", "id" => "a").increment(1)
    });
    let back = recorder.render();
    assert_eq!(sample(&back, "held_total"), Some(6.0));
    assert_eq!(sample(&back, "passing_total{id=\"a\"}"), Some(1.0));
    let (status, body) = gateway.put("idle", &back);
    assert_eq!(status, 200, "{body}");
    assert_eq!(gateway.value(&[("job", "idle")], "held_total"), Some(6.0));

    // Touched series never leave.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        held.increment(1);
        assert!(sample(&recorder.render(), "held_total").is_some());
    }
}
