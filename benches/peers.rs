//! Side-by-side benchmarks: observer-metrics against metrics-exporter-prometheus (through the same
//! `metrics::Recorder` trait, same buckets) and natively against the `prometheus` crate and
//! `prometheus-client`. Ends with a table of ratios to metrics-exporter-prometheus.
//!
//! `cargo bench --bench peers` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use metrics::{counter, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use observer_metrics::{MetricsBuilder, MetricsConfig, ObserverRecorder};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::histogram::Histogram as PcHistogram;
use prometheus_client::metrics::{
    counter::Counter as PcCounter, family::Family, gauge::Gauge as PcGauge,
};

const BUCKETS: [f64; 9] = [1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0];
static META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

const OURS: &str = "observer-metrics";
const PEER: &str = "metrics-exporter-prometheus";
const PROMETHEUS: &str = "prometheus";
const CLIENT: &str = "prometheus-client";

/// No cardinality limit: every series is kept, as the peers keep them.
fn ours() -> ObserverRecorder {
    let mut config = MetricsConfig::default();
    config.recorder.max_series_per_metric = 0;
    MetricsBuilder::from_config(config.clone())
        .build_recorder()
        .unwrap()
}

fn peer() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .unwrap()
        .build_recorder()
}

fn counter_handle(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_increment");
    let key = Key::from_static_name("bench_total");
    let ours = ours().register_counter(&key, &META);
    g.bench_function(OURS, |b| b.iter(|| ours.increment(black_box(1))));
    let peer = peer().register_counter(&key, &META);
    g.bench_function(PEER, |b| b.iter(|| peer.increment(black_box(1))));
    let prom = prometheus::IntCounter::new("bench_total", "h").unwrap();
    g.bench_function(PROMETHEUS, |b| b.iter(|| prom.inc_by(black_box(1))));
    let client: PcCounter = PcCounter::default();
    g.bench_function(CLIENT, |b| b.iter(|| client.inc_by(black_box(1))));
    g.finish();
}

fn gauge_handle(c: &mut Criterion) {
    let mut g = c.benchmark_group("gauge_increment");
    let key = Key::from_static_name("bench_gauge");
    let ours = ours().register_gauge(&key, &META);
    g.bench_function(OURS, |b| b.iter(|| ours.increment(black_box(1.0))));
    let peer = peer().register_gauge(&key, &META);
    g.bench_function(PEER, |b| b.iter(|| peer.increment(black_box(1.0))));
    let prom = prometheus::Gauge::new("bench_gauge", "h").unwrap();
    g.bench_function(PROMETHEUS, |b| b.iter(|| prom.add(black_box(1.0))));
    let client: PcGauge<f64, std::sync::atomic::AtomicU64> = PcGauge::default();
    g.bench_function(CLIENT, |b| b.iter(|| client.inc_by(black_box(1.0))));
    g.finish();
}

fn histogram_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_record");
    let key = Key::from_static_name("bench_ms");
    // A spread of values so the bucket search is exercised, the same sequence for everyone.
    let values: Vec<f64> = (0..1024).map(|i| (i * 37 % 12_000) as f64 + 0.5).collect();
    let ours = ours().register_histogram(&key, &META);
    let mut i = 0;
    g.bench_function(OURS, |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            ours.record(values[i])
        })
    });
    // The peer keeps every sample until a render drains it: render now and then so its memory stays
    // bounded, as a real scrape or push would.
    let peer_rec = peer();
    let peer_handle = peer_rec.handle();
    let peer = peer_rec.register_histogram(&key, &META);
    let peer_render = || drop(black_box(peer_handle.render()));
    g.bench_function(PEER, |b| {
        b.iter_custom(|iters| {
            records_then_render(iters, &values, &mut i, &|v| peer.record(v), &peer_render).0
        })
    });
    let prom = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_ms", "h").buckets(BUCKETS.to_vec()),
    )
    .unwrap();
    g.bench_function(PROMETHEUS, |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            prom.observe(values[i])
        })
    });
    let client = PcHistogram::new(BUCKETS);
    g.bench_function(CLIENT, |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            client.observe(values[i])
        })
    });
    g.finish();
}

