//! A Pushgateway on a free loopback port, and typed reads of what it holds.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, ChildGuard};

/// A `prometheus-pushgateway` process on 127.0.0.1, memory only (`--persistence.file=`: Debian's
/// default persists to disk, and one bad group then breaks later runs), killed on drop.
#[derive(Debug)]
pub struct Pushgateway {
    child: ChildGuard,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
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

    /// [`wait_for`](Self::wait_for) for an async test, on any runtime: it pauses between checks
    /// instead of blocking the thread, so in a `#[tokio::test]` (one thread) the exporter's
    /// pushes run meanwhile. (Each check's own request to the gateway is a blocking loopback
    /// call of a few milliseconds.)
    pub async fn wait_until(&self, limit: Duration, check: impl Fn(&Pushgateway) -> bool) -> bool {
        crate::wait::until(limit, || check(self)).await
    }

    /// Polls until `check` holds, for at most `limit`, sleeping the thread in between (in an async
    /// test on a one-thread runtime, [`wait_until`](Self::wait_until)); whether it came to hold.
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
