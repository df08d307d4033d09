//! From the recorder to a remote-write 1.0 request body.
//!
//! [`Encoder`] is a visitor of the text render's own walk over the exposition (`encoder::walk`),
//! so every rule that keeps the exposition valid (names, labels, histogram series, derived
//! ratios) holds for remote write too, and values go from the cells to the wire without text in
//! between. What it learns of a line (its encoded labels) it keeps, by the line's id, until the
//! line leaves. The one-off [`encode_write_request`] reads a render's text instead: only the lines'
//! grammar as the text encoder writes it is parsed, `name{label="value",…} value`, values escaped
//! with `\\`, `\"` and `\n`.
//!
//! The body is a protobuf `WriteRequest { repeated TimeSeries timeseries = 1; }` with
//! `TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }`,
//! `Label { string name = 1; string value = 2; }` and
//! `Sample { double value = 1; int64 timestamp = 2; }`, compressed with snappy's block format.

use std::borrow::Cow;
use std::sync::{Arc, Weak};

use crate::encoder::{LineId, Owner, Sample, Visit};
use crate::index::Kind as IndexKind;
use crate::storage::{CounterCell, GaugeCell, HistogramCell, Named};
use crate::RecorderHandle;

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
        let (name, after) = crate::text::split_once(rest, "=\"")?;
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

/// The labels a series is written with: `__name__`, its own (the recorder renamed a `job` or
/// `instance` of its own `exported_job` / `exported_instance`), and the producer's `job` and
/// `instance`; empty values left out, sorted by name as raw bytes; encoded as the `labels` fields of
/// a `TimeSeries`, appended to `out`.
fn encode_labels(out: &mut Vec<u8>, name: &str, own: &[(&str, &str)], job: &str, instance: &str) {
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(own.len() + 3);
    labels.push(("__name__", name));
    // The recorder renamed a series' own `job` and `instance` at registration.
    labels.extend_from_slice(own);
    labels.push(("job", job));
    labels.push(("instance", instance));
    labels.retain(|(_, v)| !v.is_empty());
    // `str` orders as its bytes do, as receivers want.
    for at in crate::text::text_order(labels.iter().map(|l| l.0)) {
        let (name, value) = labels[at as usize];
        put_message(out, 0x0a, label_len(name, value), |out| {
            for (tag, text) in [(0x0a, name), (0x12, value)] {
                put_message(out, tag, text.len(), |out| {
                    out.extend_from_slice(text.as_bytes())
                });
            }
        });
    }
}

/// [`encode_labels`] of a text line; `None` for a line this crate's renderer would not write.
fn line_labels(line: &Line<'_>, job: &str, instance: &str) -> Option<Vec<u8>> {
    let (name, own) = line.name_and_labels()?;
    let own: Vec<(&str, &str)> = own.iter().map(|(k, v)| (*k, &**v)).collect();
    let mut out = Vec::new();
    encode_labels(&mut out, name, &own, job, instance);
    Some(out)
}

/// [`encode_labels`] of a sample line of the walk.
fn sample_labels(out: &mut Vec<u8>, sample: &Sample<'_>, job: &str, instance: &str) {
    let mut own = parse_labels(sample.labels()).unwrap_or_default();
    if let Some(le) = sample.le {
        let bound = le.strip_prefix("le=\"").and_then(|l| l.strip_suffix('"'));
        own.push(("le", Cow::Borrowed(bound.unwrap_or(le))));
    }
    let own: Vec<(&str, &str)> = own.iter().map(|(k, v)| (*k, &**v)).collect();
    if sample.suffix.is_empty() {
        encode_labels(out, sample.name, &own, job, instance);
    } else {
        let name = format!("{}{}", sample.name, sample.suffix);
        encode_labels(out, &name, &own, job, instance);
    }
}

/// How many writes carry a stale marker no receiver took before the encoder gives up on it. Five
/// writes are five minutes at the default interval: by then Prometheus' lookback has ended the
/// series anyway.
const END_TRIES: u8 = 5;

