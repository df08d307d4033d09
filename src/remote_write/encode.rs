//! From the text exposition to a remote-write 1.0 request body.
//!
//! The input is this crate's own render, so the walk over the series is the render's, written
//! once: every rule that keeps the exposition valid (names, labels, histogram series, derived
//! ratios) holds for remote write too. Only the lines' grammar as the encoder writes it is parsed
//! here: `name{label="value",…} value`, values escaped with `\\`, `\"` and `\n`.
//!
//! The body is a protobuf `WriteRequest { repeated TimeSeries timeseries = 1; }` with
//! `TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }`,
//! `Label { string name = 1; string value = 2; }` and
//! `Sample { double value = 1; int64 timestamp = 2; }`, compressed with snappy's block format.

use std::borrow::Cow;

/// The NaN that ends a series at once for instant queries (Prometheus' stale marker).
pub(crate) const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// What the `# TYPE` line before a sample said of its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A counter, or a histogram's `_bucket`, `_sum` and `_count` series: values that only grow
    /// from zero, which `increase()` and `rate()` are for.
    Cumulative,
    /// A gauge.
    Gauge,
}

/// One sample line of the exposition.
#[derive(Debug, PartialEq)]
pub(crate) struct Line<'a> {
    /// `name{labels}`, as the line has it: the series' identity.
    pub(crate) series: &'a str,
    pub(crate) name: &'a str,
    /// Label pairs in the line's order, values unescaped.
    pub(crate) labels: Vec<(&'a str, Cow<'a, str>)>,
    pub(crate) value: f64,
    pub(crate) kind: Kind,
}

/// The sample lines of `text`, each with its family's kind.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut kind = Kind::Gauge;
    text.lines().filter_map(move |line| {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            kind = match rest.rsplit(' ').next() {
                Some("counter" | "histogram") => Kind::Cumulative,
                _ => Kind::Gauge,
            };
            return None;
        }
        if line.starts_with('#') || line.is_empty() {
            return None;
        }
        let (series, value) = line.rsplit_once(' ')?;
        let value = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().ok()?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
            None => (series, Vec::new()),
        };
        Some(Line {
            series,
            name,
            labels,
            value,
            kind,
        })
    })
}

/// `a="x",b="y\"z"` as pairs, values unescaped.
fn parse_labels(mut rest: &str) -> Option<Vec<(&str, Cow<'_, str>)>> {
    let mut pairs = Vec::new();
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"")?;
        let mut escaped = false;
        let mut end = None;
        for (i, b) in after.bytes().enumerate() {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end?;
        let raw = &after[..end];
        let value = if raw.contains('\\') {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                match (c, c == '\\') {
                    (_, true) => match chars.next()? {
                        'n' => out.push('\n'),
                        other => out.push(other),
                    },
                    (c, false) => out.push(c),
                }
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(raw)
        };
        pairs.push((name, value));
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    Some(pairs)
}

/// The labels a line is written with: `__name__`, its own (a `job` or `instance` of its own
/// renamed `exported_job` / `exported_instance`, as Prometheus does), and the producer's `job` and
/// `instance`; empty values left out, sorted by name as raw bytes.
pub(crate) fn labels_of(line: &Line<'_>, job: &str, instance: &str) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = Vec::with_capacity(line.labels.len() + 3);
    labels.push(("__name__".into(), line.name.to_owned()));
    for (name, value) in &line.labels {
        let name = match *name {
            "job" | "instance" => format!("exported_{name}"),
            other => other.to_owned(),
        };
        labels.push((name, value.clone().into_owned()));
    }
    labels.push(("job".into(), job.to_owned()));
    labels.push(("instance".into(), instance.to_owned()));
    labels.retain(|(_, v)| !v.is_empty());
    labels.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    labels
}

/// The remote-write 1.0 `WriteRequest` (protobuf, not yet compressed) of an exposition in this
/// crate's text format (a [`render`](crate::RecorderHandle::render)): every sample line becomes a
/// series labelled with `job` and `instance`, with one sample at `timestamp_ms`. For sending with
/// an HTTP client of your own; [`RemoteWriter`](super::RemoteWriter) does this and more (the first
/// `0` sample, monotonic timestamps, stale markers, batches, retries).
///
/// ```
/// let recorder = observer_metrics::ObserverRecorder::new(&Default::default()).unwrap();
/// metrics::with_local_recorder(&recorder, || metrics::counter!("jobs_total").increment(3));
/// let body = observer_metrics::remote_write::encode_write_request(
///     &recorder.render(), "batch", "worker-1", 1_700_000_000_000);
/// let wire = observer_metrics::remote_write::compress(&body); // Content-Encoding: snappy
/// assert!(!wire.is_empty());
/// ```
pub fn encode_write_request(text: &str, job: &str, instance: &str, timestamp_ms: i64) -> Vec<u8> {
    let series: Vec<TimeSeries> = lines(text)
        .map(|line| TimeSeries {
            labels: labels_of(&line, job, instance),
            samples: vec![(line.value, timestamp_ms)],
        })
        .collect();
    write_request(&series)
}

