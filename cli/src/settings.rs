//! Where a run's settings come from: the `--config` file (a `MetricsConfig` plus a `[workload]`
//! table), then `OBSERVER_METRICS_*` variables, then the flags.

use std::path::PathBuf;

use observer_metrics::pull::PullConfig;
use observer_metrics::push::PushConfig;
use observer_metrics::remote_write::RemoteWriteConfig;
use observer_metrics::MetricsConfig;
use serde::Deserialize;

/// The command being run.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Simulate,
    Serve,
    Check,
    Replay,
}

impl Mode {
    /// The subcommand's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Simulate => "simulate",
            Mode::Serve => "serve",
            Mode::Check => "check",
            Mode::Replay => "replay",
        }
    }
}

/// Every flag of every subcommand, as `load` applies them: each subcommand's own set (below)
/// fills its part, the rest stays unset. Each overrides the file and the environment; the
/// defaults shown are the ones used when neither sets the value.
#[derive(Default)]
pub(crate) struct Flags {
    pub(crate) config: ConfigFlag,
    receivers: ReceiverFlags,
    labels: LabelFlags,
    spool: SpoolFlag,
    run: RunFlags,
    events: EventsFlag,
    workload: WorkloadFlags,
    listen: ListenFlag,
    query: QueryFlag,
}

/// `simulate`'s flags.
#[derive(clap::Args)]
pub(crate) struct SimulateFlags {
    #[command(flatten)]
    config: ConfigFlag,
    #[command(flatten)]
    receivers: ReceiverFlags,
    #[command(flatten)]
    labels: LabelFlags,
    #[command(flatten)]
    spool: SpoolFlag,
    #[command(flatten)]
    run: RunFlags,
    #[command(flatten)]
    events: EventsFlag,
    #[command(flatten)]
    workload: WorkloadFlags,
}

/// `serve`'s flags: simulate's, with --listen and without --events.
#[derive(clap::Args)]
pub(crate) struct ServeFlags {
    #[command(flatten)]
    config: ConfigFlag,
    #[command(flatten)]
    receivers: ReceiverFlags,
    #[command(flatten)]
    labels: LabelFlags,
    #[command(flatten)]
    spool: SpoolFlag,
    #[command(flatten)]
    run: RunFlags,
    #[command(flatten)]
    workload: WorkloadFlags,
    #[command(flatten)]
    listen: ListenFlag,
}

/// `check`'s flags: the receivers, the labels and --query.
#[derive(clap::Args)]
pub(crate) struct CheckFlags {
    #[command(flatten)]
    config: ConfigFlag,
    #[command(flatten)]
    receivers: ReceiverFlags,
    #[command(flatten)]
    labels: LabelFlags,
    #[command(flatten)]
    query: QueryFlag,
}

/// `replay`'s flags: the spool and the receivers its files' credentials go to.
#[derive(clap::Args)]
pub(crate) struct ReplayFlags {
    #[command(flatten)]
    config: ConfigFlag,
    #[command(flatten)]
    receivers: ReceiverFlags,
    #[command(flatten)]
    spool: SpoolFlag,
}

impl From<SimulateFlags> for Flags {
    fn from(f: SimulateFlags) -> Self {
        let SimulateFlags {
            config,
            receivers,
            labels,
            spool,
            run,
            events,
            workload,
        } = f;
        Flags {
            config,
            receivers,
            labels,
            spool,
            run,
            events,
            workload,
            ..Flags::default()
        }
    }
}

impl From<ServeFlags> for Flags {
    fn from(f: ServeFlags) -> Self {
        let ServeFlags {
            config,
            receivers,
            labels,
            spool,
            run,
            workload,
            listen,
        } = f;
        Flags {
            config,
            receivers,
            labels,
            spool,
            run,
            workload,
            listen,
            ..Flags::default()
        }
    }
}

impl From<CheckFlags> for Flags {
    fn from(f: CheckFlags) -> Self {
        let CheckFlags {
            config,
            receivers,
            labels,
            query,
        } = f;
        Flags {
            config,
            receivers,
            labels,
            query,
            ..Flags::default()
        }
    }
}

impl From<ReplayFlags> for Flags {
    fn from(f: ReplayFlags) -> Self {
        let ReplayFlags {
            config,
            receivers,
            spool,
        } = f;
        Flags {
            config,
            receivers,
            spool,
            ..Flags::default()
        }
    }
}

