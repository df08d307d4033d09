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
//! - a user label `le` on a histogram is renamed `user_le`, and `quantile` on a summary
//!   `user_quantile`;
//! - the first registration of a name decides its type: a later registration of the same name as
//!   another type gets a no-op handle (`type_conflict`);
//! - a histogram `x` owns `x_bucket`, `x_sum` and `x_count`: whichever of the clashing families
//!   registers second gets a no-op handle (`name_clash`);
//! - names the Pushgateway exports itself keep the gateway's type (`reserved_name`), and the
//!   recorder's own `observer_metrics_dropped_total` cannot be registered by a caller;
//! - past `max_series_per_metric` series, a family's new label sets share one series labelled
//!   `otel_metric_overflow="true"` (`cardinality_limit`); a caller's own label of that name is
//!   renamed `exported_otel_metric_overflow`;
//! - with `idle_timeout_secs`, a render drops series untouched for that long; one a caller still
//!   holds a handle to is only hidden, and shows again once touched.
//!
//! Three parts, each behind its own lock, so that a render never makes a registration wait for an
//! encode and a lookup never waits for either:
//!
//! - **shards**: hash tables from a series' text to its cell, the only thing the facade's
//!   `counter!` path touches (a read lock on one shard). Each series' key is kept once, as the
//!   text it renders to; a lookup writes the key's text into a reused buffer and finds it.
//! - **catalog**: what registration decides with (each family's type, origin and size, the
//!   overflow series, units) and the series registered since the last render.
//! - **exposition**: what a render walks, in order. Only renders lock it; a render takes the new
//!   series from the catalog (a swap), sorts, sweeps idle series and encodes, all without
//!   holding a shard or the catalog.
//!
//! Lock order: a shard, then the catalog; the exposition, then a shard, then the catalog.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use metrics::{Key, KeyName, Label, SharedString, Unit};

use super::config::{RecorderConfig, Reserved};
use crate::naming;
use crate::recorder::buckets::{BucketRules, Scale};
use crate::recorder::storage::{
    CounterCell, DropCounts, HistogramShape, Named, SeriesSet, Slot, OVERFLOW_HASH,
};
use crate::recorder::DropReason;

/// The family under which dropped series, labels and observations are counted, by `reason`.
pub(crate) const DROPPED_FAMILY: &str = "observer_metrics_dropped_total";

const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// The label that marks a family's overflow series (OpenTelemetry's name for it).
pub(crate) const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// Lookup shards: enough that threads registering at once rarely meet on one.
const SHARDS: usize = 32;

mod catalog;
mod exposition;
mod keys;
mod shard;

use catalog::{Catalog, FamilyInfo, Origin, Pending};
pub(crate) use exposition::{Exposition, Family, Kind, Ratio, Series};
use keys::{key_hash_is_series_hash, push_labels, series_hash, text_matches, with_scratch};
pub(crate) use shard::{Shard, Stored};

/// Settings resolved once from the config.
#[derive(Debug)]
struct Settings {
    prefix: Option<String>,
    /// Sanitised, sorted by name.
    global_labels: Vec<(String, String)>,
    /// The labels the sinks set on every series (push: `job` and the grouping labels; remote
    /// write: `job` and `instance`): a series' own label of such a name is renamed
    /// `exported_<name>`, as Prometheus does for clashing target labels, because the gateway would
    /// overwrite it (merging distinct series into one and rejecting the whole push) and a receiver
    /// refuses a series with a label name twice.
    group_labels: Vec<String>,
    buckets: BucketRules,
    /// `max_series_per_metric`; 0 is no limit.
    max_series: usize,
    /// `idle_timeout_secs`.
    idle_secs: Option<u32>,
    /// What the global labels add to a series hash.
    global_hash: u64,
    /// `max_label_value_bytes`; 0 is no limit.
    max_value: usize,
}

/// What ends a label value that was cut.
const CUT_MARKER: &str = "…";

impl Settings {
    /// Whether `value` is longer than a label value may be.
    fn cuts(&self, value: &str) -> bool {
        self.max_value != 0 && value.len() > self.max_value
    }

    /// `value`, or when it is too long its longest prefix that ends on a character boundary and
    /// leaves room for [`CUT_MARKER`], with the marker.
    fn cut<'v>(&self, value: &'v str) -> Cow<'v, str> {
        if !self.cuts(value) {
            return Cow::Borrowed(value);
        }
        let mut end = self.max_value - CUT_MARKER.len();
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        Cow::Owned(format!("{}{CUT_MARKER}", &value[..end]))
    }

    /// Whether a series' own label `name` is renamed `exported_<name>`.
    fn renames(&self, name: &str) -> bool {
        name == OVERFLOW_LABEL || self.group_labels.iter().any(|g| g == name)
    }
}

