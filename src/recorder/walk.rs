//! The walk over the exposition, written once: it decides which families and sample lines there
//! are and their values; a visitor (the encoders of `crate::encoding`) writes them.

use std::sync::Arc;

use crate::recorder::index::{Exposition, Kind, Ratio, Series};
use crate::recorder::storage::{CounterCell, GaugeCell, HistogramCell, Named};

/// Counter values a render reads once and uses everywhere, so that a derived ratio and the
/// counters it is computed from agree within one render even while other threads record.
struct Pinned(Vec<(*const Named<CounterCell>, u64)>);

impl Pinned {
    fn collect(index: &Exposition) -> Self {
        let mut pinned = Vec::new();
        for family in index.families.values() {
            if let Series::Ratio(list) = &family.series {
                for (_, ratio) in list {
                    for cell in std::iter::once(&ratio.numerator).chain(&ratio.denominator) {
                        let ptr = Arc::as_ptr(cell);
                        if !pinned.iter().any(|&(p, _)| p == ptr) {
                            pinned.push((ptr, cell.cell.get()));
                        }
                    }
                }
            }
        }
        Pinned(pinned)
    }

    fn get(&self, series: &Arc<Named<CounterCell>>) -> u64 {
        if self.0.is_empty() {
            return series.cell.get();
        }
        let ptr = Arc::as_ptr(series);
        self.0
            .iter()
            .find(|&&(p, _)| p == ptr)
            .map_or_else(|| series.cell.get(), |&(_, v)| v)
    }

    fn ratio(&self, ratio: &Ratio) -> f64 {
        let numerator = self.get(&ratio.numerator) as f64;
        let denominator: f64 = ratio.denominator.iter().map(|c| self.get(c) as f64).sum();
        if denominator == 0.0 {
            f64::NAN
        } else {
            100.0 * numerator / denominator
        }
    }
}

/// A sample's value as its cell holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// Counters, buckets and `_count`.
    Count(u64),
    /// Gauges, ratios and `_sum`.
    Real(f64),
}

impl Value {
    #[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Value::Count(n) => n as f64,
            // The text writes -0 as `0`: a receiver gets the same value either way (a fuzzer
            // found the two disagreeing on the sign).
            Value::Real(v) => v + 0.0,
        }
    }
}

/// Which sample line: the address of its series' allocation (a cell, or a ratio's text), and the
/// line within the series (a histogram has one per bucket, then `_sum` and `_count`). Unique among
/// the lines of one walk, and stable across walks while the series lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct LineId {
    pub(crate) series: usize,
    pub(crate) line: u16,
}

/// The series a line belongs to, for a visitor that keeps what it learns beyond one walk.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
pub(crate) enum Owner<'a> {
    Counter(&'a Arc<Named<CounterCell>>),
    Gauge(&'a Arc<Named<GaugeCell>>),
    Histogram(&'a Arc<Named<HistogramCell>>),
    /// A derived ratio: it never leaves the exposition.
    Ratio,
}

/// One sample line. (The text encoder reads neither `id` nor `owner`; remote write reads both.)
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
pub(crate) struct Sample<'a> {
    pub(crate) id: LineId,
    /// The series text, `name{labels}`.
    pub(crate) text: &'a str,
    /// The family's name, which `text` starts with.
    pub(crate) name: &'a str,
    /// `""`, or a histogram line's `_bucket`, `_sum` or `_count` (a summary's quantile lines have
    /// none).
    pub(crate) suffix: &'static str,
    /// The label the line adds to its series' own: a bucket line's `le="…"`, a summary quantile
    /// line's `quantile="…"`.
    pub(crate) extra: Option<&'a str>,
    pub(crate) value: Value,
    pub(crate) owner: Owner<'a>,
    /// [`labels`](Self::labels), worked out once for the lines of a histogram series.
    histogram_labels: Option<&'a str>,
}

/// The line a native histogram series has beside its classic ones, for a visitor that writes it
/// as a series of its own (remote write): past any classic line's number.
#[cfg(all(feature = "remote-write", not(target_arch = "wasm32")))]
pub(crate) const NATIVE_LINE: u16 = u16::MAX;

impl<'a> Sample<'a> {
    /// The line of this histogram series' native histogram: the family's name and the series'
    /// labels, no suffix, no extra label (its value is the visitor's to read from the cell).
    #[cfg(all(feature = "remote-write", not(target_arch = "wasm32")))]
    pub(crate) fn native_line(&self) -> Self {
        Sample {
            id: LineId {
                line: NATIVE_LINE,
                ..self.id
            },
            suffix: "",
            extra: None,
            ..*self
        }
    }

    /// The labels between the series text's braces, `a="x",b="y"`, or `""`.
    pub(crate) fn labels(&self) -> &'a str {
        self.histogram_labels
            .unwrap_or_else(|| labels_of(self.text, self.name))
    }
}

/// The labels between the braces of the series text `text` of family `name`.
fn labels_of<'t>(text: &'t str, name: &str) -> &'t str {
    text[name.len()..]
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .unwrap_or("")
}

