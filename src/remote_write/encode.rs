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

/// One sample line of the exposition. Its labels are parsed only when asked for: an encoder that
/// knows the series already has them encoded.
#[derive(Debug, PartialEq)]
pub(crate) struct Line<'a> {
    /// `name{labels}`, as the line has it: the series' identity.
    pub(crate) series: &'a str,
    pub(crate) value: f64,
    pub(crate) kind: Kind,
}

/// Label pairs in a line's order, values unescaped.
pub(crate) type Labels<'a> = Vec<(&'a str, Cow<'a, str>)>;

impl<'a> Line<'a> {
    /// The metric name and the label pairs.
    pub(crate) fn name_and_labels(&self) -> Option<(&'a str, Labels<'a>)> {
        match self.series.split_once('{') {
            Some((name, rest)) => Some((name, parse_labels(rest.strip_suffix('}')?)?)),
            None => Some((self.series, Vec::new())),
        }
    }
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
            // Counters and buckets are whole numbers: the integer parse is the quick one.
            v => match v.parse::<u64>() {
                Ok(n) => n as f64,
                Err(_) => v.parse().ok()?,
            },
        };
        Some(Line {
            series,
            value,
            kind,
        })
    })
}

/// `a="x",b="y\"z"` as pairs, values unescaped.
fn parse_labels(mut rest: &str) -> Option<Labels<'_>> {
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

/// The labels a series is written with: `__name__`, its own (a `job` or `instance` of its own
/// renamed `exported_job` / `exported_instance`, as Prometheus does), and the producer's `job` and
/// `instance`; empty values left out, sorted by name as raw bytes; encoded as the `labels` fields of
/// a `TimeSeries`. `None` for a line this crate's renderer would not write.
fn encoded_labels(line: &Line<'_>, job: &str, instance: &str) -> Option<Box<[u8]>> {
    let (name, own) = line.name_and_labels()?;
    let mut labels: Vec<(Cow<'_, str>, &str)> = Vec::with_capacity(own.len() + 3);
    labels.push((Cow::Borrowed("__name__"), name));
    for (label, value) in &own {
        let label = match *label {
            "job" | "instance" => Cow::Owned(format!("exported_{label}")),
            other => Cow::Borrowed(other),
        };
        labels.push((label, value));
    }
    labels.push((Cow::Borrowed("job"), job));
    labels.push((Cow::Borrowed("instance"), instance));
    labels.retain(|(_, v)| !v.is_empty());
    labels.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::new();
    for (name, value) in &labels {
        put_message(&mut out, 0x0a, label_len(name, value), |out| {
            for (tag, text) in [(0x0a, &**name), (0x12, *value)] {
                put_message(out, tag, text.len(), |out| {
                    out.extend_from_slice(text.as_bytes())
                });
            }
        });
    }
    Some(out.into_boxed_slice())
}

/// Encodes expositions as remote-write 1.0 `WriteRequest`s for one producer (`job`, `instance`),
/// remembering each series' encoded labels: after a series' first write it costs a lookup and a
/// copy. [`RemoteWriter`](super::RemoteWriter) writes through one; use one directly to send with an
/// HTTP client of your own.
///
/// ```
/// use observer_metrics::remote_write::{compress, Encoder};
/// let recorder = observer_metrics::ObserverRecorder::new(&Default::default()).unwrap();
/// metrics::with_local_recorder(&recorder, || metrics::counter!("jobs_total").increment(3));
/// let mut encoder = Encoder::new("batch", "worker-1");
/// let body = encoder.encode(&recorder.render(), 1_700_000_000_000);
/// let wire = compress(&body); // POST with Content-Encoding: snappy
/// assert!(!wire.is_empty());
/// ```
#[derive(Debug)]
pub struct Encoder {
    job: String,
    instance: String,
    /// By the line's `name{labels}`. Grows with the recorder's series.
    labels: hashbrown::HashMap<Box<str>, Box<[u8]>>,
}

impl Encoder {
    /// An encoder for the producer `job` / `instance`.
    pub fn new(job: impl Into<String>, instance: impl Into<String>) -> Self {
        Encoder {
            job: job.into(),
            instance: instance.into(),
            labels: hashbrown::HashMap::new(),
        }
    }

    /// The `WriteRequest` (protobuf, not yet compressed) of `text`, a render of this crate's
    /// recorder: one series a sample line, with one sample at `timestamp_ms`.
    pub fn encode(&mut self, text: &str, timestamp_ms: i64) -> Vec<u8> {
        self.learn(text);
        let series: Vec<TimeSeries<'_>> = self
            .series(text)
            .map(|(line, labels)| TimeSeries {
                labels,
                samples: Samples::one(line.value, timestamp_ms),
            })
            .collect();
        write_request(&series)
    }

    /// Encodes the labels of every series of `text` not seen before.
    pub(crate) fn learn(&mut self, text: &str) {
        for line in lines(text) {
            if !self.labels.contains_key(line.series) {
                if let Some(encoded) = encoded_labels(&line, &self.job, &self.instance) {
                    self.labels.insert(line.series.into(), encoded);
                }
            }
        }
    }

    /// The lines of `text` with their encoded labels ([`learn`](Self::learn) first).
    pub(crate) fn series<'a>(
        &'a self,
        text: &'a str,
    ) -> impl Iterator<Item = (Line<'a>, &'a [u8])> + 'a {
        lines(text).filter_map(|line| {
            let labels = self.labels.get(line.series)?;
            Some((line, &**labels))
        })
    }
}

