//! The recorder and the catalogue through the public API: the plan's named tests and more.

mod support;

use std::sync::Arc;

use metrics::{counter, gauge, histogram, with_local_recorder};
use observer_metrics::observer::{MetricType, ObserverMetrics, CATALOGUE};
use observer_metrics::{MetricsBuilder, MetricsConfig, ObserverRecorder};
use support::sample;

fn recorder() -> ObserverRecorder {
    MetricsBuilder::new().build_recorder().unwrap()
}

#[test]
fn test_metrics_creation() {
    let r = recorder();
    let _m = ObserverMetrics::new(&r.handle());
    let text = r.render();
    for e in &CATALOGUE {
        assert!(
            text.contains(&format!("# TYPE {} {}\n", e.name, e.kind.as_str())),
            "{} missing:\n{text}",
            e.name
        );
        assert!(text.contains(&format!(
            "# HELP {} {}",
            e.name,
            e.help.replace('\n', "\\n")
        )));
    }
    assert_eq!(text.matches("# TYPE ").count(), 23);
    assert_eq!(sample(&text, "events_processed_total"), Some(0.0));
    assert!(sample(&text, "cache_hit_rate").unwrap().is_nan());
    assert_eq!(sample(&text, "action_duration_ms_count"), Some(0.0));
}

#[test]
fn test_metrics_registration() {
    let r = recorder();
    let m = ObserverMetrics::new(&r.handle());
    // The facade and the typed handles reach the same series.
    with_local_recorder(&r, || counter!("events_processed_total").increment(2));
    m.events_processed_total.increment(3);
    // Registering the catalogue again keeps the series and their values.
    let again = ObserverMetrics::new(&r.handle());
    again.events_processed_total.increment(1);
    let text = r.render();
    assert_eq!(sample(&text, "events_processed_total"), Some(6.0));
    assert_eq!(text.matches("# TYPE events_processed_total").count(), 1);
    let kinds = CATALOGUE
        .iter()
        .filter(|e| e.kind == MetricType::Histogram)
        .count();
    assert_eq!(kinds, 3);
}

#[test]
fn counter_increment() {
    let r = recorder();
    with_local_recorder(&r, || {
        let c = counter!("requests_total", "path" => "/a");
        c.increment(1);
        c.increment(41);
        counter!("requests_total", "path" => "/b").increment(7);
    });
    let text = r.render();
    assert_eq!(sample(&text, "requests_total{path=\"/a\"}"), Some(42.0));
    assert_eq!(sample(&text, "requests_total{path=\"/b\"}"), Some(7.0));
}

#[test]
fn counter_absolute_never_goes_back() {
    let r = recorder();
    with_local_recorder(&r, || {
        let c = counter!("offset_total");
        c.absolute(100);
        c.absolute(40);
        c.increment(1);
    });
    assert_eq!(sample(&r.render(), "offset_total"), Some(101.0));
}

#[test]
fn counter_saturates_instead_of_wrapping() {
    let r = recorder();
    with_local_recorder(&r, || {
        let c = counter!("big_total");
        c.absolute(u64::MAX - 2);
        c.increment(10);
    });
    assert!(r.render().contains("\nbig_total 18446744073709551615\n"));
}

#[test]
fn gauge_set_increment_decrement() {
    let r = recorder();
    with_local_recorder(&r, || {
        let g = gauge!("temperature");
        g.set(20.5);
        g.increment(2.0);
        g.decrement(0.5);
    });
    assert_eq!(sample(&r.render(), "temperature"), Some(22.0));
}

