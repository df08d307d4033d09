//! The files in `pushgateway/`: rules that promtool accepts and whose unit tests pass, a dashboard
//! whose every query is valid PromQL over the catalogue, and a start script that brings up a real
//! Pushgateway and Prometheus scraping it with `honor_labels`.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use observer_metrics::observer::CATALOGUE;
use support::free_port;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pushgateway");

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(DIR)
        .output()
        .expect("promtool must be installed (apt-get install -y prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn rules_pass_promtool_check_and_their_unit_tests() {
    let (ok, text) = promtool(&["check", "rules", "rules.yml"]);
    assert!(ok && text.contains("SUCCESS: 8 rules found"), "{text}");
    let (ok, text) = promtool(&["test", "rules", "rules_test.yml"]);
    assert!(ok && text.contains("SUCCESS"), "{text}");
}

/// The metric names in `expr` without the dashboard's `{job=~"$job"}`: identifiers holding a `_`
/// (label names and keywords here have none) that are not a function call.
fn unfiltered(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find(|c: char| c.is_ascii_lowercase() || c == '_') {
        let tail = &rest[start..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        let (name, after) = tail.split_at(len);
        let next = after.trim_start();
        if name.contains('_') && !next.starts_with('(') && !next.starts_with("{job=~\"$job\"}") {
            out.push(name);
        }
        rest = after;
    }
    out
}

#[test]
fn dashboard_queries_are_valid_promql_over_the_whole_catalogue() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/dashboard.json")).unwrap())
            .unwrap();
    let exprs: Vec<String> = json["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    for entry in &CATALOGUE {
        assert!(
            exprs.iter().any(|e| e.contains(entry.name)),
            "{} has no panel",
            entry.name
        );
    }
    // A `job` variable (several at once, or all), and every selector of every query kept to it.
    let variables = json["templating"]["list"].as_array().unwrap();
    let job = variables
        .iter()
        .find(|v| v["name"] == "job")
        .expect("a job variable");
    assert_eq!(job["type"], "query");
    assert_eq!(job["multi"], true);
    assert_eq!(job["includeAll"], true);
    assert_eq!(job["allValue"], ".+");
    for expr in &exprs {
        assert_eq!(
            unfiltered(expr),
            Vec::<&str>::new(),
            "not kept to $job: {expr}"
        );
    }
    // promtool parses PromQL when it checks rules: make each query a recording rule, with the
    // variable as Grafana's "All" expands it.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: {}\n",
            serde_json::to_string(&expr.replace("$job", ".+")).unwrap()
        ));
    }
    let path = std::env::temp_dir().join(format!("om-dashboard-rules-{}.yml", std::process::id()));
    std::fs::write(&path, rules).unwrap();
    let (ok, text) = promtool(&["check", "rules", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert!(ok, "{text}");
}

fn get(url: &str) -> Option<String> {
    ureq::get(url)
        .timeout(Duration::from_secs(5))
        .call()
        .ok()?
        .into_string()
        .ok()
}

#[test]
fn run_script_starts_a_gateway_and_a_prometheus_that_honours_pushed_labels() {
    let (gw_port, prom_port) = (free_port(), free_port());
    let mut script = support::ChildGuard::spawn(
        Command::new("bash")
            .arg(format!("{DIR}/run.sh"))
            .args([
                "--port",
                &gw_port.to_string(),
                "--with-prometheus",
                "--prometheus-port",
                &prom_port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let gateway = format!("http://127.0.0.1:{gw_port}");
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "{what} did not happen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait("the gateway starting", &|| {
        get(&format!("{gateway}/-/ready")).is_some()
    });
    ureq::put(&format!("{gateway}/metrics/job/nightly"))
        .send_string("# TYPE rows_total counter\nrows_total 42\n")
        .unwrap();
    wait("Prometheus starting", &|| {
        get(&format!("{prometheus}/-/ready")).is_some()
    });
    let query = format!("{prometheus}/api/v1/query?query=rows_total%7Bjob%3D%22nightly%22%7D");
    wait(
        "Prometheus scraping the pushed series under its own job label",
        &|| get(&query).is_some_and(|body| body.contains("\"42\"")),
    );
    let rules = get(&format!("{prometheus}/api/v1/rules")).unwrap();
    assert!(rules.contains("HighActionFailureRate"), "{rules}");

    support::terminate(&mut script.0, Duration::from_secs(30));
    wait("the gateway stopping", &|| {
        get(&format!("{gateway}/-/ready")).is_none()
    });
}
