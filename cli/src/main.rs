//! `observer-metrics`: drives a synthetic observer workload through the metered pipeline, pushing
//! to a Pushgateway and serving `/metrics` as configured.

#![forbid(unsafe_code)]
// The flags' doc comments are clap's help text, written for a terminal (`[workload]`,
// `<command>`), not rustdoc markdown.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod check;
mod log;
mod run;
mod settings;
mod summary;
mod variables;
mod workload;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use observer_metrics::MetricsBuilder;

use settings::{CheckFlags, Flags, Mode, ReplayFlags, ServeFlags, SimulateFlags};

const EXIT_CODES: &str = "Exit codes: 0 success; 1 the final push or write failed, or a check \
step failed; 2 a usage or configuration error; 3 a batch invariant does not hold; 130 / 143 the \
run was ended by SIGINT / SIGTERM.

Settings come from --config (TOML: a MetricsConfig plus a [workload] table with events, rate, \
duplicate_rate, failure_rate, error_rate, timeout_rate, seed, entities, actions, \
action_timeout_ms, max_retries, checkpoint_every), then OBSERVER_METRICS_* variables, then flags.";

/// Prometheus metrics for event observers: a synthetic observer workload through the metered
/// pipeline, pushed to a Pushgateway, remote-written and served for scraping; and a smoke test of
/// a deployment.
#[derive(Parser)]
#[command(name = "observer-metrics", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
    /// How stderr's log lines are written: text (timestamp, level, message) or json (one object a
    /// line, for a log collector).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "OBSERVER_METRICS_LOG_FORMAT"
    )]
    log_format: log::LogFormat,
    /// The least severe events logged.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "info",
        env = "OBSERVER_METRICS_LOG_LEVEL"
    )]
    log_level: log::LogLevel,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Run a batch of synthetic observer events through the metered pipeline (dedup, result
    /// cache, actions with failures and timeouts, retry queue, dead letters, checkpoints). Without
    /// a sink it prints the exposition on stdout; with one it sends at start, every --interval
    /// seconds and at the end, and exits 0 only when that last send succeeded. SIGTERM/SIGINT end
    /// the batch early with a last send.
    #[command(after_help = EXIT_CODES)]
    Simulate(SimulateFlags),
    /// Run the workload until SIGTERM/SIGINT with GET /metrics (and /health) on --listen,
    /// sending to the configured sinks too.
    #[command(after_help = EXIT_CODES)]
    Serve(ServeFlags),
    /// Smoke-test a deployment as configured (URL, credentials, headers, TLS): push a canary
    /// group, read it back from the gateway's /api/v1/metrics and compare every value, delete it
    /// and confirm it is gone; with --remote-write and --query, the same through remote write and
    /// PromQL. Prints each step with its time; exits 0 only when every step passed.
    #[command(after_help = EXIT_CODES)]
    Check(CheckFlags),
    /// Deliver what a spool holds (--spool-dir), oldest first, each file removed only once its
    /// receiver took it: a Pushgateway body unless a newer push of its group reached the gateway,
    /// a remote write with its samples' own timestamps. Credentials from --config and the flags go
    /// only to their own receiver. Exits 0 when nothing is left to deliver, 1 when a receiver could
    /// not be reached (its files stay).
    #[command(after_help = EXIT_CODES)]
    Replay(ReplayFlags),
    /// List every OBSERVER_METRICS_* variable: the setting or flag it stands for and its default.
    Env,
    /// Print a completion script for SHELL on stdout.
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
}

/// The binary as shells see it.
const BIN: &str = "observer-metrics";

/// The completion script for `shell`. clap_complete 4.6's bash script spells its states two ways
/// for a hyphenated binary name (clap-rs/clap#6421, open): the dispatch loop sets
/// `observer__metrics__subcmd__simulate`, the case arms read
/// `observer__subcmd__metrics__subcmd__simulate`, so no subcommand's flags ever completed. The
/// arms are spelled the loop's way here.
fn completions(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    match shell {
        clap_complete::Shell::Bash => {
            script.replace("observer__subcmd__metrics", "observer__metrics")
        }
        _ => script,
    }
}

fn main() -> ExitCode {
    // Usage errors exit 2 in clap's format; --help and --version exit 0.
    let cli = Cli::parse();
    log::init(cli.log_format, cli.log_level);
    let (mode, flags): (Mode, Flags) = match cli.command {
        CliCommand::Simulate(flags) => (Mode::Simulate, flags.into()),
        CliCommand::Serve(flags) => (Mode::Serve, flags.into()),
        CliCommand::Check(flags) => (Mode::Check, flags.into()),
        CliCommand::Replay(flags) => (Mode::Replay, flags.into()),
        CliCommand::Env => {
            print!("{}", variables::listing());
            return ExitCode::SUCCESS;
        }
        CliCommand::Completions { shell } => {
            let script = completions(shell);
            return match std::io::Write::write_all(&mut std::io::stdout(), script.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("cannot write the completion script: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let (config, workload) = match settings::load(mode, &flags) {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let recorder = match MetricsBuilder::from_config(config.clone()).build_recorder() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if mode == Mode::Check {
        return runtime.block_on(check::command(&config, workload.query.as_deref()));
    }
    if mode == Mode::Replay {
        return runtime.block_on(run::replay(&config));
    }
    runtime.block_on(run::run(mode, &config, &workload, recorder))
}