/// What a walk over the exposition calls, in exposition order.
pub(crate) trait Visit {
    /// A family with at least one sample line to follow.
    fn family(&mut self, name: &str, kind: Kind, help: Option<&str>);
    /// One sample line of the last family.
    fn sample(&mut self, sample: Sample<'_>);
}

/// Walks the exposition of `index`: families sorted by name, series by labels, so two walks of the
/// same state are the same. Families without series are left out, and so are the recorder's own
/// drop counters while they are zero and series hidden for idleness.
pub(crate) fn walk(index: &Exposition, visitor: &mut impl Visit) {
    let pinned = Pinned::collect(index);
    // One clock read and one buffer for every summary of the walk.
    let (now, mut quantiles) = (web_time::Instant::now(), Vec::new());
    for (name, family) in &index.families {
        // Stops at the first series shown: one load in the common case.
        if !any_shown(&family.series) {
            continue;
        }
        let internal = family.internal;
        if internal {
            if let Series::Counter(set) = &family.series {
                if set.iter().all(|s| s.cell.get() == 0) {
                    continue;
                }
            }
        }
        let kind = match &family.series {
            // The catalog knows a summary family as a histogram: its shape says which it is.
            Series::Histogram(set) if set.iter().any(|s| s.cell.shape.summary.is_some()) => {
                Kind::Summary
            }
            _ => family.kind,
        };
        visitor.family(name, kind, index.help.get(name).map(String::as_str));
        let line = |series: usize, line: u16, text, suffix, le, value, owner| Sample {
            id: LineId { series, line },
            text,
            name,
            suffix,
            extra: le,
            value,
            owner,
            histogram_labels: None,
        };
        match &family.series {
            Series::Counter(set) => {
                // The hot loop of a render: the sample is written out whole, so that the visitor
                // sees a plain struct literal.
                for series in set.iter().filter(|s| !s.is_hidden()) {
                    let value = pinned.get(series);
                    if internal && value == 0 {
                        continue;
                    }
                    visitor.sample(Sample {
                        id: LineId {
                            series: Arc::as_ptr(series) as usize,
                            line: 0,
                        },
                        text: &series.text,
                        name,
                        suffix: "",
                        extra: None,
                        value: Value::Count(value),
                        owner: Owner::Counter(series),
                        histogram_labels: None,
                    });
                }
            }
            Series::Gauge(set) => {
                for series in set.iter().filter(|s| !s.is_hidden()) {
                    let (id, value) =
                        (Arc::as_ptr(series) as usize, Value::Real(series.cell.get()));
                    let owner = Owner::Gauge(series);
                    visitor.sample(line(id, 0, &series.text, "", None, value, owner));
                }
            }
            Series::Ratio(list) => {
                for (prefix, ratio) in list {
                    // The text's own allocation: it never moves while the ratio stays.
                    let id = prefix.as_ptr() as usize;
                    let value = Value::Real(pinned.ratio(ratio));
                    visitor.sample(line(id, 0, prefix, "", None, value, Owner::Ratio));
                }
            }
            Series::Histogram(set) => {
                for series in set.iter().filter(|s| !s.is_hidden()) {
                    let cell = &series.cell;
                    let labels = Some(labels_of(&series.text, name));
                    let line = |line: u16, suffix, extra, value| Sample {
                        id: LineId {
                            series: Arc::as_ptr(series) as usize,
                            line,
                        },
                        text: &series.text,
                        name,
                        suffix,
                        extra,
                        value,
                        owner: Owner::Histogram(series),
                        histogram_labels: labels,
                    };
                    let mut n = 0u16;
                    if let (Some(source), Some(summary)) = (&cell.quantiles, &cell.shape.summary) {
                        source.read(summary, now, &mut quantiles);
                        for (&q, label) in quantiles.iter().zip(summary.quantile_labels.iter()) {
                            visitor.sample(line(n, "", Some(label), Value::Real(q)));
                            n += 1;
                        }
                    }
                    let mut cumulative = 0u64;
                    for (count, le) in cell.bucket_counts().zip(cell.shape.le_labels.iter()) {
                        cumulative += count;
                        // A summary keeps its count as a histogram with no bounds would, in
                        // `+Inf`, and renders no bucket.
                        if !cell.is_summary() {
                            visitor.sample(line(n, "_bucket", Some(le), Value::Count(cumulative)));
                            n += 1;
                        }
                    }
                    visitor.sample(line(n, "_sum", None, Value::Real(cell.sum())));
                    // `_count` is the `+Inf` bucket by construction, never a separate read.
                    visitor.sample(line(n + 1, "_count", None, Value::Count(cumulative)));
                }
            }
        }
    }
}

/// Whether a family has a series to show: not every one hidden for idleness, and at least one.
fn any_shown(series: &Series) -> bool {
    match series {
        Series::Counter(set) => set.iter().any(|s| !s.is_hidden()),
        Series::Gauge(set) => set.iter().any(|s| !s.is_hidden()),
        Series::Histogram(set) => set.iter().any(|s| !s.is_hidden()),
        Series::Ratio(list) => !list.is_empty(),
    }
}