/// The series index (see the module docs).
#[derive(Debug)]
pub(crate) struct SeriesIndex {
    settings: Settings,
    pub(crate) drops: DropCounts,
    /// Whether a plain key's own hash is its series hash (see [`key_hash_is_series_hash`]).
    key_hash_is_series_hash: bool,
    shards: Box<[RwLock<Shard>]>,
    catalog: Mutex<Catalog>,
    exposition: Mutex<Exposition>,
    /// The clock of idle expiry, in whole seconds from here.
    start: web_time::Instant,
    /// Whether series were removed since the last render, which then drops them from the
    /// exposition.
    removed: std::sync::atomic::AtomicBool,
    /// The exposed names of the summaries whose quantiles the caller sets.
    given_summaries: RwLock<Vec<Box<str>>>,
}

impl SeriesIndex {
    pub(crate) fn new(config: &RecorderConfig, reserved: &Reserved) -> Self {
        let drops = DropCounts::new(DROPPED_FAMILY);
        let nan_drops = drops.cell(DropReason::NanObservation).clone();
        let settings = Settings {
            prefix: config.prefix.clone(),
            global_labels: config
                .global_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            group_labels: reserved.labels.clone(),
            buckets: BucketRules::new(config, nan_drops),
            max_series: config.max_series_per_metric,
            idle_secs: config
                .idle_timeout_secs
                .map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
            global_hash: series_hash("", config.global_labels.iter().map(|(k, v)| (&**k, &**v)))
                .wrapping_sub(series_hash("", std::iter::empty())),
            max_value: config.max_label_value_bytes,
        };

        let mut catalog = Catalog::default();
        for &(name, kind) in &reserved.families {
            let info = FamilyInfo::new(kind, Origin::Reserved);
            catalog.families.insert(name.to_owned(), info);
        }
        let internal = FamilyInfo::new(Kind::Counter, Origin::Internal);
        catalog.families.insert(DROPPED_FAMILY.to_owned(), internal);

        let mut dropped = SeriesSet::default();
        for reason in DropReason::ALL {
            // The family shares the drop counters' cells, so counting a drop takes no lock.
            dropped.insert(drops.cell(reason).clone());
        }
        let mut exposition = Exposition::default();
        exposition.families.insert(
            DROPPED_FAMILY.to_owned(),
            Family {
                kind: Kind::Counter,
                internal: true,
                series: Series::Counter(dropped),
            },
        );
        exposition.help.insert(
            DROPPED_FAMILY.to_owned(),
            "Series, labels and observations dropped to keep the exposition valid, by reason."
                .to_owned(),
        );
        SeriesIndex {
            settings,
            drops,
            key_hash_is_series_hash: key_hash_is_series_hash(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            catalog: Mutex::new(catalog),
            exposition: Mutex::new(exposition),
            start: web_time::Instant::now(),
            removed: std::sync::atomic::AtomicBool::new(false),
            given_summaries: RwLock::default(),
        }
    }

    /// Whether the family `name` is kept to `kind` for a receiver that exports it itself.
    #[cfg_attr(any(target_arch = "wasm32", not(feature = "push")), allow(dead_code))]
    pub(crate) fn reserves_family(&self, name: &str, kind: Kind) -> bool {
        let catalog = self.catalog();
        let family = catalog.families.get(name);
        family.is_some_and(|f| f.origin == Origin::Reserved && f.kind == kind)
    }

    /// Whether `native_histogram_metrics` names any family.
    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
    pub(crate) fn keeps_native_histograms(&self) -> bool {
        self.settings.buckets.has_natives()
    }

    /// Whether a series' own label `name` is renamed `exported_<name>` (a sink sets it).
    #[cfg_attr(not(feature = "push"), allow(dead_code))]
    pub(crate) fn renames_label(&self, name: &str) -> bool {
        self.settings.group_labels.iter().any(|g| g == name)
    }

    fn catalog(&self) -> MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Walks the exposition with `visitor`: takes the series registered since the last walk, drops
    /// idle ones, sorts, and hands each family and sample line to `visitor`. Registrations
    /// meanwhile wait only for the take (a swap).
    pub(crate) fn walk(&self, visitor: &mut impl crate::recorder::walk::Visit) {
        let now = u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.walk_at(now, visitor);
    }

    /// [`walk`](Self::walk) at `now` seconds on the index's clock.
    fn walk_at(&self, now: u32, visitor: &mut impl crate::recorder::walk::Visit) {
        let mut exposition = self
            .exposition
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pending = std::mem::take(&mut self.catalog().pending);
        exposition.absorb(pending);
        if let Some(idle) = self.settings.idle_secs {
            self.sweep(&mut exposition, now, idle);
        }
        if self
            .removed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            self.drop_evicted(&mut exposition);
        }
        for family in exposition.families.values_mut() {
            family.series.sort();
        }
        crate::recorder::walk::walk(&exposition, visitor);
    }

