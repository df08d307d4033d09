//! Real components for integration tests: a Pushgateway, Prometheus (with the remote-write
//! receiver) and VictoriaMetrics started on free loopback ports, memory only or in a temporary
//! directory, and killed on drop; `promtool check metrics`; typed reads of a gateway group; bounded
//! waits. observer-metrics' own tests run on it. It knows nothing of observer-metrics: it tests
//! what any Prometheus producer sends.
//!
//! A missing binary panics with its name and the Debian package that has it
//! (`prometheus-pushgateway`, `prometheus`, `victoria-metrics`): integration tests should fail
//! loudly, never skip, when a real component is not there.
//!
//! ```no_run
//! use observer_metrics_testkit::Pushgateway;
//! let gw = Pushgateway::start();
//! assert_eq!(gw.put("nightly", "# TYPE rows_total counter\nrows_total 42\n").0, 200);
//! assert_eq!(gw.value(&[("job", "nightly")], "rows_total"), Some(42.0));
//! ```
//!
//! Every function here panics on what a test should not survive (a component that does not start,
//! an answer that is not JSON); none waits without a bound.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `prometheus-pushgateway` process on 127.0.0.1, memory only (`--persistence.file=`: Debian's
/// default persists to disk, and one bad group then breaks later runs), killed on drop.
#[derive(Debug)]
pub struct Pushgateway {
    child: ChildGuard,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pushgateway {
    /// Starts a gateway on a free port. A port found free can be taken by another socket before
    /// the gateway binds it; then the gateway exits at once and another port is tried.
    pub fn start() -> Pushgateway {
        for _ in 0..5 {
            if let Some(gateway) = Pushgateway::try_start_on(free_port()) {
                return gateway;
            }
        }
        panic!("the Pushgateway exited right after starting, on five ports in a row");
    }

    /// Starts a gateway on `port`, e.g. to bring one back where a job expects it.
    pub fn start_on(port: u16) -> Pushgateway {
        Pushgateway::try_start_on(port)
            .unwrap_or_else(|| panic!("the Pushgateway could not start on port {port}"))
    }

    fn try_start_on(port: u16) -> Option<Pushgateway> {
        let child = ChildGuard::spawn_installed(
            Command::new("prometheus-pushgateway")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                // Debian's build persists to /var/lib/prometheus by default: every test gateway
                // would load what the last one (or a user's) left. Memory only.
                .arg("--persistence.file=")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "prometheus-pushgateway",
        );
        let mut gateway = Pushgateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while ureq::get(&format!("{}/-/ready", gateway.url))
            .call()
            .is_err()
        {
            if gateway.child.0.try_wait().unwrap().is_some() {
                // It exited: most likely the port was taken in the meantime.
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "the Pushgateway did not become ready in 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(gateway)
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

/// Runs `promtool check metrics` on `text`. Panics on a parse error (exit 1); lint remarks such as
/// the plan's `_ms` names (exit 3) are returned, not failures.
pub fn promtool_check(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool must be installed (apt-get install -y prometheus): {e}")
        });
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

impl Pushgateway {
    /// The groups the gateway holds, from `/api/v1/metrics`, as its JSON has them.
    pub fn groups(&self) -> Vec<serde_json::Value> {
        let view: serde_json::Value = serde_json::from_str(&self.api_metrics()).unwrap();
        view["data"].as_array().cloned().unwrap_or_default()
    }

    /// The group whose grouping labels are exactly `labels`.
    pub fn group(&self, labels: &[(&str, &str)]) -> Option<serde_json::Value> {
        self.groups().into_iter().find(|g| {
            let have = g["labels"].as_object().unwrap();
            have.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| have.get(*k).and_then(|x| x.as_str()) == Some(*v))
        })
    }

    /// The value of the first series of `metric` in the group `labels`.
    pub fn value(&self, labels: &[(&str, &str)], metric: &str) -> Option<f64> {
        let group = self.group(labels)?;
        let value = &group[metric]["metrics"][0]["value"];
        value.as_str().map(|v| v.parse().unwrap())
    }

    /// Polls until `check` holds, for at most `limit`; whether it came to hold.
    pub fn wait_for(&self, limit: Duration, check: impl Fn(&Pushgateway) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        check(self)
    }

    /// Stops the gateway process (its memory-only state goes with it).
    pub fn kill(self) {
        drop(self);
    }

    /// The families of the group whose grouping labels are exactly `labels`, typed: each with its
    /// type, help and series (value, or histogram buckets, count and sum).
    pub fn families(&self, labels: &[(&str, &str)]) -> Option<BTreeMap<String, Family>> {
        let group = self.group(labels)?;
        let number = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
        let families = group
            .as_object()?
            .iter()
            .filter(|(name, _)| *name != "labels")
            .map(|(name, family)| {
                let series = family["metrics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|m| GroupSeries {
                        labels: m["labels"]
                            .as_object()
                            .map(|l| {
                                l.iter()
                                    .map(|(k, v)| {
                                        (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        value: number(&m["value"]),
                        count: number(&m["count"]),
                        sum: number(&m["sum"]),
                        buckets: m["buckets"]
                            .as_object()
                            .map(|b| {
                                b.iter()
                                    .filter_map(|(le, c)| Some((le.clone(), number(c)?)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect();
                let text = |key: &str| family[key].as_str().unwrap_or_default().to_owned();
                (
                    name.clone(),
                    Family {
                        kind: text("type"),
                        help: text("help"),
                        series,
                    },
                )
            })
            .collect();
        Some(families)
    }
}

/// A metric family in a gateway group: see [`Pushgateway::families`].
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// `COUNTER`, `GAUGE`, `HISTOGRAM`, … as the gateway names it.
    pub kind: String,
    /// The HELP text.
    pub help: String,
    /// The series.
    pub series: Vec<GroupSeries>,
}

/// One series of a [`Family`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSeries {
    /// Its labels, the group's grouping labels included.
    pub labels: BTreeMap<String, String>,
    /// A counter's or gauge's value.
    pub value: Option<f64>,
    /// A histogram's count.
    pub count: Option<f64>,
    /// A histogram's sum.
    pub sum: Option<f64>,
    /// A histogram's cumulative buckets, by `le` as the gateway writes it.
    pub buckets: BTreeMap<String, f64>,
}

/// A `prometheus` server on 127.0.0.1 with its remote-write receiver on, scraping the given targets
/// every second, its data in a temporary directory; killed on drop.
#[derive(Debug)]
pub struct Prometheus {
    child: ChildGuard,
    dir: std::path::PathBuf,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

/// A scrape job for [`Prometheus::start`].
pub struct ScrapeJob<'a> {
    /// The `job_name`.
    pub name: &'a str,
    /// `host:port` to scrape.
    pub target: &'a str,
    /// `honor_labels`, as for scraping a Pushgateway.
    pub honor_labels: bool,
}

impl Prometheus {
    /// Starts one scraping `jobs` (none: a pure remote-write receiver); waits until it is ready.
    pub fn start(jobs: &[ScrapeJob]) -> Prometheus {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("om-prometheus-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for job in jobs {
            config.push_str(&format!(
                "  - job_name: {}\n    honor_labels: {}\n    static_configs:\n      - targets: [\"{}\"]\n",
                job.name, job.honor_labels, job.target
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let child = ChildGuard::spawn_installed(
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    dir.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "prometheus",
        );
        let prometheus = Prometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{}/-/ready", prometheus.url))
            .call()
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "Prometheus did not become ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        prometheus
    }

    /// The values of an instant query, with their labels.
    pub fn query(&self, expr: &str) -> Vec<(serde_json::Value, f64)> {
        instant_query(&self.url, expr)
    }

    /// The single value of `expr`, if it has exactly one.
    pub fn scalar(&self, expr: &str) -> Option<f64> {
        only(self.query(expr))
    }

    /// The remote-write endpoint (`--web.enable-remote-write-receiver`).
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url)
    }

    /// The raw samples `(seconds, value)` a range selector such as `x{…}[1h]` returns.
    pub fn samples(&self, selector: &str) -> Vec<(f64, f64)> {
        raw_samples(&self.url, selector)
    }
}

/// `GET <base>/api/v1/query?query=expr` of a Prometheus-compatible API, as JSON.
fn query_api(base: &str, expr: &str) -> serde_json::Value {
    let response = ureq::get(&format!("{base}/api/v1/query"))
        .query("query", expr)
        .call()
        .unwrap_or_else(|e| panic!("query {expr}: {e}"));
    serde_json::from_str(&response.into_string().unwrap()).unwrap()
}

fn number(v: &serde_json::Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

/// The values of an instant query, with their labels.
pub fn instant_query(base: &str, expr: &str) -> Vec<(serde_json::Value, f64)> {
    query_api(base, expr)["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"].clone(), number(&r["value"][1])))
        .collect()
}

/// The raw samples `(seconds, value)` of a range selector, all series together.
pub fn raw_samples(base: &str, selector: &str) -> Vec<(f64, f64)> {
    query_api(base, selector)["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["values"].as_array().unwrap().clone())
        .map(|pair| (pair[0].as_f64().unwrap(), number(&pair[1])))
        .collect()
}

fn only(values: Vec<(serde_json::Value, f64)>) -> Option<f64> {
    match values.as_slice() {
        [(_, v)] => Some(*v),
        _ => None,
    }
}

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
        let port = free_port();
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

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.child.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
