//! The protobuf of remote write 1.0, written by hand (five message types, no schema compiler):
//! `WriteRequest { repeated TimeSeries timeseries = 1; }`,
//! `TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }`,
//! `Label { string name = 1; string value = 2; }`, `Sample { double value = 1; int64 timestamp = 2; }`;
//! and snappy's block format around it.

/// One series of a request: its labels, already encoded (`labels` fields, sorted by name as raw
/// bytes, `__name__` among them), and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeSeries<'a> {
    pub(crate) labels: &'a [u8],
    pub(crate) samples: Samples,
}

/// A series' samples in one write: its value, with a `0` before it the first time and a stale
/// marker after it at the end; at most three, kept inline rather than allocated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Samples {
    items: [(f64, i64); 3],
    len: u8,
}

impl Samples {
    pub(crate) fn one(value: f64, timestamp_ms: i64) -> Self {
        Samples {
            items: [(value, timestamp_ms); 3],
            len: 1,
        }
    }

    /// Adds a sample after the others (the caller keeps them in time order, at most three).
    pub(crate) fn push(&mut self, value: f64, timestamp_ms: i64) {
        self.items[usize::from(self.len)] = (value, timestamp_ms);
        self.len += 1;
    }

    pub(crate) fn as_slice(&self) -> &[(f64, i64)] {
        &self.items[..usize::from(self.len)]
    }
}

pub(super) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field: tag, length, then what `body` writes (exactly `len` bytes).
pub(super) fn put_message(out: &mut Vec<u8>, tag: u8, len: usize, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    put_varint(out, len as u64);
    body(out);
}

pub(super) fn string_field_len(s: &str) -> usize {
    1 + varint_len(s.len() as u64) + s.len()
}

pub(super) fn label_len(name: &str, value: &str) -> usize {
    string_field_len(name) + string_field_len(value)
}

pub(super) fn sample_len(timestamp: i64) -> usize {
    // value: tag + 8 bytes; timestamp: tag + varint (int64 as two's complement).
    1 + 8 + 1 + varint_len(timestamp as u64)
}

pub(super) fn series_len(labels: &[u8], samples: &[(f64, i64)]) -> usize {
    let samples: usize = samples
        .iter()
        .map(|&(_, t)| {
            let len = sample_len(t);
            1 + varint_len(len as u64) + len
        })
        .sum();
    labels.len() + samples
}

/// The protobuf `WriteRequest` of `series`, uncompressed.
pub(crate) fn write_request(series: &[TimeSeries<'_>]) -> Vec<u8> {
    let total: usize = series
        .iter()
        .map(|s| {
            let len = series_len(s.labels, s.samples.as_slice());
            1 + varint_len(len as u64) + len
        })
        .sum();
    let mut out = Vec::with_capacity(total);
    for s in series {
        put_series(&mut out, s.labels, s.samples.as_slice());
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// Appends one `timeseries` field: the encoded `labels`, then the samples.
pub(super) fn put_series(out: &mut Vec<u8>, labels: &[u8], samples: &[(f64, i64)]) {
    put_message(out, 0x0a, series_len(labels, samples), |out| {
        out.extend_from_slice(labels);
        for &(value, timestamp) in samples {
            put_message(out, 0x12, sample_len(timestamp), |out| {
                out.push(0x09);
                out.extend_from_slice(&value.to_bits().to_le_bytes());
                out.push(0x10);
                put_varint(out, timestamp as u64);
            });
        }
    });
}

/// `body` compressed with snappy's block format (not the framed one: receivers refuse it).
pub(crate) fn snappy(body: &[u8]) -> Vec<u8> {
    // Compressing into a buffer of the right size cannot fail.
    snap::raw::Encoder::new()
        .compress_vec(body)
        .unwrap_or_default()
}
