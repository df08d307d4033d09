//! Naming rules: how whatever the `metrics` facade accepts becomes names and text that Prometheus
//! text format 0.0.4 and a Pushgateway 1.5.1 accept.
//!
//! Every rule here is total and deterministic: it never fails and maps equal input to equal output.
//! Inputs that cannot be made valid (an empty name) return `None`, and the caller drops the series
//! and counts it (see [`DropReason`](crate::recorder::DropReason)).
//!
//! | input | rule |
//! |---|---|
//! | metric name with a character outside `[a-zA-Z0-9_:]` (`.`, `-`, space, unicode) | each such character becomes `_` |
//! | metric or label name starting with a digit | `_` is put in front |
//! | metric name starting with `__` (reserved) | leading underscores are cut to one |
//! | empty metric name | series dropped |
//! | label name with a character outside `[a-zA-Z0-9_]` (including `:`) | each such character becomes `_` |
//! | label name starting with `__` (reserved) | leading underscores are cut to one: `__name__` becomes `_name__` |
//! | empty label name | label dropped |
//! | label values | kept exactly; `\`, `"` and newline are escaped as `\\`, `\"`, `\n` |
//! | HELP text | `\` and newline escaped as `\\` and `\n` |

use std::borrow::Cow;

/// A metric name valid for text format 0.0.4, `[a-zA-Z_:][a-zA-Z0-9_:]*`, and not reserved (no
/// leading `__`). `None` when `raw` is empty.
pub(crate) fn metric_name(raw: &str) -> Option<String> {
    metric_name_cow(raw).map(Cow::into_owned)
}

/// [`metric_name`] without an allocation when `raw` is already valid, the common case.
pub(crate) fn metric_name_cow(raw: &str) -> Option<Cow<'_, str>> {
    let valid = raw.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && !raw.starts_with("__")
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
    if valid {
        return Some(Cow::Borrowed(raw));
    }
    let mut name = sanitize(raw, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')?;
    cut_reserved_underscores(&mut name);
    Some(Cow::Owned(name))
}

/// Appends the metric name of `raw` under `prefix` (`{prefix}_{raw}`), made valid as
/// [`metric_name`] makes it, without a temporary string. Returns false (appending nothing) when
/// `raw` is empty.
pub(crate) fn push_metric_name(out: &mut String, prefix: Option<&str>, raw: &str) -> bool {
    if raw.is_empty() {
        return false;
    }
    let start = out.len();
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    match prefix {
        Some(p) => {
            out.push_str(p);
            out.push('_');
        }
        None if raw.starts_with(|c: char| c.is_ascii_digit()) => out.push('_'),
        None => {}
    }
    if raw.bytes().all(|b| allowed(b as char)) {
        out.push_str(raw);
    } else {
        out.extend(raw.chars().map(|c| if allowed(c) { c } else { '_' }));
    }
    let underscores = out[start..].bytes().take_while(|&b| b == b'_').count();
    if underscores > 1 {
        out.drain(start..start + underscores - 1);
    }
    true
}

/// Names starting with `__` are reserved for Prometheus' own use: keep one leading underscore.
fn cut_reserved_underscores(name: &mut String) {
    let underscores = name.bytes().take_while(|&b| b == b'_').count();
    if underscores > 1 {
        name.drain(..underscores - 1);
    }
}

/// A label name valid for text format 0.0.4 and not reserved: `[a-zA-Z_][a-zA-Z0-9_]*`, never
/// starting with `__`. `None` when `raw` is empty.
pub(crate) fn label_name(raw: &str) -> Option<String> {
    let mut name = sanitize(raw, |c| c.is_ascii_alphanumeric() || c == '_')?;
    cut_reserved_underscores(&mut name);
    Some(name)
}

/// Whether `name` is a label name no rule changes: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
pub(crate) fn is_plain_label_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !name.starts_with("__")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// [`label_name`] without an allocation when `raw` is already valid, the common case.
pub(crate) fn label_name_cow(raw: &str) -> Option<Cow<'_, str>> {
    if is_plain_label_name(raw) {
        Some(Cow::Borrowed(raw))
    } else {
        label_name(raw).map(Cow::Owned)
    }
}

