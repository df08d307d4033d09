//! How `OBSERVER_METRICS_*` values are written (`1,5,10`, `k=v,k=v`, milliseconds): the parsers
//! each layer's env twins share. The error is the reason, which the config names the variable in.

use std::collections::BTreeMap;

/// `1,5,10` as numbers; the error is the reason.
pub(crate) fn numbers(value: &str) -> Result<Vec<f64>, &'static str> {
    value
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| "expected numbers separated by commas")
}

#[cfg(feature = "push")]
pub(crate) fn millis(v: &str) -> Result<u64, &'static str> {
    v.trim().parse::<u64>().map_err(|_| "expected milliseconds")
}

/// `true` / `false`.
#[cfg(feature = "push")]
pub(crate) fn flag(value: &str) -> Result<bool, &'static str> {
    value
        .trim()
        .parse::<bool>()
        .map_err(|_| "expected true or false")
}

/// `a,b*,*c` as names, empty entries left out (an empty value is no names).
pub(crate) fn names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `k=v,k=v` merged into `map`.
pub(crate) fn pairs(value: &str, map: &mut BTreeMap<String, String>) -> Result<(), &'static str> {
    for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=').ok_or("expected k=v,k=v")?;
        map.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(())
}

/// `value`, trimmed, parsed as a `T`; `reason` when it is not one.
pub(crate) fn parsed<T: std::str::FromStr>(
    value: &str,
    reason: &'static str,
) -> Result<T, &'static str> {
    value.trim().parse().map_err(|_| reason)
}
