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

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect};
use metrics::{Key, Label, Level, Metadata, Recorder};
use observer_metrics::push::{GroupPusher, PushClient, PushConfig, PushMethod};
use observer_metrics::{MetricsConfig, ObserverMetrics as Catalogue, ObserverRecorder};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

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

/// `options.name` if present and not `undefined`/`null`.
fn field(options: &JsValue, name: &str) -> Result<Option<JsValue>, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    let value = Reflect::get(options, &JsValue::from_str(name))
        .map_err(|_| JsError::new(&format!("options.{name} could not be read")))?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

/// `options.name` converted by `convert`, which names the expected type when it fails.
fn typed_field<T>(
    options: &JsValue,
    name: &str,
    (convert, expected): (fn(&JsValue) -> Option<T>, &str),
) -> Result<Option<T>, JsError> {
    field(options, name)?
        .map(|v| {
            convert(&v).ok_or_else(|| JsError::new(&format!("options.{name} must be {expected}")))
        })
        .transpose()
}

const STRING: (fn(&JsValue) -> Option<String>, &str) = (JsValue::as_string, "a string");
const NUMBER: (fn(&JsValue) -> Option<f64>, &str) = (JsValue::as_f64, "a number");

/// A plain object of strings as sorted pairs; `what` names it in errors.
fn string_map(value: &JsValue, what: &str) -> Result<BTreeMap<String, String>, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(BTreeMap::new());
    }
    let object = value
        .dyn_ref::<Object>()
        .ok_or_else(|| JsError::new(&format!("{what} must be a plain object of strings")))?;
    let mut map = BTreeMap::new();
    for entry in Object::entries(object).iter() {
        let pair = Array::from(&entry);
        let key = pair.get(0).as_string().unwrap_or_default();
        let value = pair
            .get(1)
            .as_string()
            .ok_or_else(|| JsError::new(&format!("{what}.{key} must be a string")))?;
        map.insert(key, value);
    }
    Ok(map)
}