    /// Drops series untouched for `idle` seconds that nothing but the index holds; a series a
    /// caller holds is hidden until touched instead, since its handle must keep working.
    fn sweep(&self, exposition: &mut Exposition, now: u32, idle: u32) {
        let mut candidates = Vec::new();
        for family in exposition.families.values().filter(|f| !f.internal) {
            family.series.sweep(now, idle, &mut candidates);
        }
        if candidates.is_empty() {
            return;
        }
        let mut evicted = false;
        for entry in &candidates {
            let hash = entry.hash();
            let mut shard = self
                .shard(hash)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            // Under the shard's write lock no lookup can clone the series: if the table, the
            // exposition and `candidates` are its only holders, no caller can reach it again.
            // Otherwise someone holds it (a caller, or the catalog for an overflow series, which
            // no shard holds): it is hidden like any held series.
            if entry.holders() == 3 && shard.remove(hash, entry) {
                entry.evict();
                evicted = true;
            } else {
                entry.hide();
            }
        }
        if evicted {
            self.drop_evicted(exposition);
        }
    }

    /// Drops the evicted series from the exposition, freeing their places under the limit.
    fn drop_evicted(&self, exposition: &mut Exposition) {
        let mut catalog = self.catalog();
        for (name, family) in &mut exposition.families {
            let removed = family.series.remove_evicted();
            if let Some(info) = catalog.families.get_mut(name.as_str()) {
                info.len = info.len.saturating_sub(removed);
            }
        }
    }

    /// Removes the series of `key` now, if nothing but the index holds it: it leaves the next
    /// render, and the key registered again starts a new series from zero. `false` when there is
    /// no such series, or a handle to it is held (it must keep working, so it stays).
    pub(crate) fn remove<C: Stored>(&self, key: &Key) -> bool {
        with_scratch(|text| {
            let Some((_, hash)) = self.write_text(key, C::KIND, text, false) else {
                return false;
            };
            let mut shard = self
                .shard(hash)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(entry) = C::table(&shard)
                .find(hash, |n| *n.text == **text)
                .map(|n| C::wrap(n.clone()))
            else {
                return false;
            };
            // The table, the exposition (or the pending list) and `entry`: as in the sweep, no
            // lookup can reach it again under the shard's write lock.
            if entry.holders() == 3 && shard.remove(hash, &entry) {
                entry.evict();
                self.removed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                true
            } else {
                false
            }
        })
    }

    /// How many families and series the index holds (overflow series not counted), for `Debug`.
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let series = self
            .shards
            .iter()
            .map(|s| {
                let s = s.read().unwrap_or_else(PoisonError::into_inner);
                s.counters.len() + s.gauges.len() + s.histograms.len()
            })
            .sum();
        (self.catalog().families.len(), series)
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        // Bits the tables' own bucket index (the low bits) and tag (the top 7) do not use.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// The series of `key`, registered on first sight. A lookup writes the key's text into a
    /// reused buffer and finds it under one shard's read lock.
    pub(crate) fn series<C: Stored>(&self, key: &Key) -> Slot<Named<C>> {
        // First as the key stands: hashed by the `Key` itself and compared piece by piece with
        // the stored text, nothing written. A key some rule changes (a name to sanitise, labels
        // out of order) is not found so, and takes the second way: its text written, then found.
        if let Some(hash) = self.key_hash(key) {
            let shard = self
                .shard(hash)
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let found = C::table(&shard).find(hash, |n| self.matches_as_is(&n.text, key));
            if let Some(named) = found {
                return Slot(Some(named.clone()));
            }
        }
        with_scratch(|text| self.series_by_text(key, text))
    }

    fn series_by_text<C: Stored>(&self, key: &Key, text: &mut String) -> Slot<Named<C>> {
        let Some((name_len, hash)) = self.write_text(key, C::KIND, text, false) else {
            self.drops.count(DropReason::EmptyName);
            return Slot(None);
        };
        let shard = self.shard(hash);
        {
            let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(named) = C::table(&shard).find(hash, |n| *n.text == **text) {
                return Slot(Some(named.clone()));
            }
        }
        self.register(key, text, name_len, hash, shard)
    }

