//! Every `OBSERVER_METRICS_*` variable this build reads, with the config field it sets: what
//! `observer-metrics env` lists, and what an unknown variable's "did you mean" is chosen from.

/// One environment variable and the setting it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVariable {
    /// The variable, e.g. `OBSERVER_METRICS_PUSH_URL`.
    pub name: &'static str,
    /// The config field it sets, as TOML names it, e.g. `push.url`.
    pub field: &'static str,
    /// A value it takes, in the variable's own syntax (lists comma-separated, maps `k=v,k=v`).
    pub example: &'static str,
}

const fn var(name: &'static str, field: &'static str, example: &'static str) -> EnvVariable {
    EnvVariable {
        name,
        field,
        example,
    }
}

const RECORDER: &[EnvVariable] = &[
    var("OBSERVER_METRICS_ENABLED", "enabled", "false"),
    var(
        "OBSERVER_METRICS_HISTOGRAM_BUCKETS",
        "histogram_buckets",
        "1,5,10",
    ),
    var(
        "OBSERVER_METRICS_HISTOGRAM_BUCKETS_SECONDS",
        "histogram_buckets_seconds",
        "0.1,1,10",
    ),
    var(
        "OBSERVER_METRICS_HISTOGRAM_BUCKETS_BYTES",
        "histogram_buckets_bytes",
        "1024,1048576",
    ),
    var("OBSERVER_METRICS_SAMPLE_RATE", "sample_rate", "0.5"),
    var(
        "OBSERVER_METRICS_SUMMARY_METRICS",
        "summary_metrics",
        "rpc_*",
    ),
    var(
        "OBSERVER_METRICS_SUMMARY_QUANTILES",
        "summary_quantiles",
        "0.5,0.99",
    ),
    var(
        "OBSERVER_METRICS_SUMMARY_WINDOW_SECS",
        "summary_window_secs",
        "30",
    ),
    var(
        "OBSERVER_METRICS_SUMMARY_WINDOW_BUCKETS",
        "summary_window_buckets",
        "6",
    ),
    var(
        "OBSERVER_METRICS_NATIVE_HISTOGRAM_METRICS",
        "native_histogram_metrics",
        "*_seconds",
    ),
    var(
        "OBSERVER_METRICS_NATIVE_HISTOGRAM_BUCKET_FACTOR",
        "native_histogram_bucket_factor",
        "1.2",
    ),
    var(
        "OBSERVER_METRICS_NATIVE_HISTOGRAM_MAX_BUCKETS",
        "native_histogram_max_buckets",
        "100",
    ),
    var(
        "OBSERVER_METRICS_NATIVE_HISTOGRAM_ZERO_THRESHOLD",
        "native_histogram_zero_threshold",
        "0.001",
    ),
    var(
        "OBSERVER_METRICS_NATIVE_HISTOGRAM_CLASSIC_BUCKETS",
        "native_histogram_classic_buckets",
        "false",
    ),
    var(
        "OBSERVER_METRICS_MAX_SERIES_PER_METRIC",
        "max_series_per_metric",
        "500",
    ),
    var(
        "OBSERVER_METRICS_MAX_LABEL_VALUE_BYTES",
        "max_label_value_bytes",
        "1024",
    ),
    var(
        "OBSERVER_METRICS_IDLE_TIMEOUT_SECS",
        "idle_timeout_secs",
        "300",
    ),
    var(
        "OBSERVER_METRICS_GLOBAL_LABELS",
        "global_labels",
        "env=prod,region=eu",
    ),
    var("OBSERVER_METRICS_PREFIX", "prefix", "myapp"),
    var(
        "OBSERVER_METRICS_EXPORT_INTERVAL_SECS",
        "export_interval_secs",
        "15",
    ),
];

