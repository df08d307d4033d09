//! One group's pushes, one at a time, on native and wasm alike.
//!
//! A push renders only once the previous push of the same group has finished, so bodies reach the
//! gateway in the order they were rendered: a slow older push can never land after a newer one and
//! send counters backwards. A push asked for while another is in flight waits for it and then
//! carries the newer totals.
//!
//! The turns are [`Turns`](crate::sinks::turn::Turns): a push whose I/O can no longer settle (workerd cancels what a request
//! that ended left pending) loses its turn once overdue, rather than holding every later push.
//!
//! Stopping (shutdown, drop) must not cut a request that may already be on the wire: the gateway
//! could still apply that older body after the final one. So [`GroupPusher::stop_interval_pushes`]
//! only stops retries and new interval pushes; the final push then waits its turn at the gate.

use std::sync::atomic::AtomicBool;
#[cfg(not(target_arch = "wasm32"))]
use std::sync::atomic::Ordering::Relaxed;

use super::client::{PushClient, Rendered};
#[cfg(not(target_arch = "wasm32"))]
use super::settings::PushFormat;
use super::settings::PushMethod;
use crate::encoding::wire::TEXT_CONTENT_TYPE;
use crate::recorder::RecorderHandle;
use crate::sinks::error::ExportError;
use crate::sinks::http::Outcomes;
use crate::sinks::lane::Lane;
#[cfg(not(target_arch = "wasm32"))]
use crate::sinks::spool::{Payload, Spool};
use crate::sinks::turn::Turn;

/// Which push of a run this is; with `method = "put"` it decides the HTTP method.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// At start, every interval, and on `flush`: the run is not complete yet.
    Interval,
    /// The last push of a run that completed (shutdown, or a successful batch).
    Complete,
    /// The last push of a run that failed or was cut short.
    Incomplete,
}

#[cfg(not(target_arch = "wasm32"))]
impl Phase {
    /// With `put`, only a completed run replaces the group: until then pushes use POST, which
    /// replaces just the names they carry, so a run that dies never erases what the last good run
    /// left (its `batch_last_success_timestamp_seconds` above all). With `post`, always POST.
    pub(crate) fn method(self, configured: PushMethod) -> PushMethod {
        match (configured, self) {
            (PushMethod::Put, Phase::Complete) => PushMethod::Put,
            _ => PushMethod::Post,
        }
    }
}

/// Renders a recorder and pushes it to one group, one push at a time, keeping count of outcomes
/// (also on the recorder, as `observer_metrics_pushes_total{sink="pushgateway",result}` and
/// `observer_metrics_last_push_success_timestamp_seconds{sink="pushgateway"}`).
///
/// A push renders only once the previous push of this pusher was answered, so the gateway never
/// receives an older body after a newer one. The interval [`Exporter`](crate::export::Exporter)
/// and the wasm package push through one.
pub struct GroupPusher {
    recorder: RecorderHandle,
    client: PushClient,
    /// Its sends one at a time (taken from the render to the receiver's answer), and its spool.
    lane: Lane,
    /// Set when the run ends: interval pushes stop, and one in flight makes no further attempt.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    stopping: AtomicBool,
    outcomes: Outcomes,
}

impl std::fmt::Debug for GroupPusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupPusher")
            .field("url", &self.client.url())
            .finish_non_exhaustive()
    }
}