    /// The series hash of `key` if no rule changes it: the hash the `Key` carries plus the global
    /// labels'. `None` when a prefix changes every name, or `metrics` hashes keys otherwise.
    fn key_hash(&self, key: &Key) -> Option<u64> {
        (self.key_hash_is_series_hash && self.settings.prefix.is_none())
            .then(|| key.get_hash().wrapping_add(self.settings.global_hash))
    }

    /// Whether `text` is what `key` renders to when no rule changes it: its name and its labels
    /// (already in order) merged with the global ones.
    fn matches_as_is(&self, text: &str, key: &Key) -> bool {
        let mut own = key.labels().map(|l| (l.key(), l.value())).peekable();
        let mut global = self.settings.global_labels.iter();
        let mut global = global
            .by_ref()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .peekable();
        let merged = std::iter::from_fn(|| match (own.peek(), global.peek()) {
            (Some(o), Some(g)) if g.0 < o.0 => global.next(),
            (Some(_), _) => own.next(),
            (None, _) => global.next(),
        });
        text_matches(text, key.name(), merged)
    }

    /// A first registration: the catalog's rules decide, the series goes into its shard and onto
    /// the catalog's pending list for the next render.
    fn register<C: Stored>(
        &self,
        key: &Key,
        text: &str,
        name_len: usize,
        hash: u64,
        shard: &RwLock<Shard>,
    ) -> Slot<Named<C>> {
        let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
        // Registered by another thread meanwhile.
        if let Some(named) = C::table(&shard).find(hash, |n| *n.text == *text) {
            return Slot(Some(named.clone()));
        }
        let mut catalog = self.catalog();
        let Catalog {
            families,
            units,
            buckets,
            pending,
        } = &mut *catalog;
        let name = &text[..name_len];
        let family = match Catalog::claim_in(families, name, C::KIND) {
            Ok(family) if !family.ratio => family,
            Ok(_) => {
                self.drops.count(DropReason::TypeConflict);
                return Slot(None);
            }
            Err(reason) => {
                self.drops.count(reason);
                return Slot(None);
            }
        };
        let shape = (C::KIND == Kind::Histogram).then(|| {
            family
                .shape
                .get_or_insert_with(|| match buckets.get(name) {
                    Some(shape) => shape.clone(),
                    None => self.settings.buckets.shape_for(
                        key.name(),
                        name,
                        units.get(name).copied().unwrap_or(Scale::Unknown),
                    ),
                })
                .clone()
        });
        let limit = self.settings.max_series;
        if limit > 0 && family.len >= limit {
            self.drops.count(DropReason::CardinalityLimit);
            let overflow = family.overflow.get_or_insert_with(|| {
                // Never in a shard: it is found through the catalog, so its hash marks it.
                let text = self.overflow_text(name).into();
                let named = Named::new(text, OVERFLOW_HASH, C::new_cell(shape));
                let entry = C::wrap(Arc::new(named));
                pending.push(Pending::Series(entry.clone()));
                entry
            });
            return Slot(C::unwrap(overflow).cloned());
        }
        // Label drops are counted once, by the registration that keeps the series (only labels
        // some rule touched can have drops).
        if !self.labels_untouched(key, C::KIND) {
            self.write_text(key, C::KIND, &mut String::new(), true);
        }
        family.len += 1;
        let named = Arc::new(Named::new(text.into(), hash, C::new_cell(shape)));
        C::table_mut(&mut shard).insert_unique(hash, named.clone(), |n| n.hash);
        pending.push(Pending::Series(C::wrap(named.clone())));
        Slot(Some(named))
    }

    /// `name{otel_metric_overflow="true"}` with the global labels.
    fn overflow_text(&self, name: &str) -> String {
        let mut labels: Vec<(&str, &str)> = self
            .settings
            .global_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        labels.push((OVERFLOW_LABEL, "true"));
        let order = crate::text::text_order(labels.iter().map(|l| l.0));
        let mut text = name.to_owned();
        push_labels(&mut text, order.into_iter().map(|at| labels[at as usize]));
        text
    }

