//! Smoke tests of a deployment: the `observer-metrics check` command. Each sends a canary, reads
//! it back from the receiver itself and compares every value exactly, then removes it and confirms that it is gone.
//!
//! - [`check_pushgateway`]: a canary group (a counter, a gauge, a histogram, and a grouping value
//!   with `/` and a space) pushed with PUT, read back through the gateway's `/api/v1/metrics`,
//!   deleted, and looked for again.
//! - [`check_remote_write`]: the same series remote-written, read back with PromQL from a
//!   Prometheus-compatible query API, ended with stale markers, and looked for again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use metrics::{Key, Label, Level, Metadata, Recorder};

use std::process::ExitCode;

use observer_metrics::export::ExportError;
use observer_metrics::push::{PushClient, PushConfig};
use observer_metrics::remote_write::{RemoteWriteConfig, RemoteWriter};
use observer_metrics::{MetricsBuilder, MetricsConfig, ObserverRecorder};

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The canary's counter, gauge and histogram.
pub const CANARY_COUNTER: &str = "observer_metrics_check_canary_total";
/// See [`CANARY_COUNTER`].
pub const CANARY_GAUGE: &str = "observer_metrics_check_canary_value";
/// See [`CANARY_COUNTER`].
pub const CANARY_HISTOGRAM: &str = "observer_metrics_check_canary_seconds";
/// The grouping label the canary group adds, and its value (a `/` and a space on purpose).
pub const CANARY_GROUPING: (&str, &str) = ("check", "canary/a b");

const COUNT: u64 = 42;
const GAUGE: f64 = -1.5;
const OBSERVATIONS: [f64; 3] = [0.02, 0.3, 7.0];
const BUCKETS: [f64; 3] = [0.1, 1.0, 10.0];

/// One step of a check: what it did, how long it took, and how it went.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Step {
    /// What the step does, e.g. `push the canary group`.
    pub name: &'static str,
    /// How long it took.
    pub elapsed: Duration,
    /// `Err` with the cause when it failed; a check stops at its first failed step.
    pub outcome: Result<(), String>,
}

/// The steps a check ran; it passed when every one did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// In order; after a failure no more steps run.
    pub steps: Vec<Step>,
}

impl Report {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.outcome.is_ok())
    }

    async fn step<F>(&mut self, name: &'static str, work: F) -> bool
    where
        F: std::future::Future<Output = Result<(), String>>,
    {
        if !self.passed() {
            return false;
        }
        let started = Instant::now();
        let outcome = work.await;
        let ok = outcome.is_ok();
        self.steps.push(Step {
            name,
            elapsed: started.elapsed(),
            outcome,
        });
        ok
    }
}

/// A recorder holding the canary, set up for `config` (its push grouping renames clashing labels).
fn canary(config: &MetricsConfig) -> Result<ObserverRecorder, String> {
    let mut config = config.clone();
    config.recorder.histogram_buckets = BUCKETS.to_vec();
    config.recorder.global_labels.clear();
    config.recorder.prefix = None;
    let recorder = MetricsBuilder::from_config(config)
        .build_recorder()
        .map_err(|e| e.to_string())?;
    let labels = || vec![Label::new("kind", "canary")];
    recorder
        .register_counter(&Key::from_parts(CANARY_COUNTER, labels()), &METADATA)
        .increment(COUNT);
    recorder
        .register_gauge(&Key::from_parts(CANARY_GAUGE, labels()), &METADATA)
        .set(GAUGE);
    let histogram =
        recorder.register_histogram(&Key::from_parts(CANARY_HISTOGRAM, labels()), &METADATA);
    for v in OBSERVATIONS {
        histogram.record(v);
    }
    Ok(recorder)
}

/// What the canary's series must read, by series (`name` or `name_bucket{le}`), as numbers.
fn expected() -> BTreeMap<String, f64> {
    let mut e = BTreeMap::new();
    e.insert(CANARY_COUNTER.to_owned(), COUNT as f64);
    e.insert(CANARY_GAUGE.to_owned(), GAUGE);
    for le in BUCKETS {
        let cumulative = OBSERVATIONS.iter().filter(|&&v| v <= le).count();
        e.insert(
            format!("{CANARY_HISTOGRAM}_bucket{{le=\"{le}\"}}"),
            cumulative as f64,
        );
    }
    e.insert(
        format!("{CANARY_HISTOGRAM}_bucket{{le=\"+Inf\"}}"),
        OBSERVATIONS.len() as f64,
    );
    e.insert(
        format!("{CANARY_HISTOGRAM}_count"),
        OBSERVATIONS.len() as f64,
    );
    e.insert(format!("{CANARY_HISTOGRAM}_sum"), OBSERVATIONS.iter().sum());
    e
}

