//! The pull endpoint: what a scraper gets, checked by promtool; and push and pull together on one
//! recorder.

mod support;

use std::io::Read;
use std::time::Duration;

use observer_metrics::export::Exporter;
use observer_metrics::observer::ObserverMetrics;
use observer_metrics::push::PushConfig;
use observer_metrics::{MetricsBuilder, MetricsConfig, RecorderHandle};
use support::read_varint as varint;
use support::{promtool_check, sample, Prometheus, Pushgateway, ScrapeJob};

async fn serve(handle: RecorderHandle) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(observer_metrics::pull::serve(listener, handle, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

fn get(url: &str, gzip: bool) -> ureq::Response {
    let request = ureq::get(url).timeout(Duration::from_secs(5));
    let request = if gzip {
        request.set("Accept-Encoding", "gzip")
    } else {
        request
    };
    request.call().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_metrics_endpoint_response() {
    let recorder = MetricsBuilder::new().build_recorder().unwrap();
    let m = ObserverMetrics::new(&recorder.handle());
    m.events_processed_total.increment(11);
    let (url, _stop) = serve(recorder.handle()).await;
    let (plain, zipped, health) = tokio::task::spawn_blocking(move || {
        (
            get(&format!("{url}/metrics"), false),
            get(&format!("{url}/metrics"), true),
            get(&format!("{url}/health"), false),
        )
    })
    .await
    .unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(plain.header("content-encoding"), None);
    let body = plain.into_string().unwrap();
    assert_eq!(body, recorder.render());
    assert_eq!(sample(&body, "events_processed_total"), Some(11.0));

    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let mut compressed = Vec::new();
    zipped.into_reader().read_to_end(&mut compressed).unwrap();
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, body);

    assert_eq!(health.into_string().unwrap(), "ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_prometheus_format_compliance() {
    let recorder = MetricsBuilder::new().build_recorder().unwrap();
    let m = ObserverMetrics::new(&recorder.handle());
    m.action_duration_ms.record(12.5);
    metrics::with_local_recorder(&recorder, || {
        metrics::gauge!("odd.name-here", "l" => "a\"b\nc").set(f64::NAN)
    });
    let (url, _stop) = serve(recorder.handle()).await;
    let body = tokio::task::spawn_blocking(move || {
        get(&format!("{url}/metrics"), false).into_string().unwrap()
    })
    .await
    .unwrap();
    promtool_check(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_pull_run_together_on_one_recorder() {
    let gw = tokio::task::spawn_blocking(Pushgateway::start)
        .await
        .unwrap();
    let mut config = MetricsConfig::default();
    config.push = Some(PushConfig::new(&gw.url, "both"));
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let m = ObserverMetrics::new(&recorder.handle());
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    let (url, _stop) = serve(recorder.handle()).await;
    m.events_processed_total.increment(42);
    exporter.flush().await.unwrap();
    let scraped = tokio::task::spawn_blocking(move || {
        get(&format!("{url}/metrics"), false).into_string().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(sample(&scraped, "events_processed_total"), Some(42.0));
    assert_eq!(
        gw.value(&[("job", "both")], "events_processed_total"),
        Some(42.0)
    );
    m.events_processed_total.increment(1);
    exporter.shutdown().await.unwrap();
    assert_eq!(
        gw.value(&[("job", "both")], "events_processed_total"),
        Some(43.0)
    );
}

/// The router merges into an app that has state and a `/health` of its own: it used to return
/// `Router<()>` (E0277 before `.with_state`) and always add `/health` (an overlapping-route panic).
#[tokio::test]
async fn the_router_merges_into_an_app_with_state_and_its_own_health() {
    #[derive(Clone)]
    struct AppState {
        name: &'static str,
    }
    let recorder = MetricsBuilder::new().build_recorder().unwrap();
    metrics::with_local_recorder(&recorder, || metrics::counter!("merged_total").increment(2));
    let app: axum::Router = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(
                |axum::extract::State(s): axum::extract::State<AppState>| async move {
                    format!("{} ok\n", s.name)
                },
            ),
        )
        .merge(observer_metrics::pull::metrics_router(recorder.handle()))
        .with_state(AppState { name: "app" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let fetch = |path: &'static str| {
        let url = format!("{url}{path}");
        tokio::task::spawn_blocking(move || get(&url, false).into_string().unwrap())
    };
    assert_eq!(fetch("/health").await.unwrap(), "app ok\n");
    let text = fetch("/metrics").await.unwrap();
    assert_eq!(support::sample(&text, "merged_total"), Some(2.0));
    server.abort();
}

/// What Prometheus 2.42 sends when it runs with native histograms on.
const PROTOBUF_FIRST: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                              encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// The (name, type) of each delimited `MetricFamily` of `body`, read with a minimal decoder.
fn families_of(body: &[u8]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let end = varint(body, &mut at) as usize + at;
        let (mut name, mut kind) = (String::new(), 0);
        while at < end {
            let key = varint(body, &mut at);
            match (key >> 3, key & 7) {
                (3, 0) => kind = varint(body, &mut at),
                (field, 2) => {
                    let len = varint(body, &mut at) as usize;
                    if field == 1 {
                        name = String::from_utf8(body[at..at + len].to_vec()).unwrap();
                    }
                    at += len;
                }
                other => panic!("unexpected field {other:?}"),
            }
        }
        out.push((name, kind));
    }
    out
}

/// A scraper that prefers protobuf gets the delimited `MetricFamily` exposition, with the same
/// families in the same order as the text; one that does not gets text. Prometheus 2.42 with
/// native histograms on scrapes it, and its answers match the text's values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scraper_that_prefers_protobuf_gets_it_and_prometheus_reads_it() {
    let config = MetricsConfig::from_toml_str(r#"summary_metrics = ["rpc_seconds"]"#).unwrap();
    let recorder = MetricsBuilder::from_config(config)
        .build_recorder()
        .unwrap();
    let m = ObserverMetrics::new(&recorder.handle());
    m.events_processed_total.increment(42);
    m.queue_depth.set(7.0);
    for ms in [0.5, 3.0, 30.0, 300.0] {
        m.action_duration_ms.record(ms);
    }
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("edge_requests_total", "route" => "/a \"b\"\n").increment(5);
        for s in [0.1, 0.2, 0.3] {
            metrics::histogram!("rpc_seconds").record(s);
        }
    });
    let (url, stop) = serve(recorder.handle()).await;
    let metrics_url = format!("{url}/metrics");
    let fetched = {
        let metrics_url = metrics_url.clone();
        tokio::task::spawn_blocking(move || {
            let protobuf = ureq::get(&metrics_url)
                .set("Accept", PROTOBUF_FIRST)
                .call()
                .unwrap();
            let content_type = protobuf.header("Content-Type").unwrap().to_owned();
            let mut body = Vec::new();
            protobuf.into_reader().read_to_end(&mut body).unwrap();
            let text = ureq::get(&metrics_url).call().unwrap();
            let text_type = text.header("Content-Type").unwrap().to_owned();
            (content_type, body, text_type, text.into_string().unwrap())
        })
        .await
        .unwrap()
    };
    let (content_type, body, text_type, text) = fetched;
    assert!(
        content_type.starts_with("application/vnd.google.protobuf"),
        "{content_type}"
    );
    assert!(
        content_type.contains("encoding=delimited"),
        "{content_type}"
    );
    assert!(text_type.starts_with("text/plain"), "{text_type}");
    let from_text: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            let code = match kind {
                "counter" => 0,
                "gauge" => 1,
                "summary" => 2,
                "histogram" => 4,
                other => panic!("{other}"),
            };
            (name.to_owned(), code)
        })
        .collect();
    assert_eq!(families_of(&body), from_text);

    let target = url.trim_start_matches("http://").to_owned();
    let prometheus = tokio::task::spawn_blocking(move || {
        Prometheus::start_with(
            &[ScrapeJob {
                name: "pulled",
                target: &target,
                honor_labels: false,
            }],
            &["--enable-feature=native-histograms"],
        )
    })
    .await
    .unwrap();
    let answers = tokio::task::spawn_blocking(move || {
        // Bounded: scraped every second, read within 30 s.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while prometheus.scalar("up{job=\"pulled\"}") != Some(1.0) {
            assert!(std::time::Instant::now() < deadline, "never scraped");
            std::thread::sleep(Duration::from_millis(200));
        }
        let q = |e: &str| prometheus.scalar(e);
        [
            q("events_processed_total{job=\"pulled\"}"),
            q("queue_depth{job=\"pulled\"}"),
            q("action_duration_ms_count{job=\"pulled\"}"),
            // From protobuf, Prometheus 2.x writes a bound or a quantile as OpenMetrics does:
            // `le="50.0"`, `quantile="1.0"` (as for every client's protobuf exposition).
            q("action_duration_ms_bucket{job=\"pulled\",le=\"50.0\"}"),
            q("edge_requests_total{route=\"/a \\\"b\\\"\\n\"}"),
            q("rpc_seconds{quantile=\"1.0\"}"),
            q("rpc_seconds_count"),
        ]
    })
    .await
    .unwrap();
    assert_eq!(
        answers,
        [
            Some(42.0),
            Some(7.0),
            Some(4.0),
            Some(3.0),
            Some(5.0),
            Some(0.3),
            Some(3.0)
        ]
    );
    let _ = stop.send(());
}

/// A histogram named in `native_histogram_metrics` keeps native buckets beside its classic ones:
/// Prometheus 2.42 with native histograms on scrapes them in protobuf, with the exact count and
/// sum, and `histogram_quantile` over the native histogram answers within its bucket factor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_a_native_histogram_and_its_quantiles_answer() {
    let config = MetricsConfig::from_toml_str(
        "native_histogram_metrics = [\"rpc_native_seconds\"]\nnative_histogram_bucket_factor = 1.1\n",
    )
    .unwrap();
    let recorder = MetricsBuilder::from_config(config)
        .build_recorder()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        for ms in 1..=1000 {
            metrics::histogram!("rpc_native_seconds").record(f64::from(ms) / 1000.0);
        }
        metrics::histogram!("rpc_native_seconds").record(0.0);
    });
    let (url, stop) = serve(recorder.handle()).await;
    let target = url.trim_start_matches("http://").to_owned();
    let answers = tokio::task::spawn_blocking(move || {
        let prometheus = Prometheus::start_with(
            &[ScrapeJob {
                name: "native",
                target: &target,
                honor_labels: false,
            }],
            &["--enable-feature=native-histograms"],
        );
        // Bounded: scraped every second, read within 30 s.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while prometheus
            .scalar("histogram_count(rpc_native_seconds)")
            .is_none()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no native histogram scraped"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let q = |e: &str| prometheus.scalar(e);
        (
            q("histogram_count(rpc_native_seconds)"),
            q("histogram_sum(rpc_native_seconds)"),
            q("histogram_quantile(0.5, rpc_native_seconds)"),
            q("histogram_quantile(0.99, rpc_native_seconds)"),
            q("rpc_native_seconds_count"),
        )
    })
    .await
    .unwrap();
    let (count, sum, p50, p99, classic_count) = answers;
    assert_eq!(count, Some(1001.0));
    let sum = sum.unwrap();
    assert!((sum - 500.5).abs() < 1e-9, "{sum}");
    // Schema 3: a bucket spans a factor of 2^(1/8), about 9%.
    let (p50, p99) = (p50.unwrap(), p99.unwrap());
    assert!((p50 / 0.5 - 1.0).abs() < 0.09, "{p50}");
    assert!((p99 / 0.99 - 1.0).abs() < 0.09, "{p99}");
    // Prometheus 2.42 keeps the native histogram of a scrape and not its classic buckets
    // (later versions have `scrape_classic_histograms`); the text exposition still has them.
    assert_eq!(classic_count, None);
    let _ = stop.send(());
}