    /// Writes the text of `key`'s series into `out` (cleared first) and returns the length of its
    /// name part and the series hash; `None` when the name is empty. Label drops are counted only
    /// when `count`.
    fn write_text(
        &self,
        key: &Key,
        kind: Kind,
        out: &mut String,
        count: bool,
    ) -> Option<(usize, u64)> {
        out.clear();
        if !naming::push_metric_name(out, self.settings.prefix.as_deref(), key.name()) {
            return None;
        }
        let name_len = out.len();
        let hash = if self.labels_untouched(key, kind) {
            let labels = || key.labels().map(|l| (l.key(), l.value()));
            let hash = series_hash(out, labels());
            push_labels(out, labels());
            hash
        } else {
            self.push_ruled_labels(key, kind, out, count)
        };
        Some((name_len, hash))
    }

    /// Whether no rule touches `key`'s labels (valid, unreserved, already sorted and unique, no
    /// global labels): the common case, written without a temporary list.
    fn labels_untouched(&self, key: &Key, kind: Kind) -> bool {
        if !self.settings.global_labels.is_empty() {
            return false;
        }
        let mut previous: Option<&str> = None;
        key.labels().all(|label: &Label| {
            let k = label.key();
            let untouched = naming::is_plain_label_name(k)
                && previous.is_none_or(|p| p < k)
                && !(kind == Kind::Histogram && matches!(k, "le" | "quantile"))
                && !self.settings.renames(k)
                && !self.settings.cuts(label.value());
            previous = Some(k);
            untouched
        })
    }

    /// The labels through every rule: sanitised, renamed, merged with the global ones, sorted,
    /// one per name. Returns the series hash (`out` holds the name alone on entry).
    fn push_ruled_labels(&self, key: &Key, kind: Kind, out: &mut String, count: bool) -> u64 {
        // A summary's quantile lines carry `quantile`, as a histogram's bucket lines carry `le`.
        let summary = kind == Kind::Histogram
            && (cfg!(feature = "summary")
                && self.settings.buckets.is_summary(key.name(), out.as_str())
                || self.is_given_summary(out.as_str()));
        // (sanitised name, rank, original name, value): rank 0 for the series' own labels, 1 for
        // global ones.
        let mut labels: Vec<(Cow<'_, str>, u8, &str, Cow<'_, str>)> =
            Vec::with_capacity(key.labels().len() + self.settings.global_labels.len());
        for label in key.labels() {
            let value = match self.settings.cut(label.value()) {
                Cow::Owned(cut) => {
                    if count {
                        self.drops.count(DropReason::LabelTooLong);
                    }
                    Cow::Owned(cut)
                }
                whole => whole,
            };
            match naming::label_name_cow(label.key()) {
                Some(n) if kind == Kind::Histogram && n == "le" => {
                    labels.push((Cow::Borrowed("user_le"), 0, label.key(), value))
                }
                Some(n) if summary && n == "quantile" => {
                    labels.push((Cow::Borrowed("user_quantile"), 0, label.key(), value))
                }
                Some(n) => labels.push((n, 0, label.key(), value)),
                None if count => self.drops.count(DropReason::EmptyLabelName),
                None => {}
            }
        }
        self.export_clashing(&mut labels);
        for (k, v) in &self.settings.global_labels {
            labels.push((Cow::Borrowed(k), 1, k, Cow::Borrowed(v)));
        }
        // One label per name, whatever order the key gave them in: the series' own over a global
        // one, then the smallest original name, then the smallest value.
        let mut kept: Vec<&(Cow<'_, str>, u8, &str, Cow<'_, str>)> =
            Vec::with_capacity(labels.len());
        for at in crate::text::text_order(labels.iter().map(|l| &*l.0)) {
            let label = &labels[at as usize];
            match kept.last_mut() {
                Some(last) if last.0 == label.0 => {
                    if (label.1, label.2, &label.3) < (last.1, last.2, &last.3) {
                        *last = label;
                    }
                }
                _ => kept.push(label),
            }
        }
        if count {
            // A global label losing to the series' own label is not a drop.
            let own_before = labels.iter().filter(|l| l.1 == 0).count();
            let own_after = kept.iter().filter(|l| l.1 == 0).count();
            for _ in 0..(own_before - own_after) {
                self.drops.count(DropReason::DuplicateLabel);
            }
        }
        let hash = series_hash(out, kept.iter().map(|l| (&*l.0, &*l.3)));
        push_labels(out, kept.iter().map(|l| (&*l.0, &*l.3)));
        hash
    }

