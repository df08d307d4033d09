//! Base64 (RFC 4648) for the two places that need it: a basic-auth header (the standard alphabet,
//! padded) and a Pushgateway `@base64` path segment (the URL-safe alphabet, unpadded). Twenty
//! lines in place of the `base64` crate, whose general engine was 3.7 KB of the wasm module.

/// The standard alphabet, with `=` padding.
pub(crate) const STANDARD: (&[u8; 64], bool) = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    true,
);
/// The URL-safe alphabet, without padding.
pub(crate) const URL_SAFE_NO_PAD: (&[u8; 64], bool) = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    false,
);

/// Appends `input` to `out`, encoded with `(alphabet, padded)`.
pub(crate) fn encode_into(out: &mut String, input: &[u8], (alphabet, padded): (&[u8; 64], bool)) {
    out.reserve(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        // A chunk of k bytes is k + 1 characters; the rest of its four are padding.
        for at in 0..4 {
            if at <= chunk.len() {
                out.push(char::from(alphabet[(n >> (18 - 6 * at) & 63) as usize]));
            } else if padded {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(input: &[u8], alphabet: (&[u8; 64], bool)) -> String {
        let mut out = String::new();
        encode_into(&mut out, input, alphabet);
        out
    }

    /// RFC 4648's test vectors, padded and not.
    #[test]
    fn the_rfc_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in vectors {
            assert_eq!(encoded(input.as_bytes(), STANDARD), want);
            assert_eq!(
                encoded(input.as_bytes(), URL_SAFE_NO_PAD),
                want.trim_end_matches('=')
            );
        }
    }

    /// The two alphabets differ only in their last two characters.
    #[test]
    fn the_alphabets_differ_in_62_and_63() {
        let bytes = [0xfb, 0xff, 0xbf];
        assert_eq!(encoded(&bytes, STANDARD), "+/+/");
        assert_eq!(encoded(&bytes, URL_SAFE_NO_PAD), "-_-_");
        assert_eq!(
            encoded("user:pa:ss".as_bytes(), STANDARD),
            "dXNlcjpwYTpzcw=="
        );
    }
}
