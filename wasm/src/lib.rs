//! observer-metrics for wasm32 hosts (browsers, Node, Deno, edge workers): the core crate's
//! recorder, encoder and push client, as the engine under the npm package's JS API
//! (`wasm/js/api.js`). Only the clock, the timer and the HTTP call differ from native, and those
//! live in the core crate's `platform` seam; this crate keeps the handles JS records into and turns
//! JS values into core calls.
//!
//! The JS side resolves a label set to a slot here once and then crosses the boundary with
//! numbers only: a histogram's `observe(slot, value)` on every call, a counter's or gauge's sum
//! (`inc`, `set`, `add`) once per render or send, since every call into wasm costs about 40 ns in
//! Node 20 whatever it does.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod options;

pub use options::Settings;

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use js_sys::Promise;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use observer_metrics::observer::ObserverMetrics as Catalogue;
use observer_metrics::push::{GroupPusher, PushClient, PushMethod};
use observer_metrics::remote_write::RemoteWriter;
use observer_metrics::{MetricsBuilder, ObserverRecorder, RecorderHandle, SummarySeries};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

// Smaller than the standard library's dlmalloc (the module is sized against a budget); not faster
// here: 400,000 new series from JS took up to 7% longer. Recording into known series allocates
// nothing. The module is single-threaded, which is what this allocator assumes.
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

static META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The key of `name` with `pairs`: label names and values, each ended by a NUL (the JS side
/// refuses a NUL inside a value).
fn key(name: &str, pairs: &str) -> Key {
    let labels: Vec<Label> = options::pairs(pairs)
        .map(|(k, v)| Label::new(k.to_owned(), v.to_owned()))
        .collect();
    Key::from_parts(name.to_owned(), labels)
}

/// The sinks, shared with the promises a send returns.
struct Shared {
    /// Renders and pushes, one push at a time: a push asked for while one is in flight waits for
    /// it and then sends the newer totals, so the gateway never gets an older body last.
    pusher: Option<GroupPusher>,
    /// Writes to a remote-write receiver, one write at a time, with the same guarantees.
    writer: Option<RemoteWriter>,
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
            Verb::End | Verb::All => {
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
        result
            .map(|()| JsValue::UNDEFINED)
            .map_err(|e| JsError::new(&e.to_string()).into())
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
            web_sys_console_error(&format!(
                "observer-metrics: internal error, this instance cannot go on: {info}"
            ))
        }))
    });
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_sys_console_error(message: &str);
}

/// What a slot holds, by the kind the JS side names with a number (2 is a histogram).
const COUNTER: u8 = 0;
const GAUGE: u8 = 1;
const SUMMARY: u8 = 3;

/// Handles by slot, and the slots freed by `release` for reuse.
struct Slots<T> {
    handles: Vec<T>,
    free: Vec<u32>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            handles: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    fn put(&mut self, handle: T) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.handles[slot as usize] = handle;
                slot
            }
            None => {
                self.handles.push(handle);
                (self.handles.len() - 1) as u32
            }
        }
    }

    /// Drops the handle at `slot` (a no-op handle takes its place) and frees the slot.
    fn take(&mut self, slot: u32, noop: T) {
        if let Some(handle) = self.handles.get_mut(slot as usize) {
            *handle = noop;
            self.free.push(slot);
        }
    }
}

/// The recorder, its sinks and the handles JS records into. The npm package's `ObserverMetrics`
/// wraps one; this class is not its public API.
#[wasm_bindgen(js_name = Core)]
pub struct ObserverMetrics {
    recorder: ObserverRecorder,
    handle: RecorderHandle,
    /// Registered at the first `record*` call, so an app that never uses the observer catalogue
    /// renders only its own series.
    catalogue: OnceCell<Catalogue>,
    shared: Rc<Shared>,
    queue_depth: Cell<f64>,
    counters: RefCell<Slots<Counter>>,
    gauges: RefCell<Slots<Gauge>>,
    histograms: RefCell<Slots<Histogram>>,
    summaries: RefCell<Slots<SummarySeries>>,
}

