//! The lookup side of the index: a shard's tables from a series' text to its cell, and how each
//! cell type goes in and out of them.

use std::sync::Arc;

use hashbrown::HashTable;

use super::exposition::Kind;
use crate::recorder::storage::{CounterCell, GaugeCell, HistogramCell, HistogramShape, Named};

/// A registered series as the shard tables hold it.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Counter(Arc<Named<CounterCell>>),
    Gauge(Arc<Named<GaugeCell>>),
    Histogram(Arc<Named<HistogramCell>>),
}

impl Entry {
    pub(super) fn text(&self) -> &str {
        match self {
            Entry::Counter(n) => &n.text,
            Entry::Gauge(n) => &n.text,
            Entry::Histogram(n) => &n.text,
        }
    }

    pub(super) fn kind(&self) -> Kind {
        match self {
            Entry::Counter(_) => Kind::Counter,
            Entry::Gauge(_) => Kind::Gauge,
            Entry::Histogram(_) => Kind::Histogram,
        }
    }

    /// The name part of the text: names never hold `{`.
    pub(super) fn family_name(&self) -> &str {
        let text = self.text();
        text.find('{').map_or(text, |i| &text[..i])
    }

    pub(super) fn hash(&self) -> u64 {
        match self {
            Entry::Counter(n) => n.hash,
            Entry::Gauge(n) => n.hash,
            Entry::Histogram(n) => n.hash,
        }
    }

    pub(super) fn hide(&self) {
        match self {
            Entry::Counter(n) => n.hide(),
            Entry::Gauge(n) => n.hide(),
            Entry::Histogram(n) => n.hide(),
        }
    }

    pub(super) fn evict(&self) {
        match self {
            Entry::Counter(n) => n.evict(),
            Entry::Gauge(n) => n.evict(),
            Entry::Histogram(n) => n.evict(),
        }
    }

    pub(super) fn holders(&self) -> usize {
        match self {
            Entry::Counter(n) => Arc::strong_count(n),
            Entry::Gauge(n) => Arc::strong_count(n),
            Entry::Histogram(n) => Arc::strong_count(n),
        }
    }
}

/// One lookup shard: a table per kind, from a series' text to its cell. Per kind so that an entry
/// is one pointer; the same text under two kinds is refused by the catalog (one family, one type).
#[derive(Debug, Default)]
pub(crate) struct Shard {
    pub(super) counters: HashTable<Arc<Named<CounterCell>>>,
    pub(super) gauges: HashTable<Arc<Named<GaugeCell>>>,
    pub(super) histograms: HashTable<Arc<Named<HistogramCell>>>,
}

impl Shard {
    /// Removes `entry` (found by identity); false when it is not here.
    pub(super) fn remove(&mut self, hash: u64, entry: &Entry) -> bool {
        fn take<C>(table: &mut HashTable<Arc<Named<C>>>, hash: u64, named: &Arc<Named<C>>) -> bool {
            let found = table.find_entry(hash, |n| Arc::ptr_eq(n, named));
            found.map(|e| e.remove()).is_ok()
        }
        match entry {
            Entry::Counter(n) => take(&mut self.counters, hash, n),
            Entry::Gauge(n) => take(&mut self.gauges, hash, n),
            Entry::Histogram(n) => take(&mut self.histograms, hash, n),
        }
    }
}

/// A cell type: its kind, and how it goes in and out of an [`Entry`].
pub(crate) trait Stored: Sized {
    const KIND: Kind;
    fn wrap(named: Arc<Named<Self>>) -> Entry;
    fn unwrap(entry: &Entry) -> Option<&Arc<Named<Self>>>;
    fn table(shard: &Shard) -> &HashTable<Arc<Named<Self>>>;
    fn table_mut(shard: &mut Shard) -> &mut HashTable<Arc<Named<Self>>>;
    /// A fresh cell; histograms get their family's shape.
    fn new_cell(shape: Option<Arc<HistogramShape>>) -> Self;
}

/// `Stored` for a cell type: its kind (also its `Entry` variant), its shard table and how a fresh
/// cell is made from its family's shape.
macro_rules! stored {
    ($cell:ty, $kind:ident, $table:ident, |$shape:pat_param| $new:expr) => {
        impl Stored for $cell {
            const KIND: Kind = Kind::$kind;
            fn wrap(named: Arc<Named<Self>>) -> Entry {
                Entry::$kind(named)
            }
            fn unwrap(entry: &Entry) -> Option<&Arc<Named<Self>>> {
                match entry {
                    Entry::$kind(n) => Some(n),
                    _ => None,
                }
            }
            fn table(shard: &Shard) -> &HashTable<Arc<Named<Self>>> {
                &shard.$table
            }
            fn table_mut(shard: &mut Shard) -> &mut HashTable<Arc<Named<Self>>> {
                &mut shard.$table
            }
            fn new_cell($shape: Option<Arc<HistogramShape>>) -> Self {
                $new
            }
        }
    };
}

stored!(CounterCell, Counter, counters, |_| CounterCell::default());
stored!(GaugeCell, Gauge, gauges, |_| GaugeCell::default());
stored!(HistogramCell, Histogram, histograms, |shape| {
    HistogramCell::new(shape.expect("a histogram's family has a shape"))
});
