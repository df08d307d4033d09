//! VictoriaMetrics on a free loopback port, and its Prometheus-compatible query API.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, ChildGuard};
use crate::prometheus::{instant_query, only};

/// A `victoria-metrics` single node on 127.0.0.1, its data in a temporary directory, answering
/// queries without the default latency offset; killed on drop.
#[derive(Debug)]
pub struct VictoriaMetrics {
    child: ChildGuard,
    dir: std::path::PathBuf,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

impl VictoriaMetrics {
    /// Starts one; waits until it is healthy.
    pub fn start() -> VictoriaMetrics {
        Self::start_on(free_port())
    }

    /// [`start`](Self::start) on `port`: a receiver that comes back where a producer wrote before.
    pub fn start_on(port: u16) -> VictoriaMetrics {
        let dir = std::env::temp_dir().join(format!("om-vm-{}-{port}", std::process::id()));
        let child = ChildGuard::spawn_installed(
            Command::new("victoria-metrics")
                .arg(format!("-storageDataPath={}", dir.display()))
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg("-search.latencyOffset=0s")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "victoria-metrics",
        );
        let vm = VictoriaMetrics {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{}/health", vm.url)).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "VictoriaMetrics did not become ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        vm
    }

    /// The remote-write endpoint.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url)
    }

    /// Makes what was written searchable now.
    pub fn flush(&self) {
        ureq::get(&format!("{}/internal/force_flush", self.url))
            .call()
            .unwrap();
    }

    /// The values of an instant query, with their labels (after a flush).
    pub fn query(&self, expr: &str) -> Vec<(serde_json::Value, f64)> {
        self.flush();
        instant_query(&self.url, expr)
    }

    /// The single value of `expr`, if it has exactly one (after a flush).
    pub fn scalar(&self, expr: &str) -> Option<f64> {
        only(self.query(expr))
    }
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        self.child.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
