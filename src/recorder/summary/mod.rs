//! Summaries: a histogram family that renders quantiles instead of buckets, with `_sum` and
//! `_count` over its lifetime. Its quantiles come from one of two places:
//!
//! - a sketch over a rolling window, for a family `summary_metrics` names (the cargo feature
//!   `summary`, [`window`]);
//! - the caller, for a family made by
//!   [`RecorderHandle::set_summary_quantiles`](crate::RecorderHandle::set_summary_quantiles):
//!   the caller keeps the observations (the npm package keeps them in JS, where a sketch costs
//!   the wasm module nothing) and sets count, sum and quantiles before each render.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[cfg(feature = "summary")]
pub(crate) mod window;

#[cfg(feature = "summary")]
use window::{Window, WindowShape};

/// What the series of one summary family share: the quantiles and their rendered labels, and,
/// for a sketched family, its window.
#[derive(Debug)]
pub(crate) struct SummaryShape {
    pub(crate) quantiles: Box<[f64]>,
    /// `quantile="…"` for each quantile, rendered once.
    pub(crate) quantile_labels: Box<[Box<str>]>,
    /// `None` when the caller gives the quantiles.
    #[cfg(feature = "summary")]
    window: Option<WindowShape>,
}

impl SummaryShape {
    /// A sketched family's shape: quantiles over `window_secs` in `buckets` slots.
    #[cfg(feature = "summary")]
    pub(crate) fn sketched(quantiles: &[f64], window_secs: u64, buckets: u32) -> Self {
        SummaryShape {
            window: Some(WindowShape::new(window_secs, buckets)),
            ..SummaryShape::given(quantiles)
        }
    }

    /// The shape of a family whose quantiles the caller sets.
    pub(crate) fn given(quantiles: &[f64]) -> Self {
        SummaryShape {
            quantiles: quantiles.into(),
            quantile_labels: crate::naming::number_labels("quantile", quantiles).collect(),
            #[cfg(feature = "summary")]
            window: None,
        }
    }
}

/// One summary series' quantiles.
#[derive(Debug)]
pub(crate) enum Quantiles {
    /// Computed from the observations over the window.
    #[cfg(feature = "summary")]
    Sketched(Box<Window>),
    /// Set by the caller, one `f64` (as bits) per quantile of the shape; `NaN` until set.
    Given(Box<[AtomicU64]>),
}

impl Quantiles {
    pub(crate) fn new(shape: &SummaryShape) -> Self {
        #[cfg(feature = "summary")]
        if let Some(window) = &shape.window {
            return Quantiles::Sketched(Box::new(Window::new(window)));
        }
        let nan = f64::NAN.to_bits();
        Quantiles::Given(
            shape
                .quantiles
                .iter()
                .map(|_| AtomicU64::new(nan))
                .collect(),
        )
    }

    /// An observation, for a sketched series; `false` for a given one, which takes its quantiles,
    /// count and sum from [`set`] only (a `histogram!` into its family is ignored).
    ///
    /// [`set`]: Quantiles::set
    #[inline]
    pub(crate) fn add(&self, shape: &SummaryShape, value: f64, times: u64) -> bool {
        match self {
            #[cfg(feature = "summary")]
            Quantiles::Sketched(window) => {
                if let Some(window_shape) = &shape.window {
                    window.add(window_shape, value, times);
                }
                true
            }
            Quantiles::Given(_) => {
                let _ = (shape, value, times);
                false
            }
        }
    }

    /// Sets a given series' quantiles, in the shape's order; extra values are ignored, missing
    /// ones are `NaN`. A sketched series is left alone.
    pub(crate) fn set(&self, values: &[f64]) {
        match self {
            #[cfg(feature = "summary")]
            Quantiles::Sketched(_) => {}
            Quantiles::Given(cells) => {
                for (at, cell) in cells.iter().enumerate() {
                    cell.store(
                        values.get(at).copied().unwrap_or(f64::NAN).to_bits(),
                        Relaxed,
                    );
                }
            }
        }
    }

    /// The quantiles of `shape` at `now`, into `out` (cleared first): `NaN` each while the window
    /// holds no observation, as client_golang renders an empty summary.
    pub(crate) fn read(&self, shape: &SummaryShape, now: web_time::Instant, out: &mut Vec<f64>) {
        out.clear();
        match self {
            #[cfg(feature = "summary")]
            Quantiles::Sketched(window) => match &shape.window {
                Some(window_shape) => window.quantiles(window_shape, &shape.quantiles, now, out),
                None => out.extend(shape.quantiles.iter().map(|_| f64::NAN)),
            },
            Quantiles::Given(cells) => {
                let _ = (shape, now);
                out.extend(cells.iter().map(|c| f64::from_bits(c.load(Relaxed))));
            }
        }
    }
}