#[derive(clap::Args, Default)]
pub(crate) struct ConfigFlag {
    /// TOML settings: a MetricsConfig plus a [workload] table.
    #[arg(long, value_name = "FILE", env = "OBSERVER_METRICS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(clap::Args, Default)]
struct ReceiverFlags {
    /// The Pushgateway, e.g. http://127.0.0.1:9091 (push.url).
    #[arg(long, value_name = "URL", env = "OBSERVER_METRICS_PUSH_URL")]
    push_gateway: Option<String>,
    /// A remote-write receiver, e.g. http://127.0.0.1:9090/api/v1/write (remote_write.url).
    #[arg(long, value_name = "URL", env = "OBSERVER_METRICS_REMOTE_WRITE_URL")]
    remote_write: Option<String>,
}

#[derive(clap::Args, Default)]
struct LabelFlags {
    /// The remote-write instance label (remote_write.instance), unique per process: two processes
    /// writing one series are refused as out of order [default: one generated per run].
    #[arg(
        long,
        value_name = "ID",
        env = "OBSERVER_METRICS_REMOTE_WRITE_INSTANCE"
    )]
    instance: Option<String>,
    /// The job label of both sinks (push.job, remote_write.job) [default: observer-metrics-<command>].
    #[arg(long, value_name = "NAME", env = "OBSERVER_METRICS_JOB")]
    job: Option<String>,
    /// Another grouping label of the pushed group (push.grouping); repeatable. Its variable is
    /// OBSERVER_METRICS_PUSH_GROUPING=k=v,k2=v2, which the flags add to.
    #[arg(long, value_name = "KEY=VALUE")]
    grouping: Vec<String>,
}

#[derive(clap::Args, Default)]
struct SpoolFlag {
    /// Keep what a receiver does not take in DIR, and deliver what an earlier run left there
    /// (spool.dir): for batch jobs whose last totals must arrive although the receiver may be
    /// down when they end.
    #[arg(long, value_name = "DIR", env = "OBSERVER_METRICS_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
}

#[derive(clap::Args, Default)]
struct RunFlags {
    /// Seconds between sends (export_interval_secs) [default: 60].
    #[arg(
        long,
        value_name = "SECS",
        env = "OBSERVER_METRICS_EXPORT_INTERVAL_SECS"
    )]
    interval: Option<u64>,
    /// Seconds between progress lines on stderr when it is not a terminal (cron, a container's
    /// log); 0 for none. On a terminal a progress bar shows instead [default: 10].
    #[arg(long, value_name = "SECS", env = "OBSERVER_METRICS_PROGRESS_SECS")]
    progress_secs: Option<u64>,
}

#[derive(clap::Args, Default)]
struct EventsFlag {
    /// Events to run [default: 1000].
    #[arg(long, value_name = "N", env = "OBSERVER_METRICS_WORKLOAD_EVENTS")]
    events: Option<u64>,
}

#[derive(clap::Args, Default)]
struct WorkloadFlags {
    /// Events per second [default: simulate as fast as it can, serve 100].
    #[arg(long, value_name = "N", env = "OBSERVER_METRICS_WORKLOAD_RATE")]
    rate: Option<f64>,
    /// Fraction of events delivered twice [default: 0.1].
    #[arg(
        long,
        value_name = "F",
        env = "OBSERVER_METRICS_WORKLOAD_DUPLICATE_RATE"
    )]
    duplicate_rate: Option<f64>,
    /// Fraction of actions that report failure [default: 0.05].
    #[arg(long, value_name = "F", env = "OBSERVER_METRICS_WORKLOAD_FAILURE_RATE")]
    failure_rate: Option<f64>,
    /// Fraction of actions that return an error [default: 0.02].
    #[arg(long, value_name = "F", env = "OBSERVER_METRICS_WORKLOAD_ERROR_RATE")]
    error_rate: Option<f64>,
    /// Fraction of actions that pass their deadline [default: 0.01].
    #[arg(long, value_name = "F", env = "OBSERVER_METRICS_WORKLOAD_TIMEOUT_RATE")]
    timeout_rate: Option<f64>,
    /// Seed of the event stream [default: 1].
    #[arg(long, value_name = "N", env = "OBSERVER_METRICS_WORKLOAD_SEED")]
    seed: Option<u64>,
}

#[derive(clap::Args, Default)]
struct ListenFlag {
    /// Where serve listens for scrapes (pull.listen) [default: 127.0.0.1:9898].
    #[arg(long, value_name = "ADDR", env = "OBSERVER_METRICS_PULL_LISTEN")]
    listen: Option<String>,
}