fn counter_macro_with_labels(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_macro_two_static_labels");
    let ours = ours();
    metrics::with_local_recorder(&ours, || {
        g.bench_function(OURS, |b| {
            b.iter(|| counter!("requests_total", "method" => "get", "status" => "200").increment(1))
        });
    });
    let peer = peer();
    metrics::with_local_recorder(&peer, || {
        g.bench_function(PEER, |b| {
            b.iter(|| counter!("requests_total", "method" => "get", "status" => "200").increment(1))
        });
    });
    let prom = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "h"),
        &["method", "status"],
    )
    .unwrap();
    g.bench_function(PROMETHEUS, |b| {
        b.iter(|| prom.with_label_values(&["get", "200"]).inc())
    });
    let client = Family::<Vec<(&'static str, &'static str)>, PcCounter>::default();
    let labels = vec![("method", "get"), ("status", "200")];
    g.bench_function(CLIENT, |b| b.iter(|| client.get_or_create(&labels).inc()));
    g.finish();
}

fn register_dynamic_label(c: &mut Criterion) {
    let mut g = c.benchmark_group("register_fresh_dynamic_label");
    fn through<R: Recorder>(make: impl Fn() -> R) -> impl FnMut(u64) -> Duration {
        move |iters| {
            let rec = make();
            let labels: Vec<String> = (0..iters).map(|i| i.to_string()).collect();
            let start = Instant::now();
            metrics::with_local_recorder(&rec, || {
                for id in &labels {
                    counter!("dyn_total", "id" => id.clone()).increment(1);
                }
            });
            start.elapsed()
        }
    }
    g.bench_function(OURS, |b| b.iter_custom(through(ours)));
    g.bench_function(PEER, |b| b.iter_custom(through(peer)));
    g.bench_function(PROMETHEUS, |b| {
        b.iter_custom(|iters| {
            let vec =
                prometheus::IntCounterVec::new(prometheus::Opts::new("dyn_total", "h"), &["id"])
                    .unwrap();
            let labels: Vec<String> = (0..iters).map(|i| i.to_string()).collect();
            let start = Instant::now();
            for id in &labels {
                vec.with_label_values(&[id.as_str()]).inc();
            }
            start.elapsed()
        })
    });
    g.bench_function(CLIENT, |b| {
        b.iter_custom(|iters| {
            let family = Family::<Vec<(&'static str, String)>, PcCounter>::default();
            let labels: Vec<String> = (0..iters).map(|i| i.to_string()).collect();
            let start = Instant::now();
            for id in &labels {
                family.get_or_create(&vec![("id", id.clone())]).inc();
            }
            start.elapsed()
        })
    });
    g.finish();
}

const RENDER_COUNTERS: usize = 10_000;
const RENDER_HISTOGRAMS: usize = 100;

fn fill<R: Recorder>(rec: &R) {
    for i in 0..RENDER_COUNTERS {
        let key = Key::from_parts("render_total", vec![Label::new("id", i.to_string())]);
        rec.register_counter(&key, &META).increment(i as u64);
    }
    for i in 0..RENDER_HISTOGRAMS {
        let key = Key::from_parts("render_ms", vec![Label::new("id", i.to_string())]);
        let h = rec.register_histogram(&key, &META);
        for v in 0..50 {
            h.record((v * 211 % 12_000) as f64);
        }
    }
}

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_10k_counters_100_histograms");
    g.sample_size(20);
    let ours = ours();
    fill(&ours);
    g.bench_function(OURS, |b| b.iter(|| black_box(ours.render())));
    let peer = peer();
    fill(&peer);
    let handle = peer.handle();
    g.bench_function(PEER, |b| b.iter(|| black_box(handle.render())));

    let registry = prometheus::Registry::new();
    let counters =
        prometheus::IntCounterVec::new(prometheus::Opts::new("render_total", "h"), &["id"])
            .unwrap();
    let hists = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("render_ms", "h").buckets(BUCKETS.to_vec()),
        &["id"],
    )
    .unwrap();
    registry.register(Box::new(counters.clone())).unwrap();
    registry.register(Box::new(hists.clone())).unwrap();
    for i in 0..RENDER_COUNTERS {
        counters
            .with_label_values(&[&i.to_string()])
            .inc_by(i as u64);
    }
    for i in 0..RENDER_HISTOGRAMS {
        let h = hists.with_label_values(&[&i.to_string()]);
        for v in 0..50 {
            h.observe((v * 211 % 12_000) as f64);
        }
    }
    g.bench_function(PROMETHEUS, |b| {
        b.iter(|| {
            use prometheus::Encoder;
            let mut buf = Vec::new();
            prometheus::TextEncoder::new()
                .encode(&registry.gather(), &mut buf)
                .unwrap();
            black_box(buf)
        })
    });

    let mut registry = prometheus_client::registry::Registry::default();
    let counters = Family::<Vec<(&'static str, String)>, PcCounter>::default();
    let hists = Family::<Vec<(&'static str, String)>, PcHistogram>::new_with_constructor(
        (|| PcHistogram::new(BUCKETS)) as fn() -> PcHistogram,
    );
    registry.register("render", "h", counters.clone());
    registry.register("render_ms", "h", hists.clone());
    for i in 0..RENDER_COUNTERS {
        counters
            .get_or_create(&vec![("id", i.to_string())])
            .inc_by(i as u64);
    }
    for i in 0..RENDER_HISTOGRAMS {
        let h = hists.get_or_create(&vec![("id", i.to_string())]);
        for v in 0..50 {
            h.observe((v * 211 % 12_000) as f64);
        }
    }
    g.bench_function(CLIENT, |b| {
        b.iter(|| {
            let mut out = String::new();
            encode(&mut out, &registry).unwrap();
            black_box(out)
        })
    });
    g.finish();
}

