//! The sketched summary: a family named in `summary_metrics` computes its quantiles over a
//! rolling window. Each series keeps one `metrics-util` [`Summary`] (a DDSketch) per slot of the
//! window, under a mutex only its recorders and a render take.
//!
//! A clock read per observation would cost more than the rest of a record, so an observation
//! waits in a small buffer of the series until the window next rolls: at a render, or once
//! [`CLOCK_EVERY`] observations wait. It then goes into the slot current at that moment, so it
//! leaves the quantiles between `summary_window_secs` minus one slot and `summary_window_secs`
//! after that roll, which is at most one render interval after it was recorded.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metrics_util::storage::Summary;
use web_time::Instant;

/// How many observations of a series may wait before a record reads the clock and rolls.
pub(crate) const CLOCK_EVERY: usize = 256;

/// The sketch's relative error: a quantile other than 0 and 1 is within 1% of the true value.
pub(crate) const RELATIVE_ERROR: f64 = 0.01;
/// The most bins a slot's sketch allocates for each sign: 8 bytes each, so at most 16 KiB per slot
/// for positive values (32 KiB with negative ones too). At 1% error that covers values across
/// 6e17 times their least, before the lowest bins collapse.
const MAX_BINS: u32 = 2048;
/// Values closer to 0 than this count as 0.
const MIN_VALUE: f64 = 1e-9;

/// The rolling window of a sketched summary family: how long a slot lasts and how many there are.
#[derive(Debug)]
pub(crate) struct WindowShape {
    slot: Duration,
    slots: usize,
}

impl WindowShape {
    pub(crate) fn new(window_secs: u64, buckets: u32) -> Self {
        WindowShape {
            slot: Duration::from_secs(window_secs) / buckets.max(1),
            slots: buckets.max(1) as usize,
        }
    }
}

/// One series' window: a sketch per slot, the current one taking observations.
#[derive(Debug)]
pub(crate) struct Window(Mutex<Slots>);

#[derive(Debug)]
struct Slots {
    sketches: Vec<Option<Summary>>,
    current: usize,
    /// When the current slot began.
    began: Instant,
    /// Observations since the last roll, for the slot current at the next one.
    waiting: Vec<f64>,
}

