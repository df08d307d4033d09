//! Delivering what a spool holds (native): oldest first, each file removed only once its receiver
//! accepted it.
//!
//! - A Pushgateway body is sent only while no newer push of its group reached the gateway: the
//!   gateway's `/api/v1/metrics` tells each group's `push_time_seconds`, and a group pushed after
//!   the body was made (by a later run, or this body itself before its sender died) supersedes it.
//! - A remote-write request goes as it was made: its samples keep their timestamps. A receiver's
//!   refusal of the payload itself (400, 409, 413, 422: Prometheus refuses samples older than its
//!   head block, or older than the newest it has of a series) is final for that file: dropped and
//!   counted as `rejected`. Any other failure (TLS, 401/403, 404, 429, 5xx) keeps it.
//! - A receiver that cannot be reached keeps its files for the next replay; the others go on.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::encoding::wire::TEXT_CONTENT_TYPE;
use crate::platform::{HttpClient, HttpRequest};
use crate::sinks::error::{ExportError, GATEWAY, REMOTE_WRITE_RECEIVER};
use crate::sinks::http::redact_url;
#[cfg(feature = "remote-write")]
use crate::sinks::remote_write::PROTOCOL_HEADERS;
use crate::sinks::spool::{Locked, ReplayReport, Spool};

/// Credentials (and other configured headers) for the files bound to a URL or under it (a
/// gateway's address covers its groups).
pub(crate) type Credentials = HashMap<String, Vec<(String, String)>>;

