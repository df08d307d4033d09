//! The series index: which families and series exist, under which exposition name and labels.
//!
//! All naming and type rules are applied here, once, when a series is first registered, so that a
//! render only copies pre-built text and reads atomics. The rules (also in the crate docs):
//!
//! - names and label names are sanitised by [`crate::naming`]; keys that sanitise to the same name
//!   and label set (`a.b` and `a_b`, or the same labels in another order) share one series;
//! - labels are sorted by name; a repeated label name keeps the pair that sorts first
//!   (by original name, then value) and counts the rest as `duplicate_label`;
//! - global labels are added to every series unless the series has a label of that name;
//! - a user label `le` on a histogram is renamed `user_le`;
//! - the first registration of a name decides its type: a later registration of the same name as
//!   another type gets a no-op handle (`type_conflict`);
//! - a histogram `x` owns `x_bucket`, `x_sum` and `x_count`: whichever of the clashing families
//!   registers second gets a no-op handle (`name_clash`);
//! - names the Pushgateway exports itself keep the gateway's type (`reserved_name`), and the
//!   recorder's own `observer_metrics_dropped_total` cannot be registered by a caller.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use metrics::{Key, KeyName, SharedString, Unit};
use metrics_util::registry::Storage;

use crate::config::MetricsConfig;
use crate::naming;
use crate::storage::{
    CounterCell, DropCounts, GaugeCell, HistogramCell, HistogramShape, Named, SeriesSet, Slot,
};
use crate::DropReason;

/// The family under which dropped series, labels and observations are counted, by `reason`.
pub(crate) const DROPPED_FAMILY: &str = "observer_metrics_dropped_total";

const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// The metric types of the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
    /// Only the Pushgateway's own families; never registered by a caller.
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

/// Families that Pushgateway 1.5.1 exports itself (read off its `/metrics`). Pushing one of these
/// names with another type makes the gateway reject the whole push.
const GATEWAY_FAMILIES: &[(&str, Kind)] = &[
    ("go_gc_duration_seconds", Kind::Summary),
    ("go_goroutines", Kind::Gauge),
    ("go_info", Kind::Gauge),
    ("go_memstats_alloc_bytes", Kind::Gauge),
    ("go_memstats_alloc_bytes_total", Kind::Counter),
    ("go_memstats_buck_hash_sys_bytes", Kind::Gauge),
    ("go_memstats_frees_total", Kind::Counter),
    ("go_memstats_gc_sys_bytes", Kind::Gauge),
    ("go_memstats_heap_alloc_bytes", Kind::Gauge),
    ("go_memstats_heap_idle_bytes", Kind::Gauge),
    ("go_memstats_heap_inuse_bytes", Kind::Gauge),
    ("go_memstats_heap_objects", Kind::Gauge),
    ("go_memstats_heap_released_bytes", Kind::Gauge),
    ("go_memstats_heap_sys_bytes", Kind::Gauge),
    ("go_memstats_last_gc_time_seconds", Kind::Gauge),
    ("go_memstats_lookups_total", Kind::Counter),
    ("go_memstats_mallocs_total", Kind::Counter),
    ("go_memstats_mcache_inuse_bytes", Kind::Gauge),
    ("go_memstats_mcache_sys_bytes", Kind::Gauge),
    ("go_memstats_mspan_inuse_bytes", Kind::Gauge),
    ("go_memstats_mspan_sys_bytes", Kind::Gauge),
    ("go_memstats_next_gc_bytes", Kind::Gauge),
    ("go_memstats_other_sys_bytes", Kind::Gauge),
    ("go_memstats_stack_inuse_bytes", Kind::Gauge),
    ("go_memstats_stack_sys_bytes", Kind::Gauge),
    ("go_memstats_sys_bytes", Kind::Gauge),
    ("go_threads", Kind::Gauge),
    ("process_cpu_seconds_total", Kind::Counter),
    ("process_max_fds", Kind::Gauge),
    ("process_open_fds", Kind::Gauge),
    ("process_resident_memory_bytes", Kind::Gauge),
    ("process_start_time_seconds", Kind::Gauge),
    ("process_virtual_memory_bytes", Kind::Gauge),
    ("process_virtual_memory_max_bytes", Kind::Gauge),
    ("push_failure_time_seconds", Kind::Gauge),
    ("push_time_seconds", Kind::Gauge),
    ("pushgateway_build_info", Kind::Gauge),
    ("pushgateway_http_push_duration_seconds", Kind::Summary),
    ("pushgateway_http_push_size_bytes", Kind::Summary),
    ("pushgateway_http_requests_total", Kind::Counter),
];

