//! `metrics` calls from the fuzzer's bytes: any names, label sets, values and help texts, through
//! a recorder built from an arbitrary prefix and global labels.

use arbitrary::{Arbitrary, Unstructured};
use metrics::{Key, Label, Level, Metadata, Recorder};
use observer_metrics::{MetricsBuilder, ObserverRecorder};

static METADATA: Metadata<'static> = Metadata::new("fuzz", Level::INFO, None);

/// One call.
#[derive(Arbitrary, Debug)]
pub enum Op {
    Increment(String, Vec<(String, String)>, u64),
    Absolute(String, Vec<(String, String)>, u64),
    Set(String, Vec<(String, String)>, f64),
    Add(String, Vec<(String, String)>, f64),
    Record(String, Vec<(String, String)>, f64),
    DescribeCounter(String, String),
    DescribeHistogram(String, String),
}

/// A recorder's settings and the calls made on it.
#[derive(Arbitrary, Debug)]
pub struct Workload {
    pub prefix: Option<String>,
    pub global_labels: Vec<(String, String)>,
    pub ops: Vec<Op>,
}

fn key(name: &str, labels: &[(String, String)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(k.clone(), v.clone()))
        .collect();
    Key::from_parts(name.to_owned(), labels)
}

impl Workload {
    /// The workload of `data`, at most 64 calls (a render per input stays fast).
    pub fn from_bytes(data: &[u8]) -> Option<Workload> {
        let mut workload = Workload::arbitrary(&mut Unstructured::new(data)).ok()?;
        workload.ops.truncate(64);
        Some(workload)
    }

    /// The recorder with every call made, or `None` when its settings are refused (the error
    /// names a field, or the oracle panics). `remote_write`: built for a remote-write sink too.
    pub fn recorder(&self, remote_write: bool) -> Option<ObserverRecorder> {
        let mut builder = MetricsBuilder::new();
        if let Some(prefix) = &self.prefix {
            builder = builder.prefix(prefix.clone());
        }
        for (name, value) in &self.global_labels {
            builder = builder.add_global_label(name.clone(), value.clone());
        }
        if remote_write {
            builder = builder.with_remote_write("http://127.0.0.1:9/api/v1/write", "fuzz");
        }
        let recorder = match builder.build_recorder() {
            Ok(r) => r,
            Err(e) => {
                assert!(!e.field.is_empty(), "an error without a field: {e}");
                return None;
            }
        };
        let handle = recorder.handle();
        for op in &self.ops {
            match op {
                Op::Increment(name, labels, by) => handle
                    .register_counter(&key(name, labels), &METADATA)
                    .increment(*by),
                Op::Absolute(name, labels, to) => handle
                    .register_counter(&key(name, labels), &METADATA)
                    .absolute(*to),
                Op::Set(name, labels, to) => handle
                    .register_gauge(&key(name, labels), &METADATA)
                    .set(*to),
                Op::Add(name, labels, by) => handle
                    .register_gauge(&key(name, labels), &METADATA)
                    .increment(*by),
                Op::Record(name, labels, value) => handle
                    .register_histogram(&key(name, labels), &METADATA)
                    .record(*value),
                Op::DescribeCounter(name, help) => {
                    handle.describe_counter(name.clone().into(), None, help.clone().into())
                }
                Op::DescribeHistogram(name, help) => {
                    handle.describe_histogram(name.clone().into(), None, help.clone().into())
                }
            }
        }
        Some(recorder)
    }
}
