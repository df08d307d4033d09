//! Conformance judged by code we did not write: every render of hostile input must parse in
//! `promtool check metrics` and be accepted (200) by a real Pushgateway 1.5.1.

mod support;

use metrics::{
    counter, gauge, histogram, with_local_recorder, Key, Label, Level, Metadata, Recorder,
};
use observer_metrics::observer::ObserverMetrics;
use observer_metrics::{MetricsBuilder, MetricsConfig, ObserverRecorder};
use proptest::prelude::*;
use support::{promtool_check, sample, Pushgateway};

static META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(k.to_string(), v.to_string()))
        .collect();
    Key::from_parts(name.to_owned(), labels)
}

/// Records every case the issue lists through the facade.
fn hostile(r: &ObserverRecorder) {
    let long = "x".repeat(10 * 1024);
    let c = |name: &str, labels: &[(&str, &str)], n| {
        r.register_counter(&key(name, labels), &META).increment(n)
    };
    let g =
        |name: &str, labels: &[(&str, &str)], v| r.register_gauge(&key(name, labels), &META).set(v);
    let h = |name: &str, labels: &[(&str, &str)], v| {
        r.register_histogram(&key(name, labels), &META).record(v)
    };

    // Names with `.`, `-`, a leading digit, unicode, or empty.
    c("http.requests-total", &[], 1);
    c("9lives", &[], 1);
    c("héllo wörld", &[], 1);
    c("", &[], 1);
    c("__reserved_total", &[], 1);
    // Invalid, duplicate and reserved label names.
    c(
        "labels_total",
        &[
            ("bad-label", "1"),
            ("9x", "2"),
            ("__name__", "3"),
            ("", "4"),
        ],
        1,
    );
    c(
        "dup_total",
        &[("a", "1"), ("a", "2"), ("a.b", "3"), ("a_b", "4")],
        1,
    );
    // Label values with backslashes, quotes, newlines, CR, tab, NUL, unicode and 10 KB.
    c("values_total", &[("v", "back\\slash")], 1);
    c("values_total", &[("v", "quote\"d")], 1);
    c("values_total", &[("v", "new\nline")], 1);
    c("values_total", &[("v", "cr\rtab\tnul\0")], 1);
    c("values_total", &[("v", "ünïcødé 😀")], 1);
    c("values_total", &[("v", &long)], 1);
    c("values_total", &[("v", "")], 1);
    // HELP with newlines, backslashes and quotes.
    r.describe_counter(
        "values_total".into(),
        None,
        "line one\nline \\two\\ \"quoted\"".into(),
    );
    // One name as two (three) types.
    c("dual", &[], 1);
    g("dual", &[], 2.0);
    h("dual", &[], 3.0);
    // A user `le` on a histogram.
    h("with_le", &[("le", "user")], 1.0);
    // Names colliding with a histogram's series, in both orders.
    h("hist", &[], 1.0);
    c("hist_count", &[], 1);
    g("hist_sum", &[], 1.0);
    h("hist_bucket", &[], 1.0);
    c("early_sum", &[], 1);
    h("early", &[], 1.0);
    // The same labels in another order.
    c("order_total", &[("a", "1"), ("b", "2")], 1);
    c("order_total", &[("b", "2"), ("a", "1")], 1);
    // NaN and infinities.
    g("special", &[("v", "nan")], f64::NAN);
    g("special", &[("v", "inf")], f64::INFINITY);
    g("special", &[("v", "-inf")], f64::NEG_INFINITY);
    h("inf_hist", &[], f64::INFINITY);
    h("inf_hist", &[], f64::NEG_INFINITY);
    h("nan_hist", &[], f64::NAN);
    // A counter near u64::MAX.
    let big = r.register_counter(&key("big_total", &[]), &META);
    big.absolute(u64::MAX - 1);
    big.increment(5);
    // Names the gateway exports itself, and the recorder's own.
    c("go_goroutines", &[], 1);
    h("process_cpu_seconds_total", &[], 1.0);
    g("process_open_fds", &[], 7.0);
    c("observer_metrics_dropped_total", &[("reason", "fake")], 1);
}

