//! Prometheus on a free loopback port, its remote-write receiver on, and its query API.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, ChildGuard};

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
        Self::start_on(jobs, free_port())
    }

    /// [`start`](Self::start) with more command-line flags, such as
    /// `--enable-feature=native-histograms` (which also makes it scrape in protobuf first).
    pub fn start_with(jobs: &[ScrapeJob], flags: &[&str]) -> Prometheus {
        Self::start_with_on(jobs, flags, free_port())
    }

    /// [`start`](Self::start) on `port`: a receiver that comes back where a producer wrote before.
    pub fn start_on(jobs: &[ScrapeJob], port: u16) -> Prometheus {
        Self::start_with_on(jobs, &[], port)
    }

    fn start_with_on(jobs: &[ScrapeJob], flags: &[&str], port: u16) -> Prometheus {
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
                .args(flags)
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

    /// The raw native histogram samples `(seconds, count, sum)` a range selector returns.
    pub fn histogram_samples(&self, selector: &str) -> Vec<(f64, f64, f64)> {
        query_api(&self.url, selector)["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["histograms"].as_array().cloned().unwrap_or_default())
            .map(|pair| {
                let h = &pair[1];
                (
                    pair[0].as_f64().unwrap(),
                    number(&h["count"]),
                    number(&h["sum"]),
                )
            })
            .collect()
    }

    /// Its own exposition (`/metrics`): what it counted of the requests it served.
    pub fn own_metrics(&self) -> String {
        ureq::get(&format!("{}/metrics", self.url))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.child.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
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

pub(crate) fn only(values: Vec<(serde_json::Value, f64)>) -> Option<f64> {
    match values.as_slice() {
        [(_, v)] => Some(*v),
        _ => None,
    }
}
