//! Real components for the integration tests: a Pushgateway started on a free loopback port, and
//! `promtool`. A missing binary fails the test loudly: CI installs them, nothing is skipped.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// A `prometheus-pushgateway` process on 127.0.0.1, killed on drop.
pub struct Pushgateway {
    child: Child,
    pub url: String,
}

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
        let child = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Debian's build persists to /var/lib/prometheus by default: every test gateway would
            // load what the last one (or a user's) left. Memory only.
            .arg("--persistence.file=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-pushgateway must be installed (apt-get install -y prometheus-pushgateway)");
        let mut gateway = Pushgateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while ureq::get(&format!("{}/-/ready", gateway.url))
            .call()
            .is_err()
        {
            if gateway.child.try_wait().unwrap().is_some() {
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

/// What a [`FaultServer`] does with each connection. For faults a real gateway cannot make.
#[derive(Clone)]
pub enum Fault {
    /// Accept, read the request, never answer (until the server is dropped or 60 s pass).
    Stall,
    /// Answer each request with the next status of the list (the last one repeats).
    Statuses(Vec<u16>),
    /// Write a plain-HTTP answer as soon as a connection opens, before reading anything: what a
    /// TLS client meets when it dials a plain server.
    Plain,
    /// Answer 200 to each request after this delay (a slow gateway).
    Delay(Duration),
    /// Answer 200 once the flag is true (at most 60 s). A client that hung up by then is logged as
    /// `abandoned <n>` instead of `answered <n>`.
    Held(std::sync::Arc<AtomicBool>),
}

/// A small HTTP server on loopback for faults, recording every request it read.
pub struct FaultServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    /// In order: `received <n>` when request n was read, `answered <n>` when its answer was sent.
    pub events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FaultServer {
    pub fn start(fault: Fault) -> FaultServer {
        use std::io::Read;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (reqs, log, stopping) = (requests.clone(), events.clone(), stop.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            // Bounded: the server ends when dropped, and after 120 s whatever happens.
            while !stopping.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120)
            {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (fault, reqs, log, stopping, served) = (
                    fault.clone(),
                    reqs.clone(),
                    log.clone(),
                    stopping.clone(),
                    served.clone(),
                );
                std::thread::spawn(move || {
                    stream.set_nonblocking(false).unwrap();
                    if let Fault::Plain = fault {
                        let _ = stream
                            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
                        return;
                    }
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let mut request = Vec::new();
                    let mut buf = [0u8; 8192];
                    // Read the head, then as much body as Content-Length says.
                    loop {
                        let Ok(n) = stream.read(&mut buf) else { return };
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                        if let Some(end) = find(&request, b"\r\n\r\n") {
                            let head =
                                String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .map_or(0, |v| v.trim().parse::<usize>().unwrap_or(0));
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let n = {
                        let mut reqs = reqs.lock().unwrap();
                        reqs.push(request);
                        reqs.len() - 1
                    };
                    log.lock().unwrap().push(format!("received {n}"));
                    match fault {
                        Fault::Stall => {
                            let until = Instant::now() + Duration::from_secs(60);
                            while !stopping.load(Ordering::Relaxed) && Instant::now() < until {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                        Fault::Plain => {}
                        Fault::Delay(delay) => {
                            std::thread::sleep(delay);
                            // Logged before the answer goes out: the client may act on it at once.
                            log.lock().unwrap().push(format!("answered {n}"));
                            let _ = stream.write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                            );
                        }
                        Fault::Held(open) => {
                            let until = Instant::now() + Duration::from_secs(60);
                            while !open.load(Ordering::Relaxed) && Instant::now() < until {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            stream.set_nonblocking(true).unwrap();
                            let hung_up = matches!(stream.peek(&mut [0u8; 1]), Ok(0));
                            stream.set_nonblocking(false).unwrap();
                            if hung_up {
                                log.lock().unwrap().push(format!("abandoned {n}"));
                            } else {
                                log.lock().unwrap().push(format!("answered {n}"));
                                let _ = stream.write_all(
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                                );
                            }
                        }
                        Fault::Statuses(list) => {
                            let i = served.fetch_add(1, Ordering::Relaxed).min(list.len() - 1);
                            let body = format!("status {}\n", list[i]);
                            let response = format!(
                                "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                list[i], body.len()
                            );
                            let _ = stream.write_all(response.as_bytes());
                        }
                    }
                });
            }
        });
        FaultServer {
            url,
            requests,
            events,
            stop,
        }
    }

    /// The requests read so far, as text (bodies may be binary).
    pub fn request_texts(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Pushgateway {
    /// The groups the gateway holds, from `/api/v1/metrics`.
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
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `prometheus` server on 127.0.0.1 scraping the given targets every second, killed on drop.
pub struct Prometheus {
    child: Child,
    dir: std::path::PathBuf,
    pub url: String,
}

/// A scrape job for [`Prometheus::start`].
pub struct ScrapeJob<'a> {
    pub name: &'a str,
    pub target: &'a str,
    pub honor_labels: bool,
}

impl Prometheus {
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
        let child = Command::new("prometheus")
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
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus must be installed (apt-get install -y prometheus)");
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

/// `GET <base>/api/v1/query?query=expr` of a Prometheus-compatible API.
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
pub struct VictoriaMetrics {
    child: ChildGuard,
    dir: std::path::PathBuf,
    pub url: String,
}

impl VictoriaMetrics {
    pub fn start() -> VictoriaMetrics {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("om-vm-{}-{port}", std::process::id()));
        let child = ChildGuard::spawn(
            Command::new("victoria-metrics")
                .arg(format!("-storageDataPath={}", dir.display()))
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg("-search.latencyOffset=0s")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
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
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
pub struct ChildGuard(pub Child);

impl ChildGuard {
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
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TLS-terminating proxy on loopback in front of a real gateway, with a certificate for
/// `localhost` and `127.0.0.1` signed by a CA made for the test: a gateway behind a private CA.
/// Needs a tokio runtime; stops when dropped.
pub struct TlsProxy {
    pub url: String,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    pub async fn start(gateway_url: &str) -> TlsProxy {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "observer-metrics test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca_cert, &ca_key)
            .unwrap();
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let upstream = gateway_url.trim_start_matches("http://").to_owned();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut gateway) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut gateway).await;
                });
            }
        });
        TlsProxy {
            url,
            ca_pem: ca_cert.pem(),
            task,
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
