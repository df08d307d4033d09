//! The command line pushing, judged by a real Pushgateway's `/api/v1/metrics` (faults a real gateway cannot make
//! come from a small local server). Loopback only; every wait is bounded; no timing assertions.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use observer_metrics::export::{ExportError, Exporter};
use observer_metrics::push::{PushClient, PushConfig};
use support::{free_port, recorder_with_push, Fault, FaultServer, Pushgateway};

/// `error` and every error below it through `source()`.
fn error_chain<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

fn simulate(args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = cli!()
        .arg("simulate")
        .args(args)
        .env_remove("OBSERVER_METRICS_PUSH_URL")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn simulate_pushes_the_batch_and_exits_zero() {
    let gw = Pushgateway::start();
    let (code, stderr, _) = simulate(&[
        "--events",
        "2500",
        "--push-gateway",
        &gw.url,
        "--job",
        "sim",
        "--grouping",
        "instance=a/b c",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let labels = [("job", "sim"), ("instance", "a/b c")];
    assert_eq!(gw.value(&labels, "events_processed_total"), Some(2500.0));
    assert!(gw
        .value(&labels, "batch_last_success_timestamp_seconds")
        .is_some());
}

#[test]
fn simulate_against_a_stalling_gateway_fails_in_bounded_time_naming_it() {
    let server = FaultServer::start(Fault::Stall);
    let (code, stderr, _elapsed) = simulate(&["--events", "10", "--push-gateway", &server.url]);
    assert_eq!(code, Some(1), "{stderr}");
    let line = stderr.lines().last().unwrap();
    assert!(
        line.contains(&server.url) && line.contains("no answer within"),
        "{stderr}"
    );
}

#[test]
fn simulate_against_nothing_fails_naming_the_gateway() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let (code, stderr, _) = simulate(&["--events", "10", "--push-gateway", &url]);
    assert_eq!(code, Some(1), "{stderr}");
    let line = stderr.lines().last().unwrap();
    assert!(
        line.contains(&url) && line.contains("cannot connect"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_ends_the_batch_with_a_last_push() {
    let gw = Pushgateway::start();
    let mut child = support::ChildGuard::spawn(
        cli!()
            .args([
                "simulate",
                "--events",
                "1000000",
                "--rate",
                "200",
                "--interval",
                "1",
            ])
            .args(["--push-gateway", &gw.url, "--job", "term"])
            .stderr(std::process::Stdio::piped()),
    );
    let term = [("job", "term")];
    assert!(gw.wait_for(Duration::from_secs(15), |g| g
        .value(&term, "events_processed_total")
        .unwrap_or(0.0)
        > 0.0));
    let status = support::terminate(&mut child.0, Duration::from_secs(30));
    assert_eq!(status.code(), Some(143));
    // The last push carried the run's duration, which only the final push sets, and says the run
    // was stopped, not failed.
    assert!(gw.value(&term, "batch_last_run_duration_seconds").is_some());
    assert!(gw
        .value(&term, "batch_last_interrupted_timestamp_seconds")
        .is_some());
    assert_eq!(
        gw.value(&term, "batch_last_failure_timestamp_seconds"),
        None
    );
    assert_eq!(
        gw.value(&term, "batch_last_success_timestamp_seconds"),
        None
    );
    assert!(gw.value(&term, "events_processed_total").unwrap() > 0.0);
}

/// `serve` ended by SIGTERM (exit 0, as documented) is a service stopping, not a batch: it pushes
/// its final totals and no batch gauge, so `BatchJobNotSucceededRecently` has nothing to fire on
/// (it fired 12 s after every normal stop).
#[cfg(unix)]
#[test]
fn a_stopped_serve_is_not_a_failed_batch() {
    let gw = Pushgateway::start();
    let mut child = support::ChildGuard::spawn(
        cli!()
            .args(["serve", "--rate", "200", "--interval", "1"])
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--push-gateway", &gw.url, "--job", "service"])
            .stderr(std::process::Stdio::null()),
    );
    let group = [("job", "service")];
    assert!(gw.wait_for(Duration::from_secs(15), |g| g
        .value(&group, "events_processed_total")
        .unwrap_or(0.0)
        > 0.0));
    let status = support::terminate(&mut child.0, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    let families = gw.families(&group).unwrap();
    assert!(families.contains_key("events_processed_total"));
    let batch: Vec<_> = families
        .keys()
        .filter(|k| k.starts_with("batch_"))
        .collect();
    assert!(batch.is_empty(), "{batch:?}");
}

/// Run 1 succeeds; run 2 is SIGKILLed after its first push. The group must still hold run 1's
/// success time, or `time() - batch_last_success_timestamp_seconds > 86400` has no data and a job
/// that dies every night never alerts.
#[test]
fn a_killed_run_keeps_the_last_success_time() {
    let gw = Pushgateway::start();
    let labels = [("job", "nightly")];
    let (code, stderr, _) = simulate(&[
        "--events",
        "10",
        "--push-gateway",
        &gw.url,
        "--job",
        "nightly",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let success = gw
        .value(&labels, "batch_last_success_timestamp_seconds")
        .expect("run 1 pushed its success time");
    let pushed_at = gw.value(&labels, "push_time_seconds").unwrap();

    let mut run2 = support::ChildGuard::spawn(
        cli!()
            .args([
                "simulate",
                "--events",
                "100000",
                "--rate",
                "50",
                "--push-gateway",
                &gw.url,
                "--job",
                "nightly",
                "--interval",
                "1",
            ])
            .stderr(std::process::Stdio::null()),
    );
    assert!(
        gw.wait_for(Duration::from_secs(15), |g| g
            .value(&labels, "push_time_seconds")
            .is_some_and(|t| t > pushed_at)),
        "run 2 never pushed"
    );
    run2.0.kill().unwrap();
    run2.0.wait().unwrap();
    assert_eq!(
        gw.value(&labels, "batch_last_success_timestamp_seconds"),
        Some(success),
        "{}",
        gw.api_metrics()
    );
}

/// `.` and `..` are dot segments to a URL parser: pushed plainly, they lose the label or move the
/// group, and two groups with one label set then make the gateway refuse every later push, from
/// any job.
#[test]
fn dot_grouping_values_keep_their_group_and_others_can_still_push() {
    let gw = Pushgateway::start();
    for value in [".", ".."] {
        let (code, stderr, _) = simulate(&[
            "--events",
            "5",
            "--push-gateway",
            &gw.url,
            "--job",
            "dots",
            "--grouping",
            &format!("instance={value}"),
        ]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(
            gw.value(
                &[("job", "dots"), ("instance", value)],
                "events_processed_total"
            ),
            Some(5.0),
            "{}",
            gw.api_metrics()
        );
    }
    assert_eq!(
        gw.put("unrelated", "# TYPE x counter\nx 1\n").0,
        200,
        "{}",
        gw.api_metrics()
    );
}

/// Credentials in the gateway URL never show: not in errors, `Debug`, `url()`, or the CLI's final
/// push line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_are_never_shown() {
    let port = free_port();
    let url = format!("http://user:hunter2@127.0.0.1:{port}");
    let (recorder, mut config) = recorder_with_push(&url, 3600);
    config.push.as_mut().unwrap().shutdown_timeout_ms = 3000;
    let exporter = Exporter::start(recorder.handle(), &config).unwrap();
    let shown = [
        exporter.url().to_owned(),
        format!("{exporter:?}"),
        format!("{:?}", config.push.as_ref().unwrap()),
        exporter.flush().await.unwrap_err().to_string(),
        exporter.shutdown().await.unwrap_err().to_string(),
    ];
    for text in shown {
        assert!(
            !text.contains("hunter2") && text.contains("user:***@"),
            "{text}"
        );
    }
    let (code, stderr, _) = simulate(&["--events", "3", "--push-gateway", &url]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("final push failed") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

/// SIGINT against a stalled gateway: the final push waits out its deadline and the exit code still
/// says SIGINT (130, not 1); a second SIGINT ends the process at once, long before a 60 s deadline.
#[cfg(unix)]
#[test]
fn signals_with_a_stalled_gateway() {
    let stalled = FaultServer::start(Fault::Stall);
    let start = |request_timeout: &str, shutdown_timeout: &str| {
        let child = support::ChildGuard::spawn(
            cli!()
                .args(["simulate", "--events", "1000000", "--rate", "100"])
                .args(["--push-gateway", &stalled.url])
                .env("OBSERVER_METRICS_PUSH_TIMEOUT_MS", request_timeout)
                .env(
                    "OBSERVER_METRICS_PUSH_SHUTDOWN_TIMEOUT_MS",
                    shutdown_timeout,
                )
                .stderr(std::process::Stdio::null()),
        );
        // The push at start reaching the server means the run (and its signal handler) is up.
        let seen = stalled.requests.lock().unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stalled.requests.lock().unwrap().len() == seen {
            assert!(Instant::now() < deadline, "no push at start");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        child
    };
    let sigint = |child: &support::ChildGuard| {
        Command::new("kill")
            .args(["-INT", &child.0.id().to_string()])
            .status()
            .unwrap();
    };
    let exit_within = |child: &mut support::ChildGuard, limit: Duration| {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after the signal"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    let mut once = start("500", "1500");
    sigint(&once);
    assert_eq!(
        exit_within(&mut once, Duration::from_secs(20)).code(),
        Some(130)
    );

    let mut twice = start("60000", "60000");
    sigint(&twice);
    std::thread::sleep(Duration::from_secs(1));
    sigint(&twice);
    assert_eq!(
        exit_within(&mut twice, Duration::from_secs(20)).code(),
        Some(130)
    );
}

/// An https gateway behind a private CA: refused as a TLS error by default, trusted through
/// `push.ca_file`, and through the platform's store, which honours `SSL_CERT_FILE` as other tools
/// do (only the bundled roots were trusted, and `SSL_CERT_FILE` was ignored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_behind_a_private_ca() {
    let gw = Pushgateway::start();
    let proxy = support::TlsProxy::start(&gw.url).await;
    let ca = std::env::temp_dir().join(format!("om-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &proxy.ca_pem).unwrap();
    let body = "# TYPE tls_total counter\ntls_total 3\n";

    let err = PushClient::new(PushConfig::new(&proxy.url, "tls"))
        .unwrap()
        .push(body)
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Tls { .. }), "{err}");
    assert!(
        error_chain(&err).count() > 1,
        "the TLS failure lost its source: {err:?}"
    );

    let mut config = PushConfig::new(&proxy.url, "tls");
    config.ca_file = Some(ca.display().to_string());
    PushClient::new(config).unwrap().push(body).await.unwrap();
    assert_eq!(gw.value(&[("job", "tls")], "tls_total"), Some(3.0));

    let (url, ca_path) = (proxy.url.clone(), ca.clone());
    let out = tokio::task::spawn_blocking(move || {
        cli!()
            .args(["simulate", "--events", "3", "--push-gateway", &url])
            .args(["--job", "tls-env"])
            .env("SSL_CERT_FILE", &ca_path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        gw.value(&[("job", "tls-env")], "events_processed_total"),
        Some(3.0)
    );

    std::fs::write(&ca, "not a certificate").unwrap();
    let mut config = PushConfig::new(&proxy.url, "tls");
    config.ca_file = Some(ca.display().to_string());
    assert_eq!(PushClient::new(config).unwrap_err().field, "push.ca_file");
    std::fs::remove_file(&ca).unwrap();
}

/// Logs an operator can read: a gateway down at start and back later gives one warning for the
/// streak of failed sends and one line for the recovery, not a line a tick; every line has a
/// timestamp and a level, and progress shows without a terminal. `--log-format json` writes the
/// same as one JSON object a line.
#[cfg(unix)]
#[test]
fn a_failure_streak_and_its_recovery_are_logged_once() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = support::ChildGuard::spawn(
        cli!()
            .args(["--log-format", "json", "simulate", "--events", "1000000"])
            .args(["--rate", "500", "--interval", "1", "--progress-secs", "1"])
            .args(["--push-gateway", &url, "--job", "streak"])
            .env("OBSERVER_METRICS_PUSH_RETRY_TRIES", "1")
            .stderr(std::process::Stdio::piped()),
    );
    // Bounded: three failed intervals, then the gateway is back.
    std::thread::sleep(Duration::from_millis(3200));
    let gw = Pushgateway::start_on(port);
    let group = [("job", "streak")];
    assert!(gw.wait_for(Duration::from_secs(15), |g| g
        .value(&group, "events_processed_total")
        .is_some()));
    let status = support::terminate(&mut child.0, Duration::from_secs(30));
    assert_eq!(status.code(), Some(143));
    let stderr = support::stderr_of(&mut child);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| {
            assert!(
                l["timestamp"].as_str().is_some_and(|t| t.starts_with("20")),
                "{l}"
            );
            assert!(l["level"].is_string(), "{l}");
            l["fields"]["message"].as_str().unwrap_or_default()
        })
        .collect();
    let failed = messages
        .iter()
        .filter(|m| m.starts_with("send failed"))
        .count();
    let recovered = messages
        .iter()
        .filter(|m| m.starts_with("sends recovered"))
        .count();
    assert_eq!((failed, recovered), (1, 1), "{stderr}");
    assert!(
        messages.iter().any(|m| m.starts_with("progress: ")),
        "{stderr}"
    );
    let last = messages.last().unwrap();
    assert!(last.contains("cut short by SIGTERM"), "{stderr}");
}
