//! Pushing, judged by a real Pushgateway's `/api/v1/metrics` (faults a real gateway cannot make
//! come from a small local server). Loopback only; every wait is bounded; no timing assertions.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use observer_metrics::export::{BasicAuth, BatchOutcome, ExportError, Exporter, Secret};
use observer_metrics::observer::ObserverMetrics;
use observer_metrics::push::{PushClient, PushConfig, PushMethod};
use observer_metrics::{MetricsBuilder, MetricsConfig};
use support::{free_port, recorder_with_push, Fault, FaultServer, Pushgateway};

const JOB: &[(&str, &str)] = &[("job", "j")];

fn client(url: &str) -> PushClient {
    let mut config = PushConfig::new(url, "j");
    config.timeout_ms = 1000;
    config.retry.base_backoff_ms = 10;
    config.retry.max_backoff_ms = 50;
    PushClient::new(config).unwrap()
}

#[tokio::test]
async fn put_post_delete_as_the_gateway_reports_them() {
    let gw = Pushgateway::start();
    let c = client(&gw.url);
    c.push("# TYPE a counter\na 1\n# TYPE b gauge\nb 2\n")
        .await
        .unwrap();
    assert_eq!(gw.value(JOB, "a"), Some(1.0));
    assert_eq!(gw.value(JOB, "b"), Some(2.0));

    // POST replaces only the names it carries.
    c.push_add("# TYPE b gauge\nb 5\n").await.unwrap();
    assert_eq!(gw.value(JOB, "a"), Some(1.0));
    assert_eq!(gw.value(JOB, "b"), Some(5.0));

    // PUT replaces the whole group.
    c.push("# TYPE c counter\nc 3\n").await.unwrap();
    assert_eq!(gw.value(JOB, "a"), None);
    assert_eq!(gw.value(JOB, "c"), Some(3.0));

    c.delete().await.unwrap();
    assert!(gw.group(JOB).is_none());
    // DELETE of a group that is not there is fine too.
    c.delete().await.unwrap();
}

#[tokio::test]
async fn grouping_values_round_trip_exactly() {
    let gw = Pushgateway::start();
    let values = ["a/b", "with space", "ünïcødé ✓", "", "plain-1.x", "+%=&?#"];
    for (i, value) in values.iter().enumerate() {
        let mut config = PushConfig::new(&gw.url, format!("job/{i} x"));
        config.grouping.insert("instance".into(), value.to_string());
        let c = PushClient::new(config).unwrap();
        c.push(&format!("# TYPE v gauge\nv {i}\n")).await.unwrap();
        let job = format!("job/{i} x");
        let labels = [("job", job.as_str()), ("instance", *value)];
        assert_eq!(
            gw.value(&labels, "v"),
            Some(i as f64),
            "group {labels:?} missing: {}",
            gw.api_metrics()
        );
    }
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let gw = Pushgateway::start();
    let mut config = PushConfig::new(&gw.url, "j");
    config.gzip = true;
    PushClient::new(config)
        .unwrap()
        .push("# TYPE z counter\nz 9\n")
        .await
        .unwrap();
    assert_eq!(gw.value(JOB, "z"), Some(9.0));
}