impl GroupPusher {
    /// Pushes `recorder`'s renders through `client`.
    pub fn new(recorder: RecorderHandle, client: PushClient) -> Self {
        GroupPusher {
            outcomes: Outcomes::register(&recorder, "pushgateway"),
            recorder,
            client,
            lane: Lane::default(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Final pushes go through `spool`: written before they are sent, removed once the gateway
    /// took them.
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

    /// The client pushes go through.
    pub fn client(&self) -> &PushClient {
        &self.client
    }

    /// The recorder rendered.
    pub fn recorder(&self) -> &RecorderHandle {
        &self.recorder
    }

    /// Pushes that succeeded so far (retries within one push count once).
    pub fn successes(&self) -> u64 {
        self.outcomes.successes()
    }

    /// Pushes that failed so far, after their retries.
    pub fn failures(&self) -> u64 {
        self.outcomes.failures()
    }

    /// The error of the last failed push, if any failed.
    pub fn last_error(&self) -> Option<ExportError> {
        self.outcomes.last_error()
    }

    /// From now on interval pushes are skipped, and one in flight makes no further attempt after
    /// its current request. (Native only: on wasm the JS host drives the interval.)
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn stop_interval_pushes(&self) {
        self.stopping.store(true, Relaxed);
    }

    /// An interval push (or a flush); `Ok(false)` when the run has ended and nothing was sent.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) async fn push_interval(&self, method: PushMethod) -> Result<bool, ExportError> {
        let turn = self.lane.turn().await;
        if self.stopping.load(Relaxed) {
            return Ok(false);
        }
        let stopping = || self.stopping.load(Relaxed);
        self.send(&self.client, method, &stopping, &turn)
            .await
            .map(|()| true)
    }

    /// Renders and pushes with `method` once the push in flight, if any, was answered; retries
    /// transient failures as the client's policy says.
    pub async fn push(&self, method: PushMethod) -> Result<(), ExportError> {
        self.push_via(&self.client, method).await
    }

    /// DELETE of the group, in turn with the pushes.
    pub async fn delete(&self) -> Result<(), ExportError> {
        self.delete_via(&self.client).await
    }

    /// [`push`](Self::push) through another client of the same group: a final push from another
    /// runtime brings its own connection pool.
    pub(crate) async fn push_via(
        &self,
        client: &PushClient,
        method: PushMethod,
    ) -> Result<(), ExportError> {
        let turn = self.lane.turn().await;
        self.send(client, method, &|| false, &turn).await
    }

    /// The final push of a run through `client`: retried until `until`, not only the policy's
    /// tries; with a spool (and no `delete_on_shutdown`, whose DELETE would follow), its body is
    /// written there first and stays when the gateway does not take it, for a later replay.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) async fn push_last(
        &self,
        client: &PushClient,
        method: PushMethod,
        until: web_time::Instant,
    ) -> Result<(), ExportError> {
        if !self.recorder.is_enabled() {
            return Ok(());
        }
        // Rendered and spooled before the turn: a push still in flight may hold it until the
        // deadline, and the run's last totals must be on disk by then. Interval pushes have
        // stopped, so nothing rendered after this one goes out before it.
        let (bytes, content_type) = self.render(client);
        let body = Rendered {
            bytes: &bytes,
            content_type,
        };
        let config = client.config();
        let group: Vec<(String, String)> = std::iter::once(("job".to_owned(), config.job.clone()))
            .chain(config.grouping.clone())
            .collect();
        let payload = Payload {
            sink: "pushgateway",
            method: method.as_str(),
            url: client.target(),
            group: &group,
            body: body.bytes,
            content_type: body.content_type,
        };
        let spool = self.lane.spool().filter(|_| !config.delete_on_shutdown);
        let early = spool.and_then(|spool| spool.keep(&payload));
        let turn = self.lane.turn().await;
        // Made again now that the push in flight was answered: a replay compares the gateway's
        // last push of the group with when the body was made, and that push may have landed
        // while this one waited. Without a new copy the early one stays.
        let spooled = match (early, spool.and_then(|spool| spool.keep(&payload))) {
            (Some(early), Some(now)) => {
                early.discard();
                Some(now)
            }
            (early, now) => now.or(early),
        };
        let result = client
            .push_rendered(method, body, &|| false, Some(&turn), Some(until))
            .await;
        self.outcomes.record(&result);
        if let (Ok(()), Some(file)) = (&result, spooled) {
            file.delivered();
        }
        result
    }

    pub(crate) async fn delete_via(&self, client: &PushClient) -> Result<(), ExportError> {
        let turn = self.lane.turn().await;
        client.delete_in(Some(&turn)).await
    }

    async fn send(
        &self,
        client: &PushClient,
        method: PushMethod,
        give_up: &(dyn Fn() -> bool + Sync),
        turn: &Turn<'_>,
    ) -> Result<(), ExportError> {
        if !self.recorder.is_enabled() {
            // A disabled recorder pushes nothing: an empty PUT would wipe an earlier run's group.
            return Ok(());
        }
        let (bytes, content_type) = self.render(client);
        let body = Rendered {
            bytes: &bytes,
            content_type,
        };
        let result = client
            .push_rendered(method, body, give_up, Some(turn), None)
            .await;
        self.outcomes.record(&result);
        result
    }

    /// The body of a push through `client` and its content type: protobuf when the client's
    /// `format` says so, or says `auto` and the recorder keeps native histograms; text otherwise.
    fn render(&self, client: &PushClient) -> (Vec<u8>, &'static str) {
        #[cfg(not(target_arch = "wasm32"))]
        {
            use crate::encoding::metric_family::PROTOBUF_CONTENT_TYPE;
            let protobuf = match client.config().format {
                PushFormat::Protobuf => true,
                PushFormat::Auto => self.recorder.keeps_native_histograms(),
                PushFormat::Text => false,
            };
            if protobuf {
                return (self.recorder.render_protobuf(), PROTOBUF_CONTENT_TYPE);
            }
        }
        #[cfg(target_arch = "wasm32")]
        let _ = client;
        (self.recorder.render().into_bytes(), TEXT_CONTENT_TYPE)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn only_a_completed_run_replaces_the_group() {
        assert_eq!(Phase::Interval.method(PushMethod::Put), PushMethod::Post);
        assert_eq!(Phase::Incomplete.method(PushMethod::Put), PushMethod::Post);
        assert_eq!(Phase::Complete.method(PushMethod::Put), PushMethod::Put);
        for phase in [Phase::Interval, Phase::Complete, Phase::Incomplete] {
            assert_eq!(phase.method(PushMethod::Post), PushMethod::Post);
        }
    }
}