impl Window {
    pub(crate) fn new(shape: &WindowShape) -> Self {
        Window(Mutex::new(Slots {
            sketches: (0..shape.slots).map(|_| None).collect(),
            current: 0,
            began: Instant::now(),
            waiting: Vec::new(),
        }))
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `value` `times` times (infinities are not in a sketch: `_count` and `_sum` have them).
    #[inline]
    pub(crate) fn add(&self, shape: &WindowShape, value: f64, times: u64) {
        let mut slots = self.slots();
        for _ in 0..times {
            slots.waiting.push(value);
            if slots.waiting.len() >= CLOCK_EVERY {
                slots.roll(shape, Instant::now());
            }
        }
    }

    /// The quantiles of `shape` over the window at `now`, into `out` (cleared first): `NaN` each
    /// while the window holds no observation, as client_golang renders an empty summary.
    pub(crate) fn quantiles(
        &self,
        shape: &WindowShape,
        quantiles: &[f64],
        now: Instant,
        out: &mut Vec<f64>,
    ) {
        out.clear();
        let merged = {
            let mut slots = self.slots();
            slots.roll(shape, now);
            let mut merged: Option<Summary> = None;
            for sketch in slots.sketches.iter().flatten() {
                match &mut merged {
                    // Every sketch has the same configuration, so merging cannot fail.
                    Some(m) => {
                        let _ = m.merge(sketch);
                    }
                    None => merged = Some(sketch.clone()),
                }
            }
            merged
        };
        out.extend(quantiles.iter().map(|&q| {
            // A bin's estimate may fall outside what was seen (a lone 1.0 reads 0.99): within the
            // exact least and greatest it is never further from the truth. (Not `f64::clamp`: its
            // panic message formats floats, 20 KB of the wasm module.)
            merged
                .as_ref()
                .and_then(|m| Some(m.quantile(q)?.max(m.min()).min(m.max())))
                .unwrap_or(f64::NAN)
        }));
    }
}

impl Slots {
    /// Moves the current slot on by the slots that have ended by `now`, emptying each it enters,
    /// then adds the waiting observations to it.
    fn roll(&mut self, shape: &WindowShape, now: Instant) {
        let elapsed = now.saturating_duration_since(self.began);
        let ended = (elapsed.as_nanos() / shape.slot.as_nanos().max(1)) as u64;
        if ended > 0 {
            let n = self.sketches.len();
            for _ in 0..ended.min(n as u64) {
                self.current = (self.current + 1) % n;
                self.sketches[self.current] = None;
            }
            // Whole slots only, so slot edges stay where they were (a clock far ahead, past what
            // a `u32` of slots spans, starts the slots afresh).
            match u32::try_from(ended) {
                Ok(ended) => self.began += shape.slot * ended,
                Err(_) => self.began = now,
            }
        }
        if !self.waiting.is_empty() {
            let current = self.current;
            let sketch = self.sketches[current].get_or_insert_with(new_sketch);
            for &value in &self.waiting {
                sketch.add(value);
            }
            self.waiting.clear();
        }
    }
}

fn new_sketch() -> Summary {
    Summary::new(RELATIVE_ERROR, MAX_BINS, MIN_VALUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUANTILES: [f64; 4] = [0.0, 0.5, 0.99, 1.0];

    fn shape() -> WindowShape {
        WindowShape::new(60, 3)
    }

    #[test]
    fn quantiles_are_within_the_relative_error() {
        let shape = shape();
        let window = Window::new(&shape);
        for v in 1..=10_000 {
            window.add(&shape, v as f64, 1);
        }
        let mut q = Vec::new();
        window.quantiles(&shape, &QUANTILES, Instant::now(), &mut q);
        assert_eq!(q[0], 1.0, "q=0 is the exact least");
        assert_eq!(q[3], 10_000.0, "q=1 is the exact greatest");
        for (got, want) in [(q[1], 5_000.0), (q[2], 9_900.0)] {
            assert!(
                (got / want - 1.0).abs() <= RELATIVE_ERROR,
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn an_empty_window_renders_nan_and_old_slots_leave() {
        let shape = shape();
        let window = Window::new(&shape);
        let mut q = Vec::new();
        window.quantiles(&shape, &QUANTILES, Instant::now(), &mut q);
        assert!(q.iter().all(|v| v.is_nan()), "{q:?}");
        window.add(&shape, 3.0, 2);
        let start = Instant::now();
        window.quantiles(&shape, &QUANTILES, start, &mut q);
        assert_eq!(q, [3.0, 3.0, 3.0, 3.0]);
        // Two slots on (40 s of a 60 s window in three): still there.
        window.quantiles(&shape, &QUANTILES, start + Duration::from_secs(41), &mut q);
        assert_eq!(q[0], 3.0);
        // A whole window on: gone.
        window.quantiles(&shape, &QUANTILES, start + Duration::from_secs(81), &mut q);
        assert!(q.iter().all(|v| v.is_nan()), "{q:?}");
    }

    /// Renders a window apart (a push every 60 s with the 60 s default): what came in between is
    /// what the next render shows, not an empty window.
    #[test]
    fn observations_between_renders_a_window_apart_are_shown() {
        let shape = shape();
        let window = Window::new(&shape);
        let start = Instant::now();
        let mut q = Vec::new();
        for round in 1..=3u32 {
            window.add(&shape, f64::from(round), 1);
            window.quantiles(
                &shape,
                &QUANTILES,
                start + Duration::from_secs(60 * u64::from(round)),
                &mut q,
            );
            assert_eq!(q[3], f64::from(round), "round {round}: {q:?}");
            assert_eq!(q[0], f64::from(round), "the round before has left: {q:?}");
        }
    }
}
