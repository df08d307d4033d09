//! A strict parser of the text format 0.0.4, as Prometheus and the Pushgateway read it: the oracle
//! of the exposition target. It refuses what either would refuse (a bad name or escape, a sample
//! before its `# TYPE`, a family split in two, a series or label twice, a histogram whose `+Inf`
//! bucket is not its `_count`), and returns the samples in order.

use std::collections::{HashMap, HashSet};

/// A sample: its name, its labels as written, its value.
pub type Sample = (String, Vec<(String, String)>, f64);

fn metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("bad value `{text}`")),
    }
}

/// `"…"` at the start of `rest` (after the quote), unescaped; and what follows it.
fn quoted(rest: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &rest[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                other => return Err(format!("bad escape {other:?}")),
            },
            '\n' => return Err("a raw newline in a label value".into()),
            c => out.push(c),
        }
    }
    Err("an unterminated label value".into())
}

fn sample_line(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    if !metric_name(name) {
        return Err(format!("bad metric name `{name}`"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("a label without `=`")?;
            let label = &rest[..eq];
            if !label_name(label) {
                return Err(format!("bad label name `{label}`"));
            }
            let after = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("a label value without quotes")?;
            let (value, after) = quoted(after)?;
            if labels.iter().any(|(l, _)| l == label) {
                return Err(format!("label `{label}` twice"));
            }
            labels.push((label.to_owned(), value));
            rest = match after.strip_prefix(',') {
                Some(next) => next,
                None if after.starts_with('}') => after,
                None => return Err("labels not separated by `,`".into()),
            };
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let v = value(parts.next().unwrap_or_default())?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp `{ts}`"))?;
    }
    if parts.next().is_some() {
        return Err("more after the timestamp".into());
    }
    Ok((name.to_owned(), labels, v))
}

/// The family a sample of `name` belongs to, given the families declared so far.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
            {
                return base;
            }
        }
    }
    name
}

/// Parses `text` strictly; the samples in order, or what is wrong and on which line.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    // Per histogram series (labels without `le`): the `+Inf` bucket and the `_count`.
    let mut inf: HashMap<String, f64> = HashMap::new();
    let mut count: HashMap<String, f64> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let (keyword, rest) = rest
                .split_once(' ')
                .ok_or_else(|| at("a bare comment".into()))?;
            let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            if !metric_name(name) {
                return Err(at(format!("bad metric name `{name}`")));
            }
            match keyword {
                "HELP" => {
                    let mut chars = rest.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
                            return Err(at("bad escape in help".into()));
                        }
                    }
                    if !helps.insert(name.to_owned()) {
                        return Err(at("HELP twice".into()));
                    }
                }
                "TYPE" => {
                    if !matches!(
                        rest,
                        "counter" | "gauge" | "histogram" | "summary" | "untyped"
                    ) {
                        return Err(at(format!("bad type `{rest}`")));
                    }
                    if types.insert(name.to_owned(), rest.to_owned()).is_some() {
                        return Err(at("TYPE twice".into()));
                    }
                }
                _ => return Err(at("an unknown comment".into())),
            }
            if done.contains(name) {
                return Err(at("a family split in two".into()));
            }
            if current.as_deref() != Some(name) {
                if let Some(previous) = current.take() {
                    done.insert(previous);
                }
                current = Some(name.to_owned());
            }
            continue;
        }
        let (name, labels, v) = sample_line(line).map_err(at)?;
        let family = family_of(&name, &types).to_owned();
        if !types.contains_key(&family) {
            return Err(at(format!("a sample of `{family}` before its TYPE")));
        }
        if current.as_deref() != Some(family.as_str()) {
            return Err(at(format!("a sample of `{family}` outside its family")));
        }
        let mut sorted = labels.clone();
        sorted.sort();
        if !series.insert(format!("{name}{sorted:?}")) {
            return Err(at("a series twice".into()));
        }
        if types[&family] == "histogram" {
            let without_le: Vec<_> = sorted.iter().filter(|(l, _)| l != "le").collect();
            let key = format!("{family}{without_le:?}");
            if name.ends_with("_bucket") {
                match labels.iter().find(|(l, _)| l == "le") {
                    None => return Err(at("a bucket without `le`".into())),
                    Some((_, le)) if le == "+Inf" => {
                        inf.insert(key, v);
                    }
                    Some(_) => {}
                }
            } else if name.ends_with("_count") {
                count.insert(key, v);
            }
        }
        samples.push((name, labels, v));
    }
    for (key, c) in &count {
        if inf.get(key) != Some(c) {
            return Err(format!(
                "{key}: `_count` {c} but the `+Inf` bucket {:?}",
                inf.get(key)
            ));
        }
    }
    Ok(samples)
}