/// Whether `name` is already a valid metric name, so that a config can refuse rather than rename.
pub(crate) fn is_valid_metric_name(name: &str) -> bool {
    metric_name(name).as_deref() == Some(name)
}

/// Whether `name` is already a valid, unreserved label name.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    is_plain_label_name(name)
}

fn sanitize(raw: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(raw.len() + 1);
    if raw.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(raw.chars().map(|c| if allowed(c) { c } else { '_' }));
    Some(out)
}

/// Appends `value` escaped for use between the quotes of a label value.
pub(crate) fn push_label_value(out: &mut String, value: &str) {
    push_escaped(out, value, true);
}

/// Appends `text` escaped for a `# HELP` line.
pub(crate) fn push_help(out: &mut String, text: &str) {
    push_escaped(out, text, false);
}

/// Whether a label value is written as it is, without escapes.
fn needs_no_escape(value: &str) -> bool {
    !value.bytes().any(|b| b == b'\\' || b == b'\n' || b == b'"')
}

/// `text` after `value` escaped as [`push_label_value`] writes it and the closing quote, or
/// `None` when `text` does not start so.
pub(crate) fn strip_label_value<'t>(text: &'t str, value: &str) -> Option<&'t str> {
    if needs_no_escape(value) {
        return text.strip_prefix(value)?.strip_prefix('"');
    }
    let mut escaped = String::with_capacity(value.len() + 4);
    push_label_value(&mut escaped, value);
    text.strip_prefix(escaped.as_str())?.strip_prefix('"')
}

fn push_escaped(out: &mut String, text: &str, quote: bool) {
    let needs = |b: u8| b == b'\\' || b == b'\n' || (quote && b == b'"');
    if !text.bytes().any(needs) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// `name="v"` for each of `values`, rendered once for a family's lines (a histogram's `le`, a
/// summary's `quantile`).
pub(crate) fn number_labels<'v>(
    name: &'v str,
    values: &'v [f64],
) -> impl Iterator<Item = Box<str>> + 'v {
    values.iter().map(move |&v| {
        let mut s = format!("{name}=\"");
        push_f64(&mut s, v);
        s.push('"');
        s.into_boxed_str()
    })
}

/// Appends a sample value the way Go's parser reads it: `NaN`, `+Inf`, `-Inf`, integers without a
/// fraction, otherwise the shortest decimal that round-trips.
pub(crate) fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

/// A number shown the way [`push_f64`] writes it (`1`, `0.25`, `NaN`, `+Inf`), for messages:
/// one float formatter in the build instead of two (core's weighs about 20 KB in the wasm module).
#[derive(Clone, Copy)]
pub(crate) struct Num(pub(crate) f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        push_f64(&mut s, self.0);
        f.write_str(&s)
    }
}

/// A list of numbers shown as `[1, 5, 10]` (see [`Num`]).
pub(crate) struct Nums<'a>(pub(crate) &'a [f64]);

/// A value as a configuration error shows it, as `Debug` would: text quoted and escaped, numbers
/// bare. Not `Debug` itself, whose string escaping and list builders weigh on the wasm module.
pub(crate) trait Shown {
    /// The value as a message shows it.
    fn shown(&self) -> String;
}

impl Shown for str {
    fn shown(&self) -> String {
        let mut out = String::with_capacity(self.len() + 2);
        out.push('"');
        for c in self.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.extend(c.escape_unicode()),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

impl Shown for String {
    fn shown(&self) -> String {
        self.as_str().shown()
    }
}

impl Shown for std::borrow::Cow<'_, str> {
    fn shown(&self) -> String {
        (**self).shown()
    }
}

impl<T: Shown + ?Sized> Shown for &T {
    fn shown(&self) -> String {
        (**self).shown()
    }
}

macro_rules! shown_as_integer {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                itoa::Buffer::new().format(*self).to_owned()
            }
        }
    )*};
}
shown_as_integer!(u32, u64, usize);

impl Shown for bool {
    fn shown(&self) -> String {
        if *self { "true" } else { "false" }.to_owned()
    }
}

impl Shown for Num {
    fn shown(&self) -> String {
        let mut out = String::new();
        push_f64(&mut out, self.0);
        out
    }
}