/// Who put a family in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Registered by a caller.
    Caller,
    /// A name the Pushgateway uses; a caller may register it with the gateway's type.
    Gateway,
    /// The recorder's own; a caller may not register it.
    Internal,
}

/// A percentage gauge derived from counters at render time: `100 * numerator / sum(denominator)`,
/// NaN while the denominator is 0.
#[derive(Debug)]
pub(crate) struct Ratio {
    pub(crate) numerator: Arc<Named<CounterCell>>,
    pub(crate) denominator: Vec<Arc<Named<CounterCell>>>,
}

/// The series of one family, ordered by their text, which is the exposition order.
#[derive(Debug)]
pub(crate) enum Series {
    /// Text: the line prefix `name{labels}`.
    Counter(SeriesSet<CounterCell>),
    /// Text: the line prefix `name{labels}`.
    Gauge(SeriesSet<GaugeCell>),
    /// Text: the labels between the braces, `a="x",b="y"`.
    Histogram(SeriesSet<HistogramCell>),
    /// Gauges derived from counters, by line prefix.
    Ratio(BTreeMap<Box<str>, Ratio>),
    /// A gateway summary: never holds series.
    None,
}

impl Series {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Counter => Series::Counter(SeriesSet::default()),
            Kind::Gauge => Series::Gauge(SeriesSet::default()),
            Kind::Histogram => Series::Histogram(SeriesSet::default()),
            Kind::Summary => Series::None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Series::Counter(m) => m.len(),
            Series::Gauge(m) => m.len(),
            Series::Histogram(m) => m.len(),
            Series::Ratio(m) => m.len(),
            Series::None => 0,
        }
    }
}

/// One metric family: a name, a type and its series.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) kind: Kind,
    pub(crate) origin: Origin,
    pub(crate) series: Series,
}

/// Everything a render reads, behind one lock that only registration writes.
#[derive(Debug)]
pub(crate) struct Index {
    /// Sorted by exposition name.
    pub(crate) families: BTreeMap<String, Family>,
    /// Escaped HELP text by exposition name.
    pub(crate) help: HashMap<String, String>,
    /// Whether some family holds series out of exposition order.
    unsorted: bool,
}

impl Index {
    fn sort(&mut self) {
        for family in self.families.values_mut() {
            match &mut family.series {
                Series::Counter(set) => set.sort(),
                Series::Gauge(set) => set.sort(),
                Series::Histogram(set) => set.sort(),
                Series::Ratio(_) | Series::None => {}
            }
        }
        self.unsorted = false;
    }

    /// Claims `name` for a family of `kind` (creating it), or says why it cannot be had.
    fn claim(&mut self, name: &str, kind: Kind) -> Result<&mut Family, DropReason> {
        // Two lookups rather than one `get_mut`: the borrow checker cannot yet see that the early
        // return ends the first borrow.
        if let Some(family) = self.families.get(name) {
            return match (family.origin, family.kind == kind) {
                (Origin::Internal, _) | (Origin::Gateway, false) => Err(DropReason::ReservedName),
                (_, false) => Err(DropReason::TypeConflict),
                (_, true) => Ok(self.families.get_mut(name).expect("checked above")),
            };
        }
        let is_histogram = |n: &str| {
            self.families
                .get(n)
                .is_some_and(|f| matches!(f.kind, Kind::Histogram | Kind::Summary))
        };
        let owned_by_histogram = HISTOGRAM_SUFFIXES
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(is_histogram));
        let shadows_family = kind == Kind::Histogram
            && HISTOGRAM_SUFFIXES
                .iter()
                .any(|s| self.families.contains_key(&format!("{name}{s}")));
        if owned_by_histogram || shadows_family {
            return Err(DropReason::NameClash);
        }
        let family = Family {
            kind,
            origin: Origin::Caller,
            series: Series::new(kind),
        };
        Ok(self.families.entry(name.to_owned()).or_insert(family))
    }
}

