//! From the recorder to a remote-write 1.0 request body.
//!
//! [`Encoder`] is a visitor of the text render's own walk over the exposition (`encoder::walk`),
//! so every rule that keeps the exposition valid (names, labels, histogram series, derived
//! ratios) holds for remote write too, and values go from the cells to the wire without text in
//! between. What it learns of a line (its encoded labels) it keeps, by the line's id, until the
//! line leaves.
//!
//! The body is a protobuf `WriteRequest { repeated TimeSeries timeseries = 1; }` with
//! `TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }`,
//! `Label { string name = 1; string value = 2; }` and
//! `Sample { double value = 1; int64 timestamp = 2; }`, compressed with snappy's block format.

use std::sync::{Arc, Weak};

use crate::recorder::index::Kind as IndexKind;
use crate::recorder::storage::{CounterCell, GaugeCell, HistogramCell, Named};
use crate::recorder::walk::{LineId, Owner, Sample, Visit};
use crate::recorder::RecorderHandle;

/// The NaN that ends a series at once for instant queries (Prometheus' stale marker).
pub(crate) const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

mod labels;
#[cfg(not(target_arch = "wasm32"))]
mod native;
mod protobuf;

use crate::encoding::proto::put_varint;
use labels::sample_labels;
pub(crate) use labels::Kind;
#[cfg(test)]
use labels::{line_labels, lines};
use protobuf::sample_len;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use protobuf::NativeBytes;
pub(crate) use protobuf::{snappy, write_request, Samples, TimeSeries};

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
    /// The last walk's value (a native histogram's count).
    pub(crate) value: f64,
    pub(crate) kind: Kind,
    /// A native histogram line's `Histogram` fields, from the last walk.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) native: Option<Box<NativeBytes>>,
}

impl Known {
    /// Whether it is a native histogram's line (also once it left: its stale marker is a
    /// `Histogram`).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn is_native(id: LineId) -> bool {
        id.line == crate::recorder::walk::NATIVE_LINE
    }
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
/// labels and its sample. [`RemoteWriter`](crate::remote_write::RemoteWriter) writes through one; use one
/// directly to send with an HTTP client of your own.
///
/// ```
/// use observer_metrics::remote_write::Encoder;
/// let recorder = observer_metrics::MetricsBuilder::new().build_recorder().unwrap();
/// metrics::with_local_recorder(&recorder, || metrics::counter!("jobs_total").increment(3));
/// let mut encoder = Encoder::new("batch", "worker-1");
/// let body = encoder.encode(&recorder.handle(), 1_700_000_000_000);
/// // Compress with snappy's block format and POST with `Content-Encoding: snappy`.
/// assert!(!body.is_empty());
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
    /// Whether a native histogram series goes as remote write's `Histogram` too.
    #[cfg(not(target_arch = "wasm32"))]
    natives: bool,
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
            #[cfg(not(target_arch = "wasm32"))]
            natives: false,
        }
    }

    /// With `true`, each series of a family the recorder keeps native buckets for
    /// (`native_histogram_metrics`) also goes as a native histogram: a series of the family's own
    /// name whose samples are remote write's `Histogram` (field 4 of `TimeSeries`), which
    /// Prometheus takes when started with `--enable-feature=native-histograms`. Its classic
    /// `_bucket`/`_sum`/`_count` series go as well unless the family keeps no classic buckets
    /// (`native_histogram_classic_buckets = false`). Default: `false`, classic series alone.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_native_histograms(mut self, on: bool) -> Self {
        self.natives = on;
        self
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
            #[cfg(not(target_arch = "wasm32"))]
            timestamp_ms,
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
            summary: false,
            cursor: 0,
            reordered: None,
            body,
            #[cfg(not(target_arch = "wasm32"))]
            open: None,
            #[cfg(not(target_arch = "wasm32"))]
            native: None,
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
            #[cfg(not(target_arch = "wasm32"))]
            native: None,
        }
    }
}

