//! What the integration tests use beyond `observer-metrics-testkit`: servers for the faults a real
//! component cannot make (stalls, delays, held answers, 5xx), and a TLS front with a private CA.
#![allow(dead_code)]

use observer_metrics::MetricsBuilder;
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub use observer_metrics_testkit::*;

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
    /// Pass each request on to a real receiver at this `host:port` and its answer back, except
    /// while the flag is true: then answer 503 (a receiver that is down for a while).
    Relay(String, std::sync::Arc<AtomicBool>),
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
                        Fault::Relay(upstream, down) => {
                            if down.load(Ordering::Relaxed) {
                                log.lock().unwrap().push(format!("refused {n}"));
                                let _ = stream.write_all(
                                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                                );
                                return;
                            }
                            let Ok(mut up) = std::net::TcpStream::connect(&upstream) else {
                                return;
                            };
                            up.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                            // One request per connection: the receiver closes once it answered.
                            let request = reqs.lock().unwrap()[n].clone();
                            let end = find(&request, b"\r\n\r\n").unwrap();
                            let _ = up.write_all(&request[..end]);
                            let _ = up.write_all(b"\r\nconnection: close");
                            let _ = up.write_all(&request[end..]);
                            let mut answer = Vec::new();
                            let _ = up.read_to_end(&mut answer);
                            log.lock().unwrap().push(format!("relayed {n}"));
                            let _ = stream.write_all(&answer);
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

/// `count` fresh `user` label values on `logins_total`, one increment each, through the facade.
pub fn explode(recorder: &observer_metrics::ObserverRecorder, from: usize, count: usize) {
    metrics::with_local_recorder(recorder, || {
        for i in from..from + count {
            metrics::counter!("logins_total", "user" => i.to_string()).increment(1);
        }
    });
}

/// How many sample lines of `family` (no suffix) a render holds.
pub fn series_of(text: &str, family: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .count()
}

/// A recorder and its config pushing to `url` as job `batch` every `interval` seconds, with short
/// deadlines and backoffs.
pub fn recorder_with_push(
    url: &str,
    interval: u64,
) -> (
    observer_metrics::ObserverRecorder,
    observer_metrics::MetricsConfig,
) {
    let mut push = observer_metrics::push::PushConfig::new(url, "batch");
    push.timeout_ms = 1000;
    push.shutdown_timeout_ms = 5000;
    push.retry.base_backoff_ms = 10;
    push.retry.max_backoff_ms = 50;
    let mut config = observer_metrics::MetricsConfig::default();
    config.export_interval_secs = interval;
    config.push = Some(push);
    (
        MetricsBuilder::from_config(config.clone())
            .build_recorder()
            .unwrap(),
        config,
    )
}

/// What a child that has exited wrote to its piped stderr.
pub fn stderr_of(child: &mut ChildGuard) -> String {
    use std::io::Read;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    stderr
}

/// The `observer-metrics` binary at `binary` as a command, with none of this environment's
/// `OBSERVER_METRICS_*` variables (a developer's shell must not change what a test runs). The CLI
/// crate's tests call it through [`cli!`](crate::cli), which knows the binary's path.
pub fn cli_at(binary: &str) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    for (key, _) in std::env::vars_os() {
        if key.as_encoded_bytes().starts_with(b"OBSERVER_METRICS_") {
            command.env_remove(key);
        }
    }
    command
}

/// The `observer-metrics` binary as a command ([`cli_at`]); only the CLI crate's tests have it.
#[macro_export]
macro_rules! cli {
    () => {
        $crate::support::cli_at(env!("CARGO_BIN_EXE_observer-metrics"))
    };
}

/// What the library logs on this thread while the returned guard lives, as `fmt` writes it
/// (no colours): for the tests of its warnings.
pub fn capture_logs() -> (Logs, impl Drop) {
    use tracing_subscriber::util::SubscriberInitExt;
    let logs = Logs(std::sync::Arc::new(std::sync::Mutex::new(Vec::new())));
    let writer = logs.clone();
    let guard = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .set_default();
    (logs, guard)
}

/// The lines [`capture_logs`] caught.
#[derive(Clone)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
