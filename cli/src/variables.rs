//! The `OBSERVER_METRICS_*` variables: the command line's own (each its flag's twin, read by
//! clap) beside the library's (each a config field's), as `observer-metrics env` lists them; and
//! the check that refuses a name neither knows, with the closest of both.

use observer_metrics::{closest_variable, env_variables, MetricsConfig, ENV_PREFIX, TOML_ONLY};

/// The command line's own variables: (variable, flag, default).
const OWN: &[(&str, &str, &str)] = &[
    ("OBSERVER_METRICS_CONFIG", "--config", "none"),
    (
        "OBSERVER_METRICS_JOB",
        "--job",
        "observer-metrics-<command>",
    ),
    ("OBSERVER_METRICS_WORKLOAD_EVENTS", "--events", "1000"),
    (
        "OBSERVER_METRICS_WORKLOAD_RATE",
        "--rate",
        "simulate: as fast as it can; serve: 100",
    ),
    (
        "OBSERVER_METRICS_WORKLOAD_DUPLICATE_RATE",
        "--duplicate-rate",
        "0.1",
    ),
    (
        "OBSERVER_METRICS_WORKLOAD_FAILURE_RATE",
        "--failure-rate",
        "0.05",
    ),
    (
        "OBSERVER_METRICS_WORKLOAD_ERROR_RATE",
        "--error-rate",
        "0.02",
    ),
    (
        "OBSERVER_METRICS_WORKLOAD_TIMEOUT_RATE",
        "--timeout-rate",
        "0.01",
    ),
    ("OBSERVER_METRICS_WORKLOAD_SEED", "--seed", "1"),
    ("OBSERVER_METRICS_PROGRESS_SECS", "--progress-secs", "10"),
    ("OBSERVER_METRICS_CHECK_QUERY", "--query", "none"),
    ("OBSERVER_METRICS_LOG_FORMAT", "--log-format", "text"),
    ("OBSERVER_METRICS_LOG_LEVEL", "--log-level", "info"),
];

/// `vars` without the command line's own (clap has read them); an error for a name that is
/// neither the command line's nor the library's, saying which was meant when one is close.
pub(crate) fn library_only(vars: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
    let library = env_variables();
    let mut kept = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        if OWN.iter().any(|(own, _, _)| *own == name) {
            continue;
        }
        if !library.iter().any(|v| v.name == name) {
            let known = library
                .iter()
                .map(|v| v.name)
                .chain(OWN.iter().map(|o| o.0));
            let hint = match closest_variable(&name, known) {
                Some(meant) => format!("; did you mean {meant}?"),
                None => String::new(),
            };
            return Err(format!(
                "{name}: unknown variable{hint} (`observer-metrics env` lists them all)"
            ));
        }
        kept.push((name, value));
    }
    Ok(kept)
}

/// Every variable, one a line: the variable, the setting (a config field, or the flag it is the
/// twin of) and its default.
pub(crate) fn listing() -> String {
    let mut full = MetricsConfig::default();
    full.push = Some(Default::default());
    full.remote_write = Some(Default::default());
    full.pull = Some(Default::default());
    full.spool = Some(Default::default());
    let defaults: toml::Value = toml::to_string(&full)
        .ok()
        .and_then(|text| toml::from_str(&text).ok())
        .unwrap_or(toml::Value::Table(Default::default()));
    let mut rows: Vec<[String; 3]> = vec![["VARIABLE".into(), "SETTING".into(), "DEFAULT".into()]];
    for v in env_variables() {
        let default = v
            .field
            .split('.')
            .try_fold(&defaults, |value, key| value.get(key))
            .map_or_else(|| "none".to_owned(), shown);
        rows.push([v.name.into(), v.field.into(), default]);
    }
    for (name, flag, default) in OWN {
        rows.push([(*name).into(), (*flag).into(), (*default).into()]);
    }
    let width = |column: usize| rows.iter().map(|r| r[column].len()).max().unwrap_or(0);
    let (a, b) = (width(0), width(1));
    let mut out = String::new();
    for [name, setting, default] in &rows {
        out.push_str(&format!("{name:a$}  {setting:b$}  {default}\n"));
    }
    out.push_str(&format!(
        "\nSet only in a --config file: {}. A flag given wins over its variable; a variable over \
         the file. Lists are comma-separated, maps k=v,k2=v2. All start with {ENV_PREFIX}.\n",
        TOML_ONLY.join(", ")
    ));
    out
}

/// A default as a variable would spell it: lists comma-separated, an empty string or table as
/// none.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) if s.is_empty() => "none".into(),
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) if items.is_empty() => "none".into(),
        toml::Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(","),
        toml::Value::Table(t) if t.is_empty() => "none".into(),
        // Not TOML's forty-digit decimal of the native zero threshold.
        toml::Value::Float(f) if *f != 0.0 && f.abs() < 1e-4 => format!("{f:e}"),
        other => other.to_string(),
    }
}