#[tokio::test]
async fn a_400_body_reaches_the_error_verbatim() {
    let gw = Pushgateway::start();
    let c = client(&gw.url);
    let err = c
        .push("# TYPE go_goroutines counter\ngo_goroutines 1\n")
        .await
        .unwrap_err();
    match &err {
        ExportError::Status {
            status, body, url, ..
        } => {
            assert_eq!(*status, 400);
            assert!(
                body.starts_with(
                    "pushed metrics are invalid or inconsistent with existing metrics:"
                ),
                "{body}"
            );
            assert_eq!(url, &format!("{}/metrics/job/j", gw.url));
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(err.to_string().starts_with(&format!(
        "PUT {}/metrics/job/j failed: the gateway answered 400: pushed metrics",
        gw.url
    )));
}

#[tokio::test]
async fn auth_and_headers_arrive() {
    let server = FaultServer::start(Fault::Statuses(vec![200]));
    let mut config = PushConfig::new(&server.url, "j");
    config.basic_auth = Some(BasicAuth::new("user", "pa:ss"));
    config.headers.insert("X-Tenant".into(), "team a".into());
    config.gzip = true;
    PushClient::new(config)
        .unwrap()
        .push("# TYPE a counter\na 1\n")
        .await
        .unwrap();

    let mut config = PushConfig::new(&server.url, "j");
    config.bearer_token = Some(Secret::new("t0k3n"));
    PushClient::new(config)
        .unwrap()
        .push_add("# TYPE a counter\na 2\n")
        .await
        .unwrap();

    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let head = |r: &[u8]| {
        let end = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&r[..end]).to_ascii_lowercase(),
            r[end + 4..].to_vec(),
        )
    };
    let (first, body) = head(&requests[0]);
    assert!(first.starts_with("put /metrics/job/j "), "{first}");
    // base64("user:pa:ss")
    assert!(
        first.contains("authorization: basic dxnlcjpwytpzcw=="),
        "{first}"
    );
    assert!(first.contains("x-tenant: team a"), "{first}");
    assert!(first.contains("content-encoding: gzip"), "{first}");
    assert!(
        first.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{first}"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "# TYPE a counter\na 1\n");
    let (second, body) = head(&requests[1]);
    assert!(second.starts_with("post /metrics/job/j "), "{second}");
    assert!(second.contains("authorization: bearer t0k3n"), "{second}");
    assert_eq!(body, b"# TYPE a counter\na 2\n");
}

#[tokio::test]
async fn transient_5xx_is_retried_and_4xx_is_not() {
    let server = FaultServer::start(Fault::Statuses(vec![503, 502, 200]));
    client(&server.url).push("x 1\n").await.unwrap();
    assert_eq!(server.requests.lock().unwrap().len(), 3);

    let server = FaultServer::start(Fault::Statuses(vec![401]));
    let err = client(&server.url).push("x 1\n").await.unwrap_err();
    assert!(
        matches!(err, ExportError::Status { status: 401, .. }),
        "{err}"
    );
    assert_eq!(server.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_stalling_gateway_ends_at_the_timeout_with_a_named_error() {
    let server = FaultServer::start(Fault::Stall);
    let c = client(&server.url);
    let err = c.push("x 1\n").await.unwrap_err();
    assert!(matches!(err, ExportError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains(&server.url) && err.to_string().contains("no answer within 1s"),
        "{err}"
    );
    // Three tries, each ended by the deadline.
    assert_eq!(server.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_dead_gateway_gives_a_connect_error_naming_it() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let err = client(&url).push("x 1\n").await.unwrap_err();
    assert!(matches!(err, ExportError::Connect { .. }), "{err}");
    // The underlying errors stay reachable through `source()`, down to the refused connection.
    let refused = error_chain(&err).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    });
    assert!(refused, "no ConnectionRefused in the chain of {err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.to_lowercase().contains("refused"),
        "{text}"
    );
}

const BATCH: &[(&str, &str)] = &[("job", "batch")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_push_is_immediate_and_shutdown_pushes_the_rest() {
    let gw = Pushgateway::start();
    let (recorder, config) = recorder_with_push(&gw.url, 3600);
    let m = ObserverMetrics::new(&recorder.handle());
    m.events_processed_total.increment(5);
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    // With an hour's interval, only the push at start can bring this.
    assert!(gw.wait_for(Duration::from_secs(10), |g| g
        .value(BATCH, "events_processed_total")
        .is_some()));
    m.events_processed_total.increment(7);
    exporter.shutdown().await.unwrap();
    assert_eq!(gw.value(BATCH, "events_processed_total"), Some(12.0));
}

/// With `method = "put"`, only the last push of a completed run is a PUT, which replaces the
/// group: a family an earlier run left is gone after a clean shutdown, while a failed batch's last
/// push is a POST and leaves it (with the earlier run's success time) in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_completed_run_replaces_what_an_earlier_run_left() {
    for (outcome, stale_stays) in [
        (BatchOutcome::Success, false),
        (BatchOutcome::Failure, true),
        (BatchOutcome::Interrupted, true),
    ] {
        let gw = Pushgateway::start();
        let earlier = "# TYPE earlier_run_total counter\nearlier_run_total 9\n";
        assert_eq!(gw.put("batch", earlier).0, 200);
        let (recorder, config) = recorder_with_push(&gw.url, 3600);
        assert_eq!(config.push.as_ref().unwrap().method, PushMethod::Put);
        let m = ObserverMetrics::new(&recorder.handle());
        let exporter = Exporter::start(recorder.handle(), &config).unwrap();
        m.events_processed_total.increment(3);
        // The pushes during the run are POSTs: the earlier run's family is still there.
        exporter.flush().await.unwrap();
        assert_eq!(
            gw.value(BATCH, "earlier_run_total"),
            Some(9.0),
            "{outcome:?}"
        );
        let _ = exporter.finish_batch(outcome).await;
        assert_eq!(
            gw.value(BATCH, "earlier_run_total").is_some(),
            stale_stays,
            "{outcome:?}"
        );
        assert_eq!(
            gw.value(BATCH, "events_processed_total"),
            Some(3.0),
            "{outcome:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_pushes_now() {
    let gw = Pushgateway::start();
    let (recorder, config) = recorder_with_push(&gw.url, 3600);
    let m = ObserverMetrics::new(&recorder.handle());
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    m.queue_retry_total.increment(4);
    exporter.flush().await.unwrap();
    assert_eq!(gw.value(BATCH, "queue_retry_total"), Some(4.0));
    exporter.flush().await.unwrap();
    // Two flushes, and the push at start unless a flush took its place.
    assert!(exporter.successful_pushes() >= 2);
    // The exporter's own metrics, for a scrape of the same recorder.
    let text = recorder.render();
    let pushed = support::sample(
        &text,
        "observer_metrics_pushes_total{result=\"success\",sink=\"pushgateway\"}",
    )
    .unwrap();
    assert_eq!(pushed, exporter.successful_pushes() as f64);
    assert_eq!(
        support::sample(
            &text,
            "observer_metrics_pushes_total{result=\"failure\",sink=\"pushgateway\"}"
        ),
        Some(0.0)
    );
    assert!(
        support::sample(
            &text,
            "observer_metrics_last_push_success_timestamp_seconds{sink=\"pushgateway\"}"
        )
        .unwrap()
            > 1.7e9
    );
    exporter.shutdown().await.unwrap();
}

#[test]
fn dropping_the_exporter_pushes_a_last_time() {
    let gw = Pushgateway::start();
    let (recorder, config) = recorder_with_push(&gw.url, 3600);
    let m = ObserverMetrics::new(&recorder.handle());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let exporter = Exporter::start(recorder.handle(), &config).unwrap();
        m.checkpoint_saves_total.increment(3);
        drop(exporter);
    });
    assert_eq!(gw.value(BATCH, "checkpoint_saves_total"), Some(3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_shutdown_removes_the_group() {
    let gw = Pushgateway::start();
    let (recorder, mut config) = recorder_with_push(&gw.url, 3600);
    config.push.as_mut().unwrap().delete_on_shutdown = true;
    let _m = ObserverMetrics::new(&recorder.handle());
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    assert!(gw.wait_for(Duration::from_secs(10), |g| g.group(BATCH).is_some()));
    exporter.shutdown().await.unwrap();
    assert!(gw.group(BATCH).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_gauges_and_a_failed_run_keeps_the_last_success() {
    let gw = Pushgateway::start();
    let (recorder, config) = recorder_with_push(&gw.url, 3600);
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    exporter.finish_batch(BatchOutcome::Success).await.unwrap();
    let success = gw
        .value(BATCH, "batch_last_success_timestamp_seconds")
        .unwrap();
    assert!(success > 1.7e9, "{success}");
    assert!(gw.value(BATCH, "batch_last_run_duration_seconds").is_some());

    // A second run that fails: POSTs, so the first run's success time survives.
    let (recorder, mut config) = recorder_with_push(&gw.url, 3600);
    config.push.as_mut().unwrap().method = PushMethod::Post;
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    exporter.finish_batch(BatchOutcome::Failure).await.unwrap();
    assert_eq!(
        gw.value(BATCH, "batch_last_success_timestamp_seconds"),
        Some(success)
    );
    let failed = gw
        .value(BATCH, "batch_last_failure_timestamp_seconds")
        .unwrap();
    assert!(failed >= success, "{failed} {success}");
    assert_eq!(
        gw.value(BATCH, "batch_last_interrupted_timestamp_seconds"),
        None
    );

    // A third run stopped by a signal: interrupted, neither a success nor a failure.
    let (recorder, config) = recorder_with_push(&gw.url, 3600);
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    exporter
        .finish_batch(BatchOutcome::Interrupted)
        .await
        .unwrap();
    let stopped = gw
        .value(BATCH, "batch_last_interrupted_timestamp_seconds")
        .unwrap();
    assert!(stopped >= failed, "{stopped} {failed}");
    assert_eq!(
        gw.value(BATCH, "batch_last_success_timestamp_seconds"),
        Some(success)
    );
    assert_eq!(
        gw.value(BATCH, "batch_last_failure_timestamp_seconds"),
        Some(failed)
    );
}

/// A gateway that is down at start, killed mid-run and restarted empty ends holding the whole
/// batch: counters are cumulative and every push carries the totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_at_start_and_mid_run_ends_with_exact_totals() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (recorder, config) = recorder_with_push(&url, 1);
    let m = ObserverMetrics::new(&recorder.handle());
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();

    m.events_processed_total.increment(100);
    // Nothing listens yet: the push at start fails.
    let deadline = Instant::now() + Duration::from_secs(10);
    while exporter.failed_pushes() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(exporter.failed_pushes() >= 1);
    assert!(matches!(
        exporter.last_error(),
        Some(ExportError::Connect { .. })
    ));

    let gw = tokio::task::spawn_blocking(move || Pushgateway::start_on(port))
        .await
        .unwrap();
    m.events_processed_total.increment(50);
    assert!(gw.wait_for(Duration::from_secs(10), |g| g
        .value(BATCH, "events_processed_total")
        == Some(150.0)));
    gw.kill();

    m.events_processed_total.increment(25);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let gw = tokio::task::spawn_blocking(move || Pushgateway::start_on(port))
        .await
        .unwrap();
    assert!(gw.group(BATCH).is_none() || gw.value(BATCH, "events_processed_total") == Some(175.0));
    m.events_processed_total.increment(5);
    exporter.shutdown().await.unwrap();
    assert_eq!(gw.value(BATCH, "events_processed_total"), Some(180.0));
}

#[tokio::test]
async fn tls_failures_are_reported_as_tls() {
    // An https URL pointing at a plain-HTTP server: the handshake cannot succeed.
    let server = FaultServer::start(Fault::Plain);
    let url = server.url.replace("http://", "https://");
    let err = client(&url).push("x 1\n").await.unwrap_err();
    assert!(matches!(err, ExportError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn series_labels_clashing_with_the_group_are_kept_apart() {
    let gw = Pushgateway::start();
    let mut push = PushConfig::new(&gw.url, "j");
    push.grouping.insert("instance".into(), "w1".into());
    let mut config = MetricsConfig::default();
    config.push = Some(push.clone());
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("hits_total", "instance" => "a").increment(1);
        metrics::counter!("hits_total", "instance" => "b").increment(2);
        metrics::counter!("hits_total", "job" => "other").increment(3);
    });
    let text = recorder.render();
    assert!(
        text.contains("hits_total{exported_instance=\"a\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("hits_total{exported_job=\"other\"} 3\n"),
        "{text}"
    );
    // Without the rename the gateway would merge the first two into one series and refuse the push.
    PushClient::new(push).unwrap().push(&text).await.unwrap();
    let group = gw.group(&[("job", "j"), ("instance", "w1")]).unwrap();
    assert_eq!(group["hits_total"]["metrics"].as_array().unwrap().len(), 3);
}

/// Shutdown while an interval push is on the wire: that push is answered before the final one is
/// sent, so the final body is the last the gateway receives (a cut request could still be applied
/// after it). A slow gateway makes the window wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_push_on_the_wire_before_the_final_push() {
    let slow = FaultServer::start(Fault::Delay(Duration::from_millis(800)));
    let (recorder, config) = recorder_with_push(&slow.url, 3600);
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while slow.events.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no push at start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    exporter.shutdown().await.unwrap();
    let events = slow.events.lock().unwrap().clone();
    assert_eq!(
        events,
        ["received 0", "answered 0", "received 1", "answered 1"],
        "the final push overtook the push in flight"
    );
}

/// Dropping a running exporter must not block an async worker. Each flavour runs one worker; the
/// gateway holds its answer to the final push until a task on that same worker opens it, which can
/// only happen while the drop leaves the worker free. A blocking drop waits out its deadline, the
/// final push is abandoned, and the log says so.
#[test]
fn drop_does_not_block_the_runtime_on_either_flavour() {
    for flavour in ["current_thread", "multi_thread"] {
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let held = FaultServer::start(Fault::Held(open.clone()));
        let (recorder, mut config) = recorder_with_push(&held.url, 3600);
        config.push.as_mut().unwrap().shutdown_timeout_ms = 2000;
        let runtime = match flavour {
            "current_thread" => tokio::runtime::Builder::new_current_thread(),
            _ => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(1);
                b
            }
        }
        .enable_all()
        .build()
        .unwrap();
        runtime.block_on(async {
            let exporter = Exporter::start(recorder.handle(), &config).unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !held
                .events
                .lock()
                .unwrap()
                .contains(&"answered 0".to_owned())
            {
                assert!(Instant::now() < deadline, "no push at start");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            open.store(false, std::sync::atomic::Ordering::Relaxed);
            let opener = open.clone();
            let release = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                opener.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            // Dropped inside a task, as a service would when its handler ends.
            tokio::spawn(async move { drop(exporter) }).await.unwrap();
            release.await.unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let settled = |events: &[String]| {
            events
                .iter()
                .any(|e| e == "answered 1" || e == "abandoned 1")
        };
        while !settled(&held.events.lock().unwrap()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let events = held.events.lock().unwrap().clone();
        assert!(
            events.contains(&"answered 1".to_owned()),
            "{flavour}: the drop blocked the worker; the final push was {events:?}"
        );
    }
}

/// An exporter pushing a grouping label the recorder was not built with would push series whose
/// own label of that name was not renamed: the gateway refuses such a push whole. Refused at start.
#[tokio::test]
async fn an_exporter_grouping_the_recorder_does_not_know_is_refused_at_start() {
    let recorder = MetricsBuilder::new().build_recorder().unwrap();
    let mut push = PushConfig::new("http://127.0.0.1:9", "j");
    push.grouping.insert("instance".into(), "a".into());
    let mut config = MetricsConfig::default();
    config.push = Some(push);
    let err = Exporter::start(recorder.handle(), &config).unwrap_err();
    assert_eq!(err.field, "push.job");
    let both = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let exporter = Exporter::start(both.handle(), &config).unwrap();
    assert_eq!(
        exporter.url(),
        "http://127.0.0.1:9/metrics/job/j/instance/a"
    );
    let mut other = config.clone();
    other
        .push
        .as_mut()
        .unwrap()
        .grouping
        .insert("zone".into(), "b".into());
    let err = Exporter::start(both.handle(), &other).unwrap_err();
    assert_eq!(err.field, "push.grouping.zone");
    // Shut down without a gateway: the final push fails, and that is all.
    let _ = tokio::time::timeout(Duration::from_secs(20), exporter.shutdown()).await;
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Any string as the job and as a grouping value arrives exactly as given, as the gateway's own
    /// JSON view shows it.
    #[test]
    fn any_job_and_grouping_value_arrive_exactly(
        job in "\\PC{1,12}|\\.{1,2}|[./ %+@]{1,4}",
        value in "\\PC{0,12}|\\.{1,2}|[./ %+@=]{0,4}",
    ) {
        let gw = shared_gateway();
        let mut config = PushConfig::new(&gw.url, job.clone());
        config.grouping.insert("instance".into(), value.clone());
        let client = PushClient::new(config).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(client.push("# TYPE probe gauge\nprobe 1\n")).unwrap();
        let labels = [("job", job.as_str()), ("instance", value.as_str())];
        proptest::prop_assert!(gw.group(&labels).is_some(), "{:?} not found: {}", labels, gw.api_metrics());
        runtime.block_on(client.delete()).unwrap();
    }
}

/// One gateway for all proptest cases (each deletes its group).
fn shared_gateway() -> &'static Pushgateway {
    static GATEWAY: std::sync::OnceLock<Pushgateway> = std::sync::OnceLock::new();
    GATEWAY.get_or_init(Pushgateway::start)
}

/// `enabled = false` pushes nothing at all: an empty PUT wiped an earlier run's group, its last
/// success time included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_recorder_pushes_nothing() {
    let gw = Pushgateway::start();
    assert_eq!(
        gw.put(
            "batch",
            "# TYPE batch_last_success_timestamp_seconds gauge\nbatch_last_success_timestamp_seconds 42\n"
        )
        .0,
        200
    );
    let (_, mut config) = recorder_with_push(&gw.url, 1);
    config.recorder.enabled = false;
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    exporter.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    exporter.finish_batch(BatchOutcome::Success).await.unwrap();
    assert_eq!(
        gw.value(BATCH, "batch_last_success_timestamp_seconds"),
        Some(42.0),
        "{}",
        gw.api_metrics()
    );
}

/// Credentials in the URL become a Basic header (percent-decoded) and leave the request line, as
/// on wasm, where `fetch` refuses a URL that holds them.
#[tokio::test]
async fn url_credentials_travel_as_a_basic_header() {
    let server = FaultServer::start(Fault::Statuses(vec![200]));
    let address = server.url.trim_start_matches("http://");
    let url = format!("http://us%40er:p%3Ass@{address}");
    PushClient::new(PushConfig::new(&url, "j"))
        .unwrap()
        .push("# TYPE a counter\na 1\n")
        .await
        .unwrap();
    let request = server.request_texts()[0].to_ascii_lowercase();
    // base64("us@er:p:ss")
    assert!(
        request.contains("authorization: basic dxnazxi6cdpzcw=="),
        "{request}"
    );
    assert!(request.starts_with("put /metrics/job/j "), "{request}");
    let mut both = PushConfig::new(&url, "j");
    both.bearer_token = Some(Secret::new("t"));
    assert_eq!(both.validate().unwrap_err().field, "push.url");
}

/// `flush()` is bounded by the shutdown deadline, waiting and retries included: against a stalled
/// gateway it took every attempt's full timeout (6.8 s with `timeout_ms = 1000`) and ended with
/// that request timeout; now the deadline is what ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_has_a_deadline() {
    let stalled = FaultServer::start(Fault::Stall);
    let (recorder, mut config) = recorder_with_push(&stalled.url, 3600);
    let push = config.push.as_mut().unwrap();
    push.timeout_ms = 1000;
    push.shutdown_timeout_ms = 1500;
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    match exporter.flush().await {
        Err(ExportError::Timeout { timeout, .. }) => {
            assert_eq!(timeout, Duration::from_millis(1500))
        }
        other => panic!("expected the flush deadline, got {other:?}"),
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), exporter.shutdown()).await;
}

/// `error` and every error below it through `source()`.
fn error_chain<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// Shutdown stops an interval push's retries. Against a gateway answering 503, the push at start
/// retries under a long policy; at shutdown it gives up after its current wait and the final PUT
/// goes out within the deadline. With `stop_interval_pushes` made a no-op (a mutant no test
/// noticed), the interval push held the turn past the deadline and no PUT was ever sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_retries_of_an_interval_push() {
    let server = FaultServer::start(Fault::Statuses(vec![503]));
    let (recorder, mut config) = recorder_with_push(&server.url, 3600);
    let push = config.push.as_mut().unwrap();
    push.retry.tries = 100;
    push.retry.base_backoff_ms = 100;
    push.retry.max_backoff_ms = 100;
    push.retry.jitter = 0.0;
    push.shutdown_timeout_ms = 2000;
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    // Bounded: the push at start is retrying once the server has seen two attempts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no retries at start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        exporter.shutdown().await.is_err(),
        "the gateway answers 503"
    );
    let requests = server.request_texts();
    let puts = requests.iter().filter(|r| r.starts_with("PUT ")).count();
    assert!(puts > 0, "no final PUT: {} requests", requests.len());
}

/// `GroupPusher` on its own (as the wasm package drives it): `push` renders and sends the group,
/// `delete` removes it; both answer with the gateway's outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_pusher_pushes_and_deletes_its_group() {
    let gw = Pushgateway::start();
    let (recorder, config) = recorder_with_push(&gw.url, 3600);
    let client = PushClient::new(config.push.clone().unwrap()).unwrap();
    let pusher = observer_metrics::push::GroupPusher::new(recorder.handle(), client);
    let m = ObserverMetrics::new(&recorder.handle());
    m.events_processed_total.increment(5);
    pusher.push(PushMethod::Put).await.unwrap();
    assert_eq!(gw.value(BATCH, "events_processed_total"), Some(5.0));
    assert_eq!(pusher.successes(), 1);
    // What the gateway holds, read with the client's own credentials and headers.
    let groups = pusher.client().get("/api/v1/metrics").await.unwrap();
    assert!(groups.contains("\"events_processed_total\""), "{groups}");
    pusher.delete().await.unwrap();
    assert!(gw.group(BATCH).is_none());
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (recorder, mut config) = recorder_with_push(&dead, 3600);
    config.push.as_mut().unwrap().retry.tries = 1;
    let client = PushClient::new(config.push.clone().unwrap()).unwrap();
    let pusher = observer_metrics::push::GroupPusher::new(recorder.handle(), client);
    assert!(pusher.push(PushMethod::Post).await.is_err());
    assert!(pusher.delete().await.is_err());
    assert_eq!(pusher.failures(), 1);
}

/// A recorder that keeps native histograms pushes protobuf (`push.format = "auto"`): the gateway
/// takes it and serves the native histogram back in its protobuf exposition, and Prometheus 2.42
/// with native histograms on, scraping the gateway, answers `histogram_count` and
/// `histogram_sum` exactly. The other families of the push are there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_histograms_reach_prometheus_through_the_gateway() {
    let gateway = Pushgateway::start();
    let mut config = MetricsConfig::from_toml_str(
        "native_histogram_metrics = [\"rpc_native_seconds\"]\nexport_interval_secs = 3600\n",
    )
    .unwrap();
    config.push = Some(PushConfig::new(&gateway.url, "native-push"));
    let (recorder, exporter) = MetricsBuilder::from_config(config).build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        for ms in 1..=1000 {
            metrics::histogram!("rpc_native_seconds").record(f64::from(ms) / 1000.0);
        }
        metrics::counter!("pushed_total").increment(7);
    });
    exporter
        .shutdown()
        .await
        .expect("the gateway took the protobuf push");
    let target = gateway.url.trim_start_matches("http://").to_owned();
    let answers = tokio::task::spawn_blocking(move || {
        let prometheus = support::Prometheus::start_with(
            &[support::ScrapeJob {
                name: "gateway",
                target: &target,
                honor_labels: true,
            }],
            &["--enable-feature=native-histograms"],
        );
        // Bounded: scraped every second, read within 30 s.
        let deadline = Instant::now() + Duration::from_secs(30);
        let count = "histogram_count(rpc_native_seconds{job=\"native-push\"})";
        while prometheus.scalar(count).is_none() {
            assert!(
                Instant::now() < deadline,
                "no native histogram through the gateway"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        (
            prometheus.scalar(count),
            prometheus.scalar("histogram_sum(rpc_native_seconds{job=\"native-push\"})"),
            prometheus.scalar("pushed_total{job=\"native-push\"}"),
        )
    })
    .await
    .unwrap();
    assert_eq!(answers.0, Some(1000.0));
    let sum = answers.1.unwrap();
    assert!((sum - 500.5).abs() < 1e-9, "{sum}");
    assert_eq!(answers.2, Some(7.0));
}

/// `Exporter::url` and `urls` name every sink's own URL, push first, with passwords hidden: the
/// CLI's "pushing to … and …" line and the final timeout's message are made of them.
#[tokio::test]
async fn an_exporter_names_each_sinks_url_with_passwords_hidden() {
    let mut push = PushConfig::new("http://u:s3cret@127.0.0.1:9/gw", "j");
    push.shutdown_timeout_ms = 300;
    let mut write = observer_metrics::remote_write::RemoteWriteConfig::new(
        "http://w:p4ss@127.0.0.1:9/api/v1/write",
        "j",
    );
    write.shutdown_timeout_ms = 300;
    let mut config = MetricsConfig::default();
    config.push = Some(push);
    config.remote_write = Some(write);
    let recorder = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    assert_eq!(
        exporter.urls(),
        [
            "http://u:***@127.0.0.1:9/gw/metrics/job/j",
            "http://w:***@127.0.0.1:9/api/v1/write"
        ]
    );
    assert_eq!(exporter.url(), exporter.urls()[0]);
    let debug = format!("{exporter:?}");
    assert!(
        debug.starts_with("Exporter {") && debug.contains(exporter.urls()[1]),
        "{debug}"
    );
    assert!(
        !debug.contains("s3cret") && !debug.contains("p4ss"),
        "{debug}"
    );
    // Nothing listens on port 9: the final sends fail, and that is all.
    let _ = tokio::time::timeout(Duration::from_secs(20), exporter.shutdown()).await;
}

/// Dropping the exporter on a current_thread runtime cannot wait for its final push (that would
/// block the only worker): a warning says the push may be lost and what to call instead.
#[test]
fn a_drop_that_cannot_wait_for_its_final_push_warns() {
    let (logs, _capturing) = support::capture_logs();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut push = PushConfig::new(format!("http://127.0.0.1:{}", free_port()), "j");
        push.shutdown_timeout_ms = 200;
        let mut config = MetricsConfig::default();
        config.push = Some(push);
        let (_recorder, exporter) = MetricsBuilder::from_config(config).build().unwrap();
        drop(exporter);
    });
    let logged = logs.text();
    assert!(
        logged.contains("WARN")
            && logged.contains("current_thread runtime")
            && logged.contains("shutdown().await"),
        "{logged}"
    );
}

/// The gateway in a `static` answers (and is never dropped: the next test checks that it dies
/// with its test process all the same).
#[test]
fn a_gateway_held_in_a_static_answers() {
    let gw = shared_gateway();
    println!("shared gateway at {}", gw.url);
    assert!(gw.groups().is_empty() || !gw.api_metrics().is_empty());
}

/// A process a test starts dies with the test process even when nothing drops its guard (a
/// `static`): this test binary, run for the test above alone, leaves no gateway behind. Repeated
/// runs of the push tests once left 19 gateways running.
#[test]
fn a_gateway_in_a_static_dies_with_its_test_process() {
    use std::io::Read;
    let mut run = support::ChildGuard::spawn(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_gateway_held_in_a_static_answers",
                "--exact",
                "--nocapture",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null()),
    );
    let mut out = String::new();
    run.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(run.0.wait().unwrap().success(), "{out}");
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("shared gateway at "))
        .unwrap_or_else(|| panic!("no gateway started: {out}"));
    let address = url.trim_start_matches("http://").to_owned();
    // Bounded: the watchdog looks every half second.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the gateway at {url} outlived its test process"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The README's testkit snippet, in both tokio test flavours a user writes: the exporter's pushes
/// arrive while `wait_until` waits. (`wait_for` sleeps the thread: in a one-thread test the
/// push never ran and the wait failed after its limit.)
async fn the_readme_testkit_snippet() {
    let gw = Pushgateway::start();
    let (recorder, exporter) = MetricsBuilder::new()
        .with_push_gateway(&gw.url, "nightly")
        .export_interval_secs(1)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || metrics::counter!("rows_total").increment(42));
    assert!(
        gw.wait_until(Duration::from_secs(10), |g| {
            g.value(&[("job", "nightly")], "rows_total") == Some(42.0)
        })
        .await,
        "{}",
        gw.api_metrics()
    );
    let families = gw.families(&[("job", "nightly")]).unwrap();
    assert_eq!(families["rows_total"].series.len(), 1);
    exporter.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_readme_testkit_snippet_on_a_current_thread_runtime() {
    the_readme_testkit_snippet().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_testkit_snippet_on_a_multi_thread_runtime() {
    the_readme_testkit_snippet().await;
}
