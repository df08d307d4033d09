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
/// leaves nothing running.
#[derive(Debug)]
pub struct ChildGuard(
    /// The process.
    pub Child,
);

impl ChildGuard {
    /// [`spawn`](Self::spawn), with a message naming `package` (the binary's Debian package) when
    /// the binary is not there.
    pub fn spawn_installed(command: &mut Command, package: &str) -> ChildGuard {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(command, 0);
        match command.spawn() {
            Ok(child) => ChildGuard(child),
            Err(e) => panic!(
                "{} must be installed (apt-get install -y {package}): {e}",
                command.get_program().to_string_lossy()
            ),
        }
    }

    /// Kills the process and everything it started, and reaps it.
    pub fn stop(&mut self) {
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
        ChildGuard(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}")),
        )
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
