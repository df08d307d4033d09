//! wasm32: the JS host's `setTimeout`, and its `fetch`, called directly.
//!
//! `fetch` is given an `AbortController` whose only use is the request's deadline: a request that
//! finished is never aborted (an abort after completion shows as `ERR_ABORTED` in a browser's
//! network panel), and a request whose future is dropped half-way is aborted, with its timer
//! cleared, so no callback outlives it. A failure keeps what the runtime says of it: Node's
//! `cause` (`ECONNREFUSED`, `ENOTFOUND`, a blocked port, a certificate), or a browser's bare
//! "Failed to fetch", which covers both an unreachable gateway and a CORS refusal.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::{Cause, HttpFailure, HttpRequest, HttpResponse, ParsedUrl};

/// `globalThis[name]` as a function, if the host has it.
fn global_function(name: &str) -> Option<Function> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
}

/// `value[name]`, when it is neither `undefined` nor `null`.
fn property(value: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(value, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// No gzip on wasm: validation refuses `push.gzip` there, so this is never asked.
pub(crate) fn gzip(_body: &[u8]) -> Option<Vec<u8>> {
    None
}

/// Waits `duration` on the JS event loop (browsers, Node, Deno and workers all have `setTimeout`).
pub(crate) async fn sleep(duration: Duration) {
    let ms = duration.as_secs_f64() * 1000.0;
    let promise = Promise::new(&mut |resolve, _reject| {
        if let Some(set_timeout) = global_function("setTimeout") {
            let _ = set_timeout.call2(&JsValue::NULL, &resolve, &JsValue::from_f64(ms));
        }
    });
    // The promise only ever resolves.
    let _ = JsFuture::from(promise).await;
}

/// The HTTP client: the runtime's `fetch`. Stateless.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient;

impl HttpClient {
    /// The runtime's `fetch` trusts what the runtime trusts: there is no CA file to add.
    pub(crate) fn new(ca_file: Option<&str>) -> Result<Self, String> {
        match ca_file {
            Some(_) => {
                Err("is not available on wasm32: the runtime's own trust store applies".into())
            }
            None => Ok(HttpClient),
        }
    }

    pub(crate) async fn send(&self, r: HttpRequest<'_>) -> Result<HttpResponse, HttpFailure> {
        let fetch = global_function("fetch")
            .ok_or_else(|| HttpFailure::Other(Cause::from("this runtime has no fetch")))?;
        let js_error = |e: JsValue| HttpFailure::Other(Cause::from(message(&e)));
        let init = Object::new();
        let set = |key: &str, value: &JsValue| {
            Reflect::set(&init, &JsValue::from_str(key), value).map(|_| ())
        };
        set("method", &JsValue::from_str(r.method)).map_err(js_error)?;
        let headers = Object::new();
        for (name, value) in r.headers {
            Reflect::set(
                &headers,
                &JsValue::from_str(name),
                &JsValue::from_str(value),
            )
            .map_err(js_error)?;
        }
        set("headers", &headers).map_err(js_error)?;
        if let Some(body) = &r.body {
            set("body", &Uint8Array::from(&body[..])).map_err(js_error)?;
        }
        let deadline = Deadline::start(r.timeout)?;
        set("signal", &deadline.signal).map_err(js_error)?;

        let result: Result<HttpResponse, JsValue> = async {
            let promise: Promise = fetch
                .call2(&JsValue::NULL, &JsValue::from_str(r.url), &init)?
                .dyn_into()?;
            let response = JsFuture::from(promise).await?;
            let status = property(&response, "status")
                .and_then(|s| s.as_f64())
                .unwrap_or(0.0) as u16;
            // Read to the end in every case: the request is finished only then, and an unread
            // body holds the connection in some runtimes.
            let text = match property(&response, "text").and_then(|f| f.dyn_into::<Function>().ok())
            {
                Some(text) => JsFuture::from(Promise::from(text.call0(&response)?))
                    .await?
                    .as_string()
                    .unwrap_or_default(),
                None => String::new(),
            };
            Ok(HttpResponse {
                status,
                body: text.trim_end().to_owned(),
            })
        }
        .await;
        deadline.finish();
        result.map_err(|e| classify(&e, deadline.expired.get()))
    }
}

/// The request's deadline: an `AbortController` aborted by a timer. Dropped before `finish`
/// (the request's future was dropped), it aborts the request; either way it clears its timer.
struct Deadline {
    controller: JsValue,
    signal: JsValue,
    timer: JsValue,
    expired: Rc<Cell<bool>>,
    finished: Cell<bool>,
    _on_timeout: Closure<dyn FnMut()>,
}

impl Deadline {
    fn start(timeout: Duration) -> Result<Self, HttpFailure> {
        let other =
            |what: &str| HttpFailure::Other(Cause::from(format!("this runtime has no {what}")));
        let constructor =
            global_function("AbortController").ok_or_else(|| other("AbortController"))?;
        let controller = Reflect::construct(&constructor, &js_sys::Array::new())
            .map_err(|e| HttpFailure::Other(Cause::from(message(&e))))?;
        let signal = property(&controller, "signal").ok_or_else(|| other("AbortSignal"))?;
        let expired = Rc::new(Cell::new(false));
        let on_timeout = {
            let (controller, expired) = (controller.clone(), expired.clone());
            Closure::<dyn FnMut()>::new(move || {
                expired.set(true);
                abort(&controller);
            })
        };
        let set_timeout = global_function("setTimeout").ok_or_else(|| other("setTimeout"))?;
        // Validation holds every timeout within what setTimeout takes (2^31 - 1 ms).
        let timer = set_timeout
            .call2(
                &JsValue::NULL,
                on_timeout.as_ref(),
                &JsValue::from_f64(timeout.as_millis() as f64),
            )
            .map_err(|e| HttpFailure::Other(Cause::from(message(&e))))?;
        Ok(Deadline {
            controller,
            signal,
            timer,
            expired,
            finished: Cell::new(false),
            _on_timeout: on_timeout,
        })
    }

    /// The request is over (answered or failed): nothing to abort any more.
    fn finish(&self) {
        self.finished.set(true);
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(clear) = global_function("clearTimeout") {
            let _ = clear.call1(&JsValue::NULL, &self.timer);
        }
        if !self.finished.get() {
            abort(&self.controller);
        }
    }
}

fn abort(controller: &JsValue) {
    if let Some(abort) = property(controller, "abort").and_then(|f| f.dyn_into::<Function>().ok()) {
        let _ = abort.call0(controller);
    }
}

/// The message of a JS error, or the value as text.
fn message(error: &JsValue) -> String {
    property(error, "message")
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        // As JSON rather than through `Debug`, which would bring core's float formatting
        // (about 20 KB) into the module for this one message.
        .or_else(|| js_sys::JSON::stringify(error).ok().map(String::from))
        .unwrap_or_else(|| "an error with no message".to_owned())
}

/// What a failed `fetch` means, from what the runtime put in the error.
fn classify(error: &JsValue, expired: bool) -> HttpFailure {
    if expired {
        return HttpFailure::Timeout;
    }
    let text = message(error);
    if let Some(cause) = property(error, "cause") {
        // Node (undici): the system error or the reason is the cause.
        let code = property(&cause, "code").and_then(|c| c.as_string());
        let detail = message(&cause);
        return match code.as_deref() {
            Some(
                "ECONNREFUSED"
                | "ENOTFOUND"
                | "EAI_AGAIN"
                | "ECONNRESET"
                | "EHOSTUNREACH"
                | "ENETUNREACH"
                | "EPIPE"
                | "UND_ERR_SOCKET"
                | "UND_ERR_CONNECT_TIMEOUT",
            ) => HttpFailure::Connect(Cause::from(detail)),
            Some(code)
                if crate::text::contains(code, "CERT")
                    || code.starts_with("ERR_TLS")
                    || code.starts_with("ERR_SSL")
                    || crate::text::contains(code, "SELF_SIGNED")
                    || code.starts_with("UNABLE_TO") =>
            {
                HttpFailure::Tls(Cause::from(format!("{code}: {detail}")))
            }
            _ if detail == "bad port" => HttpFailure::Other(Cause::from(
                "fetch refuses this port (browsers and Node block some, such as 9 and 6000)",
            )),
            _ => HttpFailure::Other(Cause::from(format!("{text}: {detail}"))),
        };
    }
    match text.as_str() {
        // Chromium, Safari and Firefox say no more than this, on purpose.
        "Failed to fetch" | "Load failed" => HttpFailure::Other(Cause::from(format!(
            "{text}: no answer reached the page: the gateway is unreachable, or the browser \
             refused its answer under CORS (the browser's console says which)"
        ))),
        t if t.starts_with("NetworkError") => HttpFailure::Other(Cause::from(format!(
            "{text}: the gateway is unreachable, or the browser refused its answer under CORS"
        ))),
        t if crate::text::contains(t, "Network connection lost") => {
            HttpFailure::Connect(Cause::from(text))
        }
        _ => HttpFailure::Other(Cause::from(text)),
    }
}

/// `url` parsed by the runtime's own `URL` (the WHATWG parser `fetch` uses too); the error is
/// its reason.
pub(crate) fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let constructor = global_function("URL").ok_or("this runtime has no URL")?;
    let args = js_sys::Array::of1(&JsValue::from_str(url));
    let parsed = Reflect::construct(&constructor, &args).map_err(|e| message(&e))?;
    let text = |name: &str| {
        property(&parsed, name)
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let password = text("password");
    let out = ParsedUrl {
        scheme: text("protocol").trim_end_matches(':').to_owned(),
        host: text("hostname"),
        username: text("username"),
        password: (!password.is_empty()).then_some(password),
        has_query: !text("search").is_empty(),
        has_fragment: !text("hash").is_empty(),
        without_userinfo: String::new(),
    };
    for name in ["username", "password"] {
        let _ = Reflect::set(&parsed, &JsValue::from_str(name), &JsValue::from_str(""));
    }
    Ok(ParsedUrl {
        without_userinfo: text("href"),
        ..out
    })
}