/// Settings resolved once from the config.
#[derive(Debug)]
struct Settings {
    prefix: Option<String>,
    /// Sanitised, sorted by name.
    global_labels: Vec<(String, String)>,
    /// `job` and the push grouping labels: a series' own label of such a name is renamed
    /// `exported_<name>`, as Prometheus does for clashing target labels, because the gateway would
    /// overwrite it and could merge distinct series into one, rejecting the whole push.
    group_labels: Vec<String>,
    default_shape: Arc<HistogramShape>,
    /// By the name as recorded, before the prefix.
    shapes: HashMap<String, Arc<HistogramShape>>,
}

/// The exposition name of a series and its text: `name{labels}` for counters and gauges, the
/// labels alone for histograms.
struct Identity<'k> {
    name: Cow<'k, str>,
    text: String,
}

/// Counters and gauges: `name{labels}`. Histograms: the labels alone, because the encoder writes
/// the name with each of its `_bucket`, `_sum` and `_count` suffixes. The capacity is exact unless a
/// value needs escaping, so the text becomes a `Box<str>` without a copy.
fn series_text<'a>(
    name: &str,
    kind: Kind,
    labels: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> String {
    let braces = kind != Kind::Histogram;
    let (count, pairs) = labels.clone().fold((0usize, 0usize), |(n, len), (k, v)| {
        (n + 1, len + k.len() + v.len() + 3)
    });
    let commas = count.saturating_sub(1);
    let wrap = if braces {
        name.len() + if count == 0 { 0 } else { 2 }
    } else {
        0
    };
    let mut text = String::with_capacity(wrap + pairs + commas);
    if braces {
        text.push_str(name);
    }
    for (i, (label, value)) in labels.enumerate() {
        if i > 0 {
            text.push(',');
        } else if braces {
            text.push('{');
        }
        text.push_str(label);
        text.push_str("=\"");
        naming::push_label_value(&mut text, value);
        text.push('"');
    }
    if braces && count > 0 {
        text.push('}');
    }
    text
}

/// The series index plus the counts of what its rules dropped. Implements
/// [`metrics_util::registry::Storage`], so the facade's `Key` lookups (the hot `counter!` path) are
/// served by `metrics_util::registry::Registry` and only a first registration reaches this type.
#[derive(Debug)]
pub(crate) struct Families {
    settings: Settings,
    pub(crate) drops: DropCounts,
    index: RwLock<Index>,
}

impl Families {
    pub(crate) fn new(config: &MetricsConfig) -> Self {
        let drops = DropCounts::new(DROPPED_FAMILY);
        let nan_drops = drops.cell(DropReason::NanObservation).clone();
        let shape = |b: &[f64]| {
            Arc::new(HistogramShape::new(
                b,
                config.sample_rate,
                nan_drops.clone(),
            ))
        };
        let settings = Settings {
            prefix: config.prefix.clone(),
            global_labels: config
                .global_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            group_labels: config
                .push
                .iter()
                .flat_map(|p| p.group_label_names().map(str::to_owned))
                .collect(),
            default_shape: shape(&config.histogram_buckets),
            shapes: config
                .bucket_overrides
                .iter()
                .map(|(k, b)| (k.clone(), shape(b)))
                .collect(),
        };

        let mut families: BTreeMap<String, Family> = GATEWAY_FAMILIES
            .iter()
            .map(|&(name, kind)| {
                (
                    name.to_owned(),
                    Family {
                        kind,
                        origin: Origin::Gateway,
                        series: Series::new(kind),
                    },
                )
            })
            .collect();
        let mut dropped = SeriesSet::default();
        for reason in DropReason::ALL {
            // The family shares the drop counters' cells, so counting a drop takes no lock.
            dropped.insert(drops.cell(reason).clone());
        }
        families.insert(
            DROPPED_FAMILY.to_owned(),
            Family {
                kind: Kind::Counter,
                origin: Origin::Internal,
                series: Series::Counter(dropped),
            },
        );
        let mut help = HashMap::new();
        help.insert(
            DROPPED_FAMILY.to_owned(),
            "Series, labels and observations dropped to keep the exposition valid, by reason."
                .to_owned(),
        );
        Families {
            settings,
            drops,
            index: RwLock::new(Index {
                families,
                help,
                unsorted: false,
            }),
        }
    }