fn two_threads_one_counter(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_two_threads");
    fn run(inc: Arc<dyn Fn() + Send + Sync>) -> impl FnMut(u64) -> Duration {
        move |iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let inc = inc.clone();
                    s.spawn(move || {
                        for _ in 0..iters {
                            inc();
                        }
                    });
                }
            });
            // Time per increment pair: both threads ran `iters` increments concurrently.
            start.elapsed()
        }
    }
    let key = Key::from_static_name("contended_total");
    let ours = ours().register_counter(&key, &META);
    let ours: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ours.increment(1));
    g.bench_function(OURS, |b| b.iter_custom(run(ours.clone())));
    let peer = peer().register_counter(&key, &META);
    let peer: Arc<dyn Fn() + Send + Sync> = Arc::new(move || peer.increment(1));
    g.bench_function(PEER, |b| b.iter_custom(run(peer.clone())));
    let prom = prometheus::IntCounter::new("contended_total", "h").unwrap();
    let prom: Arc<dyn Fn() + Send + Sync> = Arc::new(move || prom.inc());
    g.bench_function(PROMETHEUS, |b| b.iter_custom(run(prom.clone())));
    let client: PcCounter = PcCounter::default();
    let client: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        client.inc();
    });
    g.bench_function(CLIENT, |b| b.iter_custom(run(client.clone())));
    g.finish();
}

const RW_GROUP: &str = "remote_write_10k_counters_100_histograms";
const TEXT_RENDER: &str = "text render (observer-metrics)";
const RW_OURS: &str = "encode (observer-metrics Encoder, series known)";
const TEXT_RENDER_REUSED: &str = "text render into a reused buffer (observer-metrics)";
const RW_OURS_REUSED: &str = "encode into a reused buffer (observer-metrics Encoder)";
const RW_PEER: &str = "encode (prometheus_remote_write)";

