//! The protobuf exposition: client_model's `MetricFamily` messages, each prefixed by its varint
//! length (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
//! encoding=delimited`), written by hand as remote write's messages are. Prometheus asks for it
//! first when it runs with `--enable-feature=native-histograms`, and it is the only format that
//! carries a native histogram. A visitor of the same walk as the text encoder, so both expose the
//! same families, series and values.
//!
//! `MetricFamily { name = 1; help = 2; type = 3; repeated Metric metric = 4; }`,
//! `Metric { repeated LabelPair label = 1; Gauge gauge = 2; Counter counter = 3; Summary summary
//! = 4; Histogram histogram = 7; }`, `Gauge`/`Counter { double value = 1; }`, `Summary { uint64
//! sample_count = 1; double sample_sum = 2; repeated Quantile quantile = 3; }`, `Quantile { double
//! quantile = 1; double value = 2; }`, `Histogram { uint64 sample_count = 1; double sample_sum = 2;
//! repeated Bucket bucket = 3; }`, `Bucket { uint64 cumulative_count = 1; double upper_bound = 2; }`.

use super::proto::{put_bytes, put_double, put_native, put_tag, put_varint, NativeFields};
use crate::recorder::index::Kind;
use crate::recorder::native::State;
use crate::recorder::walk::{Owner, Sample, Value, Visit};
use crate::recorder::RecorderHandle;

/// The content type of the delimited protobuf exposition.
pub(crate) const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

impl RecorderHandle {
    /// The current state as delimited protobuf `MetricFamily` messages: the same families, series
    /// and values as [`render`](Self::render).
    pub(crate) fn render_protobuf(&self) -> Vec<u8> {
        let mut families = MetricFamilies::default();
        self.walk(&mut families);
        families.finish()
    }
}

/// The encoder: one family at a time, a histogram's or summary's lines gathered into one metric.
#[derive(Default)]
struct MetricFamilies {
    out: Vec<u8>,
    /// The open family's fields so far.
    family: Vec<u8>,
    kind: Option<Kind>,
    /// The open histogram or summary series: its labels and what its lines said so far.
    open: Option<Open>,
}

struct Open {
    series: usize,
    labels: Vec<u8>,
    /// A native histogram's buckets, read when its first line came.
    native: Option<(State, f64)>,
    /// Buckets (upper bound, cumulative count) or quantiles (quantile, value).
    points: Vec<(f64, f64)>,
    sum: f64,
}

impl MetricFamilies {
    fn finish(mut self) -> Vec<u8> {
        self.close_family();
        self.out
    }

    fn close_family(&mut self) {
        if self.kind.take().is_some() {
            put_varint(&mut self.out, self.family.len() as u64);
            self.out.append(&mut self.family);
        }
    }
}

impl Visit for MetricFamilies {
    fn family(&mut self, name: &str, kind: Kind, help: Option<&str>) {
        self.close_family();
        put_bytes(&mut self.family, 1, name.as_bytes());
        if let Some(help) = help {
            put_bytes(&mut self.family, 2, crate::text::unescape(help).as_bytes());
        }
        let type_code = match kind {
            Kind::Counter => 0,
            Kind::Gauge => 1,
            Kind::Summary => 2,
            Kind::Histogram => 4,
        };
        put_tag(&mut self.family, 3, 0);
        put_varint(&mut self.family, type_code);
        self.kind = Some(kind);
        self.open = None;
    }

    fn sample(&mut self, sample: Sample<'_>) {
        let value = match sample.value {
            Value::Count(n) => n as f64,
            Value::Real(v) => v,
        };
        match self.kind {
            Some(Kind::Counter) | Some(Kind::Gauge) | None => {
                let field = match self.kind {
                    Some(Kind::Counter) => 3,
                    _ => 2,
                };
                let mut metric = labels_of(&sample);
                let mut inner = Vec::with_capacity(9);
                put_double(&mut inner, 1, value);
                put_bytes(&mut metric, field, &inner);
                put_bytes(&mut self.family, 4, &metric);
            }
            Some(kind @ (Kind::Histogram | Kind::Summary)) => {
                let open = match &mut self.open {
                    Some(open) if open.series == sample.id.series => open,
                    slot => slot.insert(Open {
                        series: sample.id.series,
                        labels: labels_of(&sample),
                        native: match sample.owner {
                            Owner::Histogram(series) => series
                                .cell
                                .native
                                .as_ref()
                                .zip(series.cell.shape.native.as_ref())
                                .map(|(buckets, shape)| (buckets.snapshot(), shape.zero_threshold)),
                            _ => None,
                        },
                        points: Vec::new(),
                        sum: 0.0,
                    }),
                };
                match sample.suffix {
                    "_sum" => open.sum = value,
                    "_count" => {
                        let metric = close_series(open, kind, value);
                        put_bytes(&mut self.family, 4, &metric);
                        self.open = None;
                    }
                    // A bucket (`le="…"`) or a quantile (`quantile="…"`): the number the recorder
                    // rendered into the label.
                    _ => {
                        let at = sample
                            .extra
                            .and_then(|e| e.split_once('"'))
                            .map(|(_, v)| v.trim_end_matches('"'));
                        let point = match at {
                            Some("+Inf") => f64::INFINITY,
                            Some(v) => v.parse().unwrap_or(f64::NAN),
                            None => f64::NAN,
                        };
                        open.points.push((point, value));
                    }
                }
            }
        }
    }
}

