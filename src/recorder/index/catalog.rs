//! Registration's side of the index: what each family is (type, origin, size, overflow series,
//! buckets) and the series registered since the last render.

use std::sync::Arc;

use super::exposition::{Kind, Ratio};
use super::shard::Entry;
use super::HISTOGRAM_SUFFIXES;
use crate::hash::HashMap;
use crate::recorder::buckets::Scale;
use crate::recorder::storage::HistogramShape;
use crate::recorder::DropReason;

/// Who put a family in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Registered by a caller.
    Caller,
    /// A name a sink's receiver exports itself ([`Reserved::families`]); a caller may register it
    /// with that type only.
    Reserved,
    /// The recorder's own; a caller may not register it.
    Internal,
}

/// What registration hands a render through the catalog.
#[derive(Debug)]
pub(super) enum Pending {
    Series(Entry),
    Ratio {
        family: String,
        text: Box<str>,
        ratio: Ratio,
    },
    Help(String, String),
}

/// What registration knows of a family.
#[derive(Debug)]
pub(super) struct FamilyInfo {
    pub(super) kind: Kind,
    pub(super) origin: Origin,
    /// Holds derived ratios, so a plain gauge cannot join it.
    pub(super) ratio: bool,
    /// Series counted against `max_series_per_metric` (the overflow series is not).
    pub(super) len: usize,
    /// The series new label sets fold into once the family is full.
    pub(super) overflow: Option<Entry>,
    /// A histogram family's buckets, fixed by its first series.
    pub(super) shape: Option<Arc<HistogramShape>>,
}

impl FamilyInfo {
    pub(super) fn new(kind: Kind, origin: Origin) -> Self {
        FamilyInfo {
            kind,
            origin,
            ratio: false,
            len: 0,
            overflow: None,
            shape: None,
        }
    }
}

/// Registration's side of the index.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    pub(super) families: HashMap<String, FamilyInfo>,
    /// Exposition names described with `Unit::Seconds` or `Unit::Bytes`.
    pub(super) units: HashMap<String, Scale>,
    /// Buckets given at run time for a family by its exposition name, ahead of every config rule.
    pub(super) buckets: HashMap<String, Arc<HistogramShape>>,
    /// Registered since the last render.
    pub(super) pending: Vec<Pending>,
}

impl Catalog {
    /// Claims `name` in `families` for a family of `kind` (creating it), or says why it cannot be
    /// had. Takes the map alone so the caller can hold the catalog's other parts meanwhile.
    pub(super) fn claim_in<'f>(
        families: &'f mut HashMap<String, FamilyInfo>,
        name: &str,
        kind: Kind,
    ) -> Result<&'f mut FamilyInfo, DropReason> {
        // Two lookups rather than one `get_mut`: the borrow checker cannot yet see that the early
        // return ends the first borrow.
        if let Some(family) = families.get(name) {
            return match (family.origin, family.kind == kind) {
                (Origin::Internal, _) | (Origin::Reserved, false) => Err(DropReason::ReservedName),
                (_, false) => Err(DropReason::TypeConflict),
                (_, true) => Ok(families.get_mut(name).expect("checked above")),
            };
        }
        let is_histogram = |n: &str| {
            families
                .get(n)
                .is_some_and(|f| matches!(f.kind, Kind::Histogram | Kind::Summary))
        };
        let owned_by_histogram = HISTOGRAM_SUFFIXES
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(is_histogram));
        let shadows_family = kind == Kind::Histogram
            && HISTOGRAM_SUFFIXES
                .iter()
                .any(|s| families.contains_key(&format!("{name}{s}")));
        if owned_by_histogram || shadows_family {
            return Err(DropReason::NameClash);
        }
        Ok(families
            .entry(name.to_owned())
            .or_insert(FamilyInfo::new(kind, Origin::Caller)))
    }
}
