//! The protobuf of remote write 1.0, written by hand (five message types, no schema compiler):
//! `WriteRequest { repeated TimeSeries timeseries = 1; }`,
//! `TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }`,
//! `Label { string name = 1; string value = 2; }`, `Sample { double value = 1; int64 timestamp = 2; }`;
//! and snappy's block format around it. Natively a series may carry native histograms instead of
//! samples: `TimeSeries { repeated Histogram histograms = 4; }` (see [`NativeBytes`]).

use crate::encoding::proto::{put_varint, varint_len};

/// One series of a request: its labels, already encoded (`labels` fields, sorted by name as raw
/// bytes, `__name__` among them), and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeSeries<'a> {
    pub(crate) labels: &'a [u8],
    pub(crate) samples: Samples,
    /// Set for a native histogram series: each sample is written as a `Histogram`, its value
    /// saying which (see [`NativeBytes`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) native: Option<&'a NativeBytes>,
}

impl<'a> TimeSeries<'a> {
    /// A series of plain samples.
    pub(crate) fn floats(labels: &'a [u8], samples: Samples) -> Self {
        TimeSeries {
            labels,
            samples,
            #[cfg(not(target_arch = "wasm32"))]
            native: None,
        }
    }
}

/// A native histogram series' `Histogram` fields but the timestamp, made once a write: `full`, as
/// it stands, and `empty`, its schema and zero threshold alone (the `0` a new series gets first).
/// A sample of such a series is written as `empty` when its value is 0, as a stale marker (`sum`
/// the stale NaN, as Prometheus ends a histogram series) when it is the stale NaN, else as `full`.
///
/// `Histogram { uint64 count_int = 1; double sum = 3; sint32 schema = 4; double zero_threshold =
/// 5; uint64 zero_count_int = 6; repeated BucketSpan negative_spans = 8; repeated sint64
/// negative_deltas = 9; repeated BucketSpan positive_spans = 11; repeated sint64 positive_deltas =
/// 12; int64 timestamp = 15; }`
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NativeBytes {
    pub(crate) full: Vec<u8>,
    pub(crate) empty: Vec<u8>,
}

#[cfg(not(target_arch = "wasm32"))]
impl NativeBytes {
    /// What a stale marker of a native histogram series needs: nothing of its buckets.
    pub(crate) const ENDED: NativeBytes = NativeBytes {
        full: Vec::new(),
        empty: Vec::new(),
    };

    /// The fields written for a sample of `value`.
    fn fields(&self, value: f64) -> &[u8] {
        const STALE_SUM: [u8; 9] = {
            let bits = super::STALE_NAN.to_le_bytes();
            [
                0x19, bits[0], bits[1], bits[2], bits[3], bits[4], bits[5], bits[6], bits[7],
            ]
        };
        if value.to_bits() == super::STALE_NAN {
            &STALE_SUM
        } else if value == 0.0 {
            &self.empty
        } else {
            &self.full
        }
    }

    /// The `Histogram` message of a sample: its fields, then the timestamp (field 15).
    fn message_len(&self, value: f64, timestamp: i64) -> usize {
        self.fields(value).len() + 1 + varint_len(timestamp as u64)
    }
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

pub(super) fn series_len(series: &TimeSeries<'_>) -> usize {
    let samples: usize = series
        .samples
        .as_slice()
        .iter()
        .map(|&(_v, t)| {
            #[cfg(not(target_arch = "wasm32"))]
            let len = match series.native {
                Some(native) => native.message_len(_v, t),
                None => sample_len(t),
            };
            #[cfg(target_arch = "wasm32")]
            let len = sample_len(t);
            1 + varint_len(len as u64) + len
        })
        .sum();
    series.labels.len() + samples
}

/// The protobuf `WriteRequest` of `series`, uncompressed.
pub(crate) fn write_request(series: &[TimeSeries<'_>]) -> Vec<u8> {
    let total: usize = series
        .iter()
        .map(|s| {
            let len = series_len(s);
            1 + varint_len(len as u64) + len
        })
        .sum();
    let mut out = Vec::with_capacity(total);
    for s in series {
        put_series(&mut out, s);
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// Appends one `timeseries` field: the encoded labels, then the samples (or histograms).
pub(super) fn put_series(out: &mut Vec<u8>, series: &TimeSeries<'_>) {
    put_message(out, 0x0a, series_len(series), |out| {
        out.extend_from_slice(series.labels);
        for &(value, timestamp) in series.samples.as_slice() {
            #[cfg(not(target_arch = "wasm32"))]
            if let Some(native) = series.native {
                let len = native.message_len(value, timestamp);
                put_message(out, 0x22, len, |out| {
                    out.extend_from_slice(native.fields(value));
                    out.push(0x78);
                    put_varint(out, timestamp as u64);
                });
                continue;
            }
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
