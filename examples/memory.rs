//! Resident bytes per series: 100,000 counter series and 100,000 histogram series (one label,
//! `id`), for observer-metrics and each peer, and 10,000 summary series of 200 observations each
//! across four orders of magnitude for observer-metrics and metrics-exporter-prometheus (the
//! others have no summary), and as many native histogram series (ours keep their classic buckets
//! beside); each scenario in a fresh process (Linux: reads `/proc/self/statm`).
//!
//! `cargo run --release --example memory`

use std::process::Command;

use metrics::{Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::PrometheusBuilder;
use observer_metrics::{MetricsBuilder, MetricsConfig};
use prometheus_client::metrics::{
    counter::Counter as PcCounter, family::Family, histogram::Histogram as PcHistogram,
};

const SERIES: usize = 100_000;
/// Summaries hold a sketch per series: fewer series, each with a spread of observations.
const SUMMARY_SERIES: usize = 10_000;
const SUMMARY_OBSERVATIONS: usize = 200;
const BUCKETS: [f64; 9] = [1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0];
const IMPLS: [&str; 4] = [
    "observer-metrics",
    "metrics-exporter-prometheus",
    "prometheus",
    "prometheus-client",
];
static META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

fn series_of(kind: &str) -> usize {
    match kind {
        "summary" | "native" => SUMMARY_SERIES,
        _ => SERIES,
    }
}

fn through_recorder<R: Recorder>(rec: &R, kind: &str) {
    for i in 0..series_of(kind) {
        let key = Key::from_parts("mem_series", vec![Label::new("id", i.to_string())]);
        match kind {
            "counter" => rec.register_counter(&key, &META).increment(1),
            "summary" | "native" => {
                let h = rec.register_histogram(&key, &META);
                // 0.1 to 1000: latencies in ms from fast to slow.
                for j in 0..SUMMARY_OBSERVATIONS {
                    h.record(((i + j * 37) % 10_000) as f64 / 10.0 + 0.1);
                }
            }
            _ => rec.register_histogram(&key, &META).record(i as f64 % 700.0),
        }
    }
}

/// Builds the scenario and returns what must stay alive while RSS is read.
fn scenario(implementation: &str, kind: &str) -> Box<dyn std::any::Any> {
    // Made only where an implementation keeps them as its keys, so that nobody else is charged
    // for their freed space.
    let ids = || (0..SERIES).map(|i| i.to_string()).collect::<Vec<String>>();
    match implementation {
        "observer-metrics" => {
            // No cardinality limit: every series is kept, as the peers keep them.
            let mut config = MetricsConfig::default();
            config.recorder.max_series_per_metric = 0;
            if kind == "summary" {
                config.recorder.summary_metrics = vec!["mem_series".into()];
            }
            if kind == "native" {
                config.recorder.native_histogram_metrics = vec!["mem_series".into()];
            }
            let rec = MetricsBuilder::from_config(config.clone())
                .build_recorder()
                .unwrap();
            through_recorder(&rec, kind);
            // Steady state: the series registered since the last render are handed to the
            // exposition by the first render, as any scrape or push would.
            drop(rec.render());
            Box::new(rec)
        }
        "metrics-exporter-prometheus" if kind == "native" => {
            let native = metrics_exporter_prometheus::NativeHistogramConfig::new(
                1.1,
                160,
                2.938735877055719e-39,
            )
            .unwrap();
            let rec = PrometheusBuilder::new()
                .set_native_histogram_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("mem_series".into()),
                    native,
                )
                .build_recorder();
            through_recorder(&rec, kind);
            drop(rec.handle().render());
            Box::new(rec)
        }
        // Its default: a histogram without buckets is a summary.
        "metrics-exporter-prometheus" if kind == "summary" => {
            let rec = PrometheusBuilder::new().build_recorder();
            through_recorder(&rec, kind);
            drop(rec.handle().render());
            Box::new(rec)
        }
        "metrics-exporter-prometheus" => {
            let rec = PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .unwrap()
                .build_recorder();
            through_recorder(&rec, kind);
            // The peer keeps histogram samples until a render drains them, as a scrape would.
            drop(rec.handle().render());
            Box::new(rec)
        }
        "prometheus" if kind == "counter" => {
            let v =
                prometheus::IntCounterVec::new(prometheus::Opts::new("mem_series", "h"), &["id"])
                    .unwrap();
            ids()
                .iter()
                .for_each(|id| v.with_label_values(&[id.as_str()]).inc());
            Box::new(v)
        }
        "prometheus" => {
            let v = prometheus::HistogramVec::new(
                prometheus::HistogramOpts::new("mem_series", "h").buckets(BUCKETS.to_vec()),
                &["id"],
            )
            .unwrap();
            ids().iter().enumerate().for_each(|(i, id)| {
                v.with_label_values(&[id.as_str()])
                    .observe(i as f64 % 700.0)
            });
            Box::new(v)
        }
        "prometheus-client" if kind == "counter" => {
            let f = Family::<Vec<(&'static str, String)>, PcCounter>::default();
            ids().into_iter().for_each(|id| {
                f.get_or_create(&vec![("id", id)]).inc();
            });
            Box::new(f)
        }
        "prometheus-client" => {
            let f = Family::<Vec<(&'static str, String)>, PcHistogram>::new_with_constructor(
                (|| PcHistogram::new(BUCKETS)) as fn() -> PcHistogram,
            );
            ids()
                .into_iter()
                .enumerate()
                .for_each(|(i, id)| f.get_or_create(&vec![("id", id)]).observe(i as f64 % 700.0));
            Box::new(f)
        }
        other => panic!("unknown implementation {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [implementation, kind] = args.as_slice() {
        let before = observer_metrics_testkit::resident_bytes(std::process::id()) as usize;
        let keep = scenario(implementation, kind);
        let after = observer_metrics_testkit::resident_bytes(std::process::id()) as usize;
        println!("{}", (after - before) / series_of(kind));
        drop(keep);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let measure = |implementation: &str, kind: &str| -> usize {
        let out = Command::new(&exe)
            .args([implementation, kind])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    println!(
        "| resident bytes per series ({SERIES} series; summaries {SUMMARY_SERIES}) | {} | ours / metrics-exporter-prometheus |",
        IMPLS.join(" | ")
    );
    println!("|---|---|---|---|---|---|");
    for kind in ["counter", "histogram", "summary", "native"] {
        let has = |i: &&str| !matches!(kind, "summary" | "native") || IMPLS[..2].contains(i);
        let bytes: Vec<usize> = IMPLS
            .iter()
            .map(|i| if has(i) { measure(i, kind) } else { 0 })
            .collect();
        let cells: Vec<String> = bytes
            .iter()
            .map(|&b| if b == 0 { "-".into() } else { b.to_string() })
            .collect();
        println!(
            "| {kind} | {} | {:.2} |",
            cells.join(" | "),
            bytes[0] as f64 / bytes[1] as f64
        );
    }
}
