//! The spool end to end: a receiver down when a batch ends, back later, and the exact totals in
//! the real Pushgateway, Prometheus and VictoriaMetrics after a replay or a second run; `kill -9`
//! while spooling; two replays of one spool at once. Loopback only; every wait is bounded.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{free_port, Prometheus, Pushgateway, VictoriaMetrics};

/// A fresh spool directory of this test, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("om-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Dir(dir)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// The spooled files (not the temporary ones, not those set aside).
    fn files(&self) -> Vec<String> {
        files_in(&self.0)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".om"))
        .collect();
    names.sort();
    names
}

/// Bounded: every run here ends by itself within its deadlines.
fn run(command: &mut Command) -> (Option<i32>, String) {
    let out: Output = command
        .env_remove("OBSERVER_METRICS_PUSH_URL")
        .env_remove("OBSERVER_METRICS_REMOTE_WRITE_URL")
        .env_remove("OBSERVER_METRICS_SPOOL_DIR")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn replay(dir: &Dir) -> (Option<i32>, String) {
    run(cli!().args(["replay", "--spool-dir", dir.arg()]))
}

/// Waits (bounded) for `child`'s first request to reach `stalled` and for a file in `dir`, then
/// sends SIGINT and waits (bounded) for the exit: its status and stderr.
#[cfg(unix)]
fn interrupt_once_spooled(
    child: &mut support::ChildGuard,
    stalled: &support::FaultServer,
    dir: &Dir,
) -> (std::process::ExitStatus, String) {
    use std::time::Instant;
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("no send at start", &|| {
        !stalled.requests.lock().unwrap().is_empty()
    });
    wait("the final body was not spooled before its turn", &|| {
        !dir.files().is_empty()
    });
    Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 20 s after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, support::stderr_of(child))
}

/// A batch ends while its gateway is down: exit 1, the summary with the real totals, the final
/// body in the spool. The gateway comes back; `replay` delivers exactly that body, and a replay
/// after it finds nothing. A body spooled later is never replayed over a newer push of its group.
#[test]
fn a_gateway_down_at_the_end_gets_the_exact_totals_from_the_spool() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = Dir::new("gateway");
    let batch = |events: &str, spool: bool| {
        let mut command = cli!();
        command
            .args(["simulate", "--events", events, "--push-gateway", &url])
            .args(["--job", "spooled"])
            .env("OBSERVER_METRICS_PUSH_SHUTDOWN_TIMEOUT_MS", "1500")
            .env("OBSERVER_METRICS_PUSH_TIMEOUT_MS", "500");
        if spool {
            command.args(["--spool-dir", dir.arg()]);
        }
        run(&mut command)
    };
    let (code, stderr) = batch("3000", true);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("3000 events: ") && stderr.contains("kept in"),
        "the summary with the real totals, and where they are: {stderr}"
    );
    assert_eq!(dir.files().len(), 1, "one final body: {:?}", dir.files());

    let gateway = Pushgateway::start_on(port);
    let (code, stderr) = replay(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 delivered"), "{stderr}");
    let group = [("job", "spooled")];
    assert_eq!(
        gateway.value(&group, "events_processed_total"),
        Some(3000.0)
    );
    assert!(gateway
        .value(&group, "batch_last_success_timestamp_seconds")
        .is_some());
    assert!(dir.files().is_empty());
    let (code, stderr) = replay(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("0 delivered"), "{stderr}");

    // Spooled again while the gateway is down; then a newer run pushes the group itself.
    gateway.kill();
    let (code, stderr) = batch("100", true);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(dir.files().len(), 1);
    let gateway = Pushgateway::start_on(port);
    let (code, stderr) = batch("200", false);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = replay(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("superseded"), "{stderr}");
    assert_eq!(gateway.value(&group, "events_processed_total"), Some(200.0));
    assert!(dir.files().is_empty());
}

