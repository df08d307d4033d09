//! Writing a recorder to a remote-write receiver: identity, timestamps, the first `0` sample, stale
//! markers, batches, and sending with retries, one write at a time.

use super::settings::RemoteWriteConfig;
#[cfg(not(target_arch = "wasm32"))]
use crate::encoding::remote_write::NativeBytes;
use crate::encoding::remote_write::{
    snappy, write_request, Encoder, Kind, Known, Samples, TimeSeries, STALE_NAN,
};
use crate::error::ConfigError;
use crate::platform::{unix_time_secs, Body, HttpClient, HttpRequest};
use crate::recorder::walk::LineId;
use crate::recorder::RecorderHandle;
use crate::sinks::error::ExportError;
use crate::sinks::http::redact_url;
use crate::sinks::http::Outcomes;
use crate::sinks::lane::Lane;
#[cfg(not(target_arch = "wasm32"))]
use crate::sinks::spool::{Payload, Spool};
use crate::sinks::turn::Turn;

/// Milliseconds since the Unix epoch, by the wall clock.
fn unix_millis() -> i64 {
    (unix_time_secs() * 1000.0) as i64
}

/// A random instance id, `om-` and 16 hex digits: unique per recorder, process or isolate.
fn generated_instance() -> String {
    let mut bytes = [0u8; 8];
    // Without an entropy source (never seen), the clock still separates producers in practice.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = (unix_time_secs().to_bits() ^ unix_millis() as u64).to_le_bytes();
    }
    format!("om-{:016x}", u64::from_le_bytes(bytes))
}

/// What the writer remembers between writes. Locked only while a write encodes and while it marks
/// what was taken, never across a request: a write taken over from one that can no longer finish
/// (see [`Turns`](crate::sinks::turn::Turns)) finds it free.
struct State {
    /// The timestamp of the last sample written: every next one is later, whatever the clock does.
    last_ms: i64,
    /// When the last write was made, or when the writer started.
    last_write_ms: i64,
    /// Each line's encoded labels, with this writer's `job` and `instance`, and whether the
    /// receiver has a cumulative series' `0` sample.
    encoder: Encoder,
}

impl State {
    /// The timestamps of a write made at wall-clock time `wall`: its samples' time, later than
    /// any sample written before even when the wall clock stepped back; and where a new cumulative
    /// series' `0` goes: at the last write at the latest (it was created between that and now).
    fn stamps(&self, wall: i64) -> (i64, i64) {
        let now = wall.max(self.last_ms + 1);
        (now, self.last_write_ms.min(now - 1))
    }
}

/// Writes a recorder's series to a remote-write 1.0 receiver.
///
/// - Every series carries `job` and `instance`; the recorder renamed a series' own label of either
///   name `exported_job` / `exported_instance` at registration, as Prometheus does.
/// - The first time a counter or histogram series is written, a `0` sample goes first, at the
///   previous write's time (or the writer's start), so `increase()` and `rate()` count a producer
///   that writes only once.
/// - Timestamps are milliseconds, strictly increasing from one write to the next even when the
///   wall clock steps back: Prometheus refuses a whole request for one sample out of order.
/// - [`end`](Self::end) writes the final values, then a stale marker for every series, so an ended
///   producer leaves instant queries at once; range functions (`last_over_time`) skip the marker.
/// - 5xx, 429, no connection and timeouts are retried with the policy's backoff; any other answer
///   is final and its body is in the error.
pub struct RemoteWriter {
    recorder: RecorderHandle,
    config: RemoteWriteConfig,
    http: HttpClient,
    /// Where requests go, without credentials.
    target: String,
    /// The URL as errors show it, password as `***`.
    url: String,
    headers: Vec<(String, String)>,
    instance: String,
    /// Its sends one at a time (taken from the render to the receiver's answer), and its spool.
    lane: Lane,
    state: std::sync::Mutex<State>,
    /// Set when the run ends: interval writes stop, and one in flight makes no further attempt.
    stopping: std::sync::atomic::AtomicBool,
    outcomes: Outcomes,
}