/// The [`Encoder`]'s visitor of a walk. While the lines come in the last walk's order, each is
/// found at the cursor; from the first that does not, the known lines are taken out by their
/// index into the new order.
struct Collector<'e> {
    encoder: &'e mut Encoder,
    kind: Kind,
    /// The family is a summary: its quantile lines are gauges.
    summary: bool,
    cursor: usize,
    /// The lines in this walk's order so far, and the last walk's lines not taken yet.
    reordered: Option<(Vec<Known>, Vec<Option<Known>>)>,
    /// Where [`Encoder::encode_into`] writes each line's series as the walk meets it.
    body: Option<Body<'e>>,
    /// The native histogram series the walk is in.
    #[cfg(not(target_arch = "wasm32"))]
    open: Option<native::Open>,
    /// The `Histogram` fields of the line being visited, when it is a native histogram's.
    #[cfg(not(target_arch = "wasm32"))]
    native: Option<Box<NativeBytes>>,
}

/// A request body written during a walk: every series has one sample at the same time, so the
/// sample's bytes but the value are made once.
struct Body<'o> {
    out: &'o mut Vec<u8>,
    /// The encoded sample's length.
    sample: usize,
    /// The timestamp field: tag and varint.
    timestamp: &'o [u8],
    #[cfg(not(target_arch = "wasm32"))]
    timestamp_ms: i64,
}

impl Body<'_> {
    /// A native histogram line's series, with its one histogram.
    #[cfg(not(target_arch = "wasm32"))]
    fn put_native(&mut self, labels: &[u8], native: &NativeBytes, count: f64) {
        let series = TimeSeries {
            labels,
            samples: Samples::one(count, self.timestamp_ms),
            native: Some(native),
        };
        self.out.extend_from_slice(&write_request(&[series]));
    }

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
        self.summary = kind == IndexKind::Summary;
        self.kind = match kind {
            IndexKind::Counter | IndexKind::Histogram | IndexKind::Summary => Kind::Cumulative,
            IndexKind::Gauge => Kind::Gauge,
        };
    }

    fn sample(&mut self, sample: Sample<'_>) {
        let kind = match self.summary && sample.suffix.is_empty() {
            // A summary's quantiles come and go; its `_sum` and `_count` count up.
            true => Kind::Gauge,
            false => self.kind,
        };
        #[cfg(not(target_arch = "wasm32"))]
        if self.encoder.natives {
            match native::step(&mut self.open, &sample) {
                native::Step::Line => {}
                native::Step::Skip => return,
                native::Step::Then {
                    classic,
                    count,
                    bytes,
                } => {
                    if classic {
                        self.line(&sample, kind, sample.value.as_f64());
                    }
                    self.native = Some(bytes);
                    self.line(&sample.native_line(), Kind::Cumulative, count as f64);
                    return;
                }
            }
        }
        self.line(&sample, kind, sample.value.as_f64());
    }
}