#[derive(clap::Args, Default)]
struct QueryFlag {
    /// The Prometheus-compatible query API to read remote writes back from.
    #[arg(long, value_name = "URL", env = "OBSERVER_METRICS_CHECK_QUERY")]
    query: Option<String>,
}

/// The workload's settings: the `[workload]` table, overridden by flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Workload {
    pub(crate) events: u64,
    pub(crate) rate: Option<f64>,
    pub(crate) seed: u64,
    pub(crate) duplicate_rate: f64,
    pub(crate) failure_rate: f64,
    pub(crate) error_rate: f64,
    pub(crate) timeout_rate: f64,
    /// Distinct entities events are about: repeats are what the result cache hits.
    pub(crate) entities: u64,
    /// Actions each event runs.
    pub(crate) actions: u32,
    pub(crate) action_timeout_ms: u64,
    pub(crate) max_retries: u32,
    pub(crate) checkpoint_every: u64,
    /// `check --query`: not a workload setting, carried here from the flags.
    #[serde(skip)]
    pub(crate) query: Option<String>,
    /// `--progress-secs`: how the run is shown, carried here from the flags.
    #[serde(skip)]
    pub(crate) progress_secs: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            events: 1000,
            rate: None,
            seed: 1,
            duplicate_rate: 0.1,
            failure_rate: 0.05,
            error_rate: 0.02,
            timeout_rate: 0.01,
            entities: 2000,
            actions: 2,
            action_timeout_ms: 5,
            max_retries: 3,
            checkpoint_every: 100,
            query: None,
            progress_secs: 10,
        }
    }
}

impl Workload {
    /// Checks the settings; `source` shows a field's value as it was given (`--rate 0`, or
    /// `workload.rate = 0 in FILE`), for the message.
    fn validate(&self, source: impl Fn(&str, f64) -> String) -> Result<(), String> {
        for (name, rate) in [
            ("duplicate_rate", self.duplicate_rate),
            ("failure_rate", self.failure_rate),
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{}: must be between 0 and 1", source(name, rate)));
            }
        }
        let failing = self.failure_rate + self.error_rate + self.timeout_rate;
        if failing > 1.0 {
            return Err(format!(
                "{}, {} and {}: together must not exceed 1 (they add up to {failing})",
                source("failure_rate", self.failure_rate),
                source("error_rate", self.error_rate),
                source("timeout_rate", self.timeout_rate)
            ));
        }
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(format!(
                    "{}: must be a positive number",
                    source("rate", rate)
                ));
            }
        }
        for (name, value) in [
            ("entities", self.entities),
            ("action_timeout_ms", self.action_timeout_ms),
        ] {
            if value == 0 {
                return Err(format!("{}: must be greater than 0", source(name, 0.0)));
            }
        }
        Ok(())
    }
}

impl WorkloadFlags {
    /// Whether the flag of the `[workload]` field `name` was given.
    fn gives(&self, name: &str) -> bool {
        match name {
            "rate" => self.rate.is_some(),
            "duplicate_rate" => self.duplicate_rate.is_some(),
            "failure_rate" => self.failure_rate.is_some(),
            "error_rate" => self.error_rate.is_some(),
            "timeout_rate" => self.timeout_rate.is_some(),
            _ => false,
        }
    }
}

