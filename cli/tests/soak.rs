//! `serve` at a high event rate with regular scrapes: resident memory stays flat after warm-up. The
//! in-memory dedup set, cache and queue used to keep every key and job, about 380 KB/s at this
//! rate. Bounded in time (about 25 s) and in requests (one scrape every 100 ms). Linux only: it
//! reads `/proc`.
#![cfg(target_os = "linux")]

#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{free_port, sample, ChildGuard};

#[test]
fn serve_memory_is_flat_after_warm_up() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let serve = ChildGuard::spawn(
        cli!()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--rate", "5000"])
            .stderr(Stdio::null()),
    );
    let pid = serve.0.id();
    let scrape = || {
        ureq::get(&url)
            .timeout(Duration::from_secs(5))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
    };
    let events = |text: &str| sample(text, "events_processed_total").unwrap_or(0.0);
    // Scrapes every 100 ms until `until`; the last exposition.
    let scrape_until = |until: Instant| {
        let mut last = None;
        while Instant::now() < until {
            if let Some(text) = scrape() {
                last = Some(text);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        last.expect("no scrape answered")
    };

    let start = Instant::now();
    let warm = scrape_until(start + Duration::from_secs(8));
    let (warm_rss, warm_events) = (support::resident_bytes(pid) / 1024, events(&warm));
    let end = scrape_until(start + Duration::from_secs(24));
    let (end_rss, end_events) = (support::resident_bytes(pid) / 1024, events(&end));

    // The workload ran: well over the stores' capacities (10,000) after warm-up and in between.
    assert!(warm_events > 20_000.0, "{warm_events} events by warm-up");
    assert!(
        end_events - warm_events > 40_000.0,
        "{warm_events} -> {end_events}"
    );
    support::promtool_check(&end);
    let growth = end_rss.saturating_sub(warm_rss);
    assert!(
        growth < 1024,
        "resident memory grew {growth} KiB ({warm_rss} -> {end_rss}) over {} events",
        end_events - warm_events
    );
}
