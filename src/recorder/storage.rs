//! Recorder storage: the atomic cells behind every series. Recording touches only these, never a
//! lock or an allocation.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use metrics::{CounterFn, GaugeFn, HistogramFn};

#[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
use crate::recorder::native::{NativeBuckets, NativeShape};
use crate::recorder::summary::{Quantiles, SummaryShape};
use crate::recorder::DropReason;

/// A counter: a `u64` that saturates at `u64::MAX` instead of wrapping, because a wrapped counter
/// reads as a reset to `rate()`.
#[derive(Debug, Default)]
pub(crate) struct CounterCell(AtomicU64);

impl CounterCell {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl CounterFn for CounterCell {
    #[inline]
    fn increment(&self, n: u64) {
        // One atomic add; only an add that overflowed pays for the fix-up. A render racing that
        // rare add may see the wrapped value once before it is put back to the top.
        if self.0.fetch_add(n, Relaxed).checked_add(n).is_none() {
            self.0.store(u64::MAX, Relaxed);
        }
    }

    #[inline]
    fn absolute(&self, n: u64) {
        // A counter never goes down: an older absolute value arriving late is ignored.
        self.0.fetch_max(n, Relaxed);
    }
}

/// A gauge: an `f64` kept as its bits. NaN and infinities are stored and rendered as such.
#[derive(Debug, Default)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
}

fn add_f64(cell: &AtomicU64, delta: f64) {
    // The closure always returns Some, so fetch_update cannot fail.
    let _ = cell.fetch_update(Relaxed, Relaxed, |bits| {
        Some((f64::from_bits(bits) + delta).to_bits())
    });
}

impl GaugeFn for GaugeCell {
    #[inline]
    fn increment(&self, value: f64) {
        add_f64(&self.0, value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        add_f64(&self.0, -value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Relaxed);
    }
}

/// What all series of one histogram family share: bucket bounds, their rendered `le` labels, the
/// sample rate, and where dropped observations are counted.
#[derive(Debug)]
pub(crate) struct HistogramShape {
    pub(crate) bounds: Box<[f64]>,
    /// `le="…"` for each bound, then `le="+Inf"`, rendered once.
    pub(crate) le_labels: Box<[Box<str>]>,
    /// Set for a family rendered as a summary: no bounds then, only the `+Inf` count.
    pub(crate) summary: Option<SummaryShape>,
    /// Set for a family that also keeps native buckets.
    #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
    pub(crate) native: Option<NativeShape>,
    sample_rate: f64,
    nan_drops: Arc<Named<CounterCell>>,
}

impl HistogramShape {
    /// The shape of a summary family: its count and sum kept as a histogram's with no bounds.
    pub(crate) fn summary(
        summary: SummaryShape,
        sample_rate: f64,
        nan_drops: Arc<Named<CounterCell>>,
    ) -> Self {
        HistogramShape {
            summary: Some(summary),
            ..HistogramShape::new(&[], sample_rate, nan_drops)
        }
    }

    /// Whether this is not a summary's shape (a summary has no native buckets).
    #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
    pub(crate) fn summary_free(&self) -> bool {
        self.summary.is_none()
    }

    /// This shape with native buckets too, and its classic buckets only when `classic`.
    #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
    pub(crate) fn with_native(&self, native: NativeShape, classic: bool) -> Self {
        let bounds: &[f64] = match classic {
            true => &self.bounds,
            false => &[],
        };
        HistogramShape {
            native: Some(native),
            ..HistogramShape::new(bounds, self.sample_rate, self.nan_drops.clone())
        }
    }

    pub(crate) fn new(
        bounds: &[f64],
        sample_rate: f64,
        nan_drops: Arc<Named<CounterCell>>,
    ) -> Self {
        let le_labels = crate::naming::number_labels("le", bounds)
            .chain(std::iter::once(Box::from("le=\"+Inf\"")))
            .collect();
        HistogramShape {
            bounds: bounds.into(),
            le_labels,
            summary: None,
            #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
            native: None,
            sample_rate,
            nan_drops,
        }
    }
}

/// A histogram with fixed buckets: constant memory however many observations arrive between
/// renders. Bucket counts are stored per bucket (not cumulative) and `_count` is derived from them at
/// render time, so `le="+Inf"` equals `_count` in every render, even while other threads record.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    pub(crate) shape: Arc<HistogramShape>,
    /// One count per bound, then the `+Inf` bucket.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    /// A summary's quantiles (its shape has a [`SummaryShape`]).
    pub(crate) quantiles: Option<Quantiles>,
    /// Native buckets (its shape has a [`NativeShape`]).
    #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
    pub(crate) native: Option<Box<NativeBuckets>>,
}

