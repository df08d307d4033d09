//! A native histogram series as remote write carries it (natively, when the encoder is asked to):
//! while the walk goes through a native series' classic lines, its buckets, sum and count are
//! gathered, and its `_count` line is followed by one more line, the family's own name with the
//! series' labels, whose samples are `Histogram`s.

use super::protobuf::NativeBytes;
use crate::encoding::proto::{put_double, put_native, put_tag, put_varint, NativeFields};
use crate::recorder::native::State;
use crate::recorder::walk::{Owner, Sample};

/// The native series the walk is in: its buckets, read at its first line, and its sum.
pub(super) struct Open {
    series: usize,
    state: State,
    zero_threshold: f64,
    sum: f64,
    /// Whether its family keeps classic buckets: without them its classic lines do not go, the
    /// native histogram carries the count and the sum.
    classic: bool,
}

/// What to do with a line of the walk.
pub(super) enum Step {
    /// Write it as any other.
    Line,
    /// Leave it out: a classic line of a family without classic buckets.
    Skip,
    /// The series' last line: write it (when `classic`), then the native histogram.
    Then {
        classic: bool,
        count: u64,
        bytes: Box<NativeBytes>,
    },
}

/// Where `sample` stands, as a line of a native histogram series or not; `open` is the native
/// series the walk is in.
pub(super) fn step(open: &mut Option<Open>, sample: &Sample<'_>) -> Step {
    let Owner::Histogram(series) = sample.owner else {
        return Step::Line;
    };
    let cell = &series.cell;
    let (Some(buckets), Some(shape)) = (cell.native.as_ref(), cell.shape.native.as_ref()) else {
        return Step::Line;
    };
    if open.as_ref().is_none_or(|o| o.series != sample.id.series) {
        *open = Some(Open {
            series: sample.id.series,
            // Read before `_count`, so the count taken after it is never short of the buckets
            // (a bucket count above the total is refused); see `count` below all the same.
            state: buckets.snapshot(),
            zero_threshold: shape.zero_threshold,
            sum: 0.0,
            classic: !cell.shape.bounds.is_empty(),
        });
    }
    let Some(current) = open else {
        return Step::Line;
    };
    let classic = current.classic;
    match sample.suffix {
        "_sum" => current.sum = sample.value.as_f64(),
        "_count" => {
            let Some(current) = open.take() else {
                return Step::Line;
            };
            let in_buckets = current.state.zero_count
                + current.state.positive.counts.iter().sum::<u64>()
                + current.state.negative.counts.iter().sum::<u64>();
            let count = match sample.value {
                crate::recorder::walk::Value::Count(n) => n.max(in_buckets),
                crate::recorder::walk::Value::Real(v) => (v as u64).max(in_buckets),
            };
            return Step::Then {
                classic,
                count,
                bytes: Box::new(bytes(&current, count)),
            };
        }
        _ => {}
    }
    match classic {
        true => Step::Line,
        false => Step::Skip,
    }
}

/// The `Histogram` fields of `open`, as it stands and empty.
fn bytes(open: &Open, count: u64) -> NativeBytes {
    let fields = &NativeFields::REMOTE_WRITE;
    let mut full = Vec::with_capacity(64);
    put_tag(&mut full, 1, 0);
    put_varint(&mut full, count);
    put_double(&mut full, 3, open.sum);
    put_native(&mut full, fields, &open.state, open.zero_threshold);
    let mut empty = Vec::with_capacity(24);
    let bare = State {
        schema: open.state.schema,
        ..State::default()
    };
    put_native(&mut empty, fields, &bare, open.zero_threshold);
    NativeBytes { full, empty }
}
