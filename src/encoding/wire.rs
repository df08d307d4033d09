//! What both sinks put on the wire: the text format's content type and gzip.

#[cfg(not(target_arch = "wasm32"))]
use std::io::Write;

/// The content type of text format 0.0.4, for pushes and scrapes alike.
pub(crate) const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `body` compressed with gzip (fast level: exposition text compresses well at any level). Native
/// only: the wasm build leaves compression out (it weighs on the module, and a page or a worker
/// pushes little).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn gzip(body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    encoder.write_all(body.as_ref()).expect("write to a Vec");
    encoder.finish().expect("write to a Vec")
}

/// Whether an `Accept-Encoding` value accepts gzip (`gzip` or `*`, with a q-value above 0).
#[cfg(all(feature = "pull", not(target_arch = "wasm32")))]
pub(crate) fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|part| {
        let mut pieces = part.split(';');
        let coding = pieces.next().unwrap_or("").trim();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(1.0, |q| q.trim().parse::<f64>().unwrap_or(0.0));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
    })
}

#[cfg(all(test, feature = "pull"))]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
    }
}