/// What a run left is delivered by the next run that starts with the same spool, before its own
/// first push.
#[test]
fn the_next_run_delivers_what_the_last_one_left() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = Dir::new("next-run");
    let batch = |job: &str| {
        run(cli!()
            .args(["simulate", "--events", "1234", "--push-gateway", &url])
            .args(["--job", job, "--spool-dir", dir.arg()])
            .env("OBSERVER_METRICS_PUSH_SHUTDOWN_TIMEOUT_MS", "1000"))
    };
    let (code, stderr) = batch("first");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(dir.files().len(), 1);
    let gateway = Pushgateway::start_on(port);
    let (code, stderr) = batch("second");
    assert_eq!(code, Some(0), "{stderr}");
    for job in ["first", "second"] {
        assert_eq!(
            gateway.value(&[("job", job)], "events_processed_total"),
            Some(1234.0),
            "{job}: {stderr}"
        );
    }
    assert!(dir.files().is_empty());
}

/// Remote write: every write fails while the receiver is down, each is spooled with its samples'
/// timestamps; once the receiver is back, a replay gives Prometheus and VictoriaMetrics the exact
/// totals, with the `0` first so that `increase` counts the whole batch.
#[test]
fn a_remote_write_receiver_down_at_the_end_gets_the_exact_totals() {
    let write = |url: &str, dir: &Dir, instance: &str| {
        run(cli!()
            .args(["simulate", "--events", "3000", "--remote-write", url])
            .args(["--job", "rw-spool", "--instance", instance])
            .args(["--spool-dir", dir.arg()])
            .env("OBSERVER_METRICS_REMOTE_WRITE_SHUTDOWN_TIMEOUT_MS", "1500")
            .env("OBSERVER_METRICS_REMOTE_WRITE_TIMEOUT_MS", "500"))
    };
    let total = "sum(last_over_time(events_processed_total{job=\"rw-spool\"}[1h]))";

    let port = free_port();
    let dir = Dir::new("prometheus");
    let (code, stderr) = write(
        &format!("http://127.0.0.1:{port}/api/v1/write"),
        &dir,
        "to-prometheus",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!dir.files().is_empty());
    let prometheus = Prometheus::start_on(&[], port);
    let (code, stderr) = replay(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(dir.files().is_empty(), "{stderr}");
    assert_eq!(prometheus.scalar(total), Some(3000.0), "{stderr}");
    let first = prometheus.samples("events_processed_total{job=\"rw-spool\"}[1h]");
    assert_eq!(first.first().map(|s| s.1), Some(0.0), "{first:?}");

    let port = free_port();
    let dir = Dir::new("victoria");
    let (code, stderr) = write(
        &format!("http://127.0.0.1:{port}/api/v1/write"),
        &dir,
        "to-vm",
    );
    assert_eq!(code, Some(1), "{stderr}");
    let vm = VictoriaMetrics::start_on(port);
    let (code, stderr) = replay(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(dir.files().is_empty(), "{stderr}");
    // VictoriaMetrics takes an instant query's time in whole seconds: samples of the current
    // second show from the next.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(vm.scalar(total), Some(3000.0), "{stderr}");
}

/// `kill -9` at any moment of a run that spools many files leaves only whole files: once the
/// receiver is there, a replay delivers every one of them, nothing set aside as corrupt.
#[test]
fn kill_9_while_spooling_leaves_no_corrupt_state() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let dir = Dir::new("kill");
    // Bounded: eight runs, each killed within two seconds.
    for round in 0..8u64 {
        let mut child = support::ChildGuard::spawn(
            cli!()
                .args(["serve", "--remote-write", &url, "--interval", "1"])
                .args(["--listen", &format!("127.0.0.1:{}", free_port())])
                .args(["--instance", &format!("kill-{round}"), "--rate", "2000"])
                .args(["--spool-dir", dir.arg()])
                // Many small requests: a write spools dozens of files, so a kill lands mid-way.
                .env("OBSERVER_METRICS_REMOTE_WRITE_MAX_SAMPLES_PER_SEND", "5")
                .env("OBSERVER_METRICS_REMOTE_WRITE_RETRY_TRIES", "1")
                .env_remove("OBSERVER_METRICS_SPOOL_DIR")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        std::thread::sleep(Duration::from_millis(700 + round * 150));
        child.0.kill().unwrap();
        let _ = child.0.wait();
    }
    let spooled = dir.files().len();
    assert!(spooled > 0, "nothing was spooled");
    let _vm = VictoriaMetrics::start_on(port);
    let (code, stderr) = replay(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("{spooled} delivered")),
        "every whole file delivered ({spooled}): {stderr}"
    );
    assert!(files_in(&dir.0.join("corrupt")).is_empty(), "{stderr}");
    assert!(!stderr.contains("refused"), "{stderr}");
}

/// Two replays of one spool at once deliver each file once: their counts add up to the files,
/// and the spool is empty after.
#[test]
fn two_replays_of_one_spool_deliver_each_file_once() {
    let port = free_port();
    let dir = Dir::new("two");
    let (code, stderr) = run(cli!()
        .args(["simulate", "--events", "2000", "--remote-write"])
        .arg(format!("http://127.0.0.1:{port}/api/v1/write"))
        .args(["--instance", "two", "--spool-dir", dir.arg()])
        .env("OBSERVER_METRICS_REMOTE_WRITE_MAX_SAMPLES_PER_SEND", "20")
        .env("OBSERVER_METRICS_REMOTE_WRITE_SHUTDOWN_TIMEOUT_MS", "1000"));
    assert_eq!(code, Some(1), "{stderr}");
    let spooled = dir.files().len();
    assert!(spooled >= 4, "{spooled} files");
    let vm = VictoriaMetrics::start_on(port);
    let replays: Vec<_> = (0..2)
        .map(|_| {
            cli!()
                .args(["replay", "--spool-dir", dir.arg()])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut delivered = 0;
    for replay in replays {
        let out = replay.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let count = stderr
            .split(" delivered")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no count: {stderr}"));
        delivered += count;
    }
    assert_eq!(delivered, spooled);
    assert!(dir.files().is_empty());
    // An instant query's time is whole seconds: samples of the current second show from the next.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        vm.scalar("sum(last_over_time(events_processed_total{instance=\"two\"}[1h]))"),
        Some(2000.0)
    );
}

/// A batch that finished on its own, then a SIGINT while its final push waits on a stalled
/// gateway: the process exits at once with 130, the summary with the real totals is printed, and
/// the final body is already in the spool.
#[cfg(unix)]
#[test]
fn a_signal_during_the_final_push_exits_at_once_with_the_body_spooled() {
    let stalled = support::FaultServer::start(support::Fault::Stall);
    let dir = Dir::new("signal");
    let mut child = support::ChildGuard::spawn(
        cli!()
            .args([
                "simulate",
                "--events",
                "100",
                "--push-gateway",
                &stalled.url,
            ])
            .args(["--spool-dir", dir.arg()])
            .env("OBSERVER_METRICS_PUSH_TIMEOUT_MS", "60000")
            .env("OBSERVER_METRICS_PUSH_SHUTDOWN_TIMEOUT_MS", "60000")
            .stderr(Stdio::piped()),
    );
    // Bounded: the push at start reaches the stalled server, and the batch (100 events) is over
    // well before the wait below ends, so its final push is waiting.
    let (status, stderr) = interrupt_once_spooled(&mut child, &stalled, &dir);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("100 events: ") && stderr.contains("SIGINT during the final push"),
        "{stderr}"
    );
    let files = dir.files();
    assert_eq!(files.len(), 1);
    let spooled = std::fs::read_to_string(dir.0.join(&files[0])).unwrap();
    assert!(
        spooled.contains("\nevents_processed_total 100\n"),
        "{spooled}"
    );
}

/// The same for remote write, where the final write waits for its turn behind an interval write
/// the stalled receiver never answers: the final totals are on disk before that wait, so the
/// signal loses nothing, and a replay gives VictoriaMetrics the exact total.
#[cfg(unix)]
#[test]
fn a_signal_while_the_final_write_waits_its_turn_loses_nothing() {
    let stalled = support::FaultServer::start(support::Fault::Stall);
    let port: u16 = stalled.url.rsplit(':').next().unwrap().parse().unwrap();
    let dir = Dir::new("signal-rw");
    let mut child = support::ChildGuard::spawn(
        cli!()
            .args(["simulate", "--events", "100", "--job", "rw-signal"])
            .args(["--remote-write", &format!("{}/api/v1/write", stalled.url)])
            .args(["--spool-dir", dir.arg()])
            .env("OBSERVER_METRICS_REMOTE_WRITE_TIMEOUT_MS", "60000")
            .env("OBSERVER_METRICS_REMOTE_WRITE_SHUTDOWN_TIMEOUT_MS", "60000")
            .stderr(Stdio::piped()),
    );
    // Bounded: the write at start reaches the stalled server and holds the sink's turn; the batch
    // (100 events) is over well before the wait below ends.
    let (status, stderr) = interrupt_once_spooled(&mut child, &stalled, &dir);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("SIGINT during the final push"), "{stderr}");
    drop(stalled);
    let vm = VictoriaMetrics::start_on(port);
    let (code, replayed) = replay(&dir);
    assert_eq!(code, Some(0), "{replayed}");
    assert!(dir.files().is_empty(), "{replayed}");
    std::thread::sleep(Duration::from_millis(1100));
    let total = "sum(last_over_time(events_processed_total{job=\"rw-signal\"}[1h]))";
    assert_eq!(vm.scalar(total), Some(100.0), "{stderr}\n{replayed}");
}