    /// The index for a render: in exposition order, sorting first if registrations left it out
    /// of order (the only time a render takes the write lock).
    /// Whether a series' own label `name` is renamed `exported_<name>` (it is a grouping label).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn renames_label(&self, name: &str) -> bool {
        self.settings.group_labels.iter().any(|g| g == name)
    }

    pub(crate) fn read_sorted(&self) -> RwLockReadGuard<'_, Index> {
        loop {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            if !index.unsorted {
                return index;
            }
            drop(index);
            // A registration may slip in between this sort and the next read: check again.
            self.index
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .sort();
        }
    }

    fn exposition_name<'k>(&self, raw: &'k str) -> Option<Cow<'k, str>> {
        if raw.is_empty() {
            return None;
        }
        match &self.settings.prefix {
            Some(p) => naming::metric_name(&format!("{p}_{raw}")).map(Cow::Owned),
            None => naming::metric_name_cow(raw),
        }
    }

    /// Applies the naming and label rules to `key`; `None` when the series must be dropped.
    fn identity<'k>(&self, key: &'k Key, kind: Kind) -> Option<Identity<'k>> {
        let Some(name) = self.exposition_name(key.name()) else {
            self.drops.count(DropReason::EmptyName);
            return None;
        };
        if let Some(text) = self.plain_text(key, kind, &name) {
            return Some(Identity { name, text });
        }
        // (sanitised name, rank, original name, value): rank 0 for the series' own labels, 1 for
        // global ones, so sorting puts the winner of each name first.
        let mut labels: Vec<(Cow<'_, str>, u8, &str, &str)> =
            Vec::with_capacity(key.labels().len() + self.settings.global_labels.len());
        for label in key.labels() {
            match naming::label_name_cow(label.key()) {
                Some(n) if kind == Kind::Histogram && n == "le" => {
                    labels.push((Cow::Borrowed("user_le"), 0, label.key(), label.value()))
                }
                Some(n) if self.settings.group_labels.iter().any(|g| *g == n) => labels.push((
                    Cow::Owned(format!("exported_{n}")),
                    0,
                    label.key(),
                    label.value(),
                )),
                Some(n) => labels.push((n, 0, label.key(), label.value())),
                None => self.drops.count(DropReason::EmptyLabelName),
            }
        }
        for (k, v) in &self.settings.global_labels {
            labels.push((Cow::Borrowed(k), 1, k, v));
        }
        if !labels.is_sorted() {
            labels.sort_unstable();
        }
        let before = labels.len();
        let own_before = labels.iter().filter(|l| l.1 == 0).count();
        labels.dedup_by(|later, kept| later.0 == kept.0);
        if labels.len() < before {
            let own_after = labels.iter().filter(|l| l.1 == 0).count();
            // A global label losing to the series' own label is not a drop.
            for _ in 0..(own_before - own_after) {
                self.drops.count(DropReason::DuplicateLabel);
            }
        }

        let text = series_text(&name, kind, labels.iter().map(|l| (&*l.0, l.3)));
        Some(Identity { name, text })
    }

    /// The series text when no rule touches `key`'s labels (valid, unreserved, already sorted and
    /// unique, no global labels): the common case, written without a temporary list. `None` sends
    /// the key through the general rules.
    fn plain_text(&self, key: &Key, kind: Kind, name: &str) -> Option<String> {
        if !self.settings.global_labels.is_empty() {
            return None;
        }
        let mut previous: Option<&str> = None;
        for label in key.labels() {
            let k = label.key();
            let untouched = naming::is_plain_label_name(k)
                && previous.is_none_or(|p| p < k)
                && !(kind == Kind::Histogram && k == "le")
                && !self.settings.group_labels.iter().any(|g| g == k);
            if !untouched {
                return None;
            }
            previous = Some(k);
        }
        Some(series_text(
            name,
            kind,
            key.labels().map(|l| (l.key(), l.value())),
        ))
    }

    fn register<C>(&self, key: &Key, kind: Kind, make: impl FnOnce() -> C) -> Slot<Named<C>>
    where
        C: Stored,
    {
        let Some(id) = self.identity(key, kind) else {
            return Slot(None);
        };
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let family = match index.claim(&id.name, kind) {
            Ok(family) => family,
            Err(reason) => {
                self.drops.count(reason);
                return Slot(None);
            }
        };
        // A gauge name held by a derived ratio is the one case where the kinds agree but the
        // storage does not.
        let Some(set) = C::series_of(&mut family.series) else {
            self.drops.count(DropReason::TypeConflict);
            return Slot(None);
        };
        let named = set.get_or_insert(id.text, make);
        index.unsorted |= !set.is_sorted();
        Slot(Some(named))
    }

    /// Registers a gauge `name` (no labels but the global ones) derived at render time as
    /// `100 * numerator / sum(denominator)`. Returns false when the name cannot be had or an input
    /// is a no-op.
    pub(crate) fn register_ratio(
        &self,
        name: &str,
        numerator: &Slot<Named<CounterCell>>,
        denominator: &[&Slot<Named<CounterCell>>],
    ) -> bool {
        let (Some(numerator), Some(denominator)) = (
            numerator.0.clone(),
            denominator
                .iter()
                .map(|s| s.0.clone())
                .collect::<Option<Vec<_>>>(),
        ) else {
            return false;
        };
        let key = Key::from_name(name.to_owned());
        let Some(id) = self.identity(&key, Kind::Gauge) else {
            return false;
        };
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let family = match index.claim(&id.name, Kind::Gauge) {
            Ok(family) => family,
            Err(reason) => {
                self.drops.count(reason);
                return false;
            }
        };
        if family.series.len() == 0 {
            family.series = Series::Ratio(BTreeMap::new());
        }
        match &mut family.series {
            Series::Ratio(map) => {
                map.insert(
                    id.text.into_boxed_str(),
                    Ratio {
                        numerator,
                        denominator,
                    },
                );
                true
            }
            _ => {
                self.drops.count(DropReason::TypeConflict);
                false
            }
        }
    }

    /// Records HELP text for `name`; units other than counts are appended in brackets.
    pub(crate) fn describe(&self, name: &KeyName, unit: Option<Unit>, description: &SharedString) {
        let Some(name) = self.exposition_name(name.as_str()) else {
            return;
        };
        let mut text = String::with_capacity(description.len());
        naming::push_help(&mut text, description);
        if let Some(unit) = unit.filter(|u| *u != Unit::Count) {
            text.push_str(" [");
            text.push_str(unit.as_str());
            text.push(']');
        }
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        index.help.insert(name.into_owned(), text);
    }
}

