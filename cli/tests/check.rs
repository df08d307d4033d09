//! `observer-metrics check` against real components: a Pushgateway (directly, and behind a TLS
//! front with a private CA given by `--config`), a Prometheus and a VictoriaMetrics as remote-write
//! receivers and query APIs; and a dead gateway, which fails naming the step and the cause.

#[path = "../../tests/support/mod.rs"]
mod support;

use support::{Prometheus, Pushgateway, VictoriaMetrics};

fn check(args: &[&str]) -> (Option<i32>, String, String) {
    let out = cli!().arg("check").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_gateway_and_a_prometheus_pass_every_step_and_keep_nothing() {
    let gw = Pushgateway::start();
    let prometheus = Prometheus::start(&[]);
    let (code, stdout, stderr) = check(&[
        "--push-gateway",
        &gw.url,
        "--remote-write",
        &prometheus.write_url(),
        "--query",
        &prometheus.url,
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.matches("\n  ok    ").count(), 10, "{stdout}");
    assert!(stdout.contains("check: all passed"), "{stdout}");
    assert!(gw.groups().is_empty(), "{}", gw.api_metrics());
    assert_eq!(
        prometheus.query("observer_metrics_check_canary_total"),
        vec![],
        "the canary is still live"
    );
}

#[test]
fn victoria_metrics_passes_too() {
    let vm = VictoriaMetrics::start();
    let (code, stdout, stderr) = check(&["--remote-write", &vm.write_url(), "--query", &vm.url]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("check: all passed"), "{stdout}");
}

#[test]
fn a_dead_gateway_fails_naming_the_step_and_the_cause() {
    let url = format!("http://127.0.0.1:{}", support::free_port());
    let (code, stdout, stderr) = check(&["--push-gateway", &url]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("  FAIL  push the canary group (PUT)"),
        "{stdout}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("check failed at \"push the canary group (PUT)\"")
            && last.contains(&url)
            && last.contains("cannot connect"),
        "{stderr}"
    );
}

/// A gateway behind a TLS front with a private CA, wired through `--config` as a deployment would:
/// the check passes with the CA file, and fails at the push, as TLS, without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_behind_tls_with_a_private_ca() {
    let gw = Pushgateway::start();
    let proxy = support::TlsProxy::start(&gw.url).await;
    let dir = std::env::temp_dir().join(format!("om-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), &proxy.ca_pem).unwrap();
    let with_ca = dir.join("with-ca.toml");
    std::fs::write(
        &with_ca,
        format!(
            "[push]\nurl = \"{}\"\njob = \"tls-check\"\nca_file = \"{}\"\n",
            proxy.url,
            dir.join("ca.pem").display()
        ),
    )
    .unwrap();
    let config = with_ca.display().to_string();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || check(&["--config", &config]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let url = proxy.url.clone();
    let (code, stdout, _) = tokio::task::spawn_blocking(move || check(&["--push-gateway", &url]))
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  push the canary group (PUT)") && stdout.contains("TLS"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A query API that answers with an error is named as such, not as "the gateway" (the request
/// goes through the push client): a Prometheus behind a wrong path answers 404.
#[test]
fn a_failing_query_api_is_named_in_the_cause() {
    let prometheus = Prometheus::start(&[]);
    let wrong = format!("{}/not-here", prometheus.url);
    let (code, stdout, stderr) =
        check(&["--remote-write", &prometheus.write_url(), "--query", &wrong]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("the query API answered 404") && !last.contains("the gateway"),
        "{stderr}"
    );
}