impl HistogramCell {
    pub(crate) fn new(shape: Arc<HistogramShape>) -> Self {
        let counts = (0..=shape.bounds.len())
            .map(|_| AtomicU64::new(0))
            .collect();
        HistogramCell {
            quantiles: shape.summary.as_ref().map(Quantiles::new),
            #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
            native: shape
                .native
                .as_ref()
                .map(|n| Box::new(NativeBuckets::new(n))),
            shape,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Whether the series renders as a summary (quantiles, no buckets).
    pub(crate) fn is_summary(&self) -> bool {
        self.quantiles.is_some()
    }

    /// Sets a summary series whose quantiles the caller gives: its lifetime count and sum, and its
    /// quantiles in its shape's order. A series with buckets or a sketch is left alone.
    pub(crate) fn set_summary(&self, count: u64, sum: f64, quantiles: &[f64]) {
        if let Some(q @ Quantiles::Given(_)) = &self.quantiles {
            q.set(quantiles);
            // No bounds: the one count is the `+Inf` bucket, which `_count` is read from.
            self.counts[0].store(count, Relaxed);
            self.sum.store(sum.to_bits(), Relaxed);
        }
    }

    /// Per-bucket (non-cumulative) counts, the `+Inf` bucket last.
    pub(crate) fn bucket_counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().map(|c| c.load(Relaxed))
    }

    pub(crate) fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Relaxed))
    }

    #[inline]
    fn observe(&self, value: f64, times: u64) {
        if value.is_nan() {
            // A NaN would make `_sum` NaN for the rest of the process; drop it and count it.
            self.shape.nan_drops.increment(times);
            return;
        }
        let shape = &self.shape;
        if shape.sample_rate < 1.0 && !sampled(shape.sample_rate) {
            return;
        }
        if let (Some(quantiles), Some(summary)) = (&self.quantiles, &shape.summary) {
            // A summary whose quantiles the caller sets takes its count and sum from it too.
            if !quantiles.add(summary, value, times) {
                return;
            }
        }
        #[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
        if let (Some(native), Some(native_shape)) = (&self.native, &shape.native) {
            native.add(native_shape, value, times);
        }
        let bucket = shape.bounds.partition_point(|&b| b < value);
        self.counts[bucket].fetch_add(times, Relaxed);
        add_f64(&self.sum, value * times as f64);
    }
}

