//! The public testkit, used as a user would: typed families read back from a real gateway, and a
//! missing binary named with its Debian package.

use observer_metrics_testkit::{ChildGuard, Pushgateway};

#[test]
fn families_come_back_typed() {
    let gw = Pushgateway::start();
    let body = "# HELP rows_total Rows.\n# TYPE rows_total counter\nrows_total{table=\"a\"} 42\n\
                # TYPE lag_seconds gauge\nlag_seconds -1.5\n# TYPE load_seconds histogram\n\
                load_seconds_bucket{le=\"1\"} 2\nload_seconds_bucket{le=\"+Inf\"} 3\n\
                load_seconds_sum 7.5\nload_seconds_count 3\n";
    assert_eq!(gw.put("kit", body).0, 200);
    let families = gw.families(&[("job", "kit")]).expect("the group");
    let rows = &families["rows_total"];
    assert_eq!(
        (rows.kind.as_str(), rows.help.as_str()),
        ("COUNTER", "Rows.")
    );
    assert_eq!(rows.series[0].value, Some(42.0));
    assert_eq!(rows.series[0].labels["table"], "a");
    assert_eq!(rows.series[0].labels["job"], "kit");
    assert_eq!(families["lag_seconds"].series[0].value, Some(-1.5));
    let load = &families["load_seconds"].series[0];
    assert_eq!((load.count, load.sum), (Some(3.0), Some(7.5)));
    assert_eq!(load.buckets["1"], 2.0);
    assert!(families.contains_key("push_time_seconds"));
    assert!(gw.families(&[("job", "other")]).is_none());
}

#[test]
fn a_missing_binary_is_named_with_its_package() {
    let panic = std::panic::catch_unwind(|| {
        ChildGuard::spawn_installed(
            &mut std::process::Command::new("om-no-such-binary"),
            "om-no-such-package",
        )
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains(
            "om-no-such-binary must be installed (apt-get install -y om-no-such-package)"
        ),
        "{message}"
    );
}
