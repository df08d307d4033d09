//! Prometheus remote write 1.0, the sink for many producers and for time-series databases that
//! scale out (Prometheus with `--web.enable-remote-write-receiver`, VictoriaMetrics, Mimir, Thanos
//! Receive, Cortex). A peer of the Pushgateway sink: it reads the same walk of the same recorder as
//! the text render.
//!
//! - [`RemoteWriteConfig`]: the `[remote_write]` table.
//! - [`Encoder`] turns the recorder's series into a protobuf `WriteRequest` (it lives with the
//!   other encoders; the writer compresses it with snappy's block format).
//! - [`RemoteWriter`]: the producer's identity (`job`, `instance`), per-series timestamps, the `0`
//!   sample that lets `increase()` count a short-lived producer, stale markers at the end, and
//!   sending with retries.

mod settings;
mod writer;

pub use crate::encoding::remote_write::Encoder;
pub use settings::RemoteWriteConfig;
pub use writer::RemoteWriter;

/// The headers remote write 1.0 asks of every request, besides the user's.
pub(crate) const PROTOCOL_HEADERS: [(&str, &str); 4] = [
    ("content-encoding", "snappy"),
    ("content-type", "application/x-protobuf"),
    ("x-prometheus-remote-write-version", "0.1.0"),
    (
        "user-agent",
        concat!("observer-metrics/", env!("CARGO_PKG_VERSION")),
    ),
];

/// `error`, or the final error it stands for, with what to change: Prometheus refusing native
/// histograms answers 500, which the protocol says to retry, but no retry changes its flags.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn final_refusal(
    error: crate::sinks::error::ExportError,
) -> crate::sinks::error::ExportError {
    use crate::sinks::error::ExportError;
    match error {
        ExportError::Status {
            method,
            url,
            status,
            body,
            ..
        } if body.contains("native histograms are disabled") => ExportError::Refused {
            method,
            url,
            status,
            body,
            remedy: "start Prometheus with --enable-feature=native-histograms, or set \
                     remote_write.native_histograms = false \
                     (OBSERVER_METRICS_REMOTE_WRITE_NATIVE_HISTOGRAMS=false) to send classic \
                     buckets alone",
        },
        other => other,
    }
}

/// [`final_refusal`], and for a live write (not a replay, whose old file a newer write may have
/// overtaken): a write refused as out of order or as a duplicate is, nearly always, another
/// producer writing the same series under the same `instance`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn live_refusal(
    error: crate::sinks::error::ExportError,
) -> crate::sinks::error::ExportError {
    use crate::sinks::error::ExportError;
    match final_refusal(error) {
        ExportError::Status {
            method,
            url,
            status: 400,
            body,
            ..
        } if body.contains("out of order sample")
            || body.contains("duplicate sample for timestamp") =>
        {
            ExportError::Refused {
                method,
                url,
                status: 400,
                body,
                remedy: "a series had a newer sample, or another value at that time: another \
                         producer writes it too. Each process needs its own instance label: \
                         leave remote_write.instance unset for a generated one, or give each its \
                         own (OBSERVER_METRICS_REMOTE_WRITE_INSTANCE, --instance)",
            }
        }
        other => other,
    }
}
