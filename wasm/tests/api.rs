//! The JS API from inside wasm32, under Node (`wasm-bindgen-test-runner`): what JS callers get for
//! good and bad input. Pushing to a real gateway is tested from JS (wasm/test/).
#![cfg(target_arch = "wasm32")]

use js_sys::{Object, Reflect};
use observer_metrics_wasm::ObserverMetrics;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn message(e: JsValue) -> String {
    e.unchecked_into::<js_sys::Error>().message().into()
}

fn s(text: &str) -> JsValue {
    JsValue::from_str(text)
}

fn n(value: f64) -> JsValue {
    JsValue::from_f64(value)
}

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[wasm_bindgen_test]
fn records_the_catalogue_and_any_metric() {
    let m = ObserverMetrics::new(JsValue::UNDEFINED).unwrap();
    m.record_event(n(3.0), JsValue::TRUE).unwrap();
    m.record_action(s("success"), n(10.0)).unwrap();
    m.record_action(s("timeout"), n(20.0)).unwrap();
    m.record_job(s("enqueued")).unwrap();
    m.record_job(s("processed")).unwrap();
    m.record_job(s("processed")).unwrap();
    m.record_cache_lookup(JsValue::TRUE).unwrap();
    m.record_cache_lookup(JsValue::FALSE).unwrap();
    m.record_dedup_check(JsValue::TRUE).unwrap();
    m.record_checkpoint_save(n(2.0)).unwrap();
    m.record_checkpoint_recovery();
    m.counter(
        s("edge_requests_total"),
        n(2.0),
        object(&[("colo", JsValue::from_str("a/b c"))]),
    )
    .unwrap();
    m.gauge(s("edge_temp"), n(-1.5), JsValue::UNDEFINED)
        .unwrap();
    m.histogram(s("edge_ms"), n(7.0), JsValue::NULL).unwrap();
    let text = m.render();
    assert_eq!(
        line(&text, "events_processed_total "),
        Some("events_processed_total 1")
    );
    assert_eq!(
        line(&text, "actions_executed_total "),
        Some("actions_executed_total 2")
    );
    assert_eq!(
        line(&text, "action_failure_total "),
        Some("action_failure_total 1")
    );
    assert_eq!(
        line(&text, "action_timeout_total "),
        Some("action_timeout_total 1")
    );
    assert_eq!(line(&text, "queue_depth "), Some("queue_depth 0"));
    assert_eq!(line(&text, "cache_hit_rate "), Some("cache_hit_rate 50"));
    assert_eq!(line(&text, "dedup_hit_rate "), Some("dedup_hit_rate 100"));
    assert_eq!(
        line(&text, "edge_requests_total"),
        Some("edge_requests_total{colo=\"a/b c\"} 2")
    );
    assert_eq!(line(&text, "edge_temp "), Some("edge_temp -1.5"));
    assert_eq!(line(&text, "edge_ms_count "), Some("edge_ms_count 1"));
}

#[wasm_bindgen_test]
fn options_shape_the_recorder() {
    let buckets = js_sys::Array::of2(&JsValue::from_f64(2.0), &JsValue::from_f64(4.0));
    let m = ObserverMetrics::new(object(&[
        ("histogramBuckets", buckets.into()),
        ("prefix", JsValue::from_str("edge")),
        (
            "globalLabels",
            object(&[("region", JsValue::from_str("eu"))]),
        ),
    ]))
    .unwrap();
    m.record_action(s("success"), n(3.0)).unwrap();
    let text = m.render();
    assert!(
        text.contains("edge_action_duration_ms_bucket{region=\"eu\",le=\"4\"} 1\n"),
        "{text}"
    );
    assert!(!text.contains("le=\"10\""), "{text}");
}

#[wasm_bindgen_test]
fn bad_input_throws_errors_that_name_it() {
    let cases = [
        (
            object(&[("pushgatewayUrl", JsValue::from_str("http://127.0.0.1:9091"))]),
            "options.job",
        ),
        (
            object(&[
                ("job", JsValue::from_str("j")),
                ("pushgatewayUrl", JsValue::from_str("ftp://x")),
            ]),
            "options.pushgatewayUrl",
        ),
        (
            object(&[("sampleRate", JsValue::from_f64(2.0))]),
            "options.sampleRate",
        ),
        (
            object(&[("histogramBuckets", JsValue::from_str("1,2"))]),
            "options.histogramBuckets",
        ),
        (
            object(&[("exportIntervalSecs", JsValue::from_f64(0.5))]),
            "options.exportIntervalSecs",
        ),
        (
            object(&[
                ("job", JsValue::from_str("j")),
                ("pushgatewayUrl", JsValue::from_str("http://h")),
                ("method", JsValue::from_str("patch")),
            ]),
            "options.method",
        ),
        (
            object(&[("globalLabels", object(&[("__x", JsValue::from_str("1"))]))]),
            "options.globalLabels.__x",
        ),
    ];
    for (options, expected) in cases {
        let err = ObserverMetrics::new(options).err().expect("should throw");
        let text = message(err);
        assert!(text.contains(expected), "{text:?} should name {expected}");
    }
    let m = ObserverMetrics::new(JsValue::UNDEFINED).unwrap();
    assert!(
        message(m.counter(s("c"), n(-1.0), JsValue::UNDEFINED).unwrap_err())
            .contains("whole numbers")
    );
    assert!(
        message(m.counter(s("c"), n(1.5), JsValue::UNDEFINED).unwrap_err())
            .contains("whole numbers")
    );
    assert!(message(m.record_action(s("maybe"), n(1.0)).unwrap_err()).contains("\"success\""));
    assert!(message(m.record_job(s("lost")).unwrap_err()).contains("\"enqueued\""));
    let bad_labels = object(&[("n", JsValue::from_f64(1.0))]);
    assert!(message(m.counter(s("c"), n(1.0), bad_labels).unwrap_err())
        .contains("labels.n must be a string"));
    // Nothing recorded by the failed calls.
    assert!(!m.render().contains("\nc "), "{}", m.render());
}

#[wasm_bindgen_test]
async fn pushing_without_a_gateway_rejects() {
    let m = ObserverMetrics::new(JsValue::UNDEFINED).unwrap();
    let err = JsFuture::from(m.push()).await.unwrap_err();
    let text = message(err);
    assert!(text.contains("no pushgatewayUrl"), "{text}");
    assert!(m.start().is_err());
}