/// The remote-write 1.0 `WriteRequest` (protobuf, not yet compressed) of an exposition in this
/// crate's text format (a [`render`](crate::RecorderHandle::render)): every sample line becomes a
/// series labelled with `job` and `instance`, with one sample at `timestamp_ms`. For a one-off;
/// an [`Encoder`] remembers the series' labels between writes, and
/// [`RemoteWriter`](super::RemoteWriter) does all that and more (the first `0` sample, monotonic
/// timestamps, stale markers, batches, retries).
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
    Encoder::new(job, instance).encode(text, timestamp_ms)
}

/// `body` compressed with snappy's block format, as remote write sends it (`Content-Encoding:
/// snappy`; receivers refuse the framed format).
pub fn compress(body: &[u8]) -> Vec<u8> {
    snappy(body)
}

/// One series of a request: its labels, already encoded (`labels` fields, sorted by name as raw
/// bytes, `__name__` among them), and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeSeries<'a> {
    pub(crate) labels: &'a [u8],
    pub(crate) samples: Samples,
}

/// A series' samples in one write: its value, with a `0` before it the first time and a stale
/// marker after it at the end; at most three, kept inline rather than allocated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Samples {
    items: [(f64, i64); 3],
    len: u8,
}

impl Samples {
    pub(crate) fn one(value: f64, timestamp_ms: i64) -> Self {
        Samples {
            items: [(value, timestamp_ms); 3],
            len: 1,
        }
    }

    /// Adds a sample after the others (the caller keeps them in time order, at most three).
    pub(crate) fn push(&mut self, value: f64, timestamp_ms: i64) {
        self.items[usize::from(self.len)] = (value, timestamp_ms);
        self.len += 1;
    }

    pub(crate) fn as_slice(&self) -> &[(f64, i64)] {
        &self.items[..usize::from(self.len)]
    }
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

fn series_len(series: &TimeSeries<'_>) -> usize {
    let labels = series.labels.len();
    let samples: usize = series
        .samples
        .as_slice()
        .iter()
        .map(|&(_, t)| {
            let len = sample_len(t);
            1 + varint_len(len as u64) + len
        })
        .sum();
    labels + samples
}

/// The protobuf `WriteRequest` of `series`, uncompressed.
pub(crate) fn write_request(series: &[TimeSeries<'_>]) -> Vec<u8> {
    let lens: Vec<usize> = series.iter().map(series_len).collect();
    let total: usize = lens
        .iter()
        .map(|&len| 1 + varint_len(len as u64) + len)
        .sum();
    let mut out = Vec::with_capacity(total);
    for (s, &len) in series.iter().zip(&lens) {
        put_message(&mut out, 0x0a, len, |out| {
            out.extend_from_slice(s.labels);
            for &(value, timestamp) in s.samples.as_slice() {
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
        let (name, labels) = got[0].name_and_labels().unwrap();
        assert_eq!(name, "a_total");
        assert_eq!(
            labels,
            vec![("x", Cow::from("1")), ("y", Cow::from("q\"\\\n"))]
        );
        assert_eq!((got[0].value, got[0].kind), (3.0, Kind::Cumulative));
        assert!(got[1].value.is_nan() && got[1].kind == Kind::Gauge);
        assert_eq!(
            got[2].name_and_labels().unwrap().1,
            vec![("z", Cow::from(""))]
        );
        assert_eq!(got[2].value, f64::NEG_INFINITY);
        assert_eq!(
            got[3].name_and_labels().unwrap().1,
            vec![("le", Cow::from("+Inf"))]
        );
        assert!(got[3..].iter().all(|l| l.kind == Kind::Cumulative));
    }

    #[test]
    fn write_request_bytes() {
        let labels = [
            &[0x0a, 0x0d, 0x0a, 0x08][..],
            b"__name__",
            &[0x12, 0x01, b'a'],
        ]
        .concat();
        let series = [TimeSeries {
            labels: &labels,
            samples: Samples::one(1.0, 5),
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
