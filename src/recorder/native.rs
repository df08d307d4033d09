//! Native histograms: a histogram family named in `native_histogram_metrics` also keeps sparse
//! exponential buckets, as client_golang does, for the protobuf exposition (and the sinks that
//! carry it). Bucket `k` of schema `s` holds the values in `(2^((k-1)/2^s), 2^(k/2^s)]`; values
//! within `zero_threshold` of 0 go to the zero bucket. When more than `max_buckets` buckets are in
//! use, the schema drops by one (each bucket doubles in width, pairs merge), as client_golang does.
//!
//! The buckets of a series are a dense run of counts from its least key to its greatest, one run
//! for positive values and one for negative, under a mutex only its recorders and renders take:
//! an observation is an index and an add.

use std::sync::{Mutex, PoisonError};

/// The finest and the coarsest schema Prometheus takes.
pub(crate) const MAX_SCHEMA: i32 = 8;
pub(crate) const MIN_SCHEMA: i32 = -4;

/// What the series of one native histogram family share.
#[derive(Debug)]
pub(crate) struct NativeShape {
    /// The schema a series starts at: the coarsest whose bucket factor is at most the configured
    /// one.
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) max_buckets: u32,
}

impl NativeShape {
    pub(crate) fn new(bucket_factor: f64, max_buckets: u32, zero_threshold: f64) -> Self {
        NativeShape {
            schema: schema_for(bucket_factor),
            zero_threshold,
            max_buckets,
        }
    }
}

/// The coarsest schema whose buckets grow by at most `factor` from one to the next
/// (client_golang's `pickSchema`): the least `s` with `2^(2^-s) <= factor`.
pub(crate) fn schema_for(factor: f64) -> i32 {
    if factor.is_nan() || factor <= 1.0 {
        return MAX_SCHEMA;
    }
    // -floor(log2(log2(factor))), clamped.
    let schema = -(factor.log2().log2().floor());
    (schema as i32).clamp(MIN_SCHEMA, MAX_SCHEMA)
}

/// The key of the bucket that holds `v` (finite, positive) at `schema`.
pub(crate) fn key_of(v: f64, schema: i32) -> i32 {
    let (frac, exp) = frexp(v);
    if schema > 0 {
        // Bucket i of an octave holds fractions up to 2^(i/2^s) / 2: the least i whose bound is
        // at least `frac`.
        let n = 1i32 << schema;
        let mut lo = 0;
        let mut hi = n;
        while lo < hi {
            let mid = (lo + hi) / 2;
            if bound(mid, schema) < frac {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo + (exp - 1) * n
    } else {
        let mut key = exp;
        if frac == 0.5 {
            key -= 1;
        }
        let shift = -schema;
        (key + (1 << shift) - 1) >> shift
    }
}

/// `2^(i/2^schema) / 2`, the `i`-th fraction bound of an octave at a positive `schema`.
fn bound(i: i32, schema: i32) -> f64 {
    (f64::from(i) / f64::from(1i32 << schema)).exp2() / 2.0
}

/// `(frac, exp)` with `v = frac * 2^exp` and `frac` in `[0.5, 1)`, as Go's `math.Frexp`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (frac, e) = frexp(v * f64::from_bits(0x4350_0000_0000_0000)); // 2^54
        return (frac, e - 54);
    }
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp - 1022)
}

/// One series' native buckets.
#[derive(Debug)]
pub(crate) struct NativeBuckets(Mutex<State>);

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct State {
    pub(crate) schema: i32,
    pub(crate) zero_count: u64,
    pub(crate) positive: Run,
    pub(crate) negative: Run,
}

/// Counts of consecutive keys from `first`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Run {
    pub(crate) first: i32,
    pub(crate) counts: Vec<u64>,
}

impl Run {
    fn add(&mut self, key: i32, n: u64) -> bool {
        if self.counts.is_empty() {
            self.first = key;
            self.counts.push(n);
            return true;
        }
        if key < self.first {
            let grow = (self.first - key) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = key;
        }
        let at = (key - self.first) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        let new = self.counts[at] == 0;
        self.counts[at] += n;
        new
    }

    /// Buckets in use.
    fn used(&self) -> usize {
        self.counts.iter().filter(|&&c| c > 0).count()
    }

    /// The same counts one schema coarser: key `k` goes to `ceil(k / 2)`.
    fn halve(&mut self) {
        if self.counts.is_empty() {
            return;
        }
        let first = (self.first + 1) >> 1;
        let last = (self.first + self.counts.len() as i32) >> 1;
        let mut counts = vec![0; (last - first + 1) as usize];
        for (i, &c) in self.counts.iter().enumerate() {
            let key = self.first + i as i32;
            counts[(((key + 1) >> 1) - first) as usize] += c;
        }
        self.first = first;
        self.counts = counts;
    }

    /// `(offset, length)` spans of the keys in use and the deltas of their counts, as the
    /// protobuf `Histogram` has them: a span's offset is its gap from the previous span's end (the
    /// first's, its start key); each count is given as the difference from the one before.
    pub(crate) fn spans_and_deltas(&self) -> (Vec<(i32, u32)>, Vec<i64>) {
        let (mut spans, mut deltas) = (Vec::new(), Vec::new());
        let mut previous = 0i64;
        let mut next_key: Option<i32> = None;
        for (i, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let key = self.first + i as i32;
            match next_key {
                Some(expected) if key == expected => {
                    if let Some(span) = spans.last_mut() {
                        let span: &mut (i32, u32) = span;
                        span.1 += 1;
                    }
                }
                Some(expected) => spans.push((key - expected, 1)),
                None => spans.push((key, 1)),
            }
            next_key = Some(key + 1);
            deltas.push(count as i64 - previous);
            previous = count as i64;
        }
        (spans, deltas)
    }
}