/// What an [`Encoder`] keeps of a line between writes, and what the last walk read of it.
#[derive(Debug)]
pub(crate) struct Known {
    pub(crate) id: LineId,
    /// Its encoded labels: `arena[labels.0..labels.1]`.
    labels: (usize, usize),
    /// The series' allocation, held so that its address (the line's id) is not reused while the
    /// line is known; it does not keep the series alive.
    anchor: Anchor,
    /// Whether a receiver took a sample of it: a cumulative series gets a `0` first until then.
    pub(crate) zeroed: bool,
    /// Whether it left the exposition and a receiver took its stale marker.
    ended: bool,
    /// Writes that carried its stale marker without a receiver taking it.
    end_tries: u8,
    /// The last walk's value.
    pub(crate) value: f64,
    pub(crate) kind: Kind,
}

/// See [`Known::anchor`].
#[derive(Debug)]
enum Anchor {
    Counter(Weak<Named<CounterCell>>),
    Gauge(Weak<Named<GaugeCell>>),
    Histogram(Weak<Named<HistogramCell>>),
    /// A ratio: it never leaves.
    None,
}

impl Anchor {
    fn of(owner: Owner<'_>) -> Self {
        match owner {
            Owner::Counter(a) => Anchor::Counter(Arc::downgrade(a)),
            Owner::Gauge(a) => Anchor::Gauge(Arc::downgrade(a)),
            Owner::Histogram(a) => Anchor::Histogram(Arc::downgrade(a)),
            Owner::Ratio => Anchor::None,
        }
    }

    /// Whether the series still lives (hidden for idleness, say, rather than dropped).
    fn alive(&self) -> bool {
        match self {
            Anchor::Counter(w) => w.strong_count() > 0,
            Anchor::Gauge(w) => w.strong_count() > 0,
            Anchor::Histogram(w) => w.strong_count() > 0,
            Anchor::None => true,
        }
    }
}

/// Encodes a recorder's series as remote-write 1.0 `WriteRequest`s for one producer (`job`,
/// `instance`). It walks the exposition as the text render does and keeps each line's encoded
/// labels, in the walk's order: while the order stays, a line costs a comparison, a copy of its
/// labels and its sample. [`RemoteWriter`](super::RemoteWriter) writes through one; use one
/// directly to send with an HTTP client of your own.
///
/// ```
/// use observer_metrics::remote_write::{compress, Encoder};
/// let recorder = observer_metrics::ObserverRecorder::new(&Default::default()).unwrap();
/// metrics::with_local_recorder(&recorder, || metrics::counter!("jobs_total").increment(3));
/// let mut encoder = Encoder::new("batch", "worker-1");
/// let body = encoder.encode(&recorder.handle(), 1_700_000_000_000);
/// let wire = compress(&body); // POST with Content-Encoding: snappy
/// assert!(!wire.is_empty());
/// ```
#[derive(Debug)]
pub struct Encoder {
    job: String,
    instance: String,
    /// The known lines: first those the last walk saw, in its order, then those it did not.
    lines: Vec<Known>,
    /// How many lines the last walk saw.
    seen: usize,
    /// Where each known line is in `lines`; rebuilt when a walk changes the order.
    index: crate::hash::HashMap<LineId, usize>,
    /// The encoded labels of the known lines, back to back.
    arena: Vec<u8>,
    /// Bytes of `arena` no known line uses any more.
    garbage: usize,
}

impl Encoder {
    /// An encoder for the producer `job` / `instance`.
    pub fn new(job: impl Into<String>, instance: impl Into<String>) -> Self {
        Encoder {
            job: job.into(),
            instance: instance.into(),
            lines: Vec::new(),
            seen: 0,
            index: crate::hash::HashMap::default(),
            arena: Vec::new(),
            garbage: 0,
        }
    }