/// A recorder built to push as `job`, so it keeps to the gateway's rules (its own names' types, the
/// group's labels renamed in series); the tests push its render themselves.
fn pushing(job: &str) -> MetricsBuilder {
    MetricsBuilder::new().with_push_gateway("http://127.0.0.1:9", job)
}

#[test]
fn hostile_battery_is_valid_for_promtool_and_a_real_pushgateway() {
    let r = pushing("hostile").build_recorder().unwrap();
    let _catalogue = ObserverMetrics::new(&r.handle());
    hostile(&r);
    let text = r.render();
    promtool_check(&text);

    // The rules, one by one.
    assert_eq!(sample(&text, "http_requests_total"), Some(1.0));
    assert_eq!(sample(&text, "_9lives"), Some(1.0));
    assert_eq!(sample(&text, "_reserved_total"), Some(1.0));
    assert_eq!(sample(&text, "h_llo_w_rld"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "labels_total{_9x=\"2\",_name__=\"3\",bad_label=\"1\"}"
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "dup_total{a=\"1\",a_b=\"3\"}"), Some(1.0));
    assert!(text.contains("values_total{v=\"back\\\\slash\"} 1\n"));
    assert!(text.contains("values_total{v=\"quote\\\"d\"} 1\n"));
    assert!(text.contains("values_total{v=\"new\\nline\"} 1\n"));
    assert!(text.contains("# HELP values_total line one\\nline \\\\two\\\\ \"quoted\"\n"));
    assert!(text.contains("# TYPE dual counter\ndual 1\n"));
    assert_eq!(
        sample(&text, "with_le_bucket{user_le=\"user\",le=\"1\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "hist_count"), Some(1.0));
    for clash in ["hist_count", "hist_sum", "hist_bucket", "early"] {
        assert!(
            !text.contains(&format!("# TYPE {clash} ")),
            "{clash} was rendered"
        );
    }
    assert_eq!(sample(&text, "early_sum"), Some(1.0));
    assert!(!text.contains("early_bucket"));
    assert_eq!(sample(&text, "order_total{a=\"1\",b=\"2\"}"), Some(2.0));
    assert!(text.contains("special{v=\"nan\"} NaN\n"));
    assert_eq!(sample(&text, "inf_hist_count"), Some(2.0));
    assert!(text.contains("inf_hist_sum NaN\n"));
    assert!(text.contains("big_total 18446744073709551615\n"));
    assert!(!text.contains("go_goroutines"));
    assert!(!text.contains("process_cpu_seconds_total"));
    assert_eq!(sample(&text, "process_open_fds"), Some(7.0));
    let dropped = |reason: &str| {
        sample(
            &text,
            &format!("observer_metrics_dropped_total{{reason=\"{reason}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(dropped("empty_name"), 1.0);
    assert_eq!(dropped("empty_label_name"), 1.0);
    assert_eq!(dropped("duplicate_label"), 2.0);
    assert_eq!(dropped("type_conflict"), 2.0);
    assert_eq!(dropped("name_clash"), 4.0);
    assert_eq!(dropped("reserved_name"), 3.0);
    assert_eq!(dropped("nan_observation"), 1.0);
    assert!(!text.contains("reason=\"fake\""));

    let gateway = Pushgateway::start();
    let (status, body) = gateway.put("hostile", &text);
    assert_eq!(status, 200, "the gateway rejected the push: {body}");
    let view = gateway.api_metrics();
    for family in [
        "\"http_requests_total\"",
        "\"values_total\"",
        "\"events_processed_total\"",
        "\"with_le\"",
    ] {
        assert!(
            view.contains(family),
            "{family} missing from the gateway's view"
        );
    }
}

#[test]
fn disabled_render_is_an_accepted_empty_push() {
    let mut config = MetricsConfig::default();
    config.recorder.enabled = false;
    let r = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    hostile(&r);
    let text = r.render();
    assert_eq!(text, "");
    let gateway = Pushgateway::start();
    assert_eq!(gateway.put("disabled", &text).0, 200);
}

#[test]
fn prefix_and_global_labels_stay_valid() {
    let config = MetricsConfig::from_toml_str(
        "prefix = \"edge:obs\"\n[global_labels]\nservice = \"a \\\"b\\\"\\n\"\n",
    )
    .unwrap();
    let r = MetricsBuilder::from_config(config)
        .with_push_gateway("http://127.0.0.1:9", "prefixed")
        .build_recorder()
        .unwrap();
    let _m = ObserverMetrics::new(&r.handle());
    hostile(&r);
    let text = r.render();
    promtool_check(&text);
    assert!(text.contains("edge:obs_events_processed_total{service=\"a \\\"b\\\"\\n\"} 0\n"));
    let gateway = Pushgateway::start();
    let (status, body) = gateway.put("prefixed", &text);
    assert_eq!(status, 200, "{body}");
}

/// A 16 MiB label value (which the gateway takes whole, making every push of the group 16 MB) is
/// cut to the default 4096 bytes: the push is small, promtool parses it, and the gateway holds the
/// cut value.
#[test]
fn a_huge_label_value_is_cut_before_it_reaches_the_gateway() {
    let r = pushing("huge").build_recorder().unwrap();
    let huge = "x".repeat(16 << 20);
    with_local_recorder(&r, || {
        counter!("huge_total", "v" => huge.clone()).increment(1)
    });
    let text = r.render();
    assert!(text.len() < 8192, "the render is {} bytes", text.len());
    promtool_check(&text);
    let gateway = Pushgateway::start();
    let (status, body) = gateway.put("huge", &text);
    assert_eq!(status, 200, "{body}");
    let cut = format!("{}…", "x".repeat(4093));
    let families = gateway.families(&[("job", "huge")]).expect("the group");
    let series = &families["huge_total"].series;
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].labels["v"], cut);
    assert_eq!(series[0].value, Some(1.0));
}

fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,8}",
        "[a-zA-Z0-9_.:\\- ]{0,10}",
        "\\PC{0,6}",
        Just("le".to_owned()),
        Just("__name__".to_owned()),
        Just("x_bucket".to_owned()),
        Just("x".to_owned()),
        Just("go_goroutines".to_owned()),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Counter(u64),
    Gauge(f64),
    Histogram(f64),
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u64>().prop_map(Op::Counter),
        prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY)].prop_map(Op::Gauge),
        prop_oneof![any::<f64>(), 0.0..20_000.0f64, Just(f64::NAN)].prop_map(Op::Histogram),
    ]
}

fn any_series() -> impl Strategy<Value = (String, Vec<(String, String)>, Op)> {
    (
        any_name(),
        prop::collection::vec((any_name(), any::<String>()), 0..4),
        any_op(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Random names, labels, types and values: each render parses and the gateway takes it.
    #[test]
    fn random_series_always_render_valid_text(batch in prop::collection::vec(any_series(), 1..24)) {
        let r = pushing("proptest").build_recorder().unwrap();
        with_local_recorder(&r, || {
            for (name, labels, op) in &batch {
                let labels: Vec<Label> = labels.iter().map(|(k, v)| Label::new(k.clone(), v.clone())).collect();
                let name = name.clone();
                match op {
                    Op::Counter(n) => counter!(name, labels).increment(*n),
                    Op::Gauge(v) => gauge!(name, labels).set(*v),
                    Op::Histogram(v) => histogram!(name, labels).record(*v),
                }
            }
        });
        let text = r.render();
        promtool_check(&text);
        GATEWAY.with(|g| {
            let (status, body) = g.put("proptest", &text);
            assert_eq!(status, 200, "gateway rejected:\n{body}\n--- text ---\n{text}");
        });
    }
}

thread_local! {
    static GATEWAY: Pushgateway = Pushgateway::start();
}
