//! Processes a test starts: killed with everything they started when dropped, and free ports.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends SIGTERM to `child` and waits for it to exit, for at most `limit`.
pub fn terminate(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not stop within {limit:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed (and reaped) on drop, with everything it started, so a failing test
/// leaves nothing running. It also dies with the test process when the guard is never dropped (one
/// held in a `static`, a test binary that exits or is killed): a watchdog (`sh`) beside it kills
/// its process group within half a second of the test process' end. (Built by `spawn` and
/// `spawn_installed` only.)
#[derive(Debug)]
pub struct ChildGuard(
    /// The process.
    pub Child,
    Watchdog,
);

/// A `sh` loop that waits for the test process to end, then kills the child's process group; it
/// ends by itself, killing nothing, when the child ends first.
#[derive(Debug)]
struct Watchdog(Option<Child>);

impl Watchdog {
    #[cfg(unix)]
    fn watch(child: &Child) -> Watchdog {
        // Only the test process' end kills: a child that ended by itself (a script a test
        // stopped, whose own trap must stop what it started) is left to its guard.
        let script = "while kill -0 \"$1\" 2>/dev/null; do kill -0 \"$2\" 2>/dev/null || exit 0; \
                      sleep 0.5; done; kill -KILL -\"$2\" 2>/dev/null";
        let mut command = Command::new("sh");
        // A group of its own: a kill of the test process' group (a test that ran this test
        // binary as its child) must not take the watchdog with it and leave the child behind.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let watchdog = command
            .args(["-c", script, "watchdog"])
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the watchdog of a test's child (sh): {e}"));
        Watchdog(Some(watchdog))
    }

    #[cfg(not(unix))]
    fn watch(_: &Child) -> Watchdog {
        Watchdog(None)
    }

    fn stop(&mut self) {
        if let Some(mut watchdog) = self.0.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

impl ChildGuard {
    /// [`spawn`](Self::spawn), with a message naming `package` (the binary's Debian package) when
    /// the binary is not there.
    pub fn spawn_installed(command: &mut Command, package: &str) -> ChildGuard {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(command, 0);
        match command.spawn() {
            Ok(child) => ChildGuard::watched(child),
            Err(e) => panic!(
                "{} must be installed (apt-get install -y {package}): {e}",
                command.get_program().to_string_lossy()
            ),
        }
    }

    /// Kills the process and everything it started, and reaps it.
    pub fn stop(&mut self) {
        // The watchdog first: once the child is reaped its pid (and group) may be reused.
        self.1.stop();
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Spawns `command` in a process group of its own: a script's own children (a gateway, a
    /// Prometheus) go with it.
    pub fn spawn(command: &mut Command) -> ChildGuard {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(command, 0);
        ChildGuard::watched(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}")),
        )
    }

    fn watched(child: Child) -> ChildGuard {
        let watchdog = Watchdog::watch(&child);
        ChildGuard(child, watchdog)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The resident memory of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`: Linux).
/// `std::process::id()` for the test's own process.
pub fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status (Linux only): {e}"));
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib * 1024
}
