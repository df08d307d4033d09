//! The pull endpoint (native): `GET /metrics` for Prometheus to scrape and `GET /health`, as an
//! axum [`Router`] to merge into an existing service or as a standalone server. It only renders the
//! recorder, so it runs beside the push exporter on the same recorder.

use std::future::Future;
use std::net::SocketAddr;

use axum::http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::encoding::metric_family::{prefers_protobuf, PROTOBUF_CONTENT_TYPE};
use crate::encoding::wire::{accepts_gzip, gzip, TEXT_CONTENT_TYPE};
use crate::recorder::RecorderHandle;

/// The `[pull]` table of the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PullConfig {
    /// The address to listen on. Default: `127.0.0.1:9898` (loopback unless told otherwise).
    pub listen: String,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            listen: "127.0.0.1:9898".into(),
        }
    }
}

impl PullConfig {
    /// Applies one `OBSERVER_METRICS_PULL_<FIELD>` variable, `field` in lower case without the
    /// prefix; the error is the reason.
    pub(crate) fn apply_env(&mut self, field: &str, value: &str) -> Result<(), &'static str> {
        match field {
            "listen" => self.listen = value.trim().to_owned(),
            _ => return Err("unknown variable"),
        }
        Ok(())
    }

    /// The listen address: an IP address and port, or `localhost:PORT` (the IPv4 loopback);
    /// the error names `pull.listen`.
    pub fn address(&self) -> Result<SocketAddr, crate::error::ConfigError> {
        let listen = self.listen.trim();
        let localhost = listen
            .strip_prefix("localhost:")
            .and_then(|port| port.parse::<u16>().ok())
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
        match localhost {
            Some(address) => Ok(address),
            None => listen.parse().map_err(|_| {
                crate::error::invalid(
                    "pull.listen",
                    listen,
                    "expected an address and port such as 127.0.0.1:9898, [::1]:9898 or \
                     localhost:9898",
                )
            }),
        }
    }
}

/// A router serving `GET /metrics` (text format 0.0.4, or the delimited protobuf exposition when
/// the scraper prefers it; gzip when the scraper accepts it) and
/// `GET /health`, to merge into an existing axum service. It is generic over the app's state, so
/// it merges into a `Router<AppState>` before `.with_state(…)`. An app with a `/health` of its own
/// merges [`metrics_router`] instead: axum panics on overlapping routes.
///
/// ```
/// #[derive(Clone)]
/// struct AppState;
/// let recorder = observer_metrics::MetricsBuilder::new().build_recorder().unwrap();
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|_: axum::extract::State<AppState>| async { "app" }))
///     .merge(observer_metrics::pull::create_metrics_router(recorder.handle()))
///     .with_state(AppState);
/// ```
pub fn create_metrics_router<S>(recorder: RecorderHandle) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    metrics_router(recorder).route("/health", get(|| async { "ok\n" }))
}

/// `GET /metrics` alone: [`create_metrics_router`] without `/health`, for an app that has its own.
pub fn metrics_router<S>(recorder: RecorderHandle) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| metrics(recorder.clone(), headers)),
    )
}

async fn metrics(recorder: RecorderHandle, headers: HeaderMap) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    // What the scraper prefers: the protobuf exposition (Prometheus with native histograms on
    // asks for it first) or text.
    let (content_type, body) = match header(ACCEPT).is_some_and(prefers_protobuf) {
        true => (PROTOBUF_CONTENT_TYPE, recorder.render_protobuf()),
        false => (TEXT_CONTENT_TYPE, recorder.render().into_bytes()),
    };
    let vary = (VARY, "Accept, Accept-Encoding");
    if header(ACCEPT_ENCODING).is_some_and(accepts_gzip) {
        let headers = [
            (CONTENT_TYPE, content_type),
            (CONTENT_ENCODING, "gzip"),
            vary,
        ];
        (headers, gzip(&body)).into_response()
    } else {
        ([(CONTENT_TYPE, content_type), vary], body).into_response()
    }
}

/// Serves [`create_metrics_router`] on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    recorder: RecorderHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, create_metrics_router(recorder))
        .with_graceful_shutdown(shutdown)
        .await
}