impl std::fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("url", &self.url)
            .field("job", &self.config.job)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl RemoteWriter {
    /// Validates `config` and builds a writer of `recorder`.
    ///
    /// Fails when `recorder` was built without a `[remote_write]` table: such a recorder keeps a
    /// series' own `job` and `instance` labels as they are, and the writer's own would then appear
    /// twice, which a receiver refuses for the whole write. Build both from one config
    /// ([`MetricsBuilder`](crate::MetricsBuilder)).
    pub fn new(recorder: RecorderHandle, config: RemoteWriteConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        if let Some(name) = config
            .reserved()
            .labels
            .into_iter()
            .find(|name| !recorder.renames_label(name))
        {
            return Err(crate::error::invalid(
                "remote_write",
                name,
                "the recorder was built without remote write, so a series' own label of this name \
                 is not renamed exported_<name> and would go out twice: build the recorder and the \
                 writer from the same config (MetricsBuilder)",
            ));
        }
        let http = HttpClient::new(config.ca_file.as_deref()).map_err(|reason| {
            crate::error::invalid(
                "remote_write.ca_file",
                config.ca_file.as_deref().unwrap_or_default(),
                reason,
            )
        })?;
        let (target, mut headers) = crate::sinks::http::request_headers(
            &config.url,
            &config.headers,
            config.basic_auth.as_ref(),
            config.bearer_token.as_ref(),
        );
        headers.extend(
            super::PROTOCOL_HEADERS
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned())),
        );
        let instance = config.instance.clone().unwrap_or_else(generated_instance);
        let encoder = encoder_for(&config, &instance);
        let now = unix_millis();
        Ok(RemoteWriter {
            url: redact_url(&config.url).into_owned(),
            config,
            http,
            target,
            headers,
            instance,
            lane: Lane::default(),
            state: std::sync::Mutex::new(State {
                last_ms: now - 1,
                last_write_ms: now - 1,
                encoder,
            }),
            stopping: std::sync::atomic::AtomicBool::new(false),
            outcomes: Outcomes::register(&recorder, "remote_write"),
            recorder,
        })
    }

    /// Requests the receiver does not take go to `spool`, for a later replay.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn with_spool(mut self, spool: Option<std::sync::Arc<Spool>>) -> Self {
        self.lane.set_spool(spool);
        self
    }

    /// Its turns and its spool: a replay of the spool goes in its turn.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn lane(&self) -> &Lane {
        &self.lane
    }

    /// Where requests go, without credentials (what a spooled request names).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// The configured headers and the authorization, without the protocol's own.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn credentials(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(k, _)| !super::PROTOCOL_HEADERS.iter().any(|(p, _)| p == k))
            .cloned()
            .collect()
    }

    /// The HTTP client, for a replay of this receiver's spooled requests.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The `instance` label of every series this writer writes.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The receiver's URL, with any password shown as `***`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The settings.
    pub fn config(&self) -> &RemoteWriteConfig {
        &self.config
    }

    /// Writes that succeeded so far.
    pub fn successes(&self) -> u64 {
        self.outcomes.successes()
    }

    /// Writes that failed so far, after their retries.
    pub fn failures(&self) -> u64 {
        self.outcomes.failures()
    }

    /// The error of the last failed write, if any failed.
    pub fn last_error(&self) -> Option<ExportError> {
        self.outcomes.last_error()
    }

    /// Writes the current value of every series, after the write in flight if there is one.
    pub async fn write(&self) -> Result<(), ExportError> {
        self.write_with(Write::Now, &self.http, None)
            .await
            .map(|_| ())
    }

    /// Writes the final value of every series, then a stale marker for each: the producer has
    /// ended. A later `write` starts the series again.
    pub async fn end(&self) -> Result<(), ExportError> {
        self.write_with(Write::End, &self.http, None)
            .await
            .map(|_| ())
    }

    /// From now on interval writes are skipped, and one in flight makes no further attempt after
    /// its current request.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn stop_interval_writes(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// An interval write; `Ok(false)` when the run has ended and nothing was written.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) async fn write_interval(&self) -> Result<bool, ExportError> {
        self.write_with(Write::Interval, &self.http, None).await
    }

    /// [`end`](Self::end) as a run's last write, through `http` (a final write from another
    /// runtime brings its own connection pool): retried until `until`, not only the policy's
    /// tries; with a spool, its requests are written there first and stay until taken.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) async fn end_until(
        &self,
        http: &HttpClient,
        until: web_time::Instant,
    ) -> Result<(), ExportError> {
        self.write_with(Write::End, http, Some(until))
            .await
            .map(|_| ())
    }

    /// A fresh HTTP client with this writer's settings.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn fresh_client(&self) -> Result<HttpClient, String> {
        HttpClient::new(self.config.ca_file.as_deref())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn write_with(
        &self,
        kind: Write,
        http: &HttpClient,
        until: Option<web_time::Instant>,
    ) -> Result<bool, ExportError> {
        // A final write waits for its turn behind a write the receiver may never answer: with a
        // spool, its totals are on disk before that wait, so a signal during it loses nothing.
        #[cfg(not(target_arch = "wasm32"))]
        let provisional: Vec<_> = match (kind, until, self.lane.spool()) {
            (Write::End, Some(_), Some(spool)) if self.recorder.is_enabled() => self
                .provisional_end()
                .iter()
                .filter_map(|(body, _)| self.spool_one(spool, body))
                .collect(),
            _ => Vec::new(),
        };
        let turn = self.lane.turn().await;
        let stopping = || self.stopping.load(std::sync::atomic::Ordering::Relaxed);
        if kind == Write::Interval && stopping() {
            return Ok(false);
        }
        let give_up: &(dyn Fn() -> bool + Sync) = match kind {
            Write::Interval => &stopping,
            _ => &|| false,
        };
        if !self.recorder.is_enabled() {
            return Ok(true);
        }
        // A write taken over from one that stopped answering: that one's samples may have arrived,
        // so its new series' `0` is not sent again (at a timestamp the receiver may hold with
        // another value, a 400 for the whole request); their first value is.
        let Encoded {
            batches,
            new_lines,
            ended,
            previous_write_ms,
        } = self.encode(kind == Write::End, turn.taken_over());
        // Behind requests the receiver has not taken, this one goes to the spool after them, not
        // ahead of them.
        #[cfg(not(target_arch = "wasm32"))]
        let queue_only = self.lane.is_behind();
        #[cfg(target_arch = "wasm32")]
        let queue_only = false;
        #[cfg(not(target_arch = "wasm32"))]
        let ahead: Vec<_> = match (until, self.lane.spool()) {
            (Some(_), Some(spool)) if !queue_only => batches
                .iter()
                .map(|(b, _)| self.spool_one(spool, b))
                .collect(),
            _ => Vec::new(),
        };
        // The real final write is on disk: it replaces the one made before the turn.
        #[cfg(not(target_arch = "wasm32"))]
        let mut provisional = provisional;
        #[cfg(not(target_arch = "wasm32"))]
        if !ahead.is_empty() && ahead.iter().all(Option::is_some) {
            std::mem::take(&mut provisional)
                .into_iter()
                .for_each(|file| file.discard());
        }
        let (sent, queued, result) = match queue_only {
            #[cfg(not(target_arch = "wasm32"))]
            true => self.queue(&batches),
            _ => {
                self.send_batches(
                    http,
                    &batches,
                    give_up,
                    &turn,
                    until,
                    #[cfg(not(target_arch = "wasm32"))]
                    ahead,
                )
                .await
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        {
            if queued {
                self.lane.set_behind(true);
            }
            // Delivered or on disk: the one made before the turn has no more use.
            if queued || result.is_ok() {
                provisional.into_iter().for_each(|file| file.discard());
            }
        }
        let mut state = self.state();
        // Requests left in the spool are delivered before any later write of this writer (it is
        // behind until a replay delivers them), so what they carry counts as sent: a later write
        // repeating a new series' `0`, older than the samples before it, would be refused whole.
        let sent = match queued {
            true => new_lines.len() + ended.len(),
            false => sent,
        };
        if result.is_err() && !queued {
            // The next write's `0` for a series this one created goes at the same time as this
            // one's, so a write that arrived unanswered and the next agree sample for sample.
            state.last_write_ms = previous_write_ms;
        }
        let accepted = new_lines[..sent.min(new_lines.len())].iter().flatten();
        state.encoder.mark_zeroed(accepted.copied());
        let ends_taken = &ended[..sent.saturating_sub(new_lines.len())];
        state.encoder.mark_ended(ends_taken.iter().copied());
        self.outcomes.record(&result);
        result.map(|()| true)
    }

    /// One write's requests, encoded under the state's lock.
    fn encode(&self, end: bool, no_zero: bool) -> Encoded {
        let mut state = self.state();
        let (now, zero_at) = state.stamps(unix_millis());
        let stale = f64::from_bits(STALE_NAN);
        let state = &mut *state;
        let previous_write_ms = state.last_write_ms;
        let ended = state.encoder.collect(&self.recorder);
        let encoder = &state.encoder;
        let walked = encoder.walked();
        let mut series = Vec::with_capacity(walked.len() + ended.len());
        let mut new_lines = Vec::with_capacity(walked.len());
        for line in walked {
            let new = line.kind == Kind::Cumulative && !line.zeroed;
            let mut samples = match new && !no_zero {
                true => Samples::one(0.0, zero_at),
                false => Samples::one(line.value, now),
            };
            if new && !no_zero {
                samples.push(line.value, now);
            }
            if end {
                samples.push(stale, now + 1);
            }
            new_lines.push(new.then_some(line.id));
            series.push(series_of(encoder, line, samples));
        }
        // Series that left the exposition (idle expiry) end at once, as at `end`; after the
        // walked ones, so that what was sent tells which markers were taken.
        for &(_id, labels) in &ended {
            #[cfg_attr(target_arch = "wasm32", allow(unused_mut))]
            let mut series_ended =
                TimeSeries::floats(encoder.labels_at(labels), Samples::one(stale, now));
            #[cfg(not(target_arch = "wasm32"))]
            if Known::is_native(_id) {
                series_ended.native = Some(&ENDED);
            }
            series.push(series_ended);
        }
        state.last_ms = if end { now + 1 } else { now };
        state.last_write_ms = now;
        Encoded {
            batches: self.batches(&series),
            new_lines,
            ended: ended.iter().map(|&(id, _)| id).collect(),
            previous_write_ms,
        }
    }

    /// A final write's requests made before its turn, without the writer's state: each series'
    /// value and its stale marker, at a time no later write reuses. No `0` for a new series: the
    /// write holding the turn may have sent it, and another value at that time refuses the request.
    #[cfg(not(target_arch = "wasm32"))]
    fn provisional_end(&self) -> Vec<(Body, usize)> {
        let now = {
            let mut state = self.state();
            let (now, _) = state.stamps(unix_millis());
            state.last_ms = now + 1;
            now
        };
        let stale = f64::from_bits(STALE_NAN);
        let mut encoder = encoder_for(&self.config, &self.instance);
        encoder.collect(&self.recorder);
        let series: Vec<_> = encoder
            .walked()
            .iter()
            .map(|line| {
                let mut samples = Samples::one(line.value, now);
                samples.push(stale, now + 1);
                series_of(&encoder, line, samples)
            })
            .collect();
        self.batches(&series)
    }

    /// `series` in requests of at most `max_samples_per_send` samples (a series is never split),
    /// in order, each with the count of series sent once it is taken.
    fn batches(&self, series: &[TimeSeries<'_>]) -> Vec<(Body, usize)> {
        let limit = self.config.max_samples_per_send;
        let mut batches = Vec::new();
        let mut start = 0;
        while start < series.len() {
            let mut end = start;
            let mut samples = 0;
            while end < series.len()
                && (end == start || samples + series[end].samples.as_slice().len() <= limit)
            {
                samples += series[end].samples.as_slice().len();
                end += 1;
            }
            batches.push((Body::from(snappy(&write_request(&series[start..end]))), end));
            start = end;
        }
        batches
    }

    /// Sends `batches` in order. Returns how many series receivers took, and the outcome. With a
    /// spool, a final write's requests (`until` set) are in `ahead`, written there before they are
    /// sent, and any other write's requests go there once one fails; each stays until the
    /// receiver takes it.
    async fn send_batches(
        &self,
        http: &HttpClient,
        batches: &[(Body, usize)],
        give_up: &(dyn Fn() -> bool + Sync),
        turn: &Turn<'_>,
        until: Option<web_time::Instant>,
        #[cfg(not(target_arch = "wasm32"))] mut ahead: Vec<Option<crate::sinks::spool::Locked<'_>>>,
    ) -> (usize, bool, Result<(), ExportError>) {
        let mut taken = 0;
        for (at, (body, end)) in batches.iter().enumerate() {
            let sent = self
                .config
                .retry
                .run(
                    give_up,
                    Some(turn),
                    self.config.timeout(),
                    until,
                    ExportError::is_transient,
                    || self.send_once(http, body.clone()),
                )
                .await;
            if let Err(e) = sent {
                // An interval write cut short by the run's end is not lost: the final one follows.
                // A request the receiver refuses for good (native histograms it has disabled,
                // samples another producer of the same series overtook) it would refuse
                // replayed: an interval write's totals come again with the next, unspooled; a
                // final write's refused request is dropped as rejected, and the ones after it
                // stay on disk as usual.
                #[cfg(not(target_arch = "wasm32"))]
                let refused = matches!(e, ExportError::Refused { .. });
                #[cfg(not(target_arch = "wasm32"))]
                let queued = match (until, self.lane.spool(), give_up() || refused) {
                    (None, Some(spool), false) => batches[at..]
                        .iter()
                        .all(|(body, _)| self.spool_one(spool, body).is_some()),
                    (Some(_), Some(_), _) if refused => {
                        if let Some(file) = ahead[at].take() {
                            file.drop_for("rejected");
                        }
                        let rest = &ahead[at + 1..];
                        !rest.is_empty() && rest.iter().all(Option::is_some)
                    }
                    (Some(_), Some(_), _) => ahead[at..].iter().all(Option::is_some),
                    _ => false,
                };
                #[cfg(target_arch = "wasm32")]
                let queued = false;
                return (taken, queued, Err(e));
            }
            #[cfg(not(target_arch = "wasm32"))]
            if let Some(file) = ahead.get_mut(at).and_then(Option::take) {
                file.delivered();
            }
            #[cfg(target_arch = "wasm32")]
            let _ = at;
            taken = *end;
        }
        (taken, false, Ok(()))
    }

    /// Spools `batches` unsent, behind what the spool holds for this receiver: an error that says
    /// so, and whether all of them are on disk.
    #[cfg(not(target_arch = "wasm32"))]
    fn queue(&self, batches: &[(Body, usize)]) -> (usize, bool, Result<(), ExportError>) {
        let queued = self.lane.spool().is_some_and(|spool| {
            batches
                .iter()
                .all(|(body, _)| self.spool_one(spool, body).is_some())
        });
        let error = ExportError::Other {
            method: "POST",
            url: self.url.clone(),
            cause: "queued in the spool behind requests the receiver has not taken yet".into(),
            source: None,
        };
        (0, queued, Err(error))
    }

    /// Writes one request to `spool`, locked until the caller settles it or drops it (kept).
    #[cfg(not(target_arch = "wasm32"))]
    fn spool_one<'s>(
        &self,
        spool: &'s Spool,
        body: &Body,
    ) -> Option<crate::sinks::spool::Locked<'s>> {
        let payload = Payload {
            sink: "remote_write",
            method: "POST",
            url: &self.target,
            group: &[],
            body,
            content_type: "",
        };
        spool.keep(&payload)
    }

    async fn send_once(&self, http: &HttpClient, body: Body) -> Result<(), ExportError> {
        let method = "POST";
        let request = HttpRequest {
            method,
            url: &self.target,
            headers: &self.headers,
            body: Some(body),
            timeout: self.config.timeout(),
        };
        let answer = ExportError::from_answer(
            method,
            &self.url,
            crate::sinks::error::REMOTE_WRITE_RECEIVER,
            self.config.timeout(),
            http.send(request).await,
        );
        // Native only: the wasm build has no native histograms, and generates its instance.
        #[cfg(not(target_arch = "wasm32"))]
        let answer = answer.map_err(super::live_refusal);
        answer
    }
}