#[wasm_bindgen(js_class = Core)]
impl ObserverMetrics {
    /// A recorder and its sinks from `settings`; what the core refuses throws
    /// `field NUL value NUL reason`.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: Settings) -> Result<ObserverMetrics, JsValue> {
        report_panics();
        let builder = MetricsBuilder::from_config(settings.into_config()?);
        let recorder = builder.build_recorder().map_err(options::config_error)?;
        let config = builder.into_config().map_err(options::config_error)?;
        let handle = recorder.handle();
        let writer = match config.remote_write {
            Some(rw) => Some(RemoteWriter::new(handle.clone(), rw).map_err(options::config_error)?),
            None => None,
        };
        let pusher = match config.push {
            Some(push) => {
                let client = PushClient::new(push).map_err(options::config_error)?;
                Some(GroupPusher::new(handle.clone(), client))
            }
            None => None,
        };
        Ok(ObserverMetrics {
            recorder,
            handle,
            catalogue: OnceCell::new(),
            shared: Rc::new(Shared { pusher, writer }),
            queue_depth: Cell::new(0.0),
            counters: RefCell::default(),
            gauges: RefCell::default(),
            histograms: RefCell::default(),
            summaries: RefCell::default(),
        })
    }

    fn catalogue(&self) -> &Catalogue {
        self.catalogue.get_or_init(|| Catalogue::new(&self.handle))
    }

    /// The slot of the series `name` with `pairs` (label names and values, each ended by a NUL)
    /// of `kind` (0 counter, 1 gauge, 2 histogram, 3 summary), registered on first sight.
    pub fn register(&self, kind: u8, name: &str, pairs: &str) -> u32 {
        let key = key(name, pairs);
        let r = &self.recorder;
        match kind {
            COUNTER => self
                .counters
                .borrow_mut()
                .put(r.register_counter(&key, &META)),
            GAUGE => self.gauges.borrow_mut().put(r.register_gauge(&key, &META)),
            SUMMARY => self
                .summaries
                .borrow_mut()
                .put(self.handle.summary_series(&key)),
            _ => self
                .histograms
                .borrow_mut()
                .put(r.register_histogram(&key, &META)),
        }
    }

    /// Frees `slot` of `kind`, then removes the series `name` with `pairs` from the recorder if
    /// no other slot holds it; `true` when it was removed.
    pub fn release(&self, kind: u8, slot: u32, name: &str, pairs: &str) -> bool {
        self.forget(kind, slot);
        let key = key(name, pairs);
        match kind {
            COUNTER => self.handle.remove_counter(&key),
            GAUGE => self.handle.remove_gauge(&key),
            _ => self.handle.remove_histogram(&key),
        }
    }

    /// Frees `slot` of `kind`, leaving its series in the recorder.
    pub fn forget(&self, kind: u8, slot: u32) {
        match kind {
            COUNTER => self.counters.borrow_mut().take(slot, Counter::noop()),
            GAUGE => self.gauges.borrow_mut().take(slot, Gauge::noop()),
            SUMMARY => self
                .summaries
                .borrow_mut()
                .take(slot, SummarySeries::noop()),
            _ => self.histograms.borrow_mut().take(slot, Histogram::noop()),
        }
    }

    /// The HELP text of `name`.
    pub fn describe(&self, name: &str, help: &str) {
        self.recorder.describe_counter(
            KeyName::from(name.to_owned()),
            None,
            help.to_owned().into(),
        );
    }

    /// Gives the histogram `name` these buckets, or with `summary` makes it a summary of these
    /// quantiles (set by `summary`); `false` when it has a shape already (it recorded, or was
    /// given one before). Bad values throw, naming `field`.
    pub fn shape(
        &self,
        field: &str,
        name: &str,
        values: Vec<f64>,
        summary: bool,
    ) -> Result<bool, JsValue> {
        let handle = &self.handle;
        match summary {
            true => handle.set_summary_quantiles(field, name, &values),
            false => handle.set_histogram_buckets(field, name, &values),
        }
        .map_err(|e| js_sys::RangeError::new(&format!("{}: {}", e.field, e.reason)).into())
    }

    /// Whether the summary in `slot` is its family's overflow series, which every label set past
    /// `maxSeriesPerMetric` shares (JS merges what it sets into it).
    pub fn overflowed(&self, slot: u32) -> bool {
        self.summaries
            .borrow()
            .handles
            .get(slot as usize)
            .is_some_and(SummarySeries::is_overflow)
    }

    /// Sets the summary in `slot`: its lifetime count and sum, and its quantiles (computed in JS,
    /// where its observations are kept).
    pub fn summary(&self, slot: u32, count: f64, sum: f64, quantiles: Vec<f64>) {
        if let Some(s) = self.summaries.borrow().handles.get(slot as usize) {
            s.set(count as u64, sum, &quantiles);
        }
    }

    /// Adds `value` (checked by the caller: a whole number >= 0) to the counter in `slot`.
    pub fn inc(&self, slot: u32, value: f64) {
        if let Some(c) = self.counters.borrow().handles.get(slot as usize) {
            c.increment(value as u64);
        }
    }

    /// Sets the gauge in `slot`.
    pub fn set(&self, slot: u32, value: f64) {
        if let Some(g) = self.gauges.borrow().handles.get(slot as usize) {
            g.set(value);
        }
    }

    /// Adds `value` (negative to subtract) to the gauge in `slot`.
    pub fn add(&self, slot: u32, value: f64) {
        if let Some(g) = self.gauges.borrow().handles.get(slot as usize) {
            g.increment(value);
        }
    }

    /// Records `value` in the histogram in `slot`.
    pub fn observe(&self, slot: u32, value: f64) {
        if let Some(h) = self.histograms.borrow().handles.get(slot as usize) {
            h.record(value);
        }
    }

    // The observer catalogue, registered at the first of these calls. The JS side checks the
    // arguments and names them in its errors.

    /// One processed event: `events_processed_total` and `event_processing_duration_ms`.
    #[wasm_bindgen(js_name = recordEvent)]
    pub fn record_event(&self, duration_ms: f64) {
        let c = self.catalogue();
        c.events_processed_total.increment(1);
        c.event_processing_duration_ms.record(duration_ms);
    }

    /// Sets `events_in_flight`.
    #[wasm_bindgen(js_name = setEventsInFlight)]
    pub fn set_events_in_flight(&self, count: f64) {
        self.catalogue().events_in_flight.set(count);
    }

    /// One action execution: 0 success, 1 failure, 2 timeout (a timeout is also a failure).
    #[wasm_bindgen(js_name = recordAction)]
    pub fn record_action(&self, outcome: u8, duration_ms: f64) {
        let c = self.catalogue();
        match outcome {
            0 => c.action_success_total.increment(1),
            1 => c.action_failure_total.increment(1),
            _ => {
                c.action_failure_total.increment(1);
                c.action_timeout_total.increment(1);
            }
        }
        c.actions_executed_total.increment(1);
        c.action_duration_ms.record(duration_ms);
    }

    /// A job-queue operation: 0 enqueued, 1 processed, 2 retry, 3 dead-lettered. `queue_depth`
    /// follows: enqueued minus processed and dead-lettered, never below 0.
    #[wasm_bindgen(js_name = recordJob)]
    pub fn record_job(&self, operation: u8) {
        let c = self.catalogue();
        let depth = self.queue_depth.get();
        let depth = match operation {
            0 => {
                c.queue_jobs_enqueued_total.increment(1);
                depth + 1.0
            }
            1 => {
                c.queue_jobs_processed_total.increment(1);
                (depth - 1.0).max(0.0)
            }
            2 => {
                c.queue_retry_total.increment(1);
                depth
            }
            _ => {
                c.queue_deadletter_total.increment(1);
                (depth - 1.0).max(0.0)
            }
        };
        self.queue_depth.set(depth);
        c.queue_depth.set(depth);
    }

    /// A result-cache lookup (`cache_hit_rate` follows from the counters).
    #[wasm_bindgen(js_name = recordCacheLookup)]
    pub fn record_cache_lookup(&self, hit: bool) {
        let c = self.catalogue();
        if hit {
            c.cache_hits_total.increment(1)
        } else {
            c.cache_misses_total.increment(1)
        }
    }

    /// Sets `cache_size_bytes`.
    #[wasm_bindgen(js_name = setCacheSize)]
    pub fn set_cache_size(&self, bytes: f64) {
        self.catalogue().cache_size_bytes.set(bytes);
    }

    /// A dedup check (`dedup_hit_rate` follows from the counters).
    #[wasm_bindgen(js_name = recordDedupCheck)]
    pub fn record_dedup_check(&self, duplicate: bool) {
        let c = self.catalogue();
        c.dedup_checks_total.increment(1);
        if duplicate {
            c.dedup_duplicates_found_total.increment(1);
        }
    }

    /// A saved checkpoint and how long the save took.
    #[wasm_bindgen(js_name = recordCheckpointSave)]
    pub fn record_checkpoint_save(&self, duration_ms: f64) {
        let c = self.catalogue();
        c.checkpoint_saves_total.increment(1);
        c.checkpoint_save_duration_ms.record(duration_ms);
    }

    /// A checkpoint recovered at start.
    #[wasm_bindgen(js_name = recordCheckpointRecovery)]
    pub fn record_checkpoint_recovery(&self) {
        self.catalogue().checkpoint_recovery_total.increment(1);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        self.recorder.render()
    }

    /// Sends to the sinks: 0 a push with `options.method`, 1 a POST push, 2 a DELETE of the
    /// group, 3 a remote write, 4 the end (the last push, the last write and stale markers), 5 a
    /// push and a remote write. Resolves when every sink concerned took it.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn send(&self, verb: u8) -> Promise {
        let verb = match verb {
            0 => Verb::Push(self.shared.method()),
            1 => Verb::Push(PushMethod::Post),
            2 => Verb::Delete,
            3 => Verb::Write,
            4 => Verb::End,
            _ => Verb::All,
        };
        future_to_promise(self.shared.clone().send(verb))
    }

    /// Whether a Pushgateway or a remote-write receiver was given.
    #[wasm_bindgen(getter, js_name = hasSink)]
    pub fn has_sink(&self) -> bool {
        self.shared.pusher.is_some() || self.shared.writer.is_some()
    }

    /// The `instance` label of every series written with remote write (given, or generated once
    /// per instance); `undefined` without `remoteWriteUrl`.
    #[wasm_bindgen(getter)]
    pub fn instance(&self) -> Option<String> {
        self.shared.writer.as_ref().map(|w| w.instance().to_owned())
    }
}