impl Storage<Key> for Families {
    type Counter = Slot<Named<CounterCell>>;
    type Gauge = Slot<Named<GaugeCell>>;
    type Histogram = Slot<Named<HistogramCell>>;

    fn counter(&self, key: &Key) -> Self::Counter {
        self.register(key, Kind::Counter, CounterCell::default)
    }

    fn gauge(&self, key: &Key) -> Self::Gauge {
        self.register(key, Kind::Gauge, GaugeCell::default)
    }

    fn histogram(&self, key: &Key) -> Self::Histogram {
        let shapes = &self.settings.shapes;
        let shape = shapes
            .get(key.name())
            .unwrap_or(&self.settings.default_shape)
            .clone();
        self.register(key, Kind::Histogram, || HistogramCell::new(shape))
    }
}

/// A cell type and the family storage that holds it.
trait Stored: Sized {
    fn series_of(series: &mut Series) -> Option<&mut SeriesSet<Self>>;
}

impl Stored for CounterCell {
    fn series_of(series: &mut Series) -> Option<&mut SeriesSet<Self>> {
        match series {
            Series::Counter(set) => Some(set),
            _ => None,
        }
    }
}

impl Stored for GaugeCell {
    fn series_of(series: &mut Series) -> Option<&mut SeriesSet<Self>> {
        match series {
            Series::Gauge(set) => Some(set),
            _ => None,
        }
    }
}

impl Stored for HistogramCell {
    fn series_of(series: &mut Series) -> Option<&mut SeriesSet<Self>> {
        match series {
            Series::Histogram(set) => Some(set),
            _ => None,
        }
    }
}