/// Compares what a receiver read back with [`expected`]: every series, exactly.
fn compare(got: &BTreeMap<String, f64>) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (series, want) in expected() {
        match got.get(&series) {
            Some(have) if *have == want => {}
            Some(have) => wrong.push(format!("{series} is {have}, pushed {want}")),
            None => wrong.push(format!("{series} is missing")),
        }
    }
    match wrong.is_empty() {
        true => Ok(()),
        false => Err(wrong.join("; ")),
    }
}

/// The canary group's series in the gateway's JSON view (`/api/v1/metrics`), by series.
fn group_series(
    view: &str,
    grouping: &BTreeMap<String, String>,
) -> Result<Option<BTreeMap<String, f64>>, String> {
    let view: serde_json::Value =
        serde_json::from_str(view).map_err(|e| format!("the gateway's JSON: {e}"))?;
    let groups = view["data"].as_array().cloned().unwrap_or_default();
    let group = groups.into_iter().find(|g| {
        g["labels"].as_object().is_some_and(|l| {
            l.len() == grouping.len()
                && grouping
                    .iter()
                    .all(|(k, v)| l.get(k).and_then(|x| x.as_str()) == Some(v))
        })
    });
    let Some(group) = group else { return Ok(None) };
    let number = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
    let mut got = BTreeMap::new();
    for name in [CANARY_COUNTER, CANARY_GAUGE] {
        if let Some(v) = group[name]["metrics"][0]["value"].as_str() {
            got.insert(name.to_owned(), v.parse().unwrap_or(f64::NAN));
        }
    }
    let histogram = &group[CANARY_HISTOGRAM]["metrics"][0];
    if let Some(buckets) = histogram["buckets"].as_object() {
        for (le, count) in buckets {
            let le = le
                .parse::<f64>()
                .map_or(le.clone(), |b| match b.is_infinite() {
                    true => "+Inf".to_owned(),
                    false => b.to_string(),
                });
            if let Some(count) = number(count) {
                got.insert(format!("{CANARY_HISTOGRAM}_bucket{{le=\"{le}\"}}"), count);
            }
        }
        if let Some(count) = number(&histogram["count"]) {
            got.insert(format!("{CANARY_HISTOGRAM}_count"), count);
        }
        if let Some(sum) = number(&histogram["sum"]) {
            got.insert(format!("{CANARY_HISTOGRAM}_sum"), sum);
        }
    }
    Ok(Some(got))
}

/// Checks a Pushgateway as `push` reaches it (URL, credentials, headers, TLS): pushes a canary
/// group under `push.job` plus the grouping label `check="canary/a b"`, reads it back through
/// `/api/v1/metrics` and compares every value, deletes the group, and confirms it is gone.
pub async fn check_pushgateway(push: &PushConfig) -> Report {
    let mut report = Report::default();
    let mut push = push.clone();
    push.grouping
        .insert(CANARY_GROUPING.0.to_owned(), CANARY_GROUPING.1.to_owned());
    push.method = observer_metrics::push::PushMethod::Put;
    let mut config = MetricsConfig::default();
    config.push = Some(push.clone());
    let mut setup = None;
    report
        .step("build the canary", async {
            let recorder = canary(&config)?;
            let client = PushClient::new(push.clone()).map_err(|e| e.to_string())?;
            setup = Some((recorder, client));
            Ok(())
        })
        .await;
    let Some((recorder, client)) = setup else {
        return report;
    };
    let mut grouping: BTreeMap<String, String> = push.grouping.clone();
    grouping.insert("job".into(), push.job.clone());
    let read = || async {
        let view = client
            .get("/api/v1/metrics")
            .await
            .map_err(|e| e.to_string())?;
        group_series(&view, &grouping)
    };
    report
        .step("push the canary group (PUT)", async {
            client
                .push(&recorder.render())
                .await
                .map_err(|e| e.to_string())
        })
        .await;
    report
        .step("read it back from /api/v1/metrics and compare", async {
            match read().await? {
                Some(got) => compare(&got),
                None => Err(format!("the gateway holds no group {grouping:?}")),
            }
        })
        .await;
    report
        .step("delete the group", async {
            client.delete().await.map_err(|e| e.to_string())
        })
        .await;
    report
        .step("confirm the group is gone", async {
            match read().await? {
                None => Ok(()),
                Some(_) => Err(format!("the gateway still holds {grouping:?}")),
            }
        })
        .await;
    report
}

/// A query API's failure as the message should name it: the API is reached through a push client,
/// whose errors say "the gateway answered".
fn query_api_error(error: ExportError) -> String {
    match error {
        ExportError::Status {
            method,
            url,
            status,
            body,
            ..
        } => format!("{method} {url} failed: the query API answered {status}: {body}"),
        other => other.to_string(),
    }
}

