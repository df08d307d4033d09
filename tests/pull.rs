//! The pull endpoint: what a scraper gets, checked by promtool; and push and pull together on one
//! recorder.

mod support;

use std::io::Read;
use std::time::Duration;

use observer_metrics::export::Exporter;
use observer_metrics::observer::ObserverMetrics;
use observer_metrics::push::PushConfig;
use observer_metrics::{MetricsBuilder, MetricsConfig, RecorderHandle};
use support::{promtool_check, sample, Pushgateway};

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