    /// The `WriteRequest` (protobuf, not yet compressed) of `recorder`'s current state: one series
    /// a sample line of its render, with one sample at `timestamp_ms`.
    pub fn encode(&mut self, recorder: &RecorderHandle, timestamp_ms: i64) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(recorder, timestamp_ms, &mut out);
        out
    }

    /// [`encode`](Self::encode), appended to `out`: for a caller that reuses one buffer (a
    /// request body is about three times the text render's size).
    pub fn encode_into(&mut self, recorder: &RecorderHandle, timestamp_ms: i64, out: &mut Vec<u8>) {
        // About the last body's size: labels dominate, and they change little between writes.
        out.reserve(self.arena.len() - self.garbage + self.seen * 24);
        let mut tail = Vec::with_capacity(11);
        tail.push(0x10);
        put_varint(&mut tail, timestamp_ms as u64);
        let body = Body {
            out,
            sample: sample_len(timestamp_ms),
            timestamp: &tail,
        };
        // No stale markers here: the lines that left are done with.
        let ended = self.walk(recorder, Some(body));
        self.mark_ended(ended.into_iter().map(|(id, _)| id));
    }

    /// Walks `recorder`'s exposition: learns the lines not seen before and reads every value.
    /// Returns the lines that left the exposition and still want a stale marker, with their
    /// labels: each until [`mark_ended`](Self::mark_ended) says a receiver took it.
    pub(crate) fn collect(&mut self, recorder: &RecorderHandle) -> Vec<(LineId, (usize, usize))> {
        self.walk(recorder, None)
    }

    /// [`collect`](Self::collect), writing each line's series into `body` as it goes (one pass).
    fn walk(
        &mut self,
        recorder: &RecorderHandle,
        body: Option<Body<'_>>,
    ) -> Vec<(LineId, (usize, usize))> {
        if self.garbage > self.arena.len() / 2 {
            self.compact();
        }
        let mut walk = Collector {
            encoder: self,
            kind: Kind::Gauge,
            cursor: 0,
            reordered: None,
            body,
        };
        recorder.walk(&mut walk);
        let (cursor, reordered) = (walk.cursor, walk.reordered);
        match reordered {
            Some((mut next, old)) => {
                self.seen = next.len();
                next.extend(old.into_iter().flatten());
                self.lines = next;
                self.reindex();
            }
            None => self.seen = cursor,
        }
        self.end_unseen()
    }

    /// Ends the lines past `seen`: each reported until its stale marker is taken or was reported
    /// [`END_TRIES`] times, and forgotten after that once its series is gone for good (a series
    /// that comes back later is a new one, from 0).
    fn end_unseen(&mut self) -> Vec<(LineId, (usize, usize))> {
        let seen = self.seen;
        let mut ended = Vec::new();
        let wanted = |k: &Known| !k.ended && k.end_tries < END_TRIES;
        for known in self.lines[seen..].iter_mut().filter(|k| wanted(k)) {
            known.end_tries += 1;
            ended.push((known.id, known.labels));
        }
        let forget = |k: &Known| !wanted(k) && !k.anchor.alive();
        if self.lines[seen..].iter().any(forget) {
            let forgotten: usize = self.lines[seen..]
                .iter()
                .filter(|k| forget(k))
                .map(|k| k.labels.1 - k.labels.0)
                .sum();
            self.garbage += forgotten;
            let mut at = 0;
            self.lines.retain(|k| {
                at += 1;
                at <= seen || !forget(k)
            });
            self.reindex();
        }
        ended
    }

    fn reindex(&mut self) {
        self.index.clear();
        let positions = self.lines.iter().enumerate().map(|(i, k)| (k.id, i));
        self.index.extend(positions);
    }

    /// Copies the known lines' labels into a fresh arena.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for known in &mut self.lines {
            let start = arena.len();
            arena.extend_from_slice(&self.arena[known.labels.0..known.labels.1]);
            known.labels = (start, arena.len());
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// The lines of the last walk, in its order.
    pub(crate) fn walked(&self) -> &[Known] {
        &self.lines[..self.seen]
    }

    /// A known line's encoded labels.
    pub(crate) fn labels(&self, line: &Known) -> &[u8] {
        self.labels_at(line.labels)
    }

    /// Encoded labels by their place (as [`collect`](Self::collect) reports ended lines).
    pub(crate) fn labels_at(&self, place: (usize, usize)) -> &[u8] {
        &self.arena[place.0..place.1]
    }

    /// Records that a receiver took the stale markers of `lines`.
    pub(crate) fn mark_ended(&mut self, lines: impl IntoIterator<Item = LineId>) {
        for id in lines {
            if let Some(&i) = self.index.get(&id) {
                self.lines[i].ended = true;
            }
        }
    }

    /// Records that a receiver took samples of `lines`.
    pub(crate) fn mark_zeroed(&mut self, lines: impl IntoIterator<Item = LineId>) {
        for id in lines {
            if let Some(&i) = self.index.get(&id) {
                self.lines[i].zeroed = true;
            }
        }
    }

    fn learn(&mut self, sample: &Sample<'_>) -> Known {
        let start = self.arena.len();
        sample_labels(&mut self.arena, sample, &self.job, &self.instance);
        Known {
            id: sample.id,
            labels: (start, self.arena.len()),
            anchor: Anchor::of(sample.owner),
            zeroed: false,
            ended: false,
            end_tries: 0,
            value: 0.0,
            kind: Kind::Gauge,
        }
    }
}