/// The `Metric` of a histogram or summary series whose `_count` is `count`: its labels, then the
/// `Histogram` or `Summary`.
fn close_series(open: &Open, kind: Kind, count: f64) -> Vec<u8> {
    let mut metric = open.labels.clone();
    let mut inner = Vec::new();
    put_tag(&mut inner, 1, 0);
    put_varint(&mut inner, count as u64);
    put_double(&mut inner, 2, open.sum);
    for &(at, value) in &open.points {
        let mut point = Vec::with_capacity(20);
        match kind {
            // The `+Inf` bucket is optional in protobuf: `sample_count` says it.
            Kind::Histogram if at.is_infinite() => continue,
            Kind::Histogram => {
                put_tag(&mut point, 1, 0);
                put_varint(&mut point, value as u64);
                put_double(&mut point, 2, at);
            }
            _ => {
                put_double(&mut point, 1, at);
                put_double(&mut point, 2, value);
            }
        }
        put_bytes(&mut inner, 3, &point);
    }
    if let Some((state, zero_threshold)) = &open.native {
        put_native(
            &mut inner,
            &NativeFields::EXPOSITION,
            state,
            *zero_threshold,
        );
    }
    let field = match kind {
        Kind::Histogram => 7,
        _ => 4,
    };
    put_bytes(&mut metric, field, &inner);
    metric
}

/// A sample's `LabelPair` fields.
fn labels_of(sample: &Sample<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in crate::text::parse_labels(sample.labels()).unwrap_or_default() {
        let mut pair = Vec::with_capacity(name.len() + value.len() + 4);
        put_bytes(&mut pair, 1, name.as_bytes());
        put_bytes(&mut pair, 2, value.as_bytes());
        put_bytes(&mut out, 1, &pair);
    }
    out
}

/// Whether an `Accept` header prefers the delimited protobuf exposition to text: its q-value is
/// above 0 and at least that of any text or `*/*` range (Prometheus with native histograms on
/// sends it first, with q 0.7 against text's 0.3).
#[cfg(feature = "pull")]
pub(crate) fn prefers_protobuf(accept: &str) -> bool {
    let (mut protobuf, mut text) = (0.0f64, 0.0f64);
    for range in accept.split(',') {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or("").to_ascii_lowercase();
        let (mut q, mut proto, mut delimited) = (1.0, false, false);
        for param in params {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => q = v.trim().parse().unwrap_or(0.0),
                "proto" => proto = v.trim() == "io.prometheus.client.MetricFamily",
                "encoding" => delimited = v.trim() == "delimited",
                _ => {}
            }
        }
        match media.as_str() {
            "application/vnd.google.protobuf" if proto && delimited => protobuf = protobuf.max(q),
            "text/plain" | "*/*" | "text/*" | "application/openmetrics-text" => text = text.max(q),
            _ => {}
        }
    }
    protobuf > 0.0 && protobuf >= text
}

#[cfg(all(test, feature = "pull"))]
mod tests {
    use super::*;

    #[test]
    fn prometheus_accept_headers_are_read_as_meant() {
        let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                      encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(prefers_protobuf(native));
        let classic = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                       version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(!prefers_protobuf(classic));
        assert!(!prefers_protobuf(""));
        assert!(!prefers_protobuf("*/*"));
        let text_first = "text/plain;q=0.9,application/vnd.google.protobuf;\
                          proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5";
        assert!(!prefers_protobuf(text_first));
        // The text encoding of the protobuf message is not the delimited one.
        let other =
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text";
        assert!(!prefers_protobuf(other));
    }
}
