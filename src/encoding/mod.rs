//! The encoders: visitors of the recorder's walk that write what a receiver reads. The text format
//! 0.0.4 (renders, pushes, scrapes), remote write's protobuf `WriteRequest`, and what goes on the
//! wire around them (content type, gzip).

#[cfg(feature = "remote-write")]
pub(crate) mod remote_write;
pub(crate) mod text;
#[cfg(any(feature = "push", feature = "pull"))]
pub(crate) mod wire;