/// The [`Encoder`]'s visitor of a walk. While the lines come in the last walk's order, each is
/// found at the cursor; from the first that does not, the known lines are taken out by their
/// index into the new order.
struct Collector<'e> {
    encoder: &'e mut Encoder,
    kind: Kind,
    cursor: usize,
    /// The lines in this walk's order so far, and the last walk's lines not taken yet.
    reordered: Option<(Vec<Known>, Vec<Option<Known>>)>,
    /// Where [`Encoder::encode_into`] writes each line's series as the walk meets it.
    body: Option<Body<'e>>,
}

/// A request body written during a walk: every series has one sample at the same time, so the
/// sample's bytes but the value are made once.
struct Body<'o> {
    out: &'o mut Vec<u8>,
    /// The encoded sample's length.
    sample: usize,
    /// The timestamp field: tag and varint.
    timestamp: &'o [u8],
}

impl Body<'_> {
    fn put(&mut self, labels: &[u8], value: f64) {
        let out = &mut *self.out;
        out.push(0x0a);
        put_varint(out, (labels.len() + 2 + self.sample) as u64);
        out.extend_from_slice(labels);
        out.extend_from_slice(&[0x12, self.sample as u8, 0x09]);
        out.extend_from_slice(&value.to_bits().to_le_bytes());
        out.extend_from_slice(self.timestamp);
    }
}

impl Visit for Collector<'_> {
    fn family(&mut self, _: &str, kind: IndexKind, _: Option<&str>) {
        self.kind = match kind {
            IndexKind::Counter | IndexKind::Histogram => Kind::Cumulative,
            _ => Kind::Gauge,
        };
    }

    fn sample(&mut self, sample: Sample<'_>) {
        let (value, kind) = (sample.value.as_f64(), self.kind);
        let encoder = &mut *self.encoder;
        if self.reordered.is_none() {
            if let Some(known) = encoder.lines.get_mut(self.cursor) {
                if known.id == sample.id {
                    (known.value, known.kind, known.ended, known.end_tries) =
                        (value, kind, false, 0);
                    self.cursor += 1;
                    if let Some(body) = &mut self.body {
                        body.put(&encoder.arena[known.labels.0..known.labels.1], value);
                    }
                    return;
                }
            }
            let mut old: Vec<Option<Known>> = std::mem::take(&mut encoder.lines)
                .into_iter()
                .map(Some)
                .collect();
            let next = old[..self.cursor]
                .iter_mut()
                .flat_map(Option::take)
                .collect();
            self.reordered = Some((next, old));
        }
        let Some((next, old)) = &mut self.reordered else {
            return;
        };
        let taken = encoder.index.get(&sample.id).and_then(|&i| old[i].take());
        let mut known = taken.unwrap_or_else(|| encoder.learn(&sample));
        (known.value, known.kind, known.ended, known.end_tries) = (value, kind, false, 0);
        if let Some(body) = &mut self.body {
            body.put(&encoder.arena[known.labels.0..known.labels.1], value);
        }
        next.push(known);
    }
}

/// The remote-write 1.0 `WriteRequest` (protobuf, not yet compressed) of an exposition in this
/// crate's text format (a [`render`](crate::RecorderHandle::render)): every sample line becomes a
/// series labelled with `job` and `instance`, with one sample at `timestamp_ms`. For a one-off
/// from text; an [`Encoder`] reads the recorder itself and remembers the series' labels between
/// writes, and
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
    let labels: Vec<(Vec<u8>, f64)> = lines(text)
        .filter_map(|line| Some((line_labels(&line, job, instance)?, line.value)))
        .collect();
    let series: Vec<TimeSeries<'_>> = labels
        .iter()
        .map(|(labels, value)| TimeSeries {
            labels,
            samples: Samples::one(*value, timestamp_ms),
        })
        .collect();
    write_request(&series)
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

