//! Instrumenting an existing observer service: wrap its parts in the metered decorators, merge the
//! metrics router into its axum app, and (optionally) push. Runs to completion on its own:
//! `cargo run --example instrument`.

use std::time::Duration;

use observer_metrics::observer::memory::{
    MemoryCache, MemoryCheckpoints, MemoryDedup, MemoryQueue,
};
use observer_metrics::observer::metered::{
    EventGuard, MeteredCache, MeteredDedup, MeteredQueue, MetricsActionExecutor,
};
use observer_metrics::observer::pipeline::ObserverPipeline;
use observer_metrics::observer::ObserverMetrics;
use observer_metrics::observer::{
    ActionConfig, ActionExecutor, ActionResult, DedupStore, EntityEvent, ObserverError,
};
use observer_metrics::MetricsBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The service's own action executor, unchanged.
struct SendWebhook;

impl ActionExecutor for SendWebhook {
    async fn execute(
        &self,
        event: &EntityEvent,
        action: &ActionConfig,
    ) -> Result<ActionResult, ObserverError> {
        Ok(ActionResult {
            success: true,
            output: format!("{} sent for {}", action.name, event.entity),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Config: typed setters here; `MetricsBuilder::load(path)` reads a TOML file and the
    // OBSERVER_METRICS_* variables instead.
    let recorder = MetricsBuilder::new()
        .prefix("orders")
        .add_global_label("service", "orders")
        .build_recorder()?;
    let metrics = ObserverMetrics::new(&recorder.handle());

    // 2. Decorators around the service's parts: results and errors pass through unchanged.
    let executor = MetricsActionExecutor::new(SendWebhook, metrics.clone())
        .with_deadline(Duration::from_secs(5));
    let dedup = MeteredDedup::new(MemoryDedup::default(), metrics.clone());
    let _queue = MeteredQueue::new(MemoryQueue::default(), metrics.clone());
    let _cache = MeteredCache::new(MemoryCache::default(), metrics.clone());

    // Hand-written processing: an EventGuard keeps events_in_flight right on every path.
    let event = EntityEvent {
        id: 1,
        entity: "order:1".into(),
        key: "evt-1".into(),
    };
    {
        let _in_flight = EventGuard::start(&metrics);
        if !dedup.is_duplicate(&event.key).await? {
            let action = ActionConfig {
                name: "webhook".into(),
                timeout: None,
            };
            executor.execute(&event, &action).await?;
        }
    }

    // Or the whole observer path (dedup, cache, retries, dead letters, checkpoints) in one piece.
    let pipeline = ObserverPipeline::new(
        &metrics,
        MetricsActionExecutor::new(SendWebhook, metrics.clone()),
        MemoryQueue::default(),
        MemoryCache::default(),
        MemoryDedup::default(),
        MemoryCheckpoints::default(),
        vec![ActionConfig {
            name: "webhook".into(),
            timeout: None,
        }],
    );
    pipeline
        .process_event(&EntityEvent {
            id: 2,
            entity: "order:2".into(),
            key: "evt-2".into(),
        })
        .await?;

    // 3. /metrics and /health merged into the service's own router.
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "orders service\n" }))
        .merge(observer_metrics::pull::create_metrics_router(
            recorder.handle(),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // Scrape it once, as Prometheus would.
    let mut socket = tokio::net::TcpStream::connect(address).await?;
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    socket.read_to_string(&mut response).await?;
    for line in response.lines().filter(|l| {
        l.starts_with("orders_events_processed_total")
            || l.starts_with("orders_actions_executed_total")
    }) {
        println!("{line}");
    }
    let _ = stop.send(());
    server.await??;

    // 4. Pushing as well: add a [push] table to the config and start a Exporter on the same
    //    recorder (see the README); push and pull run side by side.
    Ok(())
}