/// The encoder of a writer with `config`, for `instance`.
fn encoder_for(config: &RemoteWriteConfig, instance: &str) -> Encoder {
    let encoder = Encoder::new(config.job.clone(), instance.to_owned());
    #[cfg(not(target_arch = "wasm32"))]
    let encoder = encoder.with_native_histograms(config.native_histograms);
    encoder
}

/// The stale marker of a native histogram series, which needs nothing of its buckets.
#[cfg(not(target_arch = "wasm32"))]
static ENDED: NativeBytes = NativeBytes::ENDED;

/// A walked line's series with `samples`: a native histogram line's written as `Histogram`s.
fn series_of<'e>(encoder: &'e Encoder, line: &'e Known, samples: Samples) -> TimeSeries<'e> {
    #[cfg_attr(target_arch = "wasm32", allow(unused_mut))]
    let mut series = TimeSeries::floats(encoder.labels(line), samples);
    #[cfg(not(target_arch = "wasm32"))]
    {
        series.native = line.native.as_deref();
    }
    series
}

/// One write, encoded: what `send_batches` sends and what the receiver's answer marks.
struct Encoded {
    /// The requests, each with the number of series sent once it is taken.
    batches: Vec<(Body, usize)>,
    /// For each walked series, its line if it is new (its `0` goes first).
    new_lines: Vec<Option<LineId>>,
    /// The lines that left the exposition, each getting a stale marker.
    ended: Vec<LineId>,
    /// When the write before this one was made.
    previous_write_ms: i64,
}

