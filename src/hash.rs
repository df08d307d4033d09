//! The crate's one hash function: rapidhash v3 nano, the one the `metrics` facade hashes keys
//! with. Series hashes use it, and so does every hash table of the crate through [`Hashed`], so
//! the wasm module carries one hash function rather than two (hashbrown's default, foldhash, with
//! its seeding, weighs about 3.4 KB there).

use std::hash::{BuildHasher, Hasher};

use rapidhash::v3::{rapidhash_v3_nano_inline, RapidSecrets};

/// A hash table keyed by names, texts or addresses.
pub(crate) type HashMap<K, V> = hashbrown::HashMap<K, V, Hashed>;
/// A set of names, texts or addresses (the index's tests use one).
#[cfg(test)]
pub(crate) type HashSet<T> = hashbrown::HashSet<T, Hashed>;

/// rapidhash v3 nano of `text` with `secrets`.
#[inline]
pub(crate) fn text_hash(text: &[u8], secrets: &RapidSecrets) -> u64 {
    rapidhash_v3_nano_inline::<false, false>(text, secrets)
}

/// The hasher of the crate's hash tables. Seeded with constants, as the facade's key hash is: the
/// series tables already hash keys that way, and these tables hold names and addresses.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hashed;

impl BuildHasher for Hashed {
    type Hasher = TableHasher;

    fn build_hasher(&self) -> TableHasher {
        TableHasher(0)
    }
}

/// See [`Hashed`].
#[derive(Debug)]
pub(crate) struct TableHasher(u64);

impl Hasher for TableHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SECRETS: RapidSecrets = RapidSecrets::seed_cpp(3);
        self.0 = self.0.rotate_left(32) ^ text_hash(bytes, &SECRETS);
    }

    // Single bytes are mixed in without a hash call: the one these tables see is the end mark
    // `str`'s `Hash` writes after a string's bytes, which their hash already covers.
    fn write_u8(&mut self, n: u8) {
        self.0 ^= u64::from(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_tell_texts_and_addresses_apart() {
        let texts: HashSet<String> = (0..10_000).map(|i| format!("family_{i}_total")).collect();
        assert_eq!(texts.len(), 10_000);
        assert!(texts.contains("family_9999_total") && !texts.contains("family_10000_total"));
        let hashes: HashSet<u64> = (0..10_000usize).map(|i| Hashed.hash_one(i * 64)).collect();
        assert_eq!(hashes.len(), 10_000, "addresses 64 bytes apart collide");
    }
}