/// A remote-write receiver down for the first seconds of a run and back before its end: the
/// writes spooled meanwhile go first, one line says what the replay delivered, and the ticks
/// while it was down (each replay keeping everything) log no replay line at all.
#[test]
fn a_receiver_back_mid_run_is_one_replay_line() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let prometheus = Prometheus::start(&[]);
    let host = prometheus.url.trim_start_matches("http://").to_owned();
    let down = Arc::new(AtomicBool::new(true));
    let relay = support::FaultServer::start(support::Fault::Relay(host, down.clone()));
    let dir = Dir::new("mid-run-line");
    let mut child = support::ChildGuard::spawn(
        cli!()
            .args([
                "simulate",
                "--events",
                "60",
                "--rate",
                "10",
                "--interval",
                "1",
            ])
            .args(["--remote-write", &format!("{}/api/v1/write", relay.url)])
            .args(["--job", "mid-run-line", "--instance", "mid-run-line"])
            .args(["--spool-dir", dir.arg(), "--progress-secs", "0"])
            .env("OBSERVER_METRICS_REMOTE_WRITE_RETRY_TRIES", "1")
            .stderr(Stdio::piped()),
    );
    // Bounded: three seconds down (the write at start and two interval writes spooled), then up
    // for the three seconds left of the run.
    std::thread::sleep(Duration::from_millis(3000));
    down.store(false, Ordering::Relaxed);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = support::stderr_of(&mut child);
    assert!(status.success(), "{stderr}");
    let replays: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("spool replayed"))
        .collect();
    assert_eq!(
        replays.len(),
        1,
        "one replay line, when it delivered: {stderr}"
    );
    // While it was down, each tick's replay kept every file: no line for each of them, each tick
    // (the failed writes' own streak is logged once, as the first failure).
    let kept = stderr
        .lines()
        .filter(|l| l.contains("kept for later"))
        .count();
    assert_eq!(kept, 0, "{stderr}");
    assert!(!replays[0].contains("delivered=0"), "{stderr}");
    assert!(dir.files().is_empty(), "{stderr}");
    let total = "sum(last_over_time(events_processed_total{job=\"mid-run-line\"}[1h]))";
    assert_eq!(prometheus.scalar(total), Some(60.0), "{stderr}");
}
