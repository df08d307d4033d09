//! A key as the index finds it: its series text, its hash (the `metrics` facade's own), and the
//! comparison of a key with a stored text piece by piece.

use std::cell::RefCell;

use metrics::{Key, Label};
use rapidhash::v3::RapidSecrets;

use crate::hash::text_hash;
use crate::naming;

/// Appends `{a="x",b="y"}` (nothing for no labels), values escaped.
pub(super) fn push_labels<'a>(out: &mut String, labels: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut first = true;
    for (label, value) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(label);
        out.push_str("=\"");
        naming::push_label_value(out, value);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// The hash of a series: the `metrics` facade's key hash (rapidhash v3 nano over the name, plus
/// for each label the hash of its name xor the hash of its value, summed so that order does not
/// matter), taken over the exposition name and the final labels (raw values). For a key no rule
/// touches that is the hash its `Key` already carries, so a lookup hashes nothing.
pub(super) fn series_hash<'a>(name: &str, labels: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    const NAME: RapidSecrets = RapidSecrets::seed_cpp(0);
    const LABEL: RapidSecrets = RapidSecrets::seed_cpp(1);
    const VALUE: RapidSecrets = RapidSecrets::seed_cpp(2);
    let hash = |text: &str, secrets| text_hash(text.as_bytes(), secrets);
    labels.fold(hash(name, &NAME), |sum, (label, value)| {
        sum.wrapping_add(hash(label, &LABEL) ^ hash(value, &VALUE))
    })
}

/// Whether `metrics`' `Key::get_hash` is [`series_hash`] (checked once per index, so a future
/// `metrics` that hashes keys otherwise only costs speed, never correctness).
pub(super) fn key_hash_is_series_hash() -> bool {
    let key = Key::from_parts(
        "probe_total",
        vec![Label::new("b", "2"), Label::new("a", "1")],
    );
    key.get_hash() == series_hash("probe_total", [("a", "1"), ("b", "2")].into_iter())
}

/// Whether `text` is the series text of a key named `name` with `labels`, already sorted and valid,
/// compared piece by piece instead of writing the key's text.
pub(super) fn text_matches<'a>(
    text: &str,
    name: &str,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
) -> bool {
    let Some(mut rest) = text.strip_prefix(name) else {
        return false;
    };
    let mut first = true;
    for (label, value) in labels {
        let opening = if first { '{' } else { ',' };
        first = false;
        let Some(after) = rest
            .strip_prefix(opening)
            .and_then(|r| r.strip_prefix(label))
            .and_then(|r| r.strip_prefix("=\""))
        else {
            return false;
        };
        let Some(after) = naming::strip_label_value(after, value) else {
            return false;
        };
        rest = after;
    }
    if first {
        rest.is_empty()
    } else {
        rest == "}"
    }
}

thread_local! {
    /// The buffer a lookup writes a key's text into: reused, so a lookup allocates nothing.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `f` with the thread's reused text buffer, or a fresh one when it is in use further up.
#[inline]
pub(super) fn with_scratch<T>(f: impl FnOnce(&mut String) -> T) -> T {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut text) => f(&mut text),
        Err(_) => f(&mut String::new()),
    })
}