/// `body` compressed with snappy's block format, as remote write sends it (`Content-Encoding:
/// snappy`; receivers refuse the framed format).
pub fn compress(body: &[u8]) -> Vec<u8> {
    snappy(body)
}

/// One series of a request: labels sorted by name as raw bytes (`__name__` among them), and its
/// samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeSeries {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) samples: Vec<(f64, i64)>,
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field: tag, length, then what `body` writes (exactly `len` bytes).
fn put_message(out: &mut Vec<u8>, tag: u8, len: usize, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    put_varint(out, len as u64);
    body(out);
}

fn string_field_len(s: &str) -> usize {
    1 + varint_len(s.len() as u64) + s.len()
}

fn label_len(name: &str, value: &str) -> usize {
    string_field_len(name) + string_field_len(value)
}

fn sample_len(timestamp: i64) -> usize {
    // value: tag + 8 bytes; timestamp: tag + varint (int64 as two's complement).
    1 + 8 + 1 + varint_len(timestamp as u64)
}

fn series_len(series: &TimeSeries) -> usize {
    let labels: usize = series
        .labels
        .iter()
        .map(|(n, v)| {
            let len = label_len(n, v);
            1 + varint_len(len as u64) + len
        })
        .sum();
    let samples: usize = series
        .samples
        .iter()
        .map(|&(_, t)| {
            let len = sample_len(t);
            1 + varint_len(len as u64) + len
        })
        .sum();
    labels + samples
}

/// The protobuf `WriteRequest` of `series`, uncompressed.
pub(crate) fn write_request(series: &[TimeSeries]) -> Vec<u8> {
    let total: usize = series
        .iter()
        .map(|s| {
            let len = series_len(s);
            1 + varint_len(len as u64) + len
        })
        .sum();
    let mut out = Vec::with_capacity(total);
    for s in series {
        put_message(&mut out, 0x0a, series_len(s), |out| {
            for (name, value) in &s.labels {
                put_message(out, 0x0a, label_len(name, value), |out| {
                    for (tag, text) in [(0x0a, name), (0x12, value)] {
                        put_message(out, tag, text.len(), |out| {
                            out.extend_from_slice(text.as_bytes())
                        });
                    }
                });
            }
            for &(value, timestamp) in &s.samples {
                put_message(out, 0x12, sample_len(timestamp), |out| {
                    out.push(0x09);
                    out.extend_from_slice(&value.to_bits().to_le_bytes());
                    out.push(0x10);
                    put_varint(out, timestamp as u64);
                });
            }
        });
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// `body` compressed with snappy's block format (not the framed one: receivers refuse it).
pub(crate) fn snappy(body: &[u8]) -> Vec<u8> {
    // Compressing into a buffer of the right size cannot fail.
    snap::raw::Encoder::new()
        .compress_vec(body)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_parsed_as_the_encoder_writes_them() {
        let text =
            "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\\\\\\n\"} 3\n\
                    # TYPE g gauge\ng NaN\ng{z=\"\"} -Inf\n# TYPE h histogram\n\
                    h_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n";
        let got: Vec<Line> = lines(text).collect();
        assert_eq!(got.len(), 6);
        assert_eq!(got[0].name, "a_total");
        assert_eq!(
            got[0].labels,
            vec![("x", Cow::from("1")), ("y", Cow::from("q\"\\\n"))]
        );
        assert_eq!((got[0].value, got[0].kind), (3.0, Kind::Cumulative));
        assert!(got[1].value.is_nan() && got[1].kind == Kind::Gauge);
        assert_eq!(got[2].labels, vec![("z", Cow::from(""))]);
        assert_eq!(got[2].value, f64::NEG_INFINITY);
        assert_eq!(got[3].labels, vec![("le", Cow::from("+Inf"))]);
        assert!(got[3..].iter().all(|l| l.kind == Kind::Cumulative));
    }

    #[test]
    fn write_request_bytes() {
        let series = [TimeSeries {
            labels: vec![("__name__".into(), "a".into())],
            samples: vec![(1.0, 5)],
        }];
        let expected: Vec<u8> = [
            &[0x0a, 0x1c][..],         // TimeSeries, 28 bytes
            &[0x0a, 0x0d, 0x0a, 0x08], // Label (13), name (8)
            b"__name__",
            &[0x12, 0x01, b'a'], // value
            &[0x12, 0x0b, 0x09], // Sample (11), value
            &1.0f64.to_bits().to_le_bytes(),
            &[0x10, 0x05], // timestamp 5
        ]
        .concat();
        assert_eq!(write_request(&series), expected);
        let compressed = snappy(&expected);
        assert_eq!(
            snap::raw::Decoder::new()
                .decompress_vec(&compressed)
                .unwrap(),
            expected
        );
    }
}