#[cfg(feature = "push")]
const PUSH: &[EnvVariable] = &[
    var(
        "OBSERVER_METRICS_PUSH_URL",
        "push.url",
        "http://127.0.0.1:9091",
    ),
    var("OBSERVER_METRICS_PUSH_JOB", "push.job", "nightly"),
    var(
        "OBSERVER_METRICS_PUSH_GROUPING",
        "push.grouping",
        "instance=a,zone=b",
    ),
    var("OBSERVER_METRICS_PUSH_METHOD", "push.method", "post"),
    var("OBSERVER_METRICS_PUSH_GZIP", "push.gzip", "true"),
    var("OBSERVER_METRICS_PUSH_FORMAT", "push.format", "text"),
    var(
        "OBSERVER_METRICS_PUSH_DELETE_ON_SHUTDOWN",
        "push.delete_on_shutdown",
        "true",
    ),
    var(
        "OBSERVER_METRICS_PUSH_HEADERS",
        "push.headers",
        "X-Scope-OrgID=team-a",
    ),
    var(
        "OBSERVER_METRICS_PUSH_TIMEOUT_MS",
        "push.timeout_ms",
        "3000",
    ),
    var(
        "OBSERVER_METRICS_PUSH_SHUTDOWN_TIMEOUT_MS",
        "push.shutdown_timeout_ms",
        "30000",
    ),
    var(
        "OBSERVER_METRICS_PUSH_BASIC_AUTH",
        "push.basic_auth",
        "user:password",
    ),
    var(
        "OBSERVER_METRICS_PUSH_BEARER_TOKEN",
        "push.bearer_token",
        "t0ken",
    ),
    var(
        "OBSERVER_METRICS_PUSH_CA_FILE",
        "push.ca_file",
        "/etc/ssl/ca.pem",
    ),
    var("OBSERVER_METRICS_PUSH_RETRY_TRIES", "push.retry.tries", "5"),
    var(
        "OBSERVER_METRICS_PUSH_RETRY_BASE_BACKOFF_MS",
        "push.retry.base_backoff_ms",
        "100",
    ),
    var(
        "OBSERVER_METRICS_PUSH_RETRY_MAX_BACKOFF_MS",
        "push.retry.max_backoff_ms",
        "2000",
    ),
    var(
        "OBSERVER_METRICS_PUSH_RETRY_JITTER",
        "push.retry.jitter",
        "0.2",
    ),
];

#[cfg(feature = "remote-write")]
const REMOTE_WRITE: &[EnvVariable] = &[
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_URL",
        "remote_write.url",
        "http://127.0.0.1:9090/api/v1/write",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_JOB",
        "remote_write.job",
        "nightly",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_INSTANCE",
        "remote_write.instance",
        "worker-1",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_MAX_SAMPLES_PER_SEND",
        "remote_write.max_samples_per_send",
        "500",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_NATIVE_HISTOGRAMS",
        "remote_write.native_histograms",
        "true",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_HEADERS",
        "remote_write.headers",
        "X-Scope-OrgID=team-a",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_TIMEOUT_MS",
        "remote_write.timeout_ms",
        "3000",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_SHUTDOWN_TIMEOUT_MS",
        "remote_write.shutdown_timeout_ms",
        "30000",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_BASIC_AUTH",
        "remote_write.basic_auth",
        "user:password",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_BEARER_TOKEN",
        "remote_write.bearer_token",
        "t0ken",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_CA_FILE",
        "remote_write.ca_file",
        "/etc/ssl/ca.pem",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_RETRY_TRIES",
        "remote_write.retry.tries",
        "5",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_RETRY_BASE_BACKOFF_MS",
        "remote_write.retry.base_backoff_ms",
        "100",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_RETRY_MAX_BACKOFF_MS",
        "remote_write.retry.max_backoff_ms",
        "2000",
    ),
    var(
        "OBSERVER_METRICS_REMOTE_WRITE_RETRY_JITTER",
        "remote_write.retry.jitter",
        "0.2",
    ),
];

#[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
const PULL: &[EnvVariable] = &[var(
    "OBSERVER_METRICS_PULL_LISTEN",
    "pull.listen",
    "127.0.0.1:9100",
)];

#[cfg(all(feature = "push", not(target_arch = "wasm32")))]
const SPOOL: &[EnvVariable] = &[
    var(
        "OBSERVER_METRICS_SPOOL_DIR",
        "spool.dir",
        "/var/lib/observer-metrics",
    ),
    var(
        "OBSERVER_METRICS_SPOOL_MAX_BYTES",
        "spool.max_bytes",
        "1048576",
    ),
    var(
        "OBSERVER_METRICS_SPOOL_MAX_AGE_SECS",
        "spool.max_age_secs",
        "86400",
    ),
];

/// The fields set only in a file (or a builder): their values are tables a variable would not
/// spell well.
pub const TOML_ONLY: &[&str] = &["bucket_overrides"];

/// Every variable this build reads, in the order of the config's tables.
pub fn env_variables() -> Vec<EnvVariable> {
    // Extended by each sink this build has (none: the recorder's alone).
    #[allow(unused_mut)]
    let mut all = RECORDER.to_vec();
    #[cfg(feature = "push")]
    all.extend_from_slice(PUSH);
    #[cfg(feature = "remote-write")]
    all.extend_from_slice(REMOTE_WRITE);
    #[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
    all.extend_from_slice(PULL);
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    all.extend_from_slice(SPOOL);
    all
}

/// The known name closest to `name` (`OBSERVER_METRICS_PUSH_UR` → `…_PUSH_URL`), of `known`, when
/// one is close enough to be what was meant: a few edits, or `name` a prefix of it.
pub fn closest<'k>(name: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    known
        .into_iter()
        .map(|k| (distance(name, k), k))
        .filter(|&(d, k)| d <= 3.max(name.len() / 8) || k.starts_with(name))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, by bytes (the names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}