/// Remote write of the render benchmark's series: our encoder (walking the recorder, the series'
/// labels known) against the `prometheus_remote_write` crate (prost) building the same
/// `WriteRequest` from the series' labels and values, our text render alongside as the yardstick.
/// Prints the bytes on the wire (snappy block format for both).
fn remote_write(c: &mut Criterion) {
    use observer_metrics::remote_write::Encoder;
    use prometheus_remote_write as prw;
    let ours = ours();
    fill(&ours);
    let text = ours.render();
    // The same series for the peer, as a user of it would hold them: name, labels, value.
    let series: Vec<(Vec<(String, String)>, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let mut pairs = vec![("__name__".to_owned(), name.to_owned())];
            for pair in labels
                .trim_end_matches('}')
                .split(',')
                .filter(|p| !p.is_empty())
            {
                let (k, v) = pair.split_once('=').unwrap();
                pairs.push((k.to_owned(), v.trim_matches('"').to_owned()));
            }
            pairs.push(("job".into(), "bench".into()));
            pairs.push(("instance".into(), "i1".into()));
            (pairs, value.parse().unwrap())
        })
        .collect();
    let peer_body = || {
        prw::WriteRequest {
            timeseries: series
                .iter()
                .map(|(labels, value)| prw::TimeSeries {
                    labels: labels
                        .iter()
                        .map(|(name, value)| prw::Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    samples: vec![prw::Sample {
                        value: *value,
                        timestamp: 1_700_000_000_000,
                    }],
                })
                .collect(),
        }
        .encode_proto3()
    };
    let theirs_body = peer_body();

    let mut g = c.benchmark_group(RW_GROUP);
    g.sample_size(20);
    g.bench_function(TEXT_RENDER, |b| b.iter(|| black_box(ours.render())));
    // As a RemoteWriter runs from its second write on: every series' labels already encoded. It
    // reads the recorder, as the text render does.
    let mut encoder = Encoder::new("bench", "i1");
    let handle = ours.handle();
    let ours_body = encoder.encode(&handle, 1_700_000_000_000);
    g.bench_function(RW_OURS, |b| {
        b.iter(|| black_box(encoder.encode(&handle, 1_700_000_000_000)))
    });
    // Both into a reused buffer: the encoding work alone, without the first touch of fresh pages
    // (a body is three times the text's size, so fresh pages weigh three times as much on it).
    let mut text_buffer = String::new();
    g.bench_function(TEXT_RENDER_REUSED, |b| {
        b.iter(|| {
            text_buffer.clear();
            handle.render_into(&mut text_buffer);
            black_box(text_buffer.len())
        })
    });
    let mut body_buffer = Vec::new();
    g.bench_function(RW_OURS_REUSED, |b| {
        b.iter(|| {
            body_buffer.clear();
            encoder.encode_into(&handle, 1_700_000_000_000, &mut body_buffer);
            black_box(body_buffer.len())
        })
    });
    g.bench_function(RW_PEER, |b| b.iter(|| black_box(peer_body())));
    g.finish();
    let snappy = |body: &[u8]| snap::raw::Encoder::new().compress_vec(body).unwrap();
    let wire = snappy(&ours_body);
    let theirs_wire = snappy(&theirs_body);
    println!(
        "\nremote write of {} series: text {} bytes; observer-metrics protobuf {} bytes, on the wire \
         {} bytes ({:.3} of the text); prometheus_remote_write protobuf {} bytes, on the wire {} bytes",
        series.len(),
        text.len(),
        ours_body.len(),
        wire.len(),
        wire.len() as f64 / text.len() as f64,
        theirs_body.len(),
        theirs_wire.len(),
    );
    REMOTE_WRITE_SERIES.store(series.len(), std::sync::atomic::Ordering::Relaxed);
}

static REMOTE_WRITE_SERIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Reads criterion's estimates and prints `group | ours | peers… | ratio to the peer`.
fn ratio_table() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../criterion");
    let read = |group: &str, id: &str| -> Option<f64> {
        let path = dir.join(group).join(id).join("new/estimates.json");
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        json["median"]["point_estimate"].as_f64()
    };
    let fmt = |ns: Option<f64>| match ns {
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.2} ns"),
        None => "-".into(),
    };
    println!("\n| benchmark (median per op) | {OURS} | {PEER} | {PROMETHEUS} | {CLIENT} | ours / {PEER} |");
    println!("|---|---|---|---|---|---|");
    for group in [
        "counter_increment",
        "gauge_increment",
        "histogram_record",
        "summary_record",
        "native_histogram_record",
        "counter_macro_two_static_labels",
        "register_fresh_dynamic_label",
        "render_10k_counters_100_histograms",
        "counter_two_threads",
    ] {
        let [o, p, pr, cl] = [OURS, PEER, PROMETHEUS, CLIENT].map(|id| read(group, id));
        let ratio = o
            .zip(p)
            .map_or("-".into(), |(o, p)| format!("{:.2}", o / p));
        println!(
            "| {group} | {} | {} | {} | {} | {ratio} |",
            fmt(o),
            fmt(p),
            fmt(pr),
            fmt(cl)
        );
    }
    let n = REMOTE_WRITE_SERIES.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let per_series = |ns: Option<f64>| ns.map_or("-".into(), |ns| format!("{:.1} ns", ns / n));
    let render = read(RW_GROUP, TEXT_RENDER);
    let render_reused = read(RW_GROUP, TEXT_RENDER_REUSED);
    println!("\n| remote write, {n} series (median) | total | per series | / text render |");
    println!("|---|---|---|---|");
    for id in [
        TEXT_RENDER,
        RW_OURS,
        TEXT_RENDER_REUSED,
        RW_OURS_REUSED,
        RW_PEER,
    ] {
        let t = read(RW_GROUP, id);
        // Into a reused buffer, against the text render into a reused buffer.
        let base = match id {
            TEXT_RENDER_REUSED | RW_OURS_REUSED => render_reused,
            _ => render,
        };
        let ratio = t
            .zip(base)
            .map_or("-".into(), |(t, r)| format!("{:.2}", t / r));
        println!("| {id} | {} | {} | {ratio} |", fmt(t), per_series(t));
    }
}