/// Tries `attempt` every 250 ms until it succeeds or `wait` has passed (a query API makes fresh
/// samples searchable after a moment); its last outcome.
async fn until<F, Fut>(wait: Duration, mut attempt: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + wait;
    loop {
        let outcome = attempt().await;
        if outcome.is_ok() || Instant::now() >= deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Checks a remote-write receiver and the query API in front of its storage (`query_url`, e.g.
/// Prometheus' base URL): writes the canary series under `rw.job` and a fresh `instance`, reads
/// them back with PromQL (waiting up to `wait` for them to become searchable) and compares every
/// value, ends them with stale markers, and confirms an instant query no longer finds them.
pub async fn check_remote_write(rw: &RemoteWriteConfig, query_url: &str, wait: Duration) -> Report {
    let mut report = Report::default();
    let mut rw = rw.clone();
    if rw.instance.is_none() {
        rw.instance = Some(format!(
            "check-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        ));
    }
    let mut config = MetricsConfig::default();
    config.remote_write = Some(rw.clone());
    let mut setup = None;
    report
        .step("build the canary", async {
            let recorder = canary(&config)?;
            let writer =
                RemoteWriter::new(recorder.handle(), rw.clone()).map_err(|e| e.to_string())?;
            // The query API is reached as the receiver is: same credentials, headers (a Mimir
            // tenant), CA and deadline.
            let mut reach = PushConfig::new(query_url, "query");
            reach.headers = rw.headers.clone();
            reach.basic_auth = rw.basic_auth.clone();
            reach.bearer_token = rw.bearer_token.clone();
            reach.ca_file = rw.ca_file.clone();
            reach.timeout_ms = rw.timeout_ms;
            let query = PushClient::new(reach).map_err(|e| e.to_string())?;
            setup = Some((recorder, writer, query));
            Ok(())
        })
        .await;
    let Some((_recorder, writer, query)) = setup else {
        return report;
    };
    let selector = format!(
        "{{job=\"{}\",instance=\"{}\",kind=\"canary\"}}",
        rw.job.replace('\\', "\\\\").replace('"', "\\\""),
        writer.instance().replace('\\', "\\\\").replace('"', "\\\"")
    );
    // Every canary series' last value, by series as the render names them.
    let read = |expr: String| {
        let query = &query;
        async move {
            let path = format!(
                "/api/v1/query?query={}",
                percent_encoding::utf8_percent_encode(&expr, percent_encoding::NON_ALPHANUMERIC)
            );
            let body = query.get(&path).await.map_err(query_api_error)?;
            let view: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| format!("the query API's JSON: {e}"))?;
            let mut got = BTreeMap::new();
            for r in view["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let name = r["metric"]["__name__"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let series = match r["metric"]["le"].as_str() {
                    Some(le) => format!("{name}{{le=\"{le}\"}}"),
                    None => name,
                };
                if let Some(v) = r["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()) {
                    got.insert(series, v);
                }
            }
            Ok::<_, String>(got)
        }
    };
    report
        .step("remote-write the canary", async {
            writer.write().await.map_err(|e| e.to_string())
        })
        .await;
    report
        .step("read it back with PromQL and compare", async {
            until(wait, || async {
                compare(&read(format!("last_over_time({selector}[10m])")).await?)
            })
            .await
        })
        .await;
    report
        .step("end the series (stale markers)", async {
            writer.end().await.map_err(|e| e.to_string())
        })
        .await;
    report
        .step("confirm an instant query no longer finds them", async {
            until(wait, || async {
                match read(selector.clone()).await?.len() {
                    0 => Ok(()),
                    n => Err(format!("{n} series still answer {selector}")),
                }
            })
            .await
        })
        .await;
    report
}

/// `observer-metrics check`: each configured sink checked in turn, every step printed.
pub(crate) async fn command(config: &MetricsConfig, query: Option<&str>) -> ExitCode {
    let mut reports: Vec<(String, Report)> = Vec::new();
    if let Some(push) = &config.push {
        reports.push((
            format!(
                "Pushgateway {}",
                observer_metrics::export::redact_url(&push.url)
            ),
            check_pushgateway(push).await,
        ));
    }
    if let (Some(rw), Some(query)) = (&config.remote_write, query) {
        reports.push((
            format!(
                "remote write {} read back from {query}",
                observer_metrics::export::redact_url(&rw.url)
            ),
            check_remote_write(rw, query, Duration::from_secs(30)).await,
        ));
    }
    let mut passed = true;
    for (what, report) in &reports {
        println!("check: {what}");
        for step in &report.steps {
            match &step.outcome {
                Ok(()) => println!("  ok    {} ({:.0?})", step.name, step.elapsed),
                Err(cause) => println!("  FAIL  {} ({:.0?}): {cause}", step.name, step.elapsed),
            }
        }
        passed &= report.passed();
    }
    if passed {
        println!("check: all passed");
        return ExitCode::SUCCESS;
    }
    if let Some((what, step, cause)) = reports.iter().find_map(|(w, r)| {
        r.steps
            .iter()
            .find_map(|s| s.outcome.as_ref().err().map(|c| (w, s.name, c)))
    }) {
        tracing::error!("check failed at \"{step}\" ({what}): {cause}");
    }
    ExitCode::FAILURE
}
