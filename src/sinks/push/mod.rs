//! Pushing to a Prometheus Pushgateway: settings, the group URL, the client, the pusher that sends
//! one push at a time, and what the gateway reserves in the recorder (its own families' types,
//! `job` and the grouping labels). Natively, the exporter (`export::Exporter`) drives this sink
//! and remote write on one schedule.

mod client;
mod reserved;
mod sender;
mod settings;
mod url;

pub use client::PushClient;
pub use sender::GroupPusher;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use sender::Phase;
pub use settings::{PushConfig, PushMethod};
pub use url::group_url;
