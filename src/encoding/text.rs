//! The text format 0.0.4: a visitor of the recorder's walk, and the recorder's `render`.

use std::sync::atomic::Ordering::Relaxed;

use crate::naming::{push_f64, push_u64};
use crate::recorder::index::Kind;
use crate::recorder::walk::{Sample, Value, Visit};
use crate::recorder::{ObserverRecorder, RecorderHandle};

impl ObserverRecorder {
    /// The current state in Prometheus text format 0.0.4 (see [`RecorderHandle::render`]).
    pub fn render(&self) -> String {
        self.handle().render()
    }
}

impl RecorderHandle {
    /// The current state in Prometheus text format 0.0.4: families sorted by name, series by labels,
    /// so two renders of the same state are byte-identical. Empty when recording is disabled.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.last_render_len().load(Relaxed) + 256);
        self.render_into(&mut out);
        out
    }

    /// Appends the rendering to `out`, for callers that reuse a buffer.
    pub fn render_into(&self, out: &mut String) {
        let start = out.len();
        self.walk(&mut Text(out));
        self.last_render_len().store(out.len() - start, Relaxed);
    }
}

/// The text encoder: appends the exposition to a `String`.
pub(crate) struct Text<'o>(pub(crate) &'o mut String);

impl Visit for Text<'_> {
    fn family(&mut self, name: &str, kind: Kind, help: Option<&str>) {
        let out = &mut *self.0;
        if let Some(help) = help {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            out.push_str(help);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        out.push_str(name);
        out.push(' ');
        out.push_str(kind.as_str());
        out.push('\n');
    }

    #[inline(always)]
    fn sample(&mut self, sample: Sample<'_>) {
        let out = &mut *self.0;
        if sample.suffix.is_empty() && sample.extra.is_none() {
            // Counters, gauges and ratios: the series text is the whole line prefix.
            out.push_str(sample.text);
        } else {
            histogram_prefix(out, &sample);
        }
        out.push(' ');
        match sample.value {
            Value::Count(n) => push_u64(out, n),
            Value::Real(v) => push_f64(out, v),
        }
        out.push('\n');
    }
}

/// A histogram or summary line's `name_suffix{labels,le="…"}` (or `quantile="…"`).
#[inline(never)]
fn histogram_prefix(out: &mut String, sample: &Sample<'_>) {
    out.push_str(sample.name);
    out.push_str(sample.suffix);
    let labels = sample.labels();
    if labels.is_empty() && sample.extra.is_none() {
        return;
    }
    out.push('{');
    out.push_str(labels);
    if let Some(extra) = sample.extra {
        if !labels.is_empty() {
            out.push(',');
        }
        out.push_str(extra);
    }
    out.push('}');
}
