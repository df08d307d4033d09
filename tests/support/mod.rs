//! Real components for the integration tests: a Pushgateway started on a free loopback port, and
//! `promtool`. A missing binary fails the test loudly: CI installs them, nothing is skipped.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `prometheus-pushgateway` process on 127.0.0.1, killed on drop.
pub struct Pushgateway {
    child: Child,
    pub url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pushgateway {
    pub fn start() -> Pushgateway {
        let port = free_port();
        let child = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Debian's build persists to /var/lib/prometheus by default: every test gateway would
            // load what the last one (or a user's) left. Memory only.
            .arg("--persistence.file=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-pushgateway must be installed (apt-get install -y prometheus-pushgateway)");
        let gateway = Pushgateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while ureq::get(&format!("{}/-/ready", gateway.url))
            .call()
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the Pushgateway did not become ready in 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        gateway
    }

    /// PUTs `body` to the group of `job`; the status and the gateway's response body.
    pub fn put(&self, job: &str, body: &str) -> (u16, String) {
        let url = format!("{}/metrics/job/{job}", self.url);
        match ureq::put(&url)
            .timeout(Duration::from_secs(10))
            .send_string(body)
        {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("PUT {url}: {e}"),
        }
    }

    /// The gateway's JSON view of every group.
    pub fn api_metrics(&self) -> String {
        ureq::get(&format!("{}/api/v1/metrics", self.url))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `promtool check metrics` on `text`. Panics on a parse error (exit 1); lint remarks such as
/// the plan's `_ms` names (exit 3) are returned, not failures.
pub fn promtool_check(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (apt-get install -y prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        matches!(out.status.code(), Some(0 | 3)) && !report.contains("error while linting"),
        "promtool rejected the exposition ({:?}): {report}\n--- text ---\n{text}",
        out.status.code()
    );
    report
}

/// The value of the sample line whose series is exactly `series` (`name{labels}`), if any.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (s, v) = line.rsplit_once(' ')?;
        (s == series).then(|| match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap(),
        })
    })
}