    /// Renames each of the series' own labels that a sink sets itself (or `otel_metric_overflow`)
    /// to `exported_<name>`, prefixing again while that name is taken, as Prometheus resolves a
    /// scraped label that clashes with a target label: `job` with an `exported_job` of its own
    /// beside it becomes `exported_exported_job`, so neither is lost and no name appears twice.
    fn export_clashing(&self, labels: &mut [(Cow<'_, str>, u8, &str, Cow<'_, str>)]) {
        if !labels.iter().any(|l| self.settings.renames(&l.0)) {
            return;
        }
        let mut taken: Vec<String> = labels
            .iter()
            .filter(|l| !self.settings.renames(&l.0))
            .map(|l| l.0.to_string())
            .collect();
        taken.extend(self.settings.global_labels.iter().map(|(k, _)| k.clone()));
        for label in labels.iter_mut().filter(|l| self.settings.renames(&l.0)) {
            let mut name = format!("exported_{}", label.0);
            while taken.contains(&name) || self.settings.renames(&name) {
                name.insert_str(0, "exported_");
            }
            taken.push(name.clone());
            label.0 = Cow::Owned(name);
        }
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
        let mut text = String::new();
        let Some((name_len, _)) = self.write_text(&key, Kind::Gauge, &mut text, true) else {
            self.drops.count(DropReason::EmptyName);
            return false;
        };
        let mut catalog = self.catalog();
        let family = match Catalog::claim_in(&mut catalog.families, &text[..name_len], Kind::Gauge)
        {
            Ok(family) if family.ratio || family.len == 0 => family,
            Ok(_) => {
                self.drops.count(DropReason::TypeConflict);
                return false;
            }
            Err(reason) => {
                self.drops.count(reason);
                return false;
            }
        };
        family.ratio = true;
        family.len += 1;
        catalog.pending.push(Pending::Ratio {
            family: text[..name_len].to_owned(),
            text: text.into_boxed_str(),
            ratio: Ratio {
                numerator,
                denominator,
            },
        });
        true
    }

