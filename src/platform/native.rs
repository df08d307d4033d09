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

/// Whether a request failed in the TLS layer (handshake, certificate): rustls' error somewhere in
/// the chain. `io::Error`s (nested, as hyper and tokio-rustls wrap them) hide their payload from
/// `source()`, so the walk looks inside them.
pub(crate) fn is_tls_error(error: &reqwest::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<rustls::Error>() {
            return true;
        }
        current = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

/// `builder` trusting the CA certificates of the PEM file at `path` too; the error is the reason.
pub(crate) fn trust_ca_file(
    builder: reqwest::ClientBuilder,
    path: &str,
) -> Result<reqwest::ClientBuilder, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("is not a PEM bundle of certificates: {e}"))?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certificates
        .into_iter()
        .fold(builder, |b, c| b.add_root_certificate(c)))
}
