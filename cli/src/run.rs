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
                    eprintln!("observer-metrics: {e}");
                    return ExitCode::from(2);
                }
            };
            let listener = match tokio::net::TcpListener::bind(address).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("observer-metrics: cannot listen on {address}: {e}");
                    return ExitCode::from(2);
                }
            };
            eprintln!(
                "observer-metrics: serving http://{}/metrics",
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
                eprintln!("observer-metrics: {e}");
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
    if let Some(first) = signal {
        // The final push below is bounded, but a person pressing Ctrl-C again means now.
        tokio::spawn(async move {
            let again = shutdown_signal().await;
            eprintln!("observer-metrics: {again} after {first}: exiting without the final push");
            std::process::exit(if again == "SIGTERM" { 143 } else { 130 });
        });
    }
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
        eprintln!("observer-metrics: {summary} ({elapsed:.2?})");
        return exit_code(&mode, signal, invariants_hold);
    };
    let mut destinations = exporter.urls().join(" and ");
    if let Some(writer) = exporter.remote_writer() {
        destinations.push_str(&format!(" (instance {})", writer.instance()));
    }
    let outcome = if signal.is_none() && invariants_hold {
        BatchOutcome::Success
    } else {
        BatchOutcome::Failure
    };
    match exporter.finish_batch(outcome).await {
        Ok(()) => {
            eprintln!("observer-metrics: {summary} ({elapsed:.2?}); pushed to {destinations}");
            exit_code(&mode, signal, invariants_hold)
        }
        Err(e) => {
            eprintln!("observer-metrics: final push failed: {e}");
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
