//! Ordering by text. Every sort by text in the crate (the series of a family, the labels of a
//! series) goes through [`text_order`]: each instance of the standard sort costs the wasm module
//! about 2.5 KB, and sorts over different element types are different instances.

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

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
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