impl NativeBuckets {
    pub(crate) fn new(shape: &NativeShape) -> Self {
        NativeBuckets(Mutex::new(State {
            schema: shape.schema,
            ..State::default()
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `value` (not NaN) `times` times.
    #[inline]
    pub(crate) fn add(&self, shape: &NativeShape, value: f64, times: u64) {
        let mut state = self.state();
        let magnitude = value.abs();
        if magnitude <= shape.zero_threshold {
            state.zero_count += times;
            return;
        }
        let schema = state.schema;
        // An infinity goes one past the greatest finite bucket, as client_golang puts it.
        let key = match magnitude.is_infinite() {
            true => key_of(f64::MAX, schema) + 1,
            false => key_of(magnitude, schema),
        };
        let run = match value > 0.0 {
            true => &mut state.positive,
            false => &mut state.negative,
        };
        let new = run.add(key, times);
        if new && shape.max_buckets > 0 {
            while state.positive.used() + state.negative.used() > shape.max_buckets as usize
                && state.schema > MIN_SCHEMA
            {
                state.schema -= 1;
                state.positive.halve();
                state.negative.halve();
            }
        }
    }

    /// The buckets now.
    pub(crate) fn snapshot(&self) -> State {
        self.state().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_is_gos() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(3.0), (0.75, 2));
        let (frac, exp) = frexp(f64::MIN_POSITIVE / 4.0);
        assert_eq!((frac, exp), (0.5, -1023));
    }

    #[test]
    fn keys_match_the_bucket_bounds() {
        // Schema 0: bucket k holds (2^(k-1), 2^k].
        assert_eq!(key_of(1.0, 0), 0);
        assert_eq!(key_of(1.5, 0), 1);
        assert_eq!(key_of(2.0, 0), 1);
        assert_eq!(key_of(2.1, 0), 2);
        assert_eq!(key_of(0.3, 0), -1);
        // Schema -1: bucket k holds (4^(k-1), 4^k].
        assert_eq!(key_of(4.0, -1), 1);
        assert_eq!(key_of(5.0, -1), 2);
        // Schema 3: 8 buckets an octave; every key's bounds hold the value.
        for v in [0.001, 0.3, 1.0, 1.09, 1.1, 7.0, 1e6] {
            for schema in [1, 3, 8] {
                let k = key_of(v, schema);
                let width = f64::from(1i32 << schema);
                let (lower, upper) = (
                    (f64::from(k - 1) / width).exp2(),
                    (f64::from(k) / width).exp2(),
                );
                assert!(
                    lower < v * (1.0 + 1e-12) && v <= upper * (1.0 + 1e-12),
                    "{v} at {schema}: {k}"
                );
            }
        }
    }

    #[test]
    fn the_schema_is_the_coarsest_within_the_factor() {
        assert_eq!(schema_for(2.0), 0);
        assert_eq!(schema_for(1.1), 3);
        assert_eq!(schema_for(1.0001), 8);
        assert_eq!(schema_for(65536.0), -4);
    }

    #[test]
    fn too_many_buckets_halve_the_resolution() {
        let shape = NativeShape::new(1.1, 4, 0.0);
        let buckets = NativeBuckets::new(&shape);
        for v in [1.0, 1.2, 1.5, 1.9, 3.0, 7.0] {
            buckets.add(&shape, v, 1);
        }
        let state = buckets.snapshot();
        assert!(state.schema < 3, "{state:?}");
        assert!(state.positive.used() <= 4, "{state:?}");
        assert_eq!(state.positive.counts.iter().sum::<u64>(), 6);
        // Each value is still in the bucket its key says at the new schema.
        let keys: Vec<i32> = [1.0, 1.2, 1.5, 1.9, 3.0, 7.0]
            .iter()
            .map(|&v| key_of(v, state.schema))
            .collect();
        for key in keys {
            let at = (key - state.positive.first) as usize;
            assert!(state.positive.counts[at] > 0, "{key} {state:?}");
        }
    }

    #[test]
    fn spans_and_deltas_are_the_protobufs() {
        let run = Run {
            first: -2,
            counts: vec![2, 1, 0, 0, 3, 3],
        };
        // Keys -2, -1 (span at -2, 2 long), then 2, 3 (a gap of 2).
        assert_eq!(
            run.spans_and_deltas(),
            (vec![(-2, 2), (2, 2)], vec![2, -1, 2, 0])
        );
    }

    #[test]
    fn zero_and_negative_values_have_their_own_buckets() {
        let shape = NativeShape::new(2.0, 100, 1e-9);
        let buckets = NativeBuckets::new(&shape);
        buckets.add(&shape, 0.0, 2);
        buckets.add(&shape, -3.0, 1);
        buckets.add(&shape, f64::INFINITY, 1);
        let state = buckets.snapshot();
        assert_eq!(state.zero_count, 2);
        assert_eq!(state.negative.counts.iter().sum::<u64>(), 1);
        assert_eq!(state.negative.first, 2);
        assert_eq!(state.positive.first, key_of(f64::MAX, 0) + 1);
    }
}
