//! What a render walks: the families in exposition order, each with its type, help and series.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::Pending;
use super::shard::{Entry, Stored};
use crate::hash::HashMap;
use crate::recorder::storage::{CounterCell, GaugeCell, HistogramCell, Named, SeriesSet};

/// The metric types of the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
    /// A histogram family `summary_metrics` names (the catalog registers it as a histogram; its
    /// shape makes it a summary), and a receiver's own families (the Pushgateway's).
    #[cfg_attr(not(any(feature = "push", feature = "summary")), allow(dead_code))]
    Summary,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// A percentage gauge derived from counters at render time: `100 * numerator / sum(denominator)`,
/// NaN while the denominator is 0.
#[derive(Debug)]
pub(crate) struct Ratio {
    pub(crate) numerator: Arc<Named<CounterCell>>,
    pub(crate) denominator: Vec<Arc<Named<CounterCell>>>,
}

/// The series of one family, in exposition order once sorted.
#[derive(Debug)]
pub(crate) enum Series {
    /// Text: the line prefix `name{labels}`.
    Counter(SeriesSet<CounterCell>),
    /// Text: the line prefix `name{labels}`.
    Gauge(SeriesSet<GaugeCell>),
    /// Text: `name{labels}`; the encoder writes the name with each of `_bucket`, `_sum`, `_count`.
    Histogram(SeriesSet<HistogramCell>),
    /// Gauges derived from counters, sorted by line prefix (a few per family: a sorted list, not
    /// one more map type in the wasm module).
    Ratio(Vec<(Box<str>, Ratio)>),
}

impl Series {
    pub(super) fn sort(&mut self) {
        match self {
            Series::Counter(set) => set.sort(),
            Series::Gauge(set) => set.sort(),
            Series::Histogram(set) => set.sort(),
            Series::Ratio(_) => {}
        }
    }

    pub(super) fn insert(&mut self, entry: Entry) {
        match (self, entry) {
            (Series::Counter(set), Entry::Counter(n)) => set.insert(n),
            (Series::Gauge(set), Entry::Gauge(n)) => set.insert(n),
            (Series::Histogram(set), Entry::Histogram(n)) => set.insert(n),
            // The catalog gives a family one kind, so a series always finds its own.
            _ => debug_assert!(false, "a series of another kind than its family"),
        }
    }

    /// Pushes onto `idle` the series untouched for `idle_secs` that nothing but the index holds,
    /// and hides those a caller still holds.
    pub(super) fn sweep(&self, now: u32, idle_secs: u32, idle: &mut Vec<Entry>) {
        fn each<C: Stored>(set: &SeriesSet<C>, now: u32, secs: u32, idle: &mut Vec<Entry>) {
            for named in set.iter() {
                if named.is_idle(now, secs) {
                    // The shard table and this set.
                    if Arc::strong_count(named) == 2 {
                        idle.push(C::wrap(named.clone()));
                    } else {
                        named.hide();
                    }
                }
            }
        }
        match self {
            Series::Counter(set) => each(set, now, idle_secs, idle),
            Series::Gauge(set) => each(set, now, idle_secs, idle),
            Series::Histogram(set) => each(set, now, idle_secs, idle),
            // Derived from counters the catalogue holds: never idle on their own.
            Series::Ratio(_) => {}
        }
    }

    /// Removes the series the sweep evicted; returns how many.
    pub(super) fn remove_evicted(&mut self) -> usize {
        match self {
            Series::Counter(set) => set.remove_evicted(),
            Series::Gauge(set) => set.remove_evicted(),
            Series::Histogram(set) => set.remove_evicted(),
            Series::Ratio(_) => 0,
        }
    }
}

/// One metric family as a render walks it: a type and its series.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) kind: Kind,
    /// The recorder's own drop counters: left out while zero, never swept.
    pub(crate) internal: bool,
    pub(crate) series: Series,
}

/// What a render reads: families sorted by exposition name, and their HELP text. Only renders
/// lock it.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    pub(crate) families: BTreeMap<String, Family>,
    /// Escaped HELP text by exposition name.
    pub(crate) help: HashMap<String, String>,
}

impl Exposition {
    pub(super) fn absorb(&mut self, pending: Vec<Pending>) {
        for item in pending {
            match item {
                Pending::Series(entry) => {
                    let kind = entry.kind();
                    let family = self
                        .families
                        .entry(entry.family_name().to_owned())
                        .or_insert_with(|| Family {
                            kind,
                            internal: false,
                            series: match kind {
                                Kind::Counter => Series::Counter(SeriesSet::default()),
                                Kind::Gauge => Series::Gauge(SeriesSet::default()),
                                _ => Series::Histogram(SeriesSet::default()),
                            },
                        });
                    family.series.insert(entry);
                }
                Pending::Ratio {
                    family,
                    text,
                    ratio,
                } => {
                    let family = self.families.entry(family).or_insert_with(|| Family {
                        kind: Kind::Gauge,
                        internal: false,
                        series: Series::Ratio(Vec::new()),
                    });
                    if let Series::Ratio(list) = &mut family.series {
                        match list.binary_search_by(|(t, _)| t.cmp(&text)) {
                            Ok(at) => list[at].1 = ratio,
                            Err(at) => list.insert(at, (text, ratio)),
                        }
                    }
                }
                Pending::Help(name, text) => {
                    self.help.insert(name, text);
                }
            }
        }
    }
}