#[test]
fn gauge_special_values() {
    let r = recorder();
    with_local_recorder(&r, || {
        gauge!("g", "v" => "nan").set(f64::NAN);
        gauge!("g", "v" => "pinf").set(f64::INFINITY);
        gauge!("g", "v" => "ninf").set(f64::NEG_INFINITY);
        gauge!("g", "v" => "neg").set(-1.25);
    });
    let text = r.render();
    assert!(text.contains("g{v=\"nan\"} NaN\n"));
    assert!(text.contains("g{v=\"pinf\"} +Inf\n"));
    assert!(text.contains("g{v=\"ninf\"} -Inf\n"));
    assert!(text.contains("g{v=\"neg\"} -1.25\n"));
}

#[test]
fn gauge_queue_depth_tracks_up_and_down() {
    let r = recorder();
    let m = ObserverMetrics::new(&r.handle());
    for _ in 0..5 {
        m.queue_depth.increment(1.0);
    }
    m.queue_depth.decrement(2.0);
    assert_eq!(sample(&r.render(), "queue_depth"), Some(3.0));
}

#[test]
fn histogram_observations_land_in_buckets() {
    let r = recorder();
    let m = ObserverMetrics::new(&r.handle());
    for v in [0.5, 1.0, 3.0, 70.0, 20_000.0] {
        m.action_duration_ms.record(v);
    }
    let text = r.render();
    let bucket = |le: &str| sample(&text, &format!("action_duration_ms_bucket{{le=\"{le}\"}}"));
    assert_eq!(bucket("1"), Some(2.0));
    assert_eq!(bucket("5"), Some(3.0));
    assert_eq!(bucket("50"), Some(3.0));
    assert_eq!(bucket("100"), Some(4.0));
    assert_eq!(bucket("10000"), Some(4.0));
    assert_eq!(bucket("+Inf"), Some(5.0));
    assert_eq!(sample(&text, "action_duration_ms_count"), Some(5.0));
    assert_eq!(sample(&text, "action_duration_ms_sum"), Some(20_074.5));
}

/// The quantile Prometheus' `histogram_quantile` would compute from the rendered buckets.
fn quantile(text: &str, name: &str, q: f64) -> f64 {
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{name}_bucket{{le=\"")))
        .map(|rest| {
            let (le, v) = rest.split_once("\"} ").unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, v.parse().unwrap())
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().unwrap().1;
    let rank = q * total;
    let i = buckets.iter().position(|b| b.1 >= rank).unwrap();
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { buckets[i - 1] };
    let (upper, count) = buckets[i];
    lower + (upper - lower) * (rank - below) / (count - below)
}

#[test]
fn histogram_percentiles_from_buckets() {
    let r = recorder();
    let m = ObserverMetrics::new(&r.handle());
    // 100 observations spread evenly over 0..100 ms.
    for i in 0..100 {
        m.event_processing_duration_ms.record(i as f64 + 0.5);
    }
    let text = r.render();
    let p50 = quantile(&text, "event_processing_duration_ms", 0.5);
    let p99 = quantile(&text, "event_processing_duration_ms", 0.99);
    assert!((40.0..=60.0).contains(&p50), "p50 {p50}");
    assert!((90.0..=100.0).contains(&p99), "p99 {p99}");
}

#[test]
fn histogram_nan_dropped_and_counted_inf_kept() {
    let r = recorder();
    with_local_recorder(&r, || {
        let h = histogram!("latency");
        h.record(f64::NAN);
        h.record(2.0);
        h.record(f64::INFINITY);
    });
    let text = r.render();
    assert_eq!(sample(&text, "latency_count"), Some(2.0));
    assert_eq!(sample(&text, "latency_sum"), Some(f64::INFINITY));
    assert_eq!(
        sample(
            &text,
            "observer_metrics_dropped_total{reason=\"nan_observation\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn concurrent_increments_are_exact() {
    let r = Arc::new(recorder());
    let m = ObserverMetrics::new(&r.handle());
    const THREADS: u64 = 8;
    const EACH: u64 = 100_000;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let m = m.clone();
            let r = r.clone();
            s.spawn(move || {
                for i in 0..EACH {
                    m.events_processed_total.increment(1);
                    m.action_duration_ms.record((i % 300) as f64);
                    if i % 1000 == 0 {
                        with_local_recorder(&*r, || {
                            counter!("by_thread_total", "t" => t.to_string()).increment(1000)
                        });
                    }
                }
            });
        }
    });
    let text = r.render();
    assert_eq!(
        sample(&text, "events_processed_total"),
        Some((THREADS * EACH) as f64)
    );
    assert_eq!(
        sample(&text, "action_duration_ms_count"),
        Some((THREADS * EACH) as f64)
    );
    for t in 0..THREADS {
        assert_eq!(
            sample(&text, &format!("by_thread_total{{t=\"{t}\"}}")),
            Some(EACH as f64)
        );
    }
}