    /// Whether `exposed` names a family made by [`set_given_summary`](Self::set_given_summary).
    /// (Its own lock, not the catalog's: series texts are written under the catalog's.)
    fn is_given_summary(&self, exposed: &str) -> bool {
        self.given_summaries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|n| **n == *exposed)
    }

    /// Gives the histogram family `name` these bucket bounds (already checked), ahead of every
    /// config rule; `false` when the family already has its buckets (they are fixed by its first
    /// series).
    pub(crate) fn set_buckets(&self, name: &str, bounds: &[f64]) -> bool {
        self.set_shape(name, || self.settings.buckets.shape(bounds))
    }

    /// Gives the histogram family `name` the shape `make` builds, unless it has one already.
    fn set_shape(&self, name: &str, make: impl FnOnce() -> Arc<HistogramShape>) -> bool {
        let mut exposed = String::new();
        if !naming::push_metric_name(&mut exposed, self.settings.prefix.as_deref(), name) {
            return false;
        }
        let mut catalog = self.catalog();
        // Recorded already (as a histogram, or as another kind), or given a shape before.
        if catalog.buckets.contains_key(&exposed)
            || catalog
                .families
                .get(&exposed)
                .is_some_and(|f| f.shape.is_some() || f.kind != Kind::Histogram)
        {
            return false;
        }
        let shape = make();
        if shape.summary.is_some() {
            self.given_summaries
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .push(exposed.as_str().into());
        }
        catalog.buckets.insert(exposed, shape);
        true
    }

    /// Makes the histogram family `name` a summary whose quantiles (already checked) the caller
    /// sets; `false` when the family already has its shape.
    pub(crate) fn set_given_summary(&self, name: &str, quantiles: &[f64]) -> bool {
        self.set_shape(name, || self.settings.buckets.given_summary(quantiles))
    }

    /// Records HELP text for `name`; units other than counts are appended in brackets. A
    /// histogram described in seconds gets second-scale default buckets.
    pub(crate) fn describe(&self, name: &KeyName, unit: Option<Unit>, description: &SharedString) {
        let mut exposed = String::new();
        if !naming::push_metric_name(&mut exposed, self.settings.prefix.as_deref(), name.as_str()) {
            return;
        }
        let mut text = String::with_capacity(description.len());
        naming::push_help(&mut text, description);
        if let Some(unit) = unit.filter(|u| *u != Unit::Count) {
            text.push_str(" [");
            text.push_str(unit.as_str());
            text.push(']');
        }
        let mut catalog = self.catalog();
        let scale = match unit {
            Some(Unit::Seconds) => Scale::Seconds,
            Some(Unit::Bytes) => Scale::Bytes,
            _ => Scale::Unknown,
        };
        // Once a family: a crate describing on every call says it once. Buckets given at run
        // time are the caller's choice, whatever the unit.
        let known = scale == Scale::Unknown
            || catalog.units.insert(exposed.clone(), scale) == Some(scale)
            || catalog.buckets.contains_key(&exposed);
        if !known {
            // Described after its first series took its buckets: they cannot follow the unit any
            // more (its series hold them), so say so rather than show seconds in millisecond
            // buckets under a HELP that says seconds.
            let taken = catalog
                .families
                .get(&exposed)
                .and_then(|f| f.shape.as_ref());
            if let Some(taken) = taken {
                let wanted = self
                    .settings
                    .buckets
                    .shape_for(name.as_str(), &exposed, scale);
                if wanted.bounds != taken.bounds && taken.summary.is_none() {
                    self.drops.count(DropReason::LateUnit);
                    #[cfg(all(feature = "push", not(target_arch = "wasm32")))]
                    tracing::warn!(
                        family = %exposed,
                        "a histogram's unit was described after it first recorded: its buckets \
                         stay the ones it took, not the unit's; describe it before recording \
                         (or give it buckets with bucket_overrides)"
                    );
                }
            }
        }
        catalog.pending.push(Pending::Help(exposed, text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashSet;
    use crate::recorder::storage::GaugeCell;
    use metrics::CounterFn;

    fn index(toml: &str) -> SeriesIndex {
        let config = crate::MetricsConfig::from_toml_str(toml).unwrap();
        SeriesIndex::new(&config.recorder, &config.reserved())
    }

    fn key(id: usize) -> Key {
        Key::from_parts("idle_total", vec![Label::new("id", id.to_string())])
    }

    fn held(index: &SeriesIndex) -> usize {
        let tables = index.shards.iter().map(|s| {
            let s = s.read().unwrap();
            s.counters.len() + s.gauges.len() + s.histograms.len()
        });
        tables.sum()
    }

    fn render(index: &SeriesIndex, now: u32) -> String {
        let mut out = String::new();
        index.walk_at(now, &mut crate::encoding::text::Text(&mut out));
        out
    }

    /// A label a sink sets is renamed `exported_<name>`, and prefixed again while that name is
    /// taken by the series' own labels or a global one: nothing is dropped, no name is twice.
    #[test]
    fn clashing_labels_take_the_next_free_exported_name() {
        let push = index(
            "global_labels = { exported_region = \"g\" }\n\
             [push]\nurl = \"http://127.0.0.1:1\"\njob = \"j\"\ngrouping = { region = \"r\" }",
        );
        let labels = [("job", "a"), ("exported_job", "b"), ("region", "c")];
        let key = Key::from_parts(
            "clash_total",
            labels.map(|(k, v)| Label::new(k, v)).to_vec(),
        );
        push.series::<CounterCell>(&key).increment(1);
        let text = render(&push, 0);
        assert!(
            text.contains(
                "clash_total{exported_exported_job=\"a\",exported_exported_region=\"c\",\
                 exported_job=\"b\",exported_region=\"g\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("observer_metrics_dropped_total"), "{text}");
        // Without a sink, the labels stay as they are.
        let plain = index("");
        plain.series::<CounterCell>(&key).increment(1);
        let text = render(&plain, 0);
        assert!(
            text.contains("clash_total{exported_job=\"b\",job=\"a\",region=\"c\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn idle_series_leave_the_tables_and_free_their_place_under_the_limit() {
        let index = index("idle_timeout_secs = 10\nmax_series_per_metric = 3");
        for id in 0..3 {
            index.series::<CounterCell>(&key(id)).increment(1);
        }
        let kept = index.series::<CounterCell>(&key(0));
        assert_eq!(held(&index), 3);
        // Seen at 0; still there at 9; gone at 10, except the one a caller holds.
        render(&index, 0);
        assert_eq!(render(&index, 9).matches("idle_total{").count(), 3);
        let text = render(&index, 10);
        assert!(!text.contains("idle_total"), "{text}");
        assert_eq!(held(&index), 1);
        // Two places are free again: new label sets are series, not overflow.
        for id in 3..5 {
            index.series::<CounterCell>(&key(id)).increment(1);
        }
        kept.increment(1);
        let text = render(&index, 11);
        assert!(text.contains("idle_total{id=\"0\"} 2\n"), "{text}");
        assert!(text.contains("idle_total{id=\"4\"} 1\n"), "{text}");
        assert!(!text.contains("otel_metric_overflow"), "{text}");
        assert_eq!(index.drops.cell(DropReason::CardinalityLimit).cell.get(), 0);
    }

    #[test]
    fn a_removed_series_leaves_at_once_and_comes_back_from_zero() {
        let index = index("max_series_per_metric = 2");
        // Removed before any render (still pending) and after one.
        index.series::<CounterCell>(&key(0)).increment(5);
        assert!(index.remove::<CounterCell>(&key(0)));
        index.series::<CounterCell>(&key(1)).increment(7);
        render(&index, 0);
        assert!(index.remove::<CounterCell>(&key(1)));
        assert!(!index.remove::<CounterCell>(&key(1)), "removed twice");
        let text = render(&index, 0);
        assert!(!text.contains("idle_total"), "{text}");
        assert_eq!(held(&index), 0);
        // Their places under the limit are free, and a key seen again starts from zero.
        let again = index.series::<CounterCell>(&key(0));
        again.increment(1);
        index.series::<CounterCell>(&key(2)).increment(1);
        let text = render(&index, 0);
        assert!(text.contains("idle_total{id=\"0\"} 1\n"), "{text}");
        assert!(!text.contains("otel_metric_overflow"), "{text}");
        // A held series is kept: its handle must keep counting.
        assert!(!index.remove::<CounterCell>(&key(0)));
        again.increment(1);
        assert!(render(&index, 0).contains("idle_total{id=\"0\"} 2\n"));
        // Another kind's series of the same text is not this one.
        assert!(!index.remove::<GaugeCell>(&key(2)));
    }

    #[test]
    fn an_idle_overflow_series_is_hidden_and_shows_again_when_touched() {
        let index = index("idle_timeout_secs = 10\nmax_series_per_metric = 1");
        index.series::<CounterCell>(&key(0)).increment(1);
        index.series::<CounterCell>(&key(1)).increment(1);
        let overflow = "idle_total{otel_metric_overflow=\"true\"} 1\n";
        assert!(render(&index, 0).contains(overflow));
        assert!(!render(&index, 10).contains("idle_total"));
        // The freed place goes to the next label set; the one after overflows again.
        index.series::<CounterCell>(&key(2)).increment(1);
        index.series::<CounterCell>(&key(3)).increment(1);
        let text = render(&index, 11);
        assert!(text.contains("idle_total{id=\"2\"} 1\n"), "{text}");
        assert!(
            text.contains("idle_total{otel_metric_overflow=\"true\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn the_facade_hashes_keys_as_the_index_does() {
        // Else every lookup takes the slower way (writing the key's text): still right, slower.
        assert!(key_hash_is_series_hash());
    }

    proptest::proptest! {
        #[test]
        fn any_key_finds_its_one_series_again_in_any_label_order(
            name in "[a-z._]{1,6}",
            labels in proptest::collection::vec(("[a-z_.]{0,3}", "[a\"\\\\\n]{0,3}"), 0..4),
            global in proptest::bool::ANY,
        ) {
            let index = index(if global { "[global_labels]\nb = \"g\"" } else { "" });
            let make = |labels: &[(String, String)]| {
                let labels: Vec<Label> = labels.iter().map(|(k, v)| Label::new(k.clone(), v.clone())).collect();
                Key::from_parts(name.clone(), labels)
            };
            let key = make(&labels);
            let mut reversed = labels.clone();
            reversed.reverse();
            let unique = labels.iter().map(|l| &l.0).collect::<HashSet<_>>().len() == labels.len();
            let first = index.series::<CounterCell>(&key).0.expect("a series");
            let again = index.series::<CounterCell>(&key).0.expect("a series");
            proptest::prop_assert!(Arc::ptr_eq(&first, &again));
            if unique {
                let other = index.series::<CounterCell>(&make(&reversed)).0.expect("a series");
                proptest::prop_assert!(Arc::ptr_eq(&first, &other), "{} / {}", first.text, other.text);
            }
            proptest::prop_assert_eq!(held(&index), 1);
        }
    }

    #[test]
    fn keys_that_render_alike_share_one_series_and_one_entry() {
        let index = index("prefix = \"app\"");
        let a = Key::from_parts("a.b", vec![Label::new("y", "1"), Label::new("x", "2")]);
        let b = Key::from_parts("a_b", vec![Label::new("x", "2"), Label::new("y", "1")]);
        index.series::<CounterCell>(&a).increment(1);
        index.series::<CounterCell>(&b).increment(2);
        assert_eq!(held(&index), 1);
        assert!(render(&index, 0).contains("app_a_b{x=\"2\",y=\"1\"} 3\n"));
    }
}
