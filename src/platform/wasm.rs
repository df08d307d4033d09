//! wasm32 timer: the JS host's `setTimeout`, through a promise.

use std::time::Duration;

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, timeout_ms: f64) -> JsValue;
}

/// Waits `duration` on the JS event loop (browsers, Node, Deno and workers all have `setTimeout`).
pub(crate) async fn sleep(duration: Duration) {
    let ms = duration.as_secs_f64() * 1000.0;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms);
    });
    // The promise only ever resolves.
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Whether a request failed before a connection was made: `fetch` rejects without a response
/// (reqwest reports that as a request error) when nothing answers.
pub(crate) fn is_connect_error(error: &reqwest::Error) -> bool {
    error.is_request()
}

/// The runtime's `fetch` does not say why a TLS connection failed: nothing is classed as TLS.
pub(crate) fn is_tls_error(_error: &reqwest::Error) -> bool {
    false
}

/// The runtime's `fetch` trusts what the runtime trusts: there is no CA file to add.
pub(crate) fn trust_ca_file(
    _builder: reqwest::ClientBuilder,
    _path: &str,
) -> Result<reqwest::ClientBuilder, String> {
    Err("is not available on wasm32: the runtime's own trust store applies".into())
}