/// What a write is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// On the schedule: skipped once the run ends, and gives up retrying then.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    Interval,
    /// Asked for now.
    Now,
    /// The last: stale markers follow the values.
    End,
}

#[cfg(test)]
mod tests {
    use super::*;
    use observer_metrics_testkit::read_varint as varint;

    /// A writer of a recorder holding a counter, a gauge and a histogram, to a receiver never
    /// reached (these tests only encode).
    fn writer() -> RemoteWriter {
        let rw = RemoteWriteConfig::new("http://127.0.0.1:9/api/v1/write", "j");
        let recorder = crate::MetricsBuilder::new()
            .with_remote_write_config(rw.clone())
            .build_recorder()
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("a_total").increment(2);
            metrics::gauge!("b").set(3.0);
            metrics::histogram!("c_ms", &[("k", "v")]).record(4.0);
        });
        RemoteWriter::new(recorder.handle(), rw).unwrap()
    }

    /// Each series' samples `(value bits, timestamp)` in a compressed `WriteRequest`.
    fn samples_of(body: &[u8]) -> Vec<Vec<(u64, i64)>> {
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        let (mut at, mut all) = (0, Vec::new());
        while at < raw.len() {
            assert_eq!(raw[at], 0x0a);
            at += 1;
            let end = varint(&raw, &mut at) as usize + at;
            let mut series = Vec::new();
            while at < end {
                let tag = raw[at];
                at += 1;
                let len = varint(&raw, &mut at) as usize;
                if tag == 0x12 {
                    let sample = &raw[at..at + len];
                    let bits = u64::from_le_bytes(sample[1..9].try_into().unwrap());
                    let mut t = 10;
                    series.push((bits, varint(sample, &mut t) as i64));
                }
                at += len;
            }
            all.push(series);
        }
        all
    }

    /// After the first write of a series (its `0` taken), each write carries one sample a series:
    /// what an `Encoder` of the same producer writes at the same time.
    #[test]
    fn a_write_after_the_first_is_one_sample_per_series() {
        let writer = writer();
        let first = writer.encode(false, false);
        let taken = first.new_lines.iter().flatten().copied();
        writer.state().encoder.mark_zeroed(taken);
        let second = writer.encode(false, false);
        let at = writer.state().last_ms;
        let body = snap::raw::Decoder::new()
            .decompress_vec(&second.batches[0].0)
            .unwrap();
        let expected = Encoder::new("j", writer.instance()).encode(&writer.recorder, at);
        assert_eq!(body, expected);
    }

    /// An end's values and stale markers, and a provisional end's (each value then its marker,
    /// no `0`), leave the next write's timestamps after the marker's.
    #[test]
    fn an_end_leaves_the_clock_after_its_stale_markers() {
        let writer = writer();
        let later = unix_millis() + 3_600_000;
        for provisional in [false, true] {
            writer.state().last_ms = later;
            let batches = match provisional {
                true => writer.provisional_end(),
                false => writer.encode(true, false).batches,
            };
            assert_eq!(
                writer.state().last_ms,
                later + 2,
                "provisional: {provisional}"
            );
            let all: Vec<_> = batches.iter().flat_map(|(b, _)| samples_of(b)).collect();
            assert!(all.len() >= 14, "provisional: {provisional}: {all:?}");
            for series in all {
                let (value, stale) = match series.as_slice() {
                    [value, stale] => (value, stale),
                    // The first write: a cumulative series' `0` goes first.
                    [zero, value, stale] if !provisional => {
                        assert_eq!(zero.0, 0f64.to_bits());
                        assert!(zero.1 < later, "{series:?}");
                        (value, stale)
                    }
                    _ => panic!("provisional: {provisional}: {series:?}"),
                };
                assert_eq!(value.1, later + 1, "{series:?}");
                assert_eq!(*stale, (STALE_NAN, later + 2), "{series:?}");
            }
        }
    }

    fn state(last_ms: i64, last_write_ms: i64) -> State {
        State {
            last_ms,
            last_write_ms,
            encoder: Encoder::new("j", "i"),
        }
    }

    /// A producer without an `instance` of its own gets one that no other producer shares.
    #[test]
    fn a_generated_instance_is_unique_and_shaped() {
        let (a, b) = (generated_instance(), generated_instance());
        assert_ne!(a, b);
        for id in [&a, &b] {
            let digits = id.strip_prefix("om-").unwrap();
            assert_eq!(digits.len(), 16, "{id}");
            assert!(digits.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn timestamps_only_go_forward_when_the_clock_steps_back() {
        // The usual case: the wall clock.
        assert_eq!(state(1_000, 1_000).stamps(5_000), (5_000, 1_000));
        // The clock stepped back an hour: still after the last sample.
        assert_eq!(
            state(5_000, 5_000).stamps(5_000 - 3_600_000),
            (5_001, 5_000)
        );
        // After an end (stale markers at last write + 1): after those too.
        assert_eq!(state(5_001, 5_000).stamps(5_001), (5_002, 5_000));
        // A zero is always before the value.
        let (now, zero) = state(0, 10_000).stamps(3);
        assert!(zero < now, "{zero} {now}");
    }
}