impl Shown for Nums<'_> {
    fn shown(&self) -> String {
        let mut out = String::from("[");
        for (at, &v) in self.0.iter().enumerate() {
            if at > 0 {
                out.push_str(", ");
            }
            push_f64(&mut out, v);
        }
        out.push(']');
        out
    }
}

/// Appends an unsigned integer sample value.
pub(crate) fn push_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn metric_names() {
        assert_eq!(metric_name("a.b-c").as_deref(), Some("a_b_c"));
        assert_eq!(metric_name("9lives").as_deref(), Some("_9lives"));
        assert_eq!(metric_name("ns:sub_total").as_deref(), Some("ns:sub_total"));
        assert_eq!(metric_name("héllo").as_deref(), Some("h_llo"));
        assert_eq!(metric_name(""), None);
        assert_eq!(metric_name("__name__").as_deref(), Some("_name__"));
    }

    #[test]
    fn label_names() {
        assert_eq!(label_name("__name__").as_deref(), Some("_name__"));
        assert_eq!(label_name("___").as_deref(), Some("_"));
        assert_eq!(label_name("a:b").as_deref(), Some("a_b"));
        assert_eq!(label_name("1x").as_deref(), Some("_1x"));
        assert_eq!(label_name("_ok").as_deref(), Some("_ok"));
        assert_eq!(label_name(""), None);
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        push_label_value(&mut s, "a\\b\"c\nd\té");
        assert_eq!(s, "a\\\\b\\\"c\\nd\té");
        let mut h = String::new();
        push_help(&mut h, "x\\y\n\"z\"");
        assert_eq!(h, "x\\\\y\\n\"z\"");
    }

    #[test]
    fn floats() {
        let f = |v| {
            let mut s = String::new();
            push_f64(&mut s, v);
            s
        };
        assert_eq!(f(1.0), "1");
        assert_eq!(f(-0.0), "0");
        assert_eq!(f(0.25), "0.25");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(1e300), "1e300");
        assert_eq!(f(1e300).parse::<f64>().unwrap(), 1e300);
    }

    fn valid_metric(s: &str) -> bool {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !s.starts_with("__")
    }

    fn valid_label(s: &str) -> bool {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.starts_with("__")
    }

    proptest! {
        #[test]
        fn pushed_names_are_the_same_names(raw in "\\PC*", prefix in proptest::option::of("[a-z_][a-z0-9_:]{0,6}")) {
            let prefix = prefix.filter(|p| is_valid_metric_name(p));
            let mut out = String::from("x");
            let pushed = push_metric_name(&mut out, prefix.as_deref(), &raw);
            let expected = match &prefix {
                Some(p) if !raw.is_empty() => metric_name(&format!("{p}_{raw}")),
                _ => metric_name(&raw),
            };
            prop_assert_eq!(pushed, expected.is_some());
            prop_assert_eq!(&out[1..], expected.unwrap_or_default());
        }

        #[test]
        fn any_metric_name_becomes_valid(raw in "\\PC*") {
            match metric_name(&raw) {
                Some(n) => { prop_assert!(valid_metric(&n), "{n:?}"); prop_assert_eq!(metric_name(&n), Some(n.clone())); }
                None => prop_assert!(raw.is_empty()),
            }
        }

        #[test]
        fn any_label_name_becomes_valid(raw in "\\PC*") {
            match label_name(&raw) {
                Some(n) => { prop_assert!(valid_label(&n), "{n:?}"); prop_assert_eq!(label_name(&n), Some(n.clone())); }
                None => prop_assert!(raw.is_empty()),
            }
        }

        #[test]
        fn label_value_escaping_round_trips(raw in any::<String>()) {
            let mut s = String::new();
            push_label_value(&mut s, &raw);
            prop_assert!(!s.contains('\n'));
            let mut back = String::new();
            let mut it = s.chars();
            while let Some(c) = it.next() {
                if c == '\\' {
                    match it.next() { Some('n') => back.push('\n'), Some(o) => back.push(o), None => prop_assert!(false) }
                } else {
                    prop_assert!(c != '"');
                    back.push(c);
                }
            }
            prop_assert_eq!(back, raw);
        }
    }
}