impl HistogramFn for HistogramCell {
    #[inline]
    fn record(&self, value: f64) {
        self.observe(value, 1);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.observe(value, count as u64);
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// True with probability `rate`.
fn sampled(rate: f64) -> bool {
    random_unit() < rate
}

/// A uniform number in `[0, 1)` from a per-thread xorshift64* generator, seeded from a global
/// sequence and the thread's stack address so threads do not share a stream. For sampling and
/// jitter, not for anything secret.
pub(crate) fn random_unit() -> f64 {
    static SEED: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    RNG.with(|state| {
        let mut x = state.get();
        if x == 0 {
            let local = 0u8;
            x = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed) ^ (&local as *const u8 as u64);
            x |= 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// A cell and the text that names its series in the exposition (`name{labels}`), in one
/// allocation, with the marks idle expiry reads. Ordered by that text, which is the exposition
/// order.
#[derive(Debug)]
pub(crate) struct Named<C> {
    pub(crate) text: Box<str>,
    /// The series' hash in the index (see `index::series_hash`), kept for its tables' growth.
    pub(crate) hash: u64,
    activity: Activity,
    pub(crate) cell: C,
}

/// The hash of a family's overflow series: it is never in a shard, found through the catalog, so
/// its hash is free to mark it.
pub(crate) const OVERFLOW_HASH: u64 = 0;

impl<C> Named<C> {
    pub(crate) fn new(text: Box<str>, hash: u64, cell: C) -> Self {
        Named {
            text,
            hash,
            activity: Activity::default(),
            cell,
        }
    }

    /// Whether a render leaves this series out: idle, but still held by a caller's handle.
    pub(crate) fn is_hidden(&self) -> bool {
        self.activity.state.load(Relaxed) == HIDDEN
    }

    /// Called by a render's sweep at `now` (seconds on the index's clock): whether the series has
    /// gone untouched for `idle` seconds.
    pub(crate) fn is_idle(&self, now: u32, idle: u32) -> bool {
        if self.activity.state.swap(UNTOUCHED, Relaxed) == TOUCHED {
            self.activity.last_seen.store(now, Relaxed);
            return false;
        }
        now.saturating_sub(self.activity.last_seen.load(Relaxed)) >= idle
    }

    /// Leaves the series out of renders until it is touched again. A touch racing this wins.
    pub(crate) fn hide(&self) {
        let _ = self
            .activity
            .state
            .compare_exchange(UNTOUCHED, HIDDEN, Relaxed, Relaxed);
    }

    /// Marks a series the index has dropped, for its set's next
    /// [`remove_evicted`](SeriesSet::remove_evicted). Only for a series nothing else can reach:
    /// no handle may touch it again.
    pub(crate) fn evict(&self) {
        self.activity.state.store(EVICTED, Relaxed);
    }

    #[inline]
    fn touch(&self) {
        // A load first: the common case (already marked) writes nothing, so threads recording into
        // one series do not fight over the cache line more than the cell itself makes them.
        if self.activity.state.load(Relaxed) != TOUCHED {
            self.activity.state.store(TOUCHED, Relaxed);
        }
    }
}

const UNTOUCHED: u8 = 0;
const TOUCHED: u8 = 1;
const HIDDEN: u8 = 2;
const EVICTED: u8 = 3;

/// Whether a series was touched since the last sweep, and when it last was: the only cost idle
/// expiry puts on recording is one load (and a store once per sweep). Fits in `Named`'s padding.
#[derive(Debug)]
struct Activity {
    state: AtomicU8,
    /// Seconds on the index's clock.
    last_seen: AtomicU32,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            state: AtomicU8::new(TOUCHED),
            last_seen: AtomicU32::new(0),
        }
    }
}

impl<C: CounterFn> CounterFn for Named<C> {
    #[inline]
    fn increment(&self, n: u64) {
        self.touch();
        self.cell.increment(n)
    }
    #[inline]
    fn absolute(&self, n: u64) {
        self.touch();
        self.cell.absolute(n)
    }
}

impl<C: GaugeFn> GaugeFn for Named<C> {
    #[inline]
    fn increment(&self, v: f64) {
        self.touch();
        self.cell.increment(v)
    }
    #[inline]
    fn decrement(&self, v: f64) {
        self.touch();
        self.cell.decrement(v)
    }
    #[inline]
    fn set(&self, v: f64) {
        self.touch();
        self.cell.set(v)
    }
}

impl Named<HistogramCell> {
    /// [`HistogramCell::set_summary`], and the series is touched, as a record touches it.
    pub(crate) fn set_summary(&self, count: u64, sum: f64, quantiles: &[f64]) {
        self.touch();
        self.cell.set_summary(count, sum, quantiles);
    }

    /// Whether this is a family's overflow series (label sets past `max_series_per_metric`),
    /// which alone has [`OVERFLOW_HASH`] (a real series hashing to it, once in 2^64, would be
    /// taken for one).
    pub(crate) fn is_overflow(&self) -> bool {
        self.hash == OVERFLOW_HASH
    }
}

impl<C: HistogramFn> HistogramFn for Named<C> {
    #[inline]
    fn record(&self, v: f64) {
        self.touch();
        self.cell.record(v)
    }
    fn record_many(&self, v: f64, count: usize) {
        self.touch();
        self.cell.record_many(v, count)
    }
}

/// The series of one family as a render reads them: in registration order, sorted by text only
/// when a render finds series that arrived out of order (lookups are the index's shard tables).
#[derive(Debug)]
pub(crate) struct SeriesSet<C> {
    order: Vec<Arc<Named<C>>>,
    sorted: bool,
}

impl<C> Default for SeriesSet<C> {
    fn default() -> Self {
        SeriesSet {
            order: Vec::new(),
            sorted: true,
        }
    }
}

impl<C> SeriesSet<C> {
    /// Adds a series; its text must not be in the set yet.
    pub(crate) fn insert(&mut self, named: Arc<Named<C>>) {
        if self.order.last().is_some_and(|last| last.text > named.text) {
            self.sorted = false;
        }
        self.order.push(named);
    }

    /// Restores exposition order. A stable sort: the sorted prefix and the new tail are runs it
    /// merges rather than sorting from scratch.
    pub(crate) fn sort(&mut self) {
        if !self.sorted {
            let order = crate::text::text_order(self.order.iter().map(|s| &*s.text));
            crate::text::permute(&mut self.order, order);
            self.sorted = true;
        }
    }

    /// Removes the series marked [`evict`](Named::evict)ed; returns how many.
    pub(crate) fn remove_evicted(&mut self) -> usize {
        let before = self.order.len();
        self.order
            .retain(|s| s.activity.state.load(Relaxed) != EVICTED);
        before - self.order.len()
    }

    /// The series in exposition order once [`sort`](Self::sort) has run.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Named<C>>> {
        self.order.iter()
    }
}

/// A series handle as the registry stores it: a cell, or nothing when the series was dropped or
/// recording is disabled.
#[derive(Debug)]
pub(crate) struct Slot<T>(pub(crate) Option<Arc<T>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot(self.0.clone())
    }
}

impl<T: CounterFn> CounterFn for Slot<T> {
    fn increment(&self, n: u64) {
        if let Some(c) = &self.0 {
            c.increment(n)
        }
    }
    fn absolute(&self, n: u64) {
        if let Some(c) = &self.0 {
            c.absolute(n)
        }
    }
}

impl<T: GaugeFn> GaugeFn for Slot<T> {
    fn increment(&self, v: f64) {
        if let Some(c) = &self.0 {
            c.increment(v)
        }
    }
    fn decrement(&self, v: f64) {
        if let Some(c) = &self.0 {
            c.decrement(v)
        }
    }
    fn set(&self, v: f64) {
        if let Some(c) = &self.0 {
            c.set(v)
        }
    }
}

impl<T: HistogramFn> HistogramFn for Slot<T> {
    fn record(&self, v: f64) {
        if let Some(c) = &self.0 {
            c.record(v)
        }
    }
}

impl Slot<Named<CounterCell>> {
    pub(crate) fn handle(&self) -> metrics::Counter {
        self.0
            .clone()
            .map_or_else(metrics::Counter::noop, metrics::Counter::from_arc)
    }
}

impl Slot<Named<GaugeCell>> {
    pub(crate) fn handle(&self) -> metrics::Gauge {
        self.0
            .clone()
            .map_or_else(metrics::Gauge::noop, metrics::Gauge::from_arc)
    }
}

impl Slot<Named<HistogramCell>> {
    pub(crate) fn handle(&self) -> metrics::Histogram {
        self.0
            .clone()
            .map_or_else(metrics::Histogram::noop, metrics::Histogram::from_arc)
    }
}

/// Per-reason counters of what the naming and type rules dropped.
#[derive(Debug)]
pub(crate) struct DropCounts {
    cells: [Arc<Named<CounterCell>>; DropReason::ALL.len()],
}

impl DropCounts {
    /// `family` is the name the counts are rendered under, with a `reason` label.
    pub(crate) fn new(family: &str) -> Self {
        DropCounts {
            cells: DropReason::ALL.map(|r| {
                let text = format!("{family}{{reason=\"{}\"}}", r.as_str()).into_boxed_str();
                Arc::new(Named::new(text, 0, CounterCell::default()))
            }),
        }
    }