/// The headers of the longest configured URL that `url` is, or is under; `None` when it is under
/// none.
fn credentials_for(credentials: &Credentials, url: &str) -> Option<Vec<(String, String)>> {
    credentials
        .iter()
        .filter(|(base, _)| {
            let base = base.trim_end_matches('/');
            url.strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|(base, _)| base.len())
        .map(|(_, headers)| headers.clone())
}

/// Delivers the spool's files, oldest first, each request within `timeout`. `credentials` go only
/// to the receiver they were configured for. With `sink`, only that sink's files (by name, never
/// locked otherwise) of those receivers are delivered, and the replay stops at a file another
/// holder has locked, so none of that receiver's later files goes ahead of it (a recorder's own
/// sink); without, every file, and a held one is skipped (the `replay` command).
pub(crate) async fn replay(
    spool: &Spool,
    http: &HttpClient,
    credentials: &Credentials,
    sink: Option<&str>,
    timeout: Duration,
) -> ReplayReport {
    let only_these = sink.is_some();
    let mut report = ReplayReport::default();
    // Receivers that failed a file, and whether they said to come back later.
    let mut unreachable: HashMap<String, bool> = HashMap::new();
    // Each gateway's groups and their last push, read once per replay.
    let mut gateways: HashMap<String, Result<Groups, ExportError>> = HashMap::new();
    for name in spool.names() {
        if sink.is_some_and(|sink| !name.contains(&format!("-{sink}-"))) {
            continue;
        }
        let file = match spool.take(&name) {
            Ok(file) => file,
            // Another replay (or its writer) holds it, or it is gone.
            Err(None) => {
                report.busy += 1;
                match only_these {
                    true => break,
                    false => continue,
                }
            }
            Err(Some(reason)) => {
                report.dropped += 1;
                report.notes.push(format!("{name}: dropped ({reason})"));
                continue;
            }
        };
        let url = file.header.url.clone();
        let headers = credentials_for(credentials, &url);
        if only_these && headers.is_none() {
            continue;
        }
        let headers = headers.unwrap_or_default();
        if let Some(&comes_back) = unreachable.get(receiver_of(&file)) {
            report.kept += 1;
            report.waiting += u64::from(comes_back);
            continue;
        }
        if file.header.sink == "pushgateway" {
            let base = gateway_base(&url).to_owned();
            if !gateways.contains_key(&base) {
                let groups = groups(http, &base, &headers, timeout).await;
                gateways.insert(base.clone(), groups);
            }
            match &gateways[&base] {
                Ok(groups) => {
                    let pushed = groups.get(&group_key(&file.header.group)).copied();
                    if pushed.is_some_and(|ms| ms >= file.header.created_ms) {
                        report.dropped += 1;
                        report
                            .notes
                            .push(format!("{name}: superseded by a later push of its group"));
                        file.drop_for("superseded");
                        continue;
                    }
                }
                Err(e) => {
                    keep(&mut report, &mut unreachable, &file, e);
                    continue;
                }
            }
        }
        match send(http, &file, headers, timeout).await {
            Ok(()) => {
                report.delivered += 1;
                file.delivered();
            }
            Err(e) if !refused_for_good(&e) => keep(&mut report, &mut unreachable, &file, &e),
            Err(e) => {
                report.dropped += 1;
                report
                    .notes
                    .push(format!("{}: refused for good: {e}", file.name()));
                file.drop_for("rejected");
            }
        }
    }
    spool.publish_bytes();
    report
}

/// Whether the receiver refused this payload itself, so that sending it again can never
/// succeed: a 400 (Prometheus: out of bounds, out of order; the gateway: a body it cannot take),
/// 409, 413 or 422, or a kind of data it has disabled (`ExportError::Refused`). Anything else (no connection, TLS, 401/403 until credentials are fixed, a
/// 404 of a moved endpoint, 429, 5xx) keeps the file for a later replay.
fn refused_for_good(error: &ExportError) -> bool {
    matches!(
        error,
        ExportError::Status {
            status: 400 | 409 | 413 | 422,
            ..
        } | ExportError::Refused { .. }
    )
}

fn keep(
    report: &mut ReplayReport,
    unreachable: &mut HashMap<String, bool>,
    file: &Locked<'_>,
    error: &ExportError,
) {
    report.kept += 1;
    let comes_back = !matches!(
        error,
        ExportError::Status { status, .. } if *status != 429 && *status != 503
    );
    report.waiting += u64::from(comes_back);
    unreachable.insert(receiver_of(file).to_owned(), comes_back);
    report
        .notes
        .push(format!("{}: kept for later: {error}", file.name()));
}

async fn send(
    http: &HttpClient,
    file: &Locked<'_>,
    mut headers: Vec<(String, String)>,
    timeout: Duration,
) -> Result<(), ExportError> {
    let method = match file.header.method.as_str() {
        "PUT" => "PUT",
        _ => "POST",
    };
    match file.header.sink.as_str() {
        "pushgateway" => {
            let content_type = match file.header.content_type.as_str() {
                "" => TEXT_CONTENT_TYPE,
                spooled => spooled,
            };
            headers.push(("content-type".into(), content_type.into()));
        }
        #[cfg(feature = "remote-write")]
        _ => headers.extend(
            PROTOCOL_HEADERS
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned())),
        ),
        // Left for a build that has remote write: a transient error keeps the file.
        #[cfg(not(feature = "remote-write"))]
        _ => {
            return Err(ExportError::Other {
                method: "POST",
                url: redact_url(&file.header.url).into_owned(),
                cause: "this build has no remote write (feature `remote-write`)".into(),
                source: None,
            })
        }
    }
    let request = HttpRequest {
        method,
        url: &file.header.url,
        headers: &headers,
        body: Some(file.body.as_slice().into()),
        timeout,
    };
    let shown = redact_url(&file.header.url).into_owned();
    let receiver = match file.header.sink.as_str() {
        "pushgateway" => GATEWAY,
        _ => REMOTE_WRITE_RECEIVER,
    };
    let answer =
        ExportError::from_answer(method, &shown, receiver, timeout, http.send(request).await);
    #[cfg(feature = "remote-write")]
    let answer = answer.map_err(crate::sinks::remote_write::final_refusal);
    answer
}

/// A group's labels, sorted, and when the gateway last took a push of it (ms).
type Groups = HashMap<Vec<(String, String)>, u64>;

fn group_key(labels: &[(String, String)]) -> Vec<(String, String)> {
    let sorted: BTreeMap<_, _> = labels.iter().cloned().collect();
    sorted.into_iter().collect()
}

/// The receiver a file goes to: a gateway's address covers all its groups, so one that cannot be
/// reached costs one request's deadline, not one per group.
fn receiver_of<'f>(file: &'f Locked<'_>) -> &'f str {
    match file.header.sink.as_str() {
        "pushgateway" => gateway_base(&file.header.url),
        _ => &file.header.url,
    }
}

