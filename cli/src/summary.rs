//! The end-of-run summary read from the final render, and the batch invariants it checks.

/// The value of the catalogue metric `name` in a render: the exposition name carries the
/// configured prefix, and the one series of a catalogue metric carries only the global labels.
pub(crate) fn sample(text: &str, prefix: Option<&str>, name: &str) -> f64 {
    let family = match prefix {
        Some(p) => format!("{p}_{name}"),
        None => name.to_owned(),
    };
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(family.as_str())?;
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                return None;
            }
            line.rsplit_once(' ')?.1.parse().ok()
        })
        .unwrap_or(f64::NAN)
}

/// The end-of-batch summary, and whether the catalogue's invariants hold. With `sample_rate < 1`
/// histogram counts are estimates, so the checks that compare them to counters are left out.
pub(crate) fn summarise(
    render: &str,
    prefix: Option<&str>,
    events: u64,
    sampled: bool,
) -> (String, bool) {
    let s = |name: &str| sample(render, prefix, name);
    let executed = s("actions_executed_total");
    let histogram_checks = [
        "event histogram count = events run",
        "action histogram count = executed",
    ];
    let checks = [
        (
            "events_processed_total = events run",
            s("events_processed_total") == events as f64,
        ),
        (
            "event histogram count = events run",
            s("event_processing_duration_ms_count") == events as f64,
        ),
        ("events_in_flight = 0", s("events_in_flight") == 0.0),
        (
            "executed = success + failure",
            executed == s("action_success_total") + s("action_failure_total"),
        ),
        (
            "action histogram count = executed",
            s("action_duration_ms_count") == executed,
        ),
        (
            "queue_depth = enqueued - processed - dead-lettered",
            s("queue_depth")
                == s("queue_jobs_enqueued_total")
                    - s("queue_jobs_processed_total")
                    - s("queue_deadletter_total"),
        ),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(name, holds)| !(*holds || sampled && histogram_checks.contains(name)))
        .map(|c| c.0)
        .collect();
    let text = format!(
        "{events} events: {} duplicates, {} cache hits / {} misses, {executed} actions \
         ({} ok, {} failed, {} timed out), {} retries, {} dead letters, {} checkpoints; {}",
        s("dedup_duplicates_found_total"),
        s("cache_hits_total"),
        s("cache_misses_total"),
        s("action_success_total"),
        s("action_failure_total"),
        s("action_timeout_total"),
        s("queue_retry_total"),
        s("queue_deadletter_total"),
        s("checkpoint_saves_total"),
        if failed.is_empty() {
            "invariants hold".to_owned()
        } else {
            format!("VIOLATED: {}", failed.join(", "))
        },
    );
    (text, failed.is_empty())
}
