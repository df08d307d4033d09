//! A series' labels as remote write sends them: parsed from the text the recorder keeps for a
//! series (`name{label="value",…}`, values escaped with `\\`, `\"` and `\n`), joined with the
//! producer's `job` and `instance`, sorted, encoded as `Label` fields.

use std::borrow::Cow;

use super::protobuf::{label_len, put_message};
use crate::recorder::walk::Sample;

/// What the `# TYPE` line before a sample said of its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A counter, or a histogram's `_bucket`, `_sum` and `_count` series (a summary's `_sum` and
    /// `_count`): values that only grow from zero, which `increase()` and `rate()` are for.
    Cumulative,
    /// A gauge, or a summary's quantile.
    Gauge,
}

#[cfg(test)]
/// One sample line of the exposition. Its labels are parsed only when asked for: an encoder that
/// knows the series already has them encoded.
#[derive(Debug, PartialEq)]
pub(crate) struct Line<'a> {
    /// `name{labels}`, as the line has it: the series' identity.
    pub(crate) series: &'a str,
    pub(crate) value: f64,
    pub(crate) kind: Kind,
}

use crate::text::parse_labels;
#[cfg(test)]
use crate::text::Labels;

#[cfg(test)]
impl<'a> Line<'a> {
    /// The metric name and the label pairs.
    pub(crate) fn name_and_labels(&self) -> Option<(&'a str, Labels<'a>)> {
        match self.series.split_once('{') {
            Some((name, rest)) => Some((name, parse_labels(rest.strip_suffix('}')?)?)),
            None => Some((self.series, Vec::new())),
        }
    }
}

#[cfg(test)]
/// The sample lines of `text`, each with its family's kind.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let (mut kind, mut summary) = (Kind::Gauge, false);
    text.lines().filter_map(move |line| {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let named = rest.rsplit(' ').next();
            summary = named == Some("summary");
            kind = match named {
                Some("counter" | "histogram" | "summary") => Kind::Cumulative,
                _ => Kind::Gauge,
            };
            return None;
        }
        if line.starts_with('#') || line.is_empty() {
            return None;
        }
        let (series, value) = line.rsplit_once(' ')?;
        let name = series.split('{').next().unwrap_or(series);
        let kind = match summary && !name.ends_with("_sum") && !name.ends_with("_count") {
            // A summary's quantile lines.
            true => Kind::Gauge,
            false => kind,
        };
        let value = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            // Counters and buckets are whole numbers: the integer parse is the quick one.
            v => match v.parse::<u64>() {
                Ok(n) => n as f64,
                Err(_) => v.parse().ok()?,
            },
        };
        Some(Line {
            series,
            value,
            kind,
        })
    })
}

/// The labels a series is written with: `__name__`, its own (the recorder renamed a `job` or
/// `instance` of its own `exported_job` / `exported_instance`), and the producer's `job` and
/// `instance`; empty values left out, sorted by name as raw bytes; encoded as the `labels` fields of
/// a `TimeSeries`, appended to `out`.
pub(super) fn encode_labels(
    out: &mut Vec<u8>,
    name: &str,
    own: &[(&str, &str)],
    job: &str,
    instance: &str,
) {
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(own.len() + 3);
    labels.push(("__name__", name));
    // The recorder renamed a series' own `job` and `instance` at registration.
    labels.extend_from_slice(own);
    labels.push(("job", job));
    labels.push(("instance", instance));
    labels.retain(|(_, v)| !v.is_empty());
    // `str` orders as its bytes do, as receivers want.
    for at in crate::text::text_order(labels.iter().map(|l| l.0)) {
        let (name, value) = labels[at as usize];
        put_message(out, 0x0a, label_len(name, value), |out| {
            for (tag, text) in [(0x0a, name), (0x12, value)] {
                put_message(out, tag, text.len(), |out| {
                    out.extend_from_slice(text.as_bytes())
                });
            }
        });
    }
}

#[cfg(test)]
/// [`encode_labels`] of a text line; `None` for a line this crate's renderer would not write.
pub(super) fn line_labels(line: &Line<'_>, job: &str, instance: &str) -> Option<Vec<u8>> {
    let (name, own) = line.name_and_labels()?;
    let own: Vec<(&str, &str)> = own.iter().map(|(k, v)| (*k, &**v)).collect();
    let mut out = Vec::new();
    encode_labels(&mut out, name, &own, job, instance);
    Some(out)
}

/// [`encode_labels`] of a sample line of the walk.
pub(super) fn sample_labels(out: &mut Vec<u8>, sample: &Sample<'_>, job: &str, instance: &str) {
    let mut own = parse_labels(sample.labels()).unwrap_or_default();
    if let Some(extra) = sample.extra {
        // `le="…"` or `quantile="…"`, written by the recorder: a plain name and a value with
        // nothing to unescape.
        let (name, value) = crate::text::split_once(extra, "=\"").unwrap_or(("le", extra));
        own.push((
            name,
            Cow::Borrowed(value.strip_suffix('"').unwrap_or(value)),
        ));
    }
    let own: Vec<(&str, &str)> = own.iter().map(|(k, v)| (*k, &**v)).collect();
    if sample.suffix.is_empty() {
        encode_labels(out, sample.name, &own, job, instance);
    } else {
        let name = format!("{}{}", sample.name, sample.suffix);
        encode_labels(out, &name, &own, job, instance);
    }
}