impl Collector<'_> {
    /// Reads one line: found at the cursor while the order stays, else by its id, else learnt.
    fn line(&mut self, sample: &Sample<'_>, kind: Kind, value: f64) {
        let encoder = &mut *self.encoder;
        if self.reordered.is_none() {
            if let Some(known) = encoder.lines.get_mut(self.cursor) {
                if known.id == sample.id {
                    (known.value, known.kind, known.ended, known.end_tries) =
                        (value, kind, false, 0);
                    #[cfg(not(target_arch = "wasm32"))]
                    {
                        known.native = self.native.take();
                    }
                    self.cursor += 1;
                    if let Some(body) = &mut self.body {
                        body.write(&encoder.arena, known);
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
        let mut known = taken.unwrap_or_else(|| encoder.learn(sample));
        (known.value, known.kind, known.ended, known.end_tries) = (value, kind, false, 0);
        #[cfg(not(target_arch = "wasm32"))]
        {
            known.native = self.native.take();
        }
        if let Some(body) = &mut self.body {
            body.write(&encoder.arena, &known);
        }
        next.push(known);
    }
}

impl Body<'_> {
    /// A known line's series, as the last walk read it.
    fn write(&mut self, arena: &[u8], known: &Known) {
        let labels = &arena[known.labels.0..known.labels.1];
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(native) = &known.native {
            return self.put_native(labels, native, known.value);
        }
        self.put(labels, known.value);
    }
}

/// The remote-write 1.0 `WriteRequest` of a render's text, parsed: every sample line becomes a
/// series labelled with `job` and `instance`, with one sample at `timestamp_ms`. The reference the
/// walk's encoding is checked against.
#[cfg(test)]
pub(crate) fn encode_write_request(
    text: &str,
    job: &str,
    instance: &str,
    timestamp_ms: i64,
) -> Vec<u8> {
    let labels: Vec<(Vec<u8>, f64)> = lines(text)
        .filter_map(|line| Some((line_labels(&line, job, instance)?, line.value)))
        .collect();
    let series: Vec<TimeSeries<'_>> = labels
        .iter()
        .map(|(labels, value)| TimeSeries::floats(labels, Samples::one(*value, timestamp_ms)))
        .collect();
    write_request(&series)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::labels::Line;
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
        let recorder = crate::ObserverRecorder::new(&config.recorder).unwrap();
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

    /// A series hidden for idleness while a handle holds it stays known once a receiver took its
    /// stale marker: touched again, it goes on as the same line, with no second `0` (a counter's
    /// would read as a reset). Counters, gauges and histograms alike.
    #[test]
    fn a_hidden_series_stays_known_until_it_comes_back() {
        let config = crate::MetricsConfig::from_toml_str("idle_timeout_secs = 1").unwrap();
        let recorder = crate::ObserverRecorder::new(&config.recorder).unwrap();
        let (counter, gauge, histogram) = metrics::with_local_recorder(&recorder, || {
            (
                metrics::counter!("held_total"),
                metrics::gauge!("held"),
                metrics::histogram!("held_ms"),
            )
        });
        let touch = |v: f64| {
            counter.increment(1);
            gauge.set(v);
            histogram.record(v);
        };
        touch(1.0);
        let handle = recorder.handle();
        let mut encoder = Encoder::new("j", "i");
        assert!(encoder.collect(&handle).is_empty());
        let ids: Vec<LineId> = encoder.walked().iter().map(|k| k.id).collect();
        encoder.mark_zeroed(ids.iter().copied());
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        let ended = encoder.collect(&handle);
        assert_eq!(ended.len(), ids.len());
        encoder.mark_ended(ended.iter().map(|&(id, _)| id));
        assert!(encoder.collect(&handle).is_empty());
        assert_eq!(encoder.lines.len(), ids.len(), "{:?}", encoder.lines);
        touch(2.0);
        assert!(encoder.collect(&handle).is_empty());
        let walked = encoder.walked();
        assert_eq!(walked.iter().map(|k| k.id).collect::<Vec<_>>(), ids);
        assert!(walked.iter().all(|k| k.zeroed), "{walked:?}");
    }

    /// Lines whose series are gone for good are forgotten once their stale markers were taken,
    /// counters, gauges and histograms alike, and their labels compacted away: under churn the
    /// arena stays within twice what the known lines use.
    #[test]
    fn the_labels_of_forgotten_lines_are_compacted_away() {
        let config = crate::MetricsConfig::from_toml_str("idle_timeout_secs = 1").unwrap();
        let recorder = crate::ObserverRecorder::new(&config.recorder).unwrap();
        let kept = metrics::with_local_recorder(&recorder, || metrics::counter!("kept_total"));
        let handle = recorder.handle();
        let mut encoder = Encoder::new("j", "i");
        let used = |e: &Encoder| {
            e.lines
                .iter()
                .map(|k| k.labels.1 - k.labels.0)
                .sum::<usize>()
        };
        // Bounded: three rounds of 60 series, a second each.
        for round in 0..3 {
            metrics::with_local_recorder(&recorder, || {
                for i in 0..20 {
                    let labels = [("round", round.to_string()), ("i", i.to_string())];
                    metrics::counter!("churn_total", &labels).increment(1);
                    metrics::gauge!("churn", &labels).set(1.0);
                    metrics::histogram!("churn_ms", &labels).record(1.0);
                }
            });
            kept.increment(1);
            encoder.collect(&handle);
            let churned = encoder.walked().len() - 1;
            std::thread::sleep(std::time::Duration::from_millis(1_100));
            kept.increment(1);
            let ended = encoder.collect(&handle);
            assert_eq!(ended.len(), churned, "round {round}");
            encoder.mark_ended(ended.into_iter().map(|(id, _)| id));
            // Forgotten now: their series are gone for good.
            assert!(encoder.collect(&handle).is_empty());
            assert_eq!(encoder.lines.len(), 1, "round {round}");
            // A body while their labels are garbage not yet compacted.
            assert!(encoder.garbage > 0);
            assert!(!encoder.encode(&handle, 5).is_empty());
        }
        kept.increment(1);
        encoder.collect(&handle);
        assert_eq!(encoder.arena.len() - encoder.garbage, used(&encoder));
        assert!(
            encoder.arena.len() <= 2 * used(&encoder),
            "{} bytes for {} in use",
            encoder.arena.len(),
            used(&encoder)
        );
    }

    /// The encoder reading the recorder and the one-off reading its render write the same bytes:
    /// every family kind, histogram lines, ratios, escaped values, `job`/`instance` of its own.
    #[test]
    fn the_walk_and_the_text_encode_alike() {
        let recorder = crate::ObserverRecorder::new(&Default::default()).unwrap();
        let m = crate::observer::ObserverMetrics::new(&recorder.handle());
        m.events_processed_total.increment(4);
        m.action_duration_ms.record(7.0);
        m.cache_hits_total.increment(1);
        m.queue_depth.set(-2.5);
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("odd_total", "v" => "q\"\\\n", "job" => "own").increment(2);
            metrics::histogram!("h_seconds", "le" => "mine").record(0.2);
            metrics::gauge!("nan").set(f64::NAN);
            // The text writes `0`; the fuzzer found -0.0 written the other way (crash 996d2fd).
            metrics::gauge!("negative_zero").set(-0.0);
        });
        let mut encoder = Encoder::new("j", "i");
        for _ in 0..2 {
            let text = recorder.render();
            let expected = encode_write_request(&text, "j", "i", 5);
            assert_eq!(encoder.encode(&recorder.handle(), 5), expected);
        }
    }

    /// An encoder of one's own with no `job` or `instance` (empty labels are left out) writes the
    /// bare series, again and again: the body's size estimate never goes below zero on short labels.
    #[test]
    fn bare_series_encode_again_and_again() {
        let recorder = crate::ObserverRecorder::new(&Default::default()).unwrap();
        metrics::with_local_recorder(&recorder, || metrics::counter!("a").increment(1));
        let mut encoder = Encoder::new("", "");
        let first = encoder.encode(&recorder.handle(), 5);
        let expected = encode_write_request(&recorder.render(), "", "", 5);
        assert_eq!(first, expected);
        assert_eq!(encoder.encode(&recorder.handle(), 5), expected);
    }

    /// A native histogram series' samples are `Histogram`s (field 4): the empty one for its `0`,
    /// the full one for its value, a stale sum for its marker, each with its timestamp (field 15).
    #[test]
    fn native_histogram_samples_are_histograms() {
        let native = NativeBytes {
            full: vec![0x08, 0x05],
            empty: vec![0x20, 0x06],
        };
        let mut samples = Samples::one(0.0, 1);
        samples.push(5.0, 2);
        samples.push(f64::from_bits(STALE_NAN), 3);
        let labels = [0x0a, 0x00];
        let series = [TimeSeries {
            labels: &labels,
            samples,
            native: Some(&native),
        }];
        let stale = STALE_NAN.to_le_bytes();
        let expected: Vec<u8> = [
            &[0x0a, 0x1b, 0x0a, 0x00][..],
            &[0x22, 0x04, 0x20, 0x06, 0x78, 0x01],
            &[0x22, 0x04, 0x08, 0x05, 0x78, 0x02],
            &[0x22, 0x0b, 0x19],
            &stale,
            &[0x78, 0x03],
        ]
        .concat();
        assert_eq!(write_request(&series), expected);
    }

    #[test]
    fn write_request_bytes() {
        let labels = [
            &[0x0a, 0x0d, 0x0a, 0x08][..],
            b"__name__",
            &[0x12, 0x01, b'a'],
        ]
        .concat();
        let series = [TimeSeries::floats(&labels, Samples::one(1.0, 5))];
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
