//! Native timer: tokio's.

use std::time::Duration;

/// Waits `duration` on the tokio runtime.
pub(crate) async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await
}

/// Whether a request failed before a connection was made.
pub(crate) fn is_connect_error(error: &reqwest::Error) -> bool {
    error.is_connect()
}
