//! The encoders: visitors of the recorder's walk that write what a receiver reads. The text format
//! 0.0.4 (renders, pushes, scrapes), the protobuf `MetricFamily` exposition (scrapes that ask for
//! it), remote write's protobuf `WriteRequest`, and what goes on the wire around them (content
//! type, gzip).

#[cfg(feature = "push")]
pub(crate) mod base64;
#[cfg(all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32")))]
pub(crate) mod metric_family;
#[cfg(any(
    feature = "remote-write",
    all(any(feature = "pull", feature = "push"), not(target_arch = "wasm32"))
))]
pub(crate) mod proto;
#[cfg(feature = "remote-write")]
pub(crate) mod remote_write;
pub(crate) mod text;
#[cfg(any(feature = "push", feature = "pull"))]
pub(crate) mod wire;
