//! observer-metrics for wasm32 hosts (browsers, Node, Deno, edge workers): the core crate's
//! recorder, encoder and push client behind a JS API. Only the clock, the timer and the HTTP call
//! differ from native, and those live in the core crate's `platform` seam; this crate only turns
//! JS values into core calls.
//!
//! ```js
//! const m = new ObserverMetrics({ job: "edge", pushgatewayUrl: "http://127.0.0.1:9091" });
//! m.recordAction("success", 12.5);
//! await m.push();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod options;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Promise, Reflect};
use metrics::{Key, Label, Level, Metadata, Recorder};
use observer_metrics::push::{GroupPusher, PushClient, PushMethod};
use observer_metrics::remote_write::RemoteWriter;
use observer_metrics::{ObserverMetrics as Catalogue, ObserverRecorder};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

// Smaller than the standard library's dlmalloc (the module is sized against a budget); not faster
// here: 400,000 new series from JS took up to 7% longer. Recording into known series allocates
// nothing. The module is single-threaded, which is what this allocator assumes.
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Options of `new ObserverMetrics(...)`; all optional unless pushing. */
export interface ObserverMetricsOptions {
  /** The job label of the group; required with `pushgatewayUrl`. */
  job?: string;
  /** The Pushgateway's base URL, e.g. "http://127.0.0.1:9091". */
  pushgatewayUrl?: string;
  /** More grouping labels; values may hold "/" and spaces. */
  groupingKey?: Record<string, string>;
  /** Seconds between pushes for pushIfDue() and start(); a whole number >= 1 (60). */
  exportIntervalSecs?: number;
  /** Histogram bucket bounds, strictly increasing ([1, 5, 10, 50, 100, 500, 1000, 5000, 10000]). */
  histogramBuckets?: number[];
  /** Fraction of histogram observations kept, 0 to 1 (1). */
  sampleRate?: number;
  /** How push(), pushIfDue() and start() send: "put" replaces the group, "post" only the pushed
   * names ("put"). */
  method?: "put" | "post";
  /** A remote-write receiver, e.g. "http://127.0.0.1:9090/api/v1/write"; with or without a
   * Pushgateway. `job` is required with it too. */
  remoteWriteUrl?: string;
  /** The remote-write `instance` label; by default one generated per instance, so instances never
   * overwrite each other. */
  instance?: string;
  /** Called with the Error of each failed start() push. Without it, the first failure of a streak
   * is logged with console.error, and the streak's end with console.info. */
  onError?: (error: Error) => void;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Deadline of each request in milliseconds (5000). */
  timeoutMs?: number;
  /** A namespace put before every metric name. */
  prefix?: string;
  /** Labels added to every series. */
  globalLabels?: Record<string, string>;
}
/** How an action ended. */
export type ActionOutcome = "success" | "failure" | "timeout";
/** A job-queue operation. */
export type JobOperation = "enqueued" | "processed" | "retry" | "deadletter";
"#;

static META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The series key of `name` with `labels`, a plain object of strings (or nothing), as `method`'s
/// arguments.
fn key(method: &str, name: &JsValue, labels: &JsValue) -> Result<Key, JsValue> {
    let name = args::string(method, "name", name)?;
    let labels: Vec<Label> = args::string_map(method, "labels", labels)?
        .into_iter()
        .map(|(k, v)| Label::new(k, v))
        .collect();
    Ok(Key::from_parts(name, labels))
}

/// A running `setInterval`: its id, and the callback it holds (dropped with it).
type IntervalTimer = (JsValue, Closure<dyn FnMut()>);

/// State shared with the promises a push returns and with the interval timer.
struct Shared {
    /// Renders and pushes, one push at a time: a push asked for while one is in flight waits for
    /// it and then sends the newer totals, so the gateway never gets an older body last.
    pusher: Option<GroupPusher>,
    /// Writes to a remote-write receiver, one write at a time, with the same guarantees.
    writer: Option<RemoteWriter>,
    interval_ms: f64,
    /// `Date.now()` of the last push pushIfDue() or a tick started, for pushIfDue().
    last_attempt: Cell<Option<f64>>,
    /// The `setInterval` id while `start()`ed, and the callback it holds.
    timer: RefCell<Option<IntervalTimer>>,
    /// `options.onError`, for failed interval pushes.
    on_error: Option<js_sys::Function>,
    /// Whether the last interval push failed: the default report is one line per failure streak.
    failing: Cell<bool>,
}