#[test]
fn inf_bucket_equals_count_while_threads_record() {
    let r = recorder();
    let m = ObserverMetrics::new(&r.handle());
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut renders = 0;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for i in 0..400_000u64 {
                    m.action_duration_ms.record((i % 20_000) as f64);
                }
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            });
        }
        while !done.load(std::sync::atomic::Ordering::Relaxed) && renders < 2_000 {
            let text = r.render();
            let inf = sample(&text, "action_duration_ms_bucket{le=\"+Inf\"}").unwrap();
            let count = sample(&text, "action_duration_ms_count").unwrap();
            assert_eq!(inf, count);
            renders += 1;
        }
    });
    assert!(renders > 0);
    assert_eq!(
        sample(&r.render(), "action_duration_ms_count"),
        Some(800_000.0)
    );
}

#[test]
fn hit_rates_match_their_counters() {
    let r = recorder();
    let m = ObserverMetrics::new(&r.handle());
    m.cache_hits_total.increment(3);
    m.cache_misses_total.increment(1);
    m.dedup_checks_total.increment(8);
    m.dedup_duplicates_found_total.increment(2);
    let text = r.render();
    assert_eq!(sample(&text, "cache_hit_rate"), Some(75.0));
    assert_eq!(sample(&text, "dedup_hit_rate"), Some(25.0));
}

#[test]
fn hit_rate_consistent_with_counters_in_every_render_under_load() {
    let r = recorder();
    let m = ObserverMetrics::new(&r.handle());
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..300_000u64 {
                if i % 4 == 0 {
                    m.cache_misses_total.increment(1);
                } else {
                    m.cache_hits_total.increment(1);
                }
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let mut renders = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) && renders < 2_000 {
            let text = r.render();
            let hits = sample(&text, "cache_hits_total").unwrap();
            let misses = sample(&text, "cache_misses_total").unwrap();
            let rate = sample(&text, "cache_hit_rate").unwrap();
            if hits + misses > 0.0 {
                assert_eq!(rate, 100.0 * hits / (hits + misses), "{text}");
            }
            renders += 1;
        }
    });
}

#[test]
fn renders_are_deterministic_and_sorted() {
    let r = recorder();
    with_local_recorder(&r, || {
        counter!("zeta_total", "b" => "2", "a" => "1").increment(1);
        counter!("alpha_total", "x" => "2").increment(1);
        counter!("alpha_total", "x" => "1").increment(1);
        counter!("zeta_total", "a" => "1", "b" => "2").increment(1);
    });
    let first = r.render();
    assert_eq!(first, r.render());
    assert_eq!(
        first,
        "# TYPE alpha_total counter\nalpha_total{x=\"1\"} 1\nalpha_total{x=\"2\"} 1\n\
         # TYPE zeta_total counter\nzeta_total{a=\"1\",b=\"2\"} 2\n"
    );
}

#[test]
fn disabled_config_gives_noop_handles() {
    let mut config = MetricsConfig::default();
    config.recorder.enabled = false;
    let r = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let m = ObserverMetrics::new(&r.handle());
    m.events_processed_total.increment(1);
    with_local_recorder(&r, || counter!("x").increment(1));
    assert!(!r.handle().is_enabled());
    assert_eq!(r.render(), "");
}