/// The file (a MetricsConfig plus `[workload]`), then the environment, then the flags; validated.
pub(crate) fn load(mode: Mode, flags: &Flags) -> Result<(MetricsConfig, Workload), String> {
    let (mut config, mut workload) = match &flags.config.config {
        None => (MetricsConfig::default(), Workload::default()),
        Some(path) => {
            // One pass over the file, so that an error's line and column are the file's own.
            let (config, workload) = MetricsConfig::from_toml_file_with(path, Some("workload"))
                .map_err(|e| e.to_string())?;
            (config, workload.unwrap_or_default())
        }
    };
    // Validated once the flags below are applied too: an env push setting may need the flag's URL.
    // The command line's own variables are its flags' (clap read them); the rest are the
    // library's, and a name neither knows is refused, with the closest of both.
    let vars = MetricsConfig::process_env().map_err(|e| e.to_string())?;
    let vars = crate::variables::library_only(vars)?;
    config = config.apply_env(vars).map_err(|e| e.to_string())?;
    flags.apply(&mut config, &mut workload)?;
    // `--job` names both sinks' job; without one, a default. Its variable, OBSERVER_METRICS_JOB,
    // names both too, unless a sink's own (OBSERVER_METRICS_PUSH_JOB, a file's `push.job`) did.
    let default_job = format!("observer-metrics-{}", mode.name());
    let job_flag = flags
        .labels
        .job
        .as_ref()
        .filter(|_| on_command_line("--job"));
    let job_env = flags
        .labels
        .job
        .as_ref()
        .filter(|_| !on_command_line("--job"));
    let job_of = |own: &str| match (job_flag, own, job_env) {
        (Some(flag), _, _) => flag.clone(),
        (None, "", Some(env)) => env.clone(),
        (None, own, _) => take_or(own, &default_job),
    };
    if let Some(push) = &mut config.push {
        push.job = job_of(&push.job);
    }
    if let Some(rw) = &mut config.remote_write {
        rw.job = job_of(&rw.job);
    }
    if mode == Mode::Serve {
        config.pull.get_or_insert_with(PullConfig::default);
        workload.rate.get_or_insert(100.0);
    }
    config.validate().map_err(|e| e.to_string())?;
    workload.validate(|name, value| match &flags.config.config {
        _ if flags.workload.gives(name) => {
            let flag = format!("--{}", name.replace('_', "-"));
            match on_command_line(&flag) {
                true => format!("{flag} {value}"),
                false => format!(
                    "OBSERVER_METRICS_WORKLOAD_{}={value}",
                    name.to_ascii_uppercase()
                ),
            }
        }
        Some(path) => format!("workload.{name} = {value} in {}", path.display()),
        None => format!("workload.{name} = {value}"),
    })?;
    if mode == Mode::Replay && config.spool.is_none() {
        return Err("replay needs --spool-dir DIR (or spool.dir)".into());
    }
    if mode == Mode::Check {
        if config.push.is_none() && config.remote_write.is_none() {
            return Err("check needs --push-gateway, or --remote-write with --query".into());
        }
        if config.remote_write.is_some() && flags.query.query.is_none() {
            return Err("check --remote-write needs --query URL to read the canary back".into());
        }
        workload.query = flags.query.query.clone();
    }
    Ok((config, workload))
}

impl Flags {
    /// Applies the flags given over the file and the environment, as the typed values clap
    /// parsed.
    fn apply(&self, config: &mut MetricsConfig, workload: &mut Workload) -> Result<(), String> {
        let set = |target: &mut f64, value: Option<f64>| {
            if let Some(value) = value {
                *target = value;
            }
        };
        let WorkloadFlags {
            rate,
            duplicate_rate,
            failure_rate,
            error_rate,
            timeout_rate,
            seed,
        } = &self.workload;
        if let Some(events) = self.events.events {
            workload.events = events;
        }
        if let Some(seed) = *seed {
            workload.seed = seed;
        }
        if let Some(secs) = self.run.progress_secs {
            workload.progress_secs = secs;
        }
        workload.rate = rate.or(workload.rate);
        set(&mut workload.duplicate_rate, *duplicate_rate);
        set(&mut workload.failure_rate, *failure_rate);
        set(&mut workload.error_rate, *error_rate);
        set(&mut workload.timeout_rate, *timeout_rate);
        if let Some(interval) = self.run.interval {
            config.export_interval_secs = interval;
        }
        if let Some(listen) = &self.listen.listen {
            config.pull.get_or_insert_with(PullConfig::default).listen = listen.clone();
        }
        if let Some(dir) = &self.spool.spool_dir {
            config
                .spool
                .get_or_insert_with(observer_metrics::spool::SpoolConfig::default)
                .dir = dir.clone();
        }
        if let Some(url) = &self.receivers.push_gateway {
            config.push.get_or_insert_with(PushConfig::default).url = url.clone();
        }
        if let Some(url) = &self.receivers.remote_write {
            let rw = config
                .remote_write
                .get_or_insert_with(RemoteWriteConfig::default);
            rw.url = url.clone();
        }
        if let Some(instance) = &self.labels.instance {
            let rw = config
                .remote_write
                .get_or_insert_with(RemoteWriteConfig::default);
            rw.instance = Some(instance.clone());
        }
        for pair in &self.labels.grouping {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("--grouping: expected KEY=VALUE, got `{pair}`"))?;
            let push = config.push.get_or_insert_with(PushConfig::default);
            push.grouping.insert(k.to_owned(), v.to_owned());
        }
        Ok(())
    }
}

/// Whether `flag` was given on the command line itself (not through its variable, which clap
/// reads into the same value).
fn on_command_line(flag: &str) -> bool {
    let with_value = format!("{flag}=");
    std::env::args_os().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&with_value)
    })
}

/// `value`, or `default` when it is empty.
fn take_or(value: &str, default: &str) -> String {
    if value.is_empty() { default } else { value }.to_owned()
}