#[derive(Clone, Copy)]
enum Verb {
    Push(PushMethod),
    Delete,
    Write,
    /// The last send of every sink: the final push, the final write and its stale markers.
    End,
    /// Every configured sink: a push with `options.method` and a remote write.
    All,
    /// `All`, for pushIfDue(): resolves `true`.
    Due,
}

impl Shared {
    fn pusher(&self) -> Result<&GroupPusher, JsError> {
        self.pusher
            .as_ref()
            .ok_or_else(|| JsError::new("no pushgatewayUrl was given: nothing to push to"))
    }

    /// `options.method`: what push(), pushIfDue() and the start() ticks send.
    fn method(&self) -> PushMethod {
        self.pusher
            .as_ref()
            .map_or(PushMethod::Put, |p| p.client().config().method)
    }

    fn request(self: &Rc<Self>, verb: Verb) -> Promise {
        future_to_promise(self.clone().send(verb))
    }

    fn writer(&self) -> Result<&RemoteWriter, JsError> {
        self.writer
            .as_ref()
            .ok_or_else(|| JsError::new("no remoteWriteUrl was given: nothing to write to"))
    }

    async fn send(self: Rc<Self>, verb: Verb) -> Result<JsValue, JsValue> {
        let result = match verb {
            Verb::Push(method) => self.pusher()?.push(method).await,
            Verb::Delete => self.pusher()?.delete().await,
            Verb::Write => self.writer()?.write().await,
            Verb::End | Verb::All | Verb::Due => {
                if self.pusher.is_none() && self.writer.is_none() {
                    return Err(JsError::new(NO_SINK).into());
                }
                let end = matches!(verb, Verb::End);
                let push = async {
                    match &self.pusher {
                        Some(p) => p.push(self.method()).await,
                        None => Ok(()),
                    }
                };
                let write = async {
                    match (&self.writer, end) {
                        (Some(w), true) => w.end().await,
                        (Some(w), false) => w.write().await,
                        (None, _) => Ok(()),
                    }
                };
                // Both sinks at once: a stalled gateway never delays the remote write.
                let (pushed, written) = futures_util::future::join(push, write).await;
                pushed.and(written)
            }
        };
        let resolved = match verb {
            Verb::Due => JsValue::TRUE,
            _ => JsValue::UNDEFINED,
        };
        result
            .map(|()| resolved)
            .map_err(|e| JsError::new(&e.to_string()).into())
    }

    /// One start() tick: push, and report a failure instead of leaving a rejected promise that
    /// Node and Deno would end the process for.
    async fn tick(self: Rc<Self>) {
        self.last_attempt.set(Some(js_sys::Date::now()));
        let result = self.clone().send(Verb::All).await;
        let was_failing = self.failing.replace(result.is_err());
        match (result, &self.on_error) {
            (Err(error), Some(on_error)) => {
                // A throwing callback must not end the timer either.
                let _ = on_error.call1(&JsValue::NULL, &error);
            }
            (Err(error), None) if !was_failing => {
                console_log("error", &format!(
                    "observer-metrics: interval push failed (retrying every {} s; further failures are not logged until one succeeds): {}",
                    args::shown(self.interval_ms / 1000.0),
                    error_message(&error)
                ));
            }
            (Ok(_), None) if was_failing => {
                console_log("info", "observer-metrics: interval pushes succeed again");
            }
            _ => {}
        }
    }
}

const NO_SINK: &str = "no pushgatewayUrl or remoteWriteUrl was given: nothing to send to";