#[test]
fn global_labels_prefix_and_bucket_overrides() {
    let config = MetricsConfig::from_toml_str(
        "prefix = \"obs\"\n[global_labels]\nservice = \"billing\"\nenv = \"prod\"\n\
         [bucket_overrides]\ncheckpoint_save_duration_ms = [2, 4]\n",
    )
    .unwrap();
    let r = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let m = ObserverMetrics::new(&r.handle());
    m.checkpoint_save_duration_ms.record(3.0);
    with_local_recorder(&r, || counter!("own_total", "env" => "dev").increment(1));
    let text = r.render();
    assert_eq!(
        sample(
            &text,
            "obs_checkpoint_save_duration_ms_bucket{env=\"prod\",service=\"billing\",le=\"4\"}"
        ),
        Some(1.0)
    );
    assert!(!text.contains(
        "obs_checkpoint_save_duration_ms_bucket{env=\"prod\",service=\"billing\",le=\"10\"}"
    ));
    // The series' own label wins over the global one.
    assert_eq!(
        sample(&text, "obs_own_total{env=\"dev\",service=\"billing\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "obs_cache_hit_rate{env=\"prod\",service=\"billing\"}"
        )
        .map(f64::is_nan),
        Some(true)
    );
}

#[test]
fn describe_sets_help_and_unit() {
    let r = recorder();
    with_local_recorder(&r, || {
        metrics::describe_gauge!(
            "payload",
            metrics::Unit::Bytes,
            "Size of a\npayload \\ body"
        );
        gauge!("payload").set(3.0);
    });
    assert!(r.render().starts_with(
        "# HELP payload Size of a\\npayload \\\\ body [bytes]\n# TYPE payload gauge\n"
    ));
}

#[test]
fn sample_rate_zero_keeps_counters_exact() {
    let mut config = MetricsConfig::default();
    config.recorder.sample_rate = 0.0;
    let r = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap();
    let m = ObserverMetrics::new(&r.handle());
    for _ in 0..100 {
        m.actions_executed_total.increment(1);
        m.action_duration_ms.record(5.0);
    }
    let text = r.render();
    assert_eq!(sample(&text, "actions_executed_total"), Some(100.0));
    assert_eq!(sample(&text, "action_duration_ms_count"), Some(0.0));
}

#[test]
fn bad_config_fails_at_construction() {
    let mut config = MetricsConfig::default();
    config.recorder.histogram_buckets = vec![5.0, 1.0];
    let err = MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap_err();
    assert_eq!(err.field, "histogram_buckets");
}

/// The README's configuration example is a config this crate accepts, as written.
#[test]
fn the_readme_configuration_parses() {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("### Configuration").expect("the section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let config = MetricsConfig::from_toml_str(block).unwrap();
    assert_eq!(config.recorder.max_series_per_metric, 10_000);
    assert_eq!(config.recorder.idle_timeout_secs, Some(600));
    assert_eq!(config.recorder.bucket_overrides["http_*"], [0.01, 0.1, 1.0]);
    assert_eq!(config.recorder.histogram_buckets_seconds[0], 0.005);
}

/// A label value past `max_label_value_bytes` is cut at a character boundary and ends in `…`,
/// within the limit; the cut is counted once per series, and the same key finds the same series
/// again. With `0`, values stay whole.
#[test]
fn long_label_values_are_cut_and_counted() {
    let r = MetricsBuilder::new()
        .max_label_value_bytes(16)
        .build_recorder()
        .unwrap();
    // 13 ASCII bytes, then two-byte characters: byte 13 is a character's start, 14 is not.
    let long = format!("abcdefghijklm{}", "é".repeat(10));
    with_local_recorder(&r, || {
        counter!("cut_total", "v" => long.clone()).increment(1);
        counter!("cut_total", "v" => long.clone()).increment(2);
        counter!("cut_total", "v" => "short").increment(1);
    });
    let text = r.render();
    // 16 bytes: 13 of the value (the 14th would split a character), then the 3 of `…`.
    assert!(
        text.contains("cut_total{v=\"abcdefghijklm…\"} 3\n"),
        "{text}"
    );
    assert!(text.contains("cut_total{v=\"short\"} 1\n"), "{text}");
    assert_eq!(
        sample(
            &text,
            "observer_metrics_dropped_total{reason=\"label_too_long\"}"
        ),
        Some(1.0),
        "{text}"
    );
    let whole = MetricsBuilder::new()
        .max_label_value_bytes(0)
        .build_recorder()
        .unwrap();
    with_local_recorder(&whole, || {
        counter!("cut_total", "v" => long.clone()).increment(1)
    });
    assert!(whole.render().contains(&format!("v=\"{long}\"")));
    let err = MetricsBuilder::new()
        .max_label_value_bytes(3)
        .build_recorder()
        .unwrap_err();
    assert_eq!(err.field, "max_label_value_bytes");
}

/// `native_histogram_classic_buckets = false`: a native family keeps no classic buckets, so its
/// text shows the `+Inf` bucket, `_sum` and `_count` alone; a family not named keeps its buckets.
#[test]
fn a_native_family_without_classic_buckets_renders_its_totals_alone() {
    let recorder = MetricsBuilder::new()
        .native_histogram_for_metric("native_seconds")
        .native_histogram_classic_buckets(false)
        .build_recorder()
        .unwrap();
    with_local_recorder(&recorder, || {
        for v in [0.2, 3.0] {
            histogram!("native_seconds").record(v);
            histogram!("classic_seconds").record(v);
        }
    });
    let text = recorder.render();
    let lines =
        |prefix: &str| -> Vec<&str> { text.lines().filter(|l| l.starts_with(prefix)).collect() };
    assert_eq!(
        lines("native_seconds"),
        [
            "native_seconds_bucket{le=\"+Inf\"} 2",
            "native_seconds_sum 3.2",
            "native_seconds_count 2"
        ],
        "{text}"
    );
    assert_eq!(
        lines("classic_seconds_bucket").len(),
        MetricsConfig::default()
            .recorder
            .histogram_buckets_seconds
            .len()
            + 1
    );
}

/// A summary whose quantiles the caller computes: rendered as a summary with what was set, NaN
/// quantiles until then; a family with buckets (or one that recorded already) is left alone, and
/// bad quantiles name the field.
#[test]
fn given_summaries_render_what_was_set_and_leave_other_families_alone() {
    use metrics::{Key, Label};
    let recorder = recorder();
    let handle = recorder.handle();
    assert!(handle
        .set_summary_quantiles("q", "given_seconds", &[0.5, 0.9])
        .unwrap());
    let key = Key::from_parts("given_seconds", vec![Label::new("route", "/a")]);
    let series = handle.summary_series(&key);
    let text = recorder.render();
    assert!(text.contains("# TYPE given_seconds summary\n"), "{text}");
    assert!(sample(&text, "given_seconds{route=\"/a\",quantile=\"0.5\"}").is_some_and(f64::is_nan));
    assert_eq!(
        sample(&text, "given_seconds_count{route=\"/a\"}"),
        Some(0.0)
    );
    // Fewer values than quantiles: the rest are NaN; count and sum are replaced, not added.
    series.set(3, 1.5, &[0.25]);
    series.set(7, 2.5, &[0.5, 0.75, 9.0]);
    let text = recorder.render();
    assert_eq!(
        sample(&text, "given_seconds{route=\"/a\",quantile=\"0.5\"}"),
        Some(0.5)
    );
    assert_eq!(
        sample(&text, "given_seconds{route=\"/a\",quantile=\"0.9\"}"),
        Some(0.75)
    );
    assert_eq!(
        sample(&text, "given_seconds_count{route=\"/a\"}"),
        Some(7.0)
    );
    assert_eq!(sample(&text, "given_seconds_sum{route=\"/a\"}"), Some(2.5));
    assert!(!text.contains("given_seconds_bucket"), "{text}");

    // The family has its shape: a second call is refused, and so is one for a histogram that
    // recorded.
    assert!(!handle
        .set_summary_quantiles("q", "given_seconds", &[0.5])
        .unwrap());
    with_local_recorder(&recorder, || histogram!("plain_seconds").record(0.2));
    assert!(!handle
        .set_summary_quantiles("q", "plain_seconds", &[0.5])
        .unwrap());
    handle
        .summary_series(&Key::from_name("plain_seconds"))
        .set(100, 100.0, &[1.0]);
    let text = recorder.render();
    assert_eq!(sample(&text, "plain_seconds_count"), Some(1.0), "{text}");
    assert!(text.contains("plain_seconds_bucket"), "{text}");

    let bad = handle.set_summary_quantiles("percentiles", "bad_seconds", &[0.9, 0.5]);
    let err = bad.unwrap_err();
    assert_eq!(err.field, "percentiles");
    assert!(err.to_string().contains("strictly increasing"), "{err}");
    assert!(handle
        .set_summary_quantiles("p", "bad2_seconds", &[])
        .is_err());
    assert!(handle
        .set_summary_quantiles("p", "bad3_seconds", &[1.5])
        .is_err());
}

/// A given summary's family takes only what `set` gives: a `histogram!` into it is ignored, a
/// series' own `quantile` label is renamed (not a second `quantile` on the quantile lines), a
/// name given twice or taken by a counter is refused, and past the series limit every new label
/// set gets the one overflow series, which says so.
#[test]
fn a_given_summary_family_is_kept_to_what_set_gives() {
    use metrics::{Key, Label};
    let config = MetricsConfig::from_toml_str("max_series_per_metric = 2\n").unwrap();
    let recorder = MetricsBuilder::from_config(config)
        .build_recorder()
        .unwrap();
    let handle = recorder.handle();
    assert!(handle
        .set_summary_quantiles("q", "kept_seconds", &[0.5])
        .unwrap());
    assert!(
        !handle
            .set_summary_quantiles("q", "kept_seconds", &[0.9])
            .unwrap(),
        "given once, before any series: a second shape is refused"
    );
    with_local_recorder(&recorder, || counter!("taken_seconds").increment(1));
    assert!(!handle
        .set_summary_quantiles("q", "taken_seconds", &[0.5])
        .unwrap());

    let key = |v: &str| Key::from_parts("kept_seconds", vec![Label::new("quantile", v.to_owned())]);
    let a = handle.summary_series(&key("a"));
    a.set(2, 3.0, &[1.5]);
    with_local_recorder(&recorder, || {
        histogram!("kept_seconds", "quantile" => "a").record(100.0);
    });
    let b = handle.summary_series(&key("b"));
    let c = handle.summary_series(&key("c"));
    assert!(!a.is_overflow() && !b.is_overflow());
    assert!(
        c.is_overflow(),
        "the third label set is past the limit of 2"
    );
    let text = recorder.render();
    assert_eq!(
        sample(&text, "kept_seconds{user_quantile=\"a\",quantile=\"0.5\"}"),
        Some(1.5),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kept_seconds_count{user_quantile=\"a\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kept_seconds_sum{user_quantile=\"a\"}"),
        Some(3.0),
        "{text}"
    );
}

/// `set` touches its series as a record does: with `idle_timeout_secs`, a summary set on every
/// render stays, where an untouched one would be hidden.
#[test]
fn a_given_summary_set_on_every_render_is_not_idle() {
    use metrics::Key;
    let config = MetricsConfig::from_toml_str("idle_timeout_secs = 1\n").unwrap();
    let recorder = MetricsBuilder::from_config(config)
        .build_recorder()
        .unwrap();
    let handle = recorder.handle();
    assert!(handle
        .set_summary_quantiles("q", "set_seconds", &[0.5])
        .unwrap());
    assert!(handle
        .set_summary_quantiles("q", "left_seconds", &[0.5])
        .unwrap());
    let series = handle.summary_series(&Key::from_name("set_seconds"));
    let other = handle.summary_series(&Key::from_name("left_seconds"));
    other.set(1, 1.0, &[]);
    let mut text = String::new();
    for round in 1..=8u64 {
        std::thread::sleep(std::time::Duration::from_millis(400));
        series.set(round, round as f64, &[0.5]);
        text = recorder.render();
    }
    assert_eq!(sample(&text, "set_seconds_count"), Some(8.0), "{text}");
    assert!(!text.contains("left_seconds"), "{text}");
}

/// `Debug` of a handle (and of the recorder) says how many families and series, not what they
/// are: a thousand series made it 290 KB.
#[test]
fn debug_counts_the_series_instead_of_listing_them() {
    let recorder = recorder();
    with_local_recorder(&recorder, || {
        for id in 0..1000 {
            counter!("debug_total", "id" => id.to_string()).increment(1);
        }
        gauge!("debug_gauge").set(1.0);
    });
    let debug = format!("{:?}", recorder.handle());
    // Three families: the two recorded and the recorder's own drop counters.
    assert_eq!(debug, "RecorderHandle { families: 3, series: 1001 }");
    assert_eq!(
        format!("{recorder:?}"),
        format!("ObserverRecorder {{ handle: {debug} }}")
    );
    let off = MetricsBuilder::from_config(MetricsConfig::from_toml_str("enabled = false").unwrap())
        .build_recorder()
        .unwrap();
    assert_eq!(
        format!("{:?}", off.handle()),
        "RecorderHandle { enabled: false }"
    );
}

/// Buckets follow the unit whenever it is known: `Unit::Bytes` (or a `*_bytes` name) gets
/// byte-scale buckets, not the millisecond defaults; a unit described after the family first
/// recorded cannot reshape it any more, and is counted (`reason="late_unit"`) and warned about.
#[test]
fn buckets_follow_the_unit_and_a_late_unit_is_counted_and_warned() {
    use metrics::{describe_histogram, Unit};
    let (logs, _capturing) = support::capture_logs();
    let recorder = recorder();
    with_local_recorder(&recorder, || {
        describe_histogram!("upload", Unit::Bytes, "Upload sizes.");
        histogram!("upload").record(3000.0);
        histogram!("response_bytes").record(3000.0);
        histogram!("late").record(0.3);
        describe_histogram!("late", Unit::Seconds, "Described after its first record.");
        // Described again: still one. Buckets given at run time are not the unit's to change.
        describe_histogram!("late", Unit::Seconds, "Described after its first record.");
        assert!(recorder
            .handle()
            .set_histogram_buckets("b", "given", &[1.0, 2.0])
            .unwrap());
        histogram!("given").record(1.5);
        describe_histogram!("given", Unit::Seconds, "Buckets of its own.");
    });
    let text = recorder.render();
    for family in ["upload", "response_bytes"] {
        assert_eq!(
            sample(&text, &format!("{family}_bucket{{le=\"4096\"}}")),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, &format!("{family}_bucket{{le=\"1024\"}}")),
            Some(0.0),
            "{text}"
        );
    }
    // The late one keeps the millisecond buckets it took, and says so.
    assert_eq!(sample(&text, "late_bucket{le=\"1\"}"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "observer_metrics_dropped_total{reason=\"late_unit\"}"
        ),
        Some(1.0),
        "{text}"
    );
    let logged = logs.text();
    assert!(
        logged.contains("WARN") && logged.contains("family=late"),
        "{logged}"
    );
}
