//! The core under the JS API, from inside wasm32, under Node (`wasm-bindgen-test-runner`): slots,
//! the lazy catalogue, removal, buckets and the config errors the JS side names. The JS API itself
//! is tested from JS (wasm/test/), against real receivers.
#![cfg(target_arch = "wasm32")]

use observer_metrics_wasm::{ObserverMetrics, Settings};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

fn settings() -> Settings {
    Settings::new(
        true,
        f64::NAN,
        f64::NAN,
        f64::NAN,
        f64::NAN,
        f64::NAN,
        None,
        "",
        Vec::new(),
        Vec::new(),
    )
}

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[wasm_bindgen_test]
fn slots_record_and_the_catalogue_appears_once_used() {
    let m = ObserverMetrics::new(settings()).unwrap();
    let a = m.register(0, "edge_requests_total", "colo\0a/b c\0");
    let g = m.register(1, "edge_temp", "");
    let h = m.register(2, "edge_ms", "");
    m.inc(a, 2.0);
    m.set(g, -1.5);
    m.add(g, 0.5);
    m.observe(h, 7.0);
    // Another slot of the same series counts into it.
    let again = m.register(0, "edge_requests_total", "colo\0a/b c\0");
    m.inc(again, 1.0);
    let text = m.render();
    assert_eq!(
        line(&text, "edge_requests_total{"),
        Some("edge_requests_total{colo=\"a/b c\"} 3")
    );
    assert_eq!(line(&text, "edge_temp "), Some("edge_temp -1"));
    assert_eq!(line(&text, "edge_ms_count "), Some("edge_ms_count 1"));
    assert!(!text.contains("events_processed_total"), "{text}");
    m.record_event(3.0);
    m.record_action(2, 20.0);
    m.record_job(0);
    m.record_job(1);
    m.record_job(1);
    let text = m.render();
    assert_eq!(
        line(&text, "events_processed_total "),
        Some("events_processed_total 1")
    );
    assert_eq!(
        line(&text, "action_timeout_total "),
        Some("action_timeout_total 1")
    );
    assert_eq!(
        line(&text, "action_failure_total "),
        Some("action_failure_total 1")
    );
    assert_eq!(line(&text, "queue_depth "), Some("queue_depth 0"));
}

#[wasm_bindgen_test]
fn a_released_series_leaves_unless_another_slot_holds_it() {
    let m = ObserverMetrics::new(settings()).unwrap();
    let one = m.register(0, "t_total", "k\0v\0");
    let two = m.register(0, "t_total", "k\0v\0");
    m.inc(one, 4.0);
    assert!(
        !m.release(0, one, "t_total", "k\0v\0"),
        "held by the other slot"
    );
    assert!(m.render().contains("t_total{k=\"v\"} 4"));
    assert!(m.release(0, two, "t_total", "k\0v\0"));
    assert!(!m.render().contains("t_total"), "{}", m.render());
    // A freed slot is reused, and the series starts from zero.
    let three = m.register(0, "t_total", "k\0v\0");
    assert!(three == one || three == two);
    m.inc(three, 1.0);
    assert!(m.render().contains("t_total{k=\"v\"} 1"));
}

#[wasm_bindgen_test]
fn buckets_are_checked_and_fixed_by_the_first_series() {
    let m = ObserverMetrics::new(settings()).unwrap();
    assert!(m
        .shape("b", "size_bytes", vec![1024.0, 65536.0], false)
        .unwrap());
    let bad = m.shape("histogram(\"x\").buckets", "x", vec![5.0, 1.0], false);
    let message: String = bad
        .unwrap_err()
        .unchecked_into::<js_sys::Error>()
        .message()
        .into();
    assert!(
        message.starts_with("histogram(\"x\").buckets: must be strictly increasing"),
        "{message}"
    );
    let h = m.register(2, "size_bytes", "");
    m.observe(h, 2000.0);
    assert!(m.render().contains("size_bytes_bucket{le=\"65536\"} 1"));
    assert!(!m.shape("b", "size_bytes", vec![1.0], false).unwrap());
}

/// A summary's quantiles come from JS: the core renders what `summary` set, and its slot, freed
/// and released, takes the series out.
#[wasm_bindgen_test]
fn a_summary_renders_what_js_set() {
    let m = ObserverMetrics::new(settings()).unwrap();
    assert!(m.shape("p", "rpc_seconds", vec![0.5, 0.99], true).unwrap());
    let s = m.register(3, "rpc_seconds", "route\0/a\0");
    assert!(m
        .render()
        .contains("rpc_seconds{route=\"/a\",quantile=\"0.5\"} NaN"));
    m.summary(s, 4.0, 1.5, vec![0.25, 0.75]);
    let text = m.render();
    assert!(text.contains("# TYPE rpc_seconds summary\n"), "{text}");
    assert!(
        text.contains("rpc_seconds{route=\"/a\",quantile=\"0.99\"} 0.75"),
        "{text}"
    );
    assert!(text.contains("rpc_seconds_sum{route=\"/a\"} 1.5"), "{text}");
    assert!(text.contains("rpc_seconds_count{route=\"/a\"} 4"), "{text}");
    let bad = m.shape("summary(\"x\").percentiles", "x", vec![0.9, 0.5], true);
    assert!(bad.is_err());
    assert!(m.release(3, s, "rpc_seconds", "route\0/a\0"));
    assert!(!m.render().contains("rpc_seconds"), "{}", m.render());
}

#[wasm_bindgen_test]
fn config_errors_come_back_as_field_value_and_reason() {
    let mut s = settings();
    s.push_to(
        "ftp://x".into(),
        "j".into(),
        "",
        "",
        false,
        f64::NAN,
        Vec::new(),
    );
    let err = ObserverMetrics::new(s).err().expect("should throw");
    let message: String = err.unchecked_into::<js_sys::Error>().message().into();
    let parts: Vec<&str> = message.split('\0').collect();
    assert_eq!(parts.len(), 3, "{message:?}");
    assert_eq!(parts[0], "push.url");
    assert!(parts[2].contains("http://"), "{message:?}");
}

#[wasm_bindgen_test]
async fn sending_without_a_sink_rejects() {
    let m = ObserverMetrics::new(settings()).unwrap();
    assert!(!m.has_sink());
    let err = JsFuture::from(m.send(0)).await.unwrap_err();
    let message: String = err.unchecked_into::<js_sys::Error>().message().into();
    assert!(message.contains("no pushgatewayUrl"), "{message}");
    let err = JsFuture::from(m.send(5)).await.unwrap_err();
    let message: String = err.unchecked_into::<js_sys::Error>().message().into();
    assert!(message.contains("nothing to send to"), "{message}");
}
