//! `simulate` and `serve`: the workload driven, scraped and sent; the final send and exit code.

use std::process::ExitCode;

use observer_metrics::export::{shutdown_signal, BatchOutcome, Exporter};
use observer_metrics::observer::ObserverMetrics;
use observer_metrics::{MetricsConfig, ObserverRecorder};

use crate::settings::{Mode, Workload};
use crate::summary::{sample, summarise};
use crate::workload::{drive, pipeline};

pub(crate) async fn run(
    mode: Mode,
    config: &MetricsConfig,
    workload: &Workload,
    recorder: ObserverRecorder,
) -> ExitCode {
    let metrics = ObserverMetrics::new(&recorder.handle());
    let p = pipeline(&metrics, workload);
    // Bind first: a listen address that cannot be had must fail before anything is pushed.
    let (stop_pull, pull_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = match (&mode, &config.pull) {
        (Mode::Serve, Some(pull)) => {
            let address = match pull.address() {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(2);
                }
            };
            let listener = match tokio::net::TcpListener::bind(address).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("cannot listen on {address}: {e}");
                    return ExitCode::from(2);
                }
            };
            tracing::info!(
                "serving http://{}/metrics",
                listener.local_addr().map_or(address, |a| a)
            );
            let shutdown = async {
                let _ = pull_stopped.await;
            };
            Some(tokio::spawn(observer_metrics::pull::serve(
                listener,
                recorder.handle(),
                shutdown,
            )))
        }
        _ => None,
    };
    let exporter = match config.push.is_some() || config.remote_write.is_some() {
        true => match Exporter::start(recorder.handle(), config) {
            Ok(exporter) => Some(exporter),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(2);
            }
        },
        false => None,
    };

    let limit = (mode == Mode::Simulate).then_some(workload.events);
    let started = std::time::Instant::now();
    let (ran, signal) = tokio::select! {
        ran = drive(&p, workload, limit) => (ran, None),
        signal = shutdown_signal() => (sample(&recorder.render(), config.recorder.prefix.as_deref(), "events_processed_total") as u64, Some(signal)),
    };
    let elapsed = started.elapsed();
    let _ = stop_pull.send(());
    if let Some(server) = server {
        let _ = server.await;
    }

    let render = recorder.render();
    let (summary, invariants_hold) = summarise(
        &render,
        config.recorder.prefix.as_deref(),
        ran,
        config.recorder.sample_rate < 1.0,
    );
    let Some(exporter) = exporter else {
        if mode == Mode::Simulate {
            print!("{render}");
        }
        let cut_short = signal.map_or(String::new(), |s| format!("; cut short by {s}"));
        tracing::info!("{summary} ({elapsed:.2?}){cut_short}");
        return exit_code(&mode, signal, invariants_hold);
    };
    let mut destinations = exporter.urls().join(" and ");
    if let Some(writer) = exporter.remote_writer() {
        destinations.push_str(&format!(" (instance {})", writer.instance()));
    }
    let cut_short = signal.map_or(String::new(), |s| format!("; cut short by {s}"));
    let line = format!("{summary} ({elapsed:.2?}){cut_short}");
    // However the batch ended, a signal during its final push means now: the summary still goes
    // out, and with a spool the final body is already on disk for a replay.
    let spooled = config.spool.as_ref().map(|s| s.dir.display().to_string());
    {
        let line = line.clone();
        let spooled = spooled.clone();
        tokio::spawn(async move {
            let signal = shutdown_signal().await;
            let kept = spooled.map_or(String::new(), |dir| format!(", its body kept in {dir}"));
            tracing::warn!("{line}; {signal} during the final push: exiting without it{kept}");
            std::process::exit(if signal == "SIGTERM" { 143 } else { 130 });
        });
    }
    let finished = match (mode, signal, invariants_hold) {
        // A service stopped is not a batch that failed: no batch gauges.
        (Mode::Serve, _, _) => exporter.shutdown().await,
        (_, _, false) => exporter.finish_batch(BatchOutcome::Failure).await,
        (_, Some(_), true) => exporter.finish_batch(BatchOutcome::Interrupted).await,
        (_, None, true) => exporter.finish_batch(BatchOutcome::Success).await,
    };
    match finished {
        Ok(()) => {
            tracing::info!("{line}; pushed to {destinations}");
            exit_code(&mode, signal, invariants_hold)
        }
        Err(e) => {
            // A body the receiver refuses for good is not kept: a replay would be refused too.
            let for_good = matches!(e, observer_metrics::export::ExportError::Refused { .. });
            let kept = spooled.filter(|_| !for_good).map_or(String::new(), |dir| {
                format!("; kept in {dir} for `observer-metrics replay --spool-dir {dir}` or the next run")
            });
            tracing::error!("{line}; final push failed: {e}{kept}");
            match signal {
                // The run was ended by a signal: its exit code says so, as a shell expects.
                Some(_) => exit_code(&Mode::Simulate, signal, true),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// 3 if an invariant failed; for a batch cut short by SIGTERM / SIGINT, 143 / 130; otherwise 0
/// (a signal is how `serve` is meant to end).
fn exit_code(mode: &Mode, signal: Option<&str>, invariants_hold: bool) -> ExitCode {
    match (mode, signal) {
        _ if !invariants_hold => ExitCode::from(3),
        (Mode::Simulate, Some("SIGTERM")) => ExitCode::from(143),
        (Mode::Simulate, Some(_)) => ExitCode::from(130),
        _ => ExitCode::SUCCESS,
    }
}

/// `replay`: what the spool holds, delivered; 0 when nothing is left to deliver.
pub(crate) async fn replay(config: &MetricsConfig) -> ExitCode {
    let report = match config.replay_spool().await {
        Ok(report) => report,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    for note in &report.notes {
        tracing::warn!("spool: {note}");
    }
    let dir = config.spool.as_ref().map(|s| s.dir.display().to_string());
    tracing::info!(
        "replay of {}: {} delivered, {} kept for later, {} dropped",
        dir.unwrap_or_default(),
        report.delivered,
        report.kept,
        report.dropped
    );
    match report.kept {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