/// Routes a panic's message to `console.error`. None is reachable from JS input (every argument
/// and option is checked first), but `panic = "abort"` (the only choice on wasm32 with stable Rust)
/// turns one into a bare `RuntimeError: unreachable` that cannot settle a promise, so the hook at
/// least says what went wrong.
fn report_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            console_log(
                "error",
                &format!("observer-metrics: internal error, this instance cannot go on: {info}"),
            )
        }))
    });
}

/// `console[level](message)`, where the host has a console.
fn console_log(level: &str, message: &str) {
    let console = Reflect::get(&js_sys::global(), &JsValue::from_str("console")).ok();
    let method = console
        .as_ref()
        .and_then(|c| Reflect::get(c, &JsValue::from_str(level)).ok())
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let (Some(console), Some(method)) = (console, method) {
        let _ = method.call1(&console, &JsValue::from_str(message));
    }
}

/// The message of a JS `Error` (or the value as text).
fn error_message(error: &JsValue) -> String {
    Reflect::get(error, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        // As JSON rather than through `Debug`, which would bring core's float formatting
        // (about 20 KB) into the module for this one message.
        .or_else(|| js_sys::JSON::stringify(error).ok().map(String::from))
        .unwrap_or_else(|| "an error with no message".to_owned())
}

/// The observer catalogue and any other metric, rendered as Prometheus text and pushed to a
/// Pushgateway with `fetch`.
///
/// A failed push rejects with an `Error` naming the gateway URL and the cause, and loses nothing:
/// counters are cumulative, so the next successful push carries the full totals.
#[wasm_bindgen]
pub struct ObserverMetrics {
    recorder: ObserverRecorder,
    catalogue: Catalogue,
    shared: Rc<Shared>,
    queue_depth: Cell<f64>,
}

#[wasm_bindgen]
impl ObserverMetrics {
    /// Options (all optional unless pushing): `job` (required with `pushgatewayUrl`),
    /// `pushgatewayUrl`, `groupingKey` ({label: value}), `exportIntervalSecs` (60),
    /// `histogramBuckets` ([1, 5, …, 10000]), `sampleRate` (1), `method` ("put" | "post"),
    /// `headers` ({name: value}), `timeoutMs` (5000), `prefix`, `globalLabels` ({label: value}),
    /// `onError` (a function called with each failed interval push's Error).
    /// Bad options throw an `Error` naming the option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "ObserverMetricsOptions")] options: JsValue,
    ) -> Result<ObserverMetrics, JsValue> {
        report_panics();
        let options::Options { config, on_error } = options::read(&options)?;
        let recorder = ObserverRecorder::new(&config).map_err(options::config_error)?;
        let handle = recorder.handle();
        let catalogue = Catalogue::new(&handle);
        let writer = match config.remote_write {
            Some(rw) => Some(RemoteWriter::new(handle.clone(), rw).map_err(options::config_error)?),
            None => None,
        };
        let pusher = match config.push {
            Some(push) => {
                let client = PushClient::new(push).map_err(options::config_error)?;
                Some(GroupPusher::new(handle, client))
            }
            None => None,
        };
        let shared = Rc::new(Shared {
            pusher,
            writer,
            interval_ms: config.export_interval_secs as f64 * 1000.0,
            last_attempt: Cell::new(None),
            timer: RefCell::new(None),
            on_error,
            failing: Cell::new(false),
        });
        Ok(ObserverMetrics {
            recorder,
            catalogue,
            shared,
            queue_depth: Cell::new(0.0),
        })
    }

    /// Adds `value` (a whole number >= 0) to the counter `name`; `labels` is a plain object of
    /// strings. A non-string name or labels, or a non-number value, throw a `TypeError`; a number
    /// that is not a whole number >= 0 (NaN included) throws a `RangeError`.
    pub fn counter(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, string>")] labels: JsValue,
    ) -> Result<(), JsValue> {
        let key = key("counter", &name, &labels)?;
        let value = args::number("counter", "value", &value)?;
        if !(value >= 0.0 && value.fract() == 0.0 && value <= u64::MAX as f64) {
            return Err(js_sys::RangeError::new(&format!(
                "counter {}: increments must be whole numbers >= 0, got {}",
                key.name(),
                args::shown(value)
            ))
            .into());
        }
        self.recorder
            .register_counter(&key, &META)
            .increment(value as u64);
        Ok(())
    }

    /// Sets the gauge `name` to `value` (NaN and ±Infinity are kept, rendered `NaN`, `+Inf`,
    /// `-Inf`). Wrong types throw a `TypeError`.
    pub fn gauge(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, string>")] labels: JsValue,
    ) -> Result<(), JsValue> {
        let key = key("gauge", &name, &labels)?;
        let value = args::number("gauge", "value", &value)?;
        self.recorder.register_gauge(&key, &META).set(value);
        Ok(())
    }

    /// Records `value` in the histogram `name` (a NaN observation is dropped and counted in
    /// `observer_metrics_dropped_total{reason="nan_observation"}`). Wrong types throw a
    /// `TypeError`.
    pub fn histogram(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, string>")] labels: JsValue,
    ) -> Result<(), JsValue> {
        let key = key("histogram", &name, &labels)?;
        let value = args::number("histogram", "value", &value)?;
        self.recorder.register_histogram(&key, &META).record(value);
        Ok(())
    }

    /// One processed event: `events_processed_total` and `event_processing_duration_ms`. (`ok` is
    /// accepted for symmetry with actions; the catalogue counts events either way.)
    #[wasm_bindgen(js_name = recordEvent)]
    pub fn record_event(
        &self,
        #[wasm_bindgen(js_name = durationMs, unchecked_param_type = "number")] duration_ms: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "boolean")] ok: JsValue,
    ) -> Result<(), JsValue> {
        let duration_ms = args::number("recordEvent", "durationMs", &duration_ms)?;
        args::optional_boolean("recordEvent", "ok", &ok)?;
        self.catalogue.events_processed_total.increment(1);
        self.catalogue
            .event_processing_duration_ms
            .record(duration_ms);
        Ok(())
    }

    /// Sets `events_in_flight`.
    #[wasm_bindgen(js_name = setEventsInFlight)]
    pub fn set_events_in_flight(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] count: JsValue,
    ) -> Result<(), JsValue> {
        let count = args::number("setEventsInFlight", "count", &count)?;
        self.catalogue.events_in_flight.set(count);
        Ok(())
    }

    /// One action execution: `"success"`, `"failure"` or `"timeout"` (a timeout is also a
    /// failure), with its duration.
    #[wasm_bindgen(js_name = recordAction)]
    pub fn record_action(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ActionOutcome")] outcome: JsValue,
        #[wasm_bindgen(js_name = durationMs, unchecked_param_type = "number")] duration_ms: JsValue,
    ) -> Result<(), JsValue> {
        let outcome = args::string("recordAction", "outcome", &outcome)?;
        let duration_ms = args::number("recordAction", "durationMs", &duration_ms)?;
        let c = &self.catalogue;
        match outcome.as_str() {
            "success" => c.action_success_total.increment(1),
            "failure" => c.action_failure_total.increment(1),
            "timeout" => {
                c.action_failure_total.increment(1);
                c.action_timeout_total.increment(1);
            }
            other => {
                return Err(js_sys::RangeError::new(&format!(
                    "recordAction: outcome must be \"success\", \"failure\" or \"timeout\", got {}",
                    args::quoted(other)
                ))
                .into())
            }
        }
        c.actions_executed_total.increment(1);
        c.action_duration_ms.record(duration_ms);
        Ok(())
    }

    /// A job-queue operation: `"enqueued"`, `"processed"`, `"retry"` or `"deadletter"`.
    /// `queue_depth` follows: enqueued minus processed and dead-lettered, never below 0.
    #[wasm_bindgen(js_name = recordJob)]
    pub fn record_job(
        &self,
        #[wasm_bindgen(unchecked_param_type = "JobOperation")] operation: JsValue,
    ) -> Result<(), JsValue> {
        let operation = args::string("recordJob", "operation", &operation)?;
        let c = &self.catalogue;
        let depth = self.queue_depth.get();
        let depth = match operation.as_str() {
            "enqueued" => {
                c.queue_jobs_enqueued_total.increment(1);
                depth + 1.0
            }
            "processed" => {
                c.queue_jobs_processed_total.increment(1);
                (depth - 1.0).max(0.0)
            }
            "retry" => {
                c.queue_retry_total.increment(1);
                depth
            }
            "deadletter" => {
                c.queue_deadletter_total.increment(1);
                (depth - 1.0).max(0.0)
            }
            other => {
                return Err(js_sys::RangeError::new(&format!(
                    "recordJob: operation must be \"enqueued\", \"processed\", \"retry\" or \"deadletter\", got {}",
                    args::quoted(other)
                ))
                .into())
            }
        };
        self.queue_depth.set(depth);
        c.queue_depth.set(depth);
        Ok(())
    }

    /// A result-cache lookup (`cache_hit_rate` follows from the counters).
    #[wasm_bindgen(js_name = recordCacheLookup)]
    pub fn record_cache_lookup(
        &self,
        #[wasm_bindgen(unchecked_param_type = "boolean")] hit: JsValue,
    ) -> Result<(), JsValue> {
        let c = &self.catalogue;
        if args::boolean("recordCacheLookup", "hit", &hit)? {
            c.cache_hits_total.increment(1)
        } else {
            c.cache_misses_total.increment(1)
        }
        Ok(())
    }

    /// Sets `cache_size_bytes`.
    #[wasm_bindgen(js_name = setCacheSize)]
    pub fn set_cache_size(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] bytes: JsValue,
    ) -> Result<(), JsValue> {
        let bytes = args::number("setCacheSize", "bytes", &bytes)?;
        self.catalogue.cache_size_bytes.set(bytes);
        Ok(())
    }

    /// A dedup check (`dedup_hit_rate` follows from the counters).
    #[wasm_bindgen(js_name = recordDedupCheck)]
    pub fn record_dedup_check(
        &self,
        #[wasm_bindgen(unchecked_param_type = "boolean")] duplicate: JsValue,
    ) -> Result<(), JsValue> {
        let duplicate = args::boolean("recordDedupCheck", "duplicate", &duplicate)?;
        self.catalogue.dedup_checks_total.increment(1);
        if duplicate {
            self.catalogue.dedup_duplicates_found_total.increment(1);
        }
        Ok(())
    }

    /// A saved checkpoint and how long the save took.
    #[wasm_bindgen(js_name = recordCheckpointSave)]
    pub fn record_checkpoint_save(
        &self,
        #[wasm_bindgen(js_name = durationMs, unchecked_param_type = "number")] duration_ms: JsValue,
    ) -> Result<(), JsValue> {
        let duration_ms = args::number("recordCheckpointSave", "durationMs", &duration_ms)?;
        self.catalogue.checkpoint_saves_total.increment(1);
        self.catalogue
            .checkpoint_save_duration_ms
            .record(duration_ms);
        Ok(())
    }

    /// A checkpoint recovered at start.
    #[wasm_bindgen(js_name = recordCheckpointRecovery)]
    pub fn record_checkpoint_recovery(&self) {
        self.catalogue.checkpoint_recovery_total.increment(1);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        self.recorder.render()
    }

    /// Pushes the current totals with `options.method` (PUT, replacing the group, by default).
    /// Resolves when the gateway accepted them. Pushes of one instance never overlap: one asked for
    /// while another is in flight follows it with the newer totals.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn push(&self) -> Promise {
        self.shared.request(Verb::Push(self.shared.method()))
    }

    /// POST: replaces only the metric names pushed, whatever `options.method` says.
    #[wasm_bindgen(js_name = pushAdd)]
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn push_add(&self) -> Promise {
        self.shared.request(Verb::Push(PushMethod::Post))
    }

    /// DELETE: removes the group from the gateway (in turn with the pushes).
    #[wasm_bindgen(js_name = deleteGroup)]
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete_group(&self) -> Promise {
        self.shared.request(Verb::Delete)
    }

    /// Pushes (with `options.method`) only if `exportIntervalSecs` passed since the last push it or
    /// a `start()` tick began, or none was made; resolves `true` if it pushed, `false` if it was not
    /// due; rejects if the push failed. It decides at once, so of two calls in the same instant
    /// only one pushes. For edge workers: call it at the end of a request inside `waitUntil`.
    #[wasm_bindgen(js_name = pushIfDue, unchecked_return_type = "Promise<boolean>")]
    pub fn push_if_due(&self) -> Promise {
        let now = js_sys::Date::now();
        let due = self
            .shared
            .last_attempt
            .get()
            .is_none_or(|last| now - last >= self.shared.interval_ms);
        if !due {
            return Promise::resolve(&JsValue::FALSE);
        }
        self.shared.last_attempt.set(Some(now));
        self.shared.request(Verb::Due)
    }

    /// Writes the current values to the remote-write receiver (`options.remoteWriteUrl`). Writes
    /// of one instance never overlap; a counter or histogram series' first write starts with a 0
    /// sample, so `increase()` counts an instance that writes once.
    #[wasm_bindgen(js_name = remoteWrite, unchecked_return_type = "Promise<void>")]
    pub fn remote_write(&self) -> Promise {
        self.shared.request(Verb::Write)
    }

    /// The end of this instance: stops `start()`'s timer, then sends to every configured sink a
    /// last time: a push with `options.method`, and a remote write of the final values followed by
    /// a stale marker for every series, so the instance leaves instant queries at once.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn end(&self) -> Promise {
        self.stop();
        self.shared.request(Verb::End)
    }

    /// The `instance` label of every series written with remote write (given, or generated once
    /// per instance); `undefined` without `remoteWriteUrl`.
    #[wasm_bindgen(getter)]
    pub fn instance(&self) -> Option<String> {
        self.shared.writer.as_ref().map(|w| w.instance().to_owned())
    }

    /// Pushes right away and then every `exportIntervalSecs` with the host's `setInterval`
    /// (browsers, Deno, Node), with `options.method`. A failed push never rejects anywhere: it goes to `options.onError`
    /// (or one `console.error` per failure streak) and the next tick carries the full totals. The
    /// instance stays alive, pushing, until `stop()`, `free()` or `[Symbol.dispose]()`, even when
    /// nothing else refers to it; in Node the timer keeps the process alive until then.
    pub fn start(&self) -> Result<(), JsError> {
        if self.shared.pusher.is_none() && self.shared.writer.is_none() {
            return Err(JsError::new(NO_SINK));
        }
        self.stop();
        let shared = Rc::downgrade(&self.shared);
        let tick = Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = shared.upgrade() {
                wasm_bindgen_futures::spawn_local(shared.tick());
            }
        });
        let set_interval = Reflect::get(&js_sys::global(), &JsValue::from_str("setInterval"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or_else(|| {
                JsError::new("this host has no setInterval: call pushIfDue() instead")
            })?;
        let id = set_interval
            .call2(
                &JsValue::NULL,
                tick.as_ref(),
                &JsValue::from_f64(self.shared.interval_ms),
            )
            .map_err(|_| JsError::new("setInterval failed"))?;
        *self.shared.timer.borrow_mut() = Some((id, tick));
        // The first push right away, as the native exporter does: a page closed within the first
        // interval still sent what it had.
        wasm_bindgen_futures::spawn_local(self.shared.clone().tick());
        Ok(())
    }

    /// Stops the interval pushes started by `start()`.
    pub fn stop(&self) {
        if let Some((id, _tick)) = self.shared.timer.borrow_mut().take() {
            if let Some(clear) =
                Reflect::get(&js_sys::global(), &JsValue::from_str("clearInterval"))
                    .ok()
                    .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            {
                let _ = clear.call1(&JsValue::NULL, &id);
            }
        }
    }
}

impl Drop for ObserverMetrics {
    /// `free()`, `[Symbol.dispose]()` or the garbage collector: the timer goes first, so it never
    /// calls into a freed instance.
    fn drop(&mut self) {
        self.stop();
    }
}