/// The core config from the JS options object.
fn config_from(options: &JsValue) -> Result<MetricsConfig, JsError> {
    let mut config = MetricsConfig::default();
    if let Some(secs) = typed_field(options, "exportIntervalSecs", NUMBER)? {
        if !(secs >= 1.0 && secs.fract() == 0.0 && secs <= u32::MAX as f64) {
            return Err(JsError::new(&format!(
                "options.exportIntervalSecs must be a whole number of seconds >= 1, got {secs}"
            )));
        }
        config.export_interval_secs = secs as u64;
    }
    if let Some(buckets) = field(options, "histogramBuckets")? {
        let array = buckets
            .dyn_ref::<Array>()
            .ok_or_else(|| JsError::new("options.histogramBuckets must be an array of numbers"))?;
        config.histogram_buckets = array
            .iter()
            .map(|b| {
                b.as_f64().ok_or_else(|| {
                    JsError::new("options.histogramBuckets must be an array of numbers")
                })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(rate) = typed_field(options, "sampleRate", NUMBER)? {
        config.sample_rate = rate;
    }
    config.prefix = typed_field(options, "prefix", STRING)?;
    if let Some(labels) = field(options, "globalLabels")? {
        config.global_labels = string_map(&labels, "options.globalLabels")?;
    }
    let url = typed_field(options, "pushgatewayUrl", STRING)?;
    if let Some(url) = url {
        let job = typed_field(options, "job", STRING)?
            .ok_or_else(|| JsError::new("options.job is required with pushgatewayUrl"))?;
        let mut push = PushConfig::new(url, job);
        if let Some(grouping) = field(options, "groupingKey")? {
            push.grouping = string_map(&grouping, "options.groupingKey")?;
        }
        if let Some(headers) = field(options, "headers")? {
            push.headers = string_map(&headers, "options.headers")?;
        }
        push.method = match typed_field(options, "method", STRING)?.as_deref() {
            None | Some("put") => PushMethod::Put,
            Some("post") => PushMethod::Post,
            Some(other) => {
                return Err(JsError::new(&format!(
                    "options.method must be \"put\" or \"post\", got {other:?}"
                )))
            }
        };
        if let Some(ms) = typed_field(options, "timeoutMs", NUMBER)? {
            if !(ms >= 1.0 && ms.is_finite()) {
                return Err(JsError::new(&format!(
                    "options.timeoutMs must be at least 1, got {ms}"
                )));
            }
            push.timeout_ms = ms as u64;
        }
        config.push = Some(push);
    }
    config
        .validate()
        .map_err(|e| JsError::new(&e.to_string()))?;
    Ok(config)
}

/// The series key of `name` with `labels`, a plain object of strings (or nothing).
fn key(name: &str, labels: &JsValue) -> Result<Key, JsError> {
    let labels: Vec<Label> = string_map(labels, "labels")?
        .into_iter()
        .map(|(k, v)| Label::new(k, v))
        .collect();
    Ok(Key::from_parts(name.to_owned(), labels))
}

/// A running `setInterval`: its id, and the callback it holds (dropped with it).
type IntervalTimer = (JsValue, Closure<dyn FnMut()>);

/// State shared with the promises a push returns and with the interval timer.
struct Shared {
    /// Renders and pushes, one push at a time: a push asked for while one is in flight waits for
    /// it and then sends the newer totals, so the gateway never gets an older body last.
    pusher: Option<GroupPusher>,
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

    async fn send(self: Rc<Self>, verb: Verb) -> Result<JsValue, JsValue> {
        let pusher = self.pusher()?;
        let result = match verb {
            Verb::Push(method) => pusher.push(method).await,
            Verb::Delete => pusher.delete().await,
        };
        result
            .map(|()| JsValue::UNDEFINED)
            .map_err(|e| JsError::new(&e.to_string()).into())
    }

    /// One start() tick: push, and report a failure instead of leaving a rejected promise that
    /// Node and Deno would end the process for.
    async fn tick(self: Rc<Self>) {
        self.last_attempt.set(Some(js_sys::Date::now()));
        let result = self.clone().send(Verb::Push(self.method())).await;
        let was_failing = self.failing.replace(result.is_err());
        match (result, &self.on_error) {
            (Err(error), Some(on_error)) => {
                // A throwing callback must not end the timer either.
                let _ = on_error.call1(&JsValue::NULL, &error);
            }
            (Err(error), None) if !was_failing => {
                console_log("error", &format!(
                    "observer-metrics: interval push failed (retrying every {} s; further failures are not logged until one succeeds): {}",
                    self.interval_ms / 1000.0,
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
        .unwrap_or_else(|| format!("{error:?}"))
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
    ) -> Result<ObserverMetrics, JsError> {
        let config = config_from(&options)?;
        let recorder = ObserverRecorder::new(&config).map_err(|e| JsError::new(&e.to_string()))?;
        let handle = recorder.handle();
        let catalogue = Catalogue::new(&handle);
        let pusher = match config.push {
            Some(push) => {
                let client = PushClient::new(push).map_err(|e| JsError::new(&e.to_string()))?;
                Some(GroupPusher::new(handle, client))
            }
            None => None,
        };
        let on_error = match field(&options, "onError")? {
            Some(f) => Some(
                f.dyn_into::<js_sys::Function>()
                    .map_err(|_| JsError::new("options.onError must be a function"))?,
            ),
            None => None,
        };
        let shared = Rc::new(Shared {
            pusher,
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
    /// strings.
    pub fn counter(
        &self,
        name: &str,
        value: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, string>")] labels: JsValue,
    ) -> Result<(), JsError> {
        if !(value >= 0.0 && value.fract() == 0.0 && value <= u64::MAX as f64) {
            return Err(JsError::new(&format!(
                "counter {name}: increments must be whole numbers >= 0, got {value}"
            )));
        }
        self.recorder
            .register_counter(&key(name, &labels)?, &META)
            .increment(value as u64);
        Ok(())
    }

    /// Sets the gauge `name` to `value`.
    pub fn gauge(
        &self,
        name: &str,
        value: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, string>")] labels: JsValue,
    ) -> Result<(), JsError> {
        self.recorder
            .register_gauge(&key(name, &labels)?, &META)
            .set(value);
        Ok(())
    }

    /// Records `value` in the histogram `name`.
    pub fn histogram(
        &self,
        name: &str,
        value: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, string>")] labels: JsValue,
    ) -> Result<(), JsError> {
        self.recorder
            .register_histogram(&key(name, &labels)?, &META)
            .record(value);
        Ok(())
    }

    /// One processed event: `events_processed_total` and `event_processing_duration_ms`. (`ok` is
    /// accepted for symmetry with actions; the catalogue counts events either way.)
    #[wasm_bindgen(js_name = recordEvent)]
    pub fn record_event(
        &self,
        #[wasm_bindgen(js_name = durationMs)] duration_ms: f64,
        ok: Option<bool>,
    ) {
        let _ = ok;
        self.catalogue.events_processed_total.increment(1);
        self.catalogue
            .event_processing_duration_ms
            .record(duration_ms);
    }

    /// Sets `events_in_flight`.
    #[wasm_bindgen(js_name = setEventsInFlight)]
    pub fn set_events_in_flight(&self, count: f64) {
        self.catalogue.events_in_flight.set(count);
    }

    /// One action execution: `"success"`, `"failure"` or `"timeout"` (a timeout is also a
    /// failure), with its duration.
    #[wasm_bindgen(js_name = recordAction)]
    pub fn record_action(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ActionOutcome")] outcome: &str,
        #[wasm_bindgen(js_name = durationMs)] duration_ms: f64,
    ) -> Result<(), JsError> {
        let c = &self.catalogue;
        match outcome {
            "success" => c.action_success_total.increment(1),
            "failure" => c.action_failure_total.increment(1),
            "timeout" => {
                c.action_failure_total.increment(1);
                c.action_timeout_total.increment(1);
            }
            other => {
                return Err(JsError::new(&format!(
                    "recordAction: outcome must be \"success\", \"failure\" or \"timeout\", got {other:?}"
                )))
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
        #[wasm_bindgen(unchecked_param_type = "JobOperation")] operation: &str,
    ) -> Result<(), JsError> {
        let c = &self.catalogue;
        let depth = self.queue_depth.get();
        let depth = match operation {
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
                return Err(JsError::new(&format!(
                    "recordJob: operation must be \"enqueued\", \"processed\", \"retry\" or \"deadletter\", got {other:?}"
                )))
            }
        };
        self.queue_depth.set(depth);
        c.queue_depth.set(depth);
        Ok(())
    }

    /// A result-cache lookup (`cache_hit_rate` follows from the counters).
    #[wasm_bindgen(js_name = recordCacheLookup)]
    pub fn record_cache_lookup(&self, hit: bool) {
        let c = &self.catalogue;
        if hit {
            c.cache_hits_total.increment(1)
        } else {
            c.cache_misses_total.increment(1)
        }
    }

    /// Sets `cache_size_bytes`.
    #[wasm_bindgen(js_name = setCacheSize)]
    pub fn set_cache_size(&self, bytes: f64) {
        self.catalogue.cache_size_bytes.set(bytes);
    }

    /// A dedup check (`dedup_hit_rate` follows from the counters).
    #[wasm_bindgen(js_name = recordDedupCheck)]
    pub fn record_dedup_check(&self, duplicate: bool) {
        self.catalogue.dedup_checks_total.increment(1);
        if duplicate {
            self.catalogue.dedup_duplicates_found_total.increment(1);
        }
    }

    /// A saved checkpoint and how long the save took.
    #[wasm_bindgen(js_name = recordCheckpointSave)]
    pub fn record_checkpoint_save(&self, #[wasm_bindgen(js_name = durationMs)] duration_ms: f64) {
        self.catalogue.checkpoint_saves_total.increment(1);
        self.catalogue
            .checkpoint_save_duration_ms
            .record(duration_ms);
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
        let shared = self.shared.clone();
        future_to_promise(async move {
            shared.clone().send(Verb::Push(shared.method())).await?;
            Ok(JsValue::TRUE)
        })
    }

    /// Pushes every `exportIntervalSecs` with the host's `setInterval` (browsers, Deno, Node),
    /// with `options.method`. A failed push never rejects anywhere: it goes to `options.onError`
    /// (or one `console.error` per failure streak) and the next tick carries the full totals. The
    /// instance stays alive, pushing, until `stop()`, `free()` or `[Symbol.dispose]()`, even when
    /// nothing else refers to it; in Node the timer keeps the process alive until then.
    pub fn start(&self) -> Result<(), JsError> {
        self.shared.pusher()?;
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
