//! Native: tokio's timer and reqwest over hyper, with rustls trusting the bundled roots, the
//! platform's store (which honours `SSL_CERT_FILE`) and an optional CA file.

use std::time::Duration;

use super::{Cause, HttpFailure, HttpRequest, HttpResponse, ParsedUrl};

/// `body` gzipped.
pub(crate) fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    Some(crate::encoding::wire::gzip(body))
}

/// Waits `duration` on the tokio runtime.
pub(crate) async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await
}

/// The HTTP client of one push client.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient(reqwest::Client);

impl HttpClient {
    /// A client that also trusts the CA certificates of the PEM file `ca_file`. The error is the
    /// reason, for the caller to name the setting.
    pub(crate) fn new(ca_file: Option<&str>) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder();
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("is not a PEM bundle of certificates: {e}"))?;
            if certificates.is_empty() {
                return Err("holds no PEM certificate".into());
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        builder
            .build()
            .map(HttpClient)
            .map_err(|e| format!("the HTTP client could not be built: {}", root_cause(&e)))
    }

    pub(crate) async fn send(&self, r: HttpRequest<'_>) -> Result<HttpResponse, HttpFailure> {
        let method = match r.method {
            "GET" => reqwest::Method::GET,
            "PUT" => reqwest::Method::PUT,
            "POST" => reqwest::Method::POST,
            _ => reqwest::Method::DELETE,
        };
        let mut request = self.0.request(method, r.url).timeout(r.timeout);
        for (name, value) in r.headers {
            request = request.header(name, value);
        }
        if let Some(body) = r.body {
            request = request.body(bytes::Bytes::from_owner(body));
        }
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        let body = match response.text().await {
            Ok(text) => text.trim_end().to_owned(),
            Err(e) => format!("(the response body could not be read: {})", root_cause(&e)),
        };
        Ok(HttpResponse {
            status: status.as_u16(),
            body,
        })
    }
}

fn classify(e: reqwest::Error) -> HttpFailure {
    let kind: fn(Cause) -> HttpFailure = if e.is_timeout() {
        return HttpFailure::Timeout;
    } else if is_tls_error(&e) {
        HttpFailure::Tls
    } else if e.is_connect() {
        HttpFailure::Connect
    } else {
        HttpFailure::Other
    };
    kind(Cause {
        message: root_cause(&e),
        source: Some(crate::platform::ErrorSource::new(e)),
    })
}

/// The innermost message of an error chain: "Connection refused (os error 111)" rather than
/// "error sending request".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// Whether a request failed in the TLS layer (handshake, certificate): rustls' error somewhere in
/// the chain. `io::Error`s (nested, as hyper and tokio-rustls wrap them) hide their payload from
/// `source()`, so the walk looks inside them.
fn is_tls_error(error: &reqwest::Error) -> bool {
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

/// `url` parsed as reqwest will parse it; the error is the parser's reason.
pub(crate) fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let out = ParsedUrl {
        scheme: parsed.scheme().to_owned(),
        host: parsed.host_str().unwrap_or_default().to_owned(),
        username: parsed.username().to_owned(),
        password: parsed.password().map(str::to_owned),
        has_query: parsed.query().is_some(),
        has_fragment: parsed.fragment().is_some(),
        without_userinfo: String::new(),
    };
    // Cannot fail on a URL with a host, the only kind with userinfo.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Ok(ParsedUrl {
        without_userinfo: parsed.into(),
        ..out
    })
}
