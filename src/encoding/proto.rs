//! Protobuf's wire format, as far as the hand-written encoders need it (the `MetricFamily`
//! exposition and remote write's `WriteRequest`): varints, keys, length-delimited fields, doubles,
//! and a native histogram's fields, which both messages carry under different numbers.

// On wasm only remote write is built, and it writes varints alone.
#![cfg_attr(target_arch = "wasm32", allow(dead_code))]

/// How many bytes `v` takes as a varint.
#[cfg(feature = "remote-write")]
pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A field's key: its number and wire type (0 varint, 1 fixed64, 2 length-delimited).
pub(crate) fn put_tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(out, (field << 3) | wire);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_tag(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(crate) fn put_double(out: &mut Vec<u8>, field: u64, v: f64) {
    put_tag(out, field, 1);
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// A signed varint's zigzag form (`sint32`, `sint64`).
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
pub(crate) use native::{put_native, NativeFields};

#[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
mod native {
    use super::{put_bytes, put_double, put_tag, put_varint, zigzag};
    use crate::recorder::native::State;

    /// Where a message keeps a native histogram's fields: client_model's `Histogram` (the
    /// exposition) and remote write's `Histogram` number them apart.
    pub(crate) struct NativeFields {
        pub(crate) schema: u64,
        pub(crate) zero_threshold: u64,
        pub(crate) zero_count: u64,
        pub(crate) negative_span: u64,
        pub(crate) negative_delta: u64,
        pub(crate) positive_span: u64,
        pub(crate) positive_delta: u64,
    }

    impl NativeFields {
        /// client_model's `Histogram` (`io.prometheus.client`).
        pub(crate) const EXPOSITION: NativeFields = NativeFields {
            schema: 5,
            zero_threshold: 6,
            zero_count: 7,
            negative_span: 9,
            negative_delta: 10,
            positive_span: 12,
            positive_delta: 13,
        };

        /// Remote write 1.0's `Histogram` (`prometheus.Histogram`, `prompb/types.proto`).
        #[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
        pub(crate) const REMOTE_WRITE: NativeFields = NativeFields {
            schema: 4,
            zero_threshold: 5,
            zero_count: 6,
            negative_span: 8,
            negative_delta: 9,
            positive_span: 11,
            positive_delta: 12,
        };
    }

    /// A native histogram's schema (sint32), zero threshold, zero count, and for each sign its
    /// spans (`BucketSpan { sint32 offset = 1; uint32 length = 2; }`) and deltas (sint64, one
    /// field each: parsers take that form of a repeated field in proto2 and proto3 alike).
    pub(crate) fn put_native(
        out: &mut Vec<u8>,
        fields: &NativeFields,
        state: &State,
        zero_threshold: f64,
    ) {
        put_tag(out, fields.schema, 0);
        put_varint(out, zigzag(i64::from(state.schema)));
        put_double(out, fields.zero_threshold, zero_threshold);
        put_tag(out, fields.zero_count, 0);
        put_varint(out, state.zero_count);
        let signs = [
            (&state.negative, fields.negative_span, fields.negative_delta),
            (&state.positive, fields.positive_span, fields.positive_delta),
        ];
        for (run, span_field, delta_field) in signs {
            let (spans, deltas) = run.spans_and_deltas();
            for (offset, length) in spans {
                let mut span = Vec::with_capacity(12);
                put_tag(&mut span, 1, 0);
                put_varint(&mut span, zigzag(i64::from(offset)));
                put_tag(&mut span, 2, 0);
                put_varint(&mut span, u64::from(length));
                put_bytes(out, span_field, &span);
            }
            for delta in deltas {
                put_tag(out, delta_field, 0);
                put_varint(out, zigzag(delta));
            }
        }
    }
}