const TAIL_SERIES: usize = 100_000;
const TAIL_CALLS: usize = 200_000;
const TAIL_GROUP: &str = "counter_tail_latency";

/// The p50, p99 and p99.9 of `register_counter(key).increment(1)` on existing keys, in ns, while
/// `busy` another thread renders all `TAIL_SERIES` series and registers fresh ones in a loop.
fn tail_run<R: Recorder + Sync>(
    rec: &R,
    render: &(dyn Fn() -> usize + Sync),
    busy: bool,
) -> [f64; 3] {
    let keys: Vec<Key> = (0..1_000)
        .map(|i| Key::from_parts("tail_total", vec![Label::new("id", (i * 97).to_string())]))
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut times = Vec::with_capacity(TAIL_CALLS);
    std::thread::scope(|s| {
        if busy {
            s.spawn(|| {
                let mut fresh = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for _ in 0..100 {
                        let key = Key::from_parts(
                            "fresh_total",
                            vec![Label::new("id", fresh.to_string())],
                        );
                        rec.register_counter(&key, &META).increment(1);
                        fresh += 1;
                    }
                    black_box(render());
                }
            });
            // Let the first render start.
            std::thread::sleep(Duration::from_millis(20));
        }
        for i in 0..TAIL_CALLS {
            let key = &keys[i % keys.len()];
            let start = Instant::now();
            rec.register_counter(key, &META).increment(1);
            times.push(start.elapsed().as_nanos() as f64);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    [at(0.5), at(0.99), at(0.999)]
}

/// Tail latency of recording while renders and registrations run: ours and the peer, each filled
/// with `TAIL_SERIES` series, interleaved over five rounds; the median of each figure.
fn tail_latency() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filter.is_empty() && !filter.iter().any(|f| TAIL_GROUP.contains(f.as_str())) {
        return;
    }
    let fill = |rec: &dyn Recorder| {
        for i in 0..TAIL_SERIES {
            let key = Key::from_parts("tail_total", vec![Label::new("id", i.to_string())]);
            rec.register_counter(&key, &META).increment(1);
        }
    };
    let o = ours();
    fill(&o);
    let p = peer();
    fill(&p);
    let p_handle = p.handle();
    let o_render = || o.render().len();
    let p_render = || p_handle.render().len();
    let mut runs: Vec<[[f64; 3]; 4]> = Vec::new();
    for _ in 0..5 {
        runs.push([
            tail_run(&o, &o_render, false),
            tail_run(&p, &p_render, false),
            tail_run(&o, &o_render, true),
            tail_run(&p, &p_render, true),
        ]);
    }
    let median = |which: usize, q: usize| {
        let mut v: Vec<f64> = runs.iter().map(|r| r[which][q]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\n| {TAIL_GROUP}: `register_counter(key).increment(1)` on existing keys, {TAIL_SERIES} series (median of 5 rounds) | p50 | p99 | p99.9 |");
    println!("|---|---|---|---|");
    let names = [
        format!("{OURS}, idle"),
        format!("{PEER}, idle"),
        format!("{OURS}, while another thread renders and registers"),
        format!("{PEER}, while another thread renders and registers"),
    ];
    for (i, name) in names.iter().enumerate() {
        println!(
            "| {name} | {:.0} ns | {:.0} ns | {:.0} ns |",
            median(i, 0),
            median(i, 1),
            median(i, 2)
        );
    }
    println!(
        "\np99.9 while busy: ours / peer = {:.2}; ours busy / ours idle = {:.2}",
        median(2, 2) / median(3, 2),
        median(2, 2) / median(0, 2)
    );
}

/// A histogram recorded as a summary: ours (`summary_metrics`) against the peer's default (a
/// histogram without buckets is a summary there). Both render every 100,000 records, as a push or
/// scrape would, and the render is timed with the records: the peer only queues a sample when it
/// is recorded and adds it to its sketch when a render drains the queue.
fn summary_record(c: &mut Criterion) {
    let mut config = MetricsConfig::default();
    config.recorder.summary_metrics = vec!["bench_seconds".into()];
    let peer = PrometheusBuilder::new().build_recorder();
    record_with_renders(c, "summary_record", config, peer);
}

/// A histogram with native buckets: ours (`native_histogram_metrics`, its classic buckets kept
/// beside) against the peer's (`set_native_histogram_for_metric`, factor 1.1, 160 buckets), as for
/// summaries (the peer's text render drains its queue into its native histograms; its protobuf
/// render is a feature left off here).
fn native_histogram_record(c: &mut Criterion) {
    let mut config = MetricsConfig::default();
    config.recorder.native_histogram_metrics = vec!["bench_seconds".into()];
    let native =
        metrics_exporter_prometheus::NativeHistogramConfig::new(1.1, 160, 2.938735877055719e-39)
            .unwrap();
    let peer = PrometheusBuilder::new()
        .set_native_histogram_for_metric(
            metrics_exporter_prometheus::Matcher::Full("bench_seconds".into()),
            native,
        )
        .build_recorder();
    record_with_renders(c, "native_histogram_record", config, peer);
}

/// `bench_seconds` recorded into ours (built from `config`) and into `peer`, a render every
/// 100,000 records timed with them.
fn record_with_renders(
    c: &mut Criterion,
    group: &str,
    config: MetricsConfig,
    peer_rec: PrometheusRecorder,
) {
    let mut g = c.benchmark_group(group);
    let key = Key::from_static_name("bench_seconds");
    let values: Vec<f64> = (0..1024)
        .map(|i| (i * 37 % 12_000) as f64 / 1000.0 + 0.0005)
        .collect();
    let ours_rec = MetricsBuilder::from_config(config)
        .build_recorder()
        .unwrap();
    let peer_handle = peer_rec.handle();
    let mut i = 0;
    let ours = ours_rec.register_histogram(&key, &META);
    let ours_render = || drop(black_box(ours_rec.render()));
    let peer = peer_rec.register_histogram(&key, &META);
    let peer_render = || drop(black_box(peer_handle.render()));
    type Side<'a> = (&'a str, &'a dyn Fn(f64), &'a dyn Fn());
    let sides: [Side<'_>; 2] = [
        (OURS, &|v| ours.record(v), &ours_render),
        (PEER, &|v| peer.record(v), &peer_render),
    ];
    for (name, record, render) in sides {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (records, renders) =
                    records_then_render(iters, &values, &mut i, record, render);
                records + renders
            })
        });
    }
    g.finish();
}

/// `iters` records of `values` (from `*i` on), a render after every 100,000 as a push or scrape
/// would make: the time the records took, and the time the renders took.
fn records_then_render(
    iters: u64,
    values: &[f64],
    i: &mut usize,
    record: &dyn Fn(f64),
    render: &dyn Fn(),
) -> (Duration, Duration) {
    let (mut records, mut renders) = (Duration::ZERO, Duration::ZERO);
    let mut left = iters;
    while left > 0 {
        let n = left.min(100_000);
        let start = Instant::now();
        for _ in 0..n {
            *i = (*i + 1) & (values.len() - 1);
            record(values[*i]);
        }
        let recorded = Instant::now();
        render();
        records += recorded - start;
        renders += recorded.elapsed();
        left -= n;
    }
    (records, renders)
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    counter_handle(&mut c);
    gauge_handle(&mut c);
    histogram_record(&mut c);
    summary_record(&mut c);
    native_histogram_record(&mut c);
    counter_macro_with_labels(&mut c);
    register_dynamic_label(&mut c);
    render(&mut c);
    remote_write(&mut c);
    two_threads_one_counter(&mut c);
    c.final_summary();
    ratio_table();
    tail_latency();
}
