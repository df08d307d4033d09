//! Text helpers that keep the wasm module small. Every sort by text in the crate (the series of a
//! family, the labels of a series) goes through [`text_order`]: each instance of the standard sort
//! costs the module about 2.5 KB, and sorts over different element types are different instances.
//! [`find`] searches for a string without the standard two-way searcher (about 2 KB): the texts
//! searched here are URLs, label lists and error codes, short enough for the plain way.

/// The positions of `texts` in ascending order; equal texts keep their order. A sorted run
/// followed by a tail costs a merge, not a full sort.
pub(crate) fn text_order<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<u32> {
    let mut keyed: Vec<(&str, u32)> = texts.zip(0..).collect();
    sort_keyed(&mut keyed);
    keyed.into_iter().map(|(_, at)| at).collect()
}

// Not generic and not inlined: the one instance.
#[inline(never)]
fn sort_keyed(keyed: &mut [(&str, u32)]) {
    keyed.sort_by(|a, b| a.0.cmp(b.0));
}

/// Puts `items[order[i]]` at `i`, following each cycle of the permutation once.
pub(crate) fn permute<T>(items: &mut [T], mut order: Vec<u32>) {
    for start in 0..items.len() {
        let mut at = start;
        loop {
            let from = order[at] as usize;
            // Visited: the place already holds its item.
            order[at] = at as u32;
            if from == start || from == at {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

/// Where `needle` first starts in `haystack`.
#[cfg(any(feature = "push", feature = "pull"))]
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// Whether `needle` occurs in `haystack`.
#[cfg(all(feature = "push", target_arch = "wasm32"))]
pub(crate) fn contains(haystack: &str, needle: &str) -> bool {
    find(haystack, needle).is_some()
}

/// `text` split around the first `needle`, as `str::split_once` does.
#[cfg(any(feature = "push", feature = "pull"))]
pub(crate) fn split_once<'a>(text: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let at = find(text, needle)?;
    Some((&text[..at], &text[at + needle.len()..]))
}

/// Label pairs in a series' order, values unescaped.
#[cfg(any(
    feature = "remote-write",
    all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32"))
))]
pub(crate) type Labels<'a> = Vec<(&'a str, std::borrow::Cow<'a, str>)>;

#[cfg(any(
    feature = "remote-write",
    all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32"))
))]
/// `a="x",b="y\"z"` as pairs, values unescaped.
pub(crate) fn parse_labels(mut rest: &str) -> Option<Labels<'_>> {
    let mut pairs = Vec::new();
    while !rest.is_empty() {
        let (name, after) = split_once(rest, "=\"")?;
        let mut escaped = false;
        let mut end = None;
        for (i, b) in after.bytes().enumerate() {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end?;
        let raw = &after[..end];
        let value = match raw.contains('\\') {
            true => std::borrow::Cow::Owned(unescape(raw)),
            false => std::borrow::Cow::Borrowed(raw),
        };
        pairs.push((name, value));
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    Some(pairs)
}

/// `value` with the text format's escapes (`\\`, `\n`, `\"`) undone; a lone `\` at the end is
/// dropped.
#[cfg(any(
    feature = "remote-write",
    all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32"))
))]
pub(crate) fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "remote-write")]
    #[test]
    fn unescape_undoes_the_text_formats_escapes() {
        assert_eq!(unescape(r#"a\nb \\ c \"d\""#), "a\nb \\ c \"d\"");
        assert_eq!(unescape("end\\"), "end");
    }

    proptest::proptest! {
        #[cfg(feature = "push")]
        #[test]
        fn search_agrees_with_the_standard_one(text in "[ab:/]{0,12}", needle in "[ab:/]{0,3}") {
            proptest::prop_assert_eq!(find(&text, &needle), text.find(needle.as_str()));
            proptest::prop_assert_eq!(split_once(&text, &needle), text.split_once(needle.as_str()));
        }


        #[test]
        fn permuting_by_the_order_sorts_stably(
            texts in proptest::collection::vec("[a-c]{0,3}", 0..40),
            sorted_prefix in 0usize..40,
        ) {
            // A sorted run then a tail, as renders meet it; duplicates tell stable from not.
            let mut texts = texts;
            let cut = sorted_prefix.min(texts.len());
            texts[..cut].sort();
            let mut items: Vec<(String, usize)> = texts.iter().cloned().zip(0..).collect();
            let order = text_order(texts.iter().map(String::as_str));
            permute(&mut items, order);
            let mut want: Vec<(String, usize)> = texts.iter().cloned().zip(0..).collect();
            want.sort_by(|a, b| a.0.cmp(&b.0));
            proptest::prop_assert_eq!(items, want);
        }
    }
}
