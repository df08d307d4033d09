//! The text-format 0.0.4 encoder: walks the index in order and writes pre-built line prefixes and
//! the values read from the cells.

use std::sync::Arc;

use crate::index::{Exposition, Ratio, Series};
use crate::naming::{push_f64, push_u64};
use crate::storage::{CounterCell, Named};

/// Counter values a render reads once and uses everywhere, so that a derived ratio and the
/// counters it is computed from agree within one render even while other threads record.
struct Pinned(Vec<(*const Named<CounterCell>, u64)>);

impl Pinned {
    fn collect(index: &Exposition) -> Self {
        let mut pinned = Vec::new();
        for family in index.families.values() {
            if let Series::Ratio(map) = &family.series {
                for ratio in map.values() {
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

/// Appends the exposition of `index` to `out`. Families come sorted by name and series by labels,
/// so two renders of the same state are byte-identical. Families without series are left out, and
/// so are the recorder's own drop counters while they are zero and series hidden for idleness.
pub(crate) fn render(index: &Exposition, out: &mut String) {
    let pinned = Pinned::collect(index);
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
        if let Some(help) = index.help.get(name) {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            out.push_str(help);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        out.push_str(name);
        out.push(' ');
        out.push_str(family.kind.as_str());
        out.push('\n');
        match &family.series {
            Series::Counter(set) => {
                for series in set.iter().filter(|s| !s.is_hidden()) {
                    let value = pinned.get(series);
                    if internal && value == 0 {
                        continue;
                    }
                    sample_line(out, &series.text, |o| push_u64(o, value));
                }
            }
            Series::Gauge(set) => {
                for series in set.iter().filter(|s| !s.is_hidden()) {
                    sample_line(out, &series.text, |o| push_f64(o, series.cell.get()));
                }
            }
            Series::Ratio(map) => {
                for (prefix, ratio) in map {
                    sample_line(out, prefix, |o| push_f64(o, pinned.ratio(ratio)));
                }
            }
            Series::Histogram(set) => {
                for series in set.iter().filter(|s| !s.is_hidden()) {
                    // The text is `name{labels}`: the labels go inside each line's own braces.
                    let labels = series.text[name.len()..]
                        .strip_prefix('{')
                        .and_then(|l| l.strip_suffix('}'))
                        .unwrap_or("");
                    let cell = &series.cell;
                    let mut cumulative = 0u64;
                    for (count, le) in cell.bucket_counts().zip(cell.shape.le_labels.iter()) {
                        cumulative += count;
                        out.push_str(name);
                        out.push_str("_bucket{");
                        if !labels.is_empty() {
                            out.push_str(labels);
                            out.push(',');
                        }
                        out.push_str(le);
                        out.push_str("} ");
                        push_u64(out, cumulative);
                        out.push('\n');
                    }
                    histogram_line(out, name, "_sum", labels, |o| push_f64(o, cell.sum()));
                    // `_count` is the `+Inf` bucket by construction, never a separate read.
                    histogram_line(out, name, "_count", labels, |o| push_u64(o, cumulative));
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
        Series::Ratio(map) => !map.is_empty(),
    }
}

fn sample_line(out: &mut String, prefix: &str, value: impl FnOnce(&mut String)) {
    out.push_str(prefix);
    out.push(' ');
    value(out);
    out.push('\n');
}

fn histogram_line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    value: impl FnOnce(&mut String),
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
    value(out);
    out.push('\n');
}