fn series_len(labels: &[u8], samples: &[(f64, i64)]) -> usize {
    let samples: usize = samples
        .iter()
        .map(|&(_, t)| {
            let len = sample_len(t);
            1 + varint_len(len as u64) + len
        })
        .sum();
    labels.len() + samples
}

/// The protobuf `WriteRequest` of `series`, uncompressed.
pub(crate) fn write_request(series: &[TimeSeries<'_>]) -> Vec<u8> {
    let total: usize = series
        .iter()
        .map(|s| {
            let len = series_len(s.labels, s.samples.as_slice());
            1 + varint_len(len as u64) + len
        })
        .sum();
    let mut out = Vec::with_capacity(total);
    for s in series {
        put_series(&mut out, s.labels, s.samples.as_slice());
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// Appends one `timeseries` field: the encoded `labels`, then the samples.
fn put_series(out: &mut Vec<u8>, labels: &[u8], samples: &[(f64, i64)]) {
    put_message(out, 0x0a, series_len(labels, samples), |out| {
        out.extend_from_slice(labels);
        for &(value, timestamp) in samples {
            put_message(out, 0x12, sample_len(timestamp), |out| {
                out.push(0x09);
                out.extend_from_slice(&value.to_bits().to_le_bytes());
                out.push(0x10);
                put_varint(out, timestamp as u64);
            });
        }
    });
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

    /// A line that left is reported with every walk until a receiver takes its stale marker, then
    /// forgotten; one whose marker is never taken is forgotten after `END_TRIES` reports.
    #[test]
    fn an_ended_line_is_reported_until_its_marker_is_taken() {
        let config = crate::MetricsConfig::from_toml_str("idle_timeout_secs = 1").unwrap();
        let recorder = crate::ObserverRecorder::new(&config).unwrap();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("taken_total").increment(1);
            metrics::counter!("refused_total").increment(1);
        });
        let handle = recorder.handle();
        let mut encoder = Encoder::new("j", "i");
        assert!(encoder.collect(&handle).is_empty());
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        let ended = encoder.collect(&handle);
        assert_eq!(ended.len(), 2);
        let named = |encoder: &Encoder, place: (usize, usize), name: &str| {
            let labels = encoder.labels_at(place);
            labels.windows(name.len()).any(|w| w == name.as_bytes())
        };
        let taken = ended
            .iter()
            .find(|(_, place)| named(&encoder, *place, "taken_total"))
            .unwrap()
            .0;
        encoder.mark_ended([taken]);
        for report in 2..=END_TRIES {
            let again = encoder.collect(&handle);
            assert_eq!(again.len(), 1, "report {report}");
            assert!(
                named(&encoder, again[0].1, "refused_total"),
                "report {report}"
            );
        }
        assert!(encoder.collect(&handle).is_empty());
        assert!(encoder.lines.is_empty(), "{:?}", encoder.lines);
    }

    /// The encoder reading the recorder and the one-off reading its render write the same bytes:
    /// every family kind, histogram lines, ratios, escaped values, `job`/`instance` of its own.
    #[test]
    fn the_walk_and_the_text_encode_alike() {
        let recorder = crate::ObserverRecorder::new(&Default::default()).unwrap();
        let m = crate::ObserverMetrics::new(&recorder.handle());
        m.events_processed_total.increment(4);
        m.action_duration_ms.record(7.0);
        m.cache_hits_total.increment(1);
        m.queue_depth.set(-2.5);
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("odd_total", "v" => "q\"\\\n", "job" => "own").increment(2);
            metrics::histogram!("h_seconds", "le" => "mine").record(0.2);
            metrics::gauge!("nan").set(f64::NAN);
        });
        let mut encoder = Encoder::new("j", "i");
        for _ in 0..2 {
            let text = recorder.render();
            let expected = encode_write_request(&text, "j", "i", 5);
            assert_eq!(encoder.encode(&recorder.handle(), 5), expected);
        }
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
