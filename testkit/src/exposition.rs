//! Reading and checking a text exposition: `promtool check metrics`, one sample's value.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text`. Panics on a parse error (exit 1); lint remarks such as
/// the plan's `_ms` names (exit 3) are returned, not failures.
pub fn promtool_check(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool must be installed (apt-get install -y prometheus): {e}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        matches!(out.status.code(), Some(0 | 3)) && !report.contains("error while linting"),
        "promtool rejected the exposition ({:?}): {report}\n--- text ---\n{text}",
        out.status.code()
    );
    report
}

/// Every sample line of `text` as `(series, value)`: `series` is `name{labels}` as written.
pub fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().ok()?,
            };
            Some((series.to_owned(), value))
        })
        .collect()
}

/// The value of the sample line whose series is exactly `series` (`name{labels}`), if any.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    samples(text)
        .into_iter()
        .find_map(|(s, value)| (s == series).then_some(value))
}

/// The varint at `bytes[*at..]`, moving `at` past it: enough protobuf to read what a producer
/// sends (the delimited `MetricFamily` exposition, a remote-write `WriteRequest`) in a test.
pub fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let b = bytes[*at];
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}