    pub(crate) fn cell(&self, reason: DropReason) -> &Arc<Named<CounterCell>> {
        &self.cells[reason as usize]
    }

    pub(crate) fn count(&self, reason: DropReason) {
        self.cell(reason).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_sorts_its_new_series_into_place() {
        let mut set = SeriesSet::<CounterCell>::default();
        for text in ["a", "c", "e", "d", "b"] {
            set.insert(Arc::new(Named::new(text.into(), 0, CounterCell::default())));
        }
        set.sort();
        let texts: Vec<&str> = set.iter().map(|s| &*s.text).collect();
        assert_eq!(texts, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn counter_saturates() {
        let c = CounterCell::default();
        c.increment(u64::MAX - 1);
        c.increment(5);
        assert_eq!(c.get(), u64::MAX);
        c.increment(1);
        assert_eq!(c.get(), u64::MAX);
        c.absolute(3);
        assert_eq!(c.get(), u64::MAX);
    }

    #[test]
    fn counter_absolute_never_goes_down() {
        let c = CounterCell::default();
        c.absolute(10);
        c.absolute(4);
        assert_eq!(c.get(), 10);
    }

    #[test]
    fn gauge_set_and_update() {
        let g = GaugeCell::default();
        g.set(2.5);
        g.increment(1.0);
        g.decrement(0.5);
        assert_eq!(g.get(), 3.0);
        g.set(f64::NAN);
        assert!(g.get().is_nan());
    }

    #[test]
    fn histogram_buckets_and_nan() {
        let drops = DropCounts::new("dropped");
        let nan = drops.cell(DropReason::NanObservation).clone();
        let shape = Arc::new(HistogramShape::new(&[1.0, 5.0], 1.0, nan.clone()));
        let h = HistogramCell::new(shape);
        for v in [0.5, 1.0, 3.0, 7.0, f64::INFINITY, f64::NAN] {
            h.record(v);
        }
        assert_eq!(h.bucket_counts().collect::<Vec<_>>(), vec![2, 1, 2]);
        assert_eq!(h.sum(), f64::INFINITY);
        assert_eq!(nan.cell.get(), 1);
    }

    #[test]
    fn sampling_keeps_about_the_rate() {
        let drops = DropCounts::new("dropped");
        let nan = drops.cell(DropReason::NanObservation).clone();
        let h = HistogramCell::new(Arc::new(HistogramShape::new(&[1.0], 0.25, nan)));
        for _ in 0..40_000 {
            h.record(0.5);
        }
        let kept: u64 = h.bucket_counts().sum();
        // 40,000 draws at p = 0.25: the standard deviation is about 87, so ±1,000 is > 11 sigma.
        assert!((9_000..11_000).contains(&kept), "kept {kept}");
    }
}