/// The gateway's address from a group URL (`<base>/metrics/job/…`).
fn gateway_base(group_url: &str) -> &str {
    group_url
        .rfind("/metrics/job")
        .map_or(group_url, |at| &group_url[..at])
}

/// Every group the gateway holds and its `push_time_seconds`.
async fn groups(
    http: &HttpClient,
    base: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<Groups, ExportError> {
    let url = format!("{base}/api/v1/metrics");
    let request = HttpRequest {
        method: "GET",
        url: &url,
        headers,
        body: None,
        timeout,
    };
    let shown = redact_url(&url).into_owned();
    let answer = http.send(request).await;
    let body = answer.as_ref().map(|r| r.body.clone()).unwrap_or_default();
    ExportError::from_answer("GET", &shown, GATEWAY, timeout, answer)?;
    Ok(parse_groups(&body))
}

fn parse_groups(body: &str) -> Groups {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return Groups::new();
    };
    let mut groups = Groups::new();
    for group in json["data"].as_array().into_iter().flatten() {
        let labels: Vec<(String, String)> = group["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let pushed = group["push_time_seconds"]["metrics"][0]["value"]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(seconds) = pushed {
            groups.insert(group_key(&labels), (seconds * 1000.0) as u64);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_groups_are_read_with_their_push_times() {
        let body = r#"{"status":"success","data":[{"labels":{"job":"a","zone":"x"},
            "last_push_successful":true,
            "push_time_seconds":{"metrics":[{"labels":{"job":"a"},"value":"1.7e+09"}]}}]}"#;
        let groups = parse_groups(body);
        let key = group_key(&[("zone".into(), "x".into()), ("job".into(), "a".into())]);
        assert_eq!(groups.get(&key), Some(&1_700_000_000_000));
        assert_eq!(
            gateway_base("http://g:9091/p/metrics/job/a/zone/x"),
            "http://g:9091/p"
        );
    }

    #[test]
    fn credentials_go_only_to_their_own_receiver() {
        let secret = vec![("authorization".to_owned(), "Bearer s".to_owned())];
        let credentials = Credentials::from([("http://g:9091/".to_owned(), secret.clone())]);
        let found = |url| credentials_for(&credentials, url);
        assert_eq!(found("http://g:9091/metrics/job/a"), Some(secret.clone()));
        assert_eq!(found("http://g:9091"), Some(secret));
        assert_eq!(found("http://g:90911/metrics/job/a"), None);
        assert_eq!(found("http://other:9091/metrics/job/a"), None);
    }

    fn spool_in(name: &str, max_age_secs: u64) -> (std::path::PathBuf, Spool) {
        let dir = std::env::temp_dir().join(format!("om-replay-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = crate::sinks::spool::SpoolConfig::new(&dir);
        config.max_age_secs = max_age_secs;
        let spool = Spool::open(&config, None).unwrap();
        (dir, spool)
    }

    fn write(spool: &Spool, url: &str) {
        let payload = crate::sinks::spool::Payload {
            sink: "remote_write",
            method: "POST",
            url,
            group: &[],
            body: b"x",
            content_type: "",
        };
        drop(spool.write(&payload).unwrap());
    }

    /// A receiver that cannot be reached keeps every one of its files (the first tried, the rest
    /// not tried), and the report counts them; files past `max_age_secs` are dropped and counted.
    #[tokio::test]
    async fn the_report_counts_what_was_kept_and_dropped() {
        let http = HttpClient::new(None).unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", closed.local_addr().unwrap());
        drop(closed);
        let (dir, spool) = spool_in("kept", 3600);
        for _ in 0..3 {
            write(&spool, &url);
        }
        let timeout = Duration::from_secs(2);
        let report = replay(&spool, &http, &Credentials::new(), None, timeout).await;
        assert_eq!(
            (report.delivered, report.kept, report.dropped),
            (0, 3, 0),
            "{report:?}"
        );
        assert_eq!(spool.names().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();

        let (dir, spool) = spool_in("expired", 1);
        for _ in 0..2 {
            write(&spool, &url);
        }
        std::thread::sleep(Duration::from_millis(2100));
        let report = replay(&spool, &http, &Credentials::new(), None, timeout).await;
        assert_eq!(
            (report.delivered, report.kept, report.dropped),
            (0, 0, 2),
            "{report:?}"
        );
        assert!(spool.names().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
