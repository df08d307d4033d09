//! `MetricsBuilder`: typed setters fill the same config a file does, the recorder it builds knows
//! the labels its sinks set, and a failed install hands the recorder back. Pure: nothing is
//! started but the recorder.

use metrics::{Key, Label, Level, Metadata, Recorder};
use observer_metrics::push::PushConfig;
use observer_metrics::{BuildError, MetricsBuilder, MetricsConfig};

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

#[test]
fn setters_fill_the_config_a_file_does() {
    let built = MetricsBuilder::new()
        .enabled(true)
        .set_buckets(&[1.0, 2.0])
        .set_seconds_buckets(&[0.5, 1.0])
        .set_buckets_for_metric("http_*", &[0.1])
        .sample_rate(0.5)
        .max_series_per_metric(7)
        .idle_timeout_secs(Some(60))
        .add_global_label("service", "billing")
        .prefix("obs")
        .export_interval_secs(5)
        .with_push_gateway("http://127.0.0.1:9091", "nightly")
        .add_push_grouping("instance", "w1")
        .with_remote_write("http://127.0.0.1:9090/api/v1/write", "nightly")
        .into_config()
        .unwrap();
    let file = MetricsConfig::from_toml_str(
        r#"
        enabled = true
        histogram_buckets = [1, 2]
        histogram_buckets_seconds = [0.5, 1]
        sample_rate = 0.5
        max_series_per_metric = 7
        idle_timeout_secs = 60
        prefix = "obs"
        export_interval_secs = 5
        [global_labels]
        service = "billing"
        [bucket_overrides]
        "http_*" = [0.1]
        [push]
        url = "http://127.0.0.1:9091"
        job = "nightly"
        grouping = { instance = "w1" }
        [remote_write]
        url = "http://127.0.0.1:9090/api/v1/write"
        job = "nightly"
        "#,
    )
    .unwrap();
    assert_eq!(built, file);
}

/// The recorder comes with its sinks' rules: pushing with a grouping label `zone` renames a
/// series' own `job` and `zone`, which a recorder without sinks keeps as they are.
#[test]
fn the_recorder_knows_the_labels_its_sinks_set() {
    let key = Key::from_parts(
        "rows_total",
        vec![Label::new("job", "mine"), Label::new("zone", "a")],
    );
    let pushing = MetricsBuilder::new()
        .with_push_gateway("http://127.0.0.1:9091", "nightly")
        .add_push_grouping("zone", "eu")
        .build_recorder()
        .unwrap();
    pushing.register_counter(&key, &METADATA).increment(1);
    assert!(
        pushing
            .render()
            .contains("rows_total{exported_job=\"mine\",exported_zone=\"a\"} 1\n"),
        "{}",
        pushing.render()
    );
    let plain = MetricsBuilder::new().build_recorder().unwrap();
    plain.register_counter(&key, &METADATA).increment(1);
    assert!(plain
        .render()
        .contains("rows_total{job=\"mine\",zone=\"a\"} 1\n"));
}

/// A pull-only recorder is not bound by the gateway's rules: `go_goroutines` may be a counter.
/// Pushing, the gateway's own type wins (a push with another type would be refused whole).
#[test]
fn the_gateway_reserves_its_names_only_for_recorders_that_push() {
    let key = Key::from_name("go_goroutines");
    let plain = MetricsBuilder::new().build_recorder().unwrap();
    plain.register_counter(&key, &METADATA).increment(2);
    assert!(plain
        .render()
        .contains("# TYPE go_goroutines counter\ngo_goroutines 2\n"));
    let pushing = MetricsBuilder::new()
        .with_push(PushConfig::new("http://127.0.0.1:9091", "j"))
        .build_recorder()
        .unwrap();
    pushing.register_counter(&key, &METADATA).increment(2);
    let text = pushing.render();
    assert!(!text.contains("go_goroutines 2"), "{text}");
    assert!(text.contains("reason=\"reserved_name\"} 1"), "{text}");
}

/// A sink's URL and job set after its other settings keep them, and the other way round.
#[test]
fn setters_combine_in_any_order() {
    let grouped_first = MetricsBuilder::new()
        .add_push_grouping("instance", "w1")
        .with_push_gateway("http://127.0.0.1:9091", "nightly");
    let push = grouped_first.config().push.as_ref().unwrap();
    assert_eq!(push.grouping["instance"], "w1");
    assert_eq!(push.job, "nightly");
    let from_file = MetricsConfig::from_toml_str(
        "[remote_write]\nurl = \"http://a/api/v1/write\"\njob = \"x\"\ntimeout_ms = 1234\n",
    )
    .unwrap();
    let builder =
        MetricsBuilder::from_config(from_file).with_remote_write("http://b/api/v1/write", "y");
    let rw = builder.config().remote_write.as_ref().unwrap();
    assert_eq!(
        (rw.url.as_str(), rw.job.as_str(), rw.timeout_ms),
        ("http://b/api/v1/write", "y", 1234)
    );
}

/// `Exporter::start` with a recorder built for remote write alone and a `[push]` table: `job` is
/// renamed either way, but the recorder does not keep the gateway's own names to their types, so
/// the gateway could refuse a push whole. Refused at start.
#[test]
fn an_exporter_for_a_push_the_recorder_was_not_built_for_is_refused() {
    let remote = MetricsBuilder::new()
        .with_remote_write("http://127.0.0.1:9/api/v1/write", "j")
        .build_recorder()
        .unwrap();
    let mut config = MetricsConfig::default();
    config.push = Some(PushConfig::new("http://127.0.0.1:9", "j"));
    let err = tokio::runtime::Runtime::new().unwrap().block_on(async {
        observer_metrics::export::Exporter::start(remote.handle(), &config)
            .map(|_| ())
            .unwrap_err()
    });
    assert!(err.reason.contains("gateway's own names"), "{err}");
}

#[test]
fn a_bad_setting_is_named_at_build() {
    let err = MetricsBuilder::new()
        .sample_rate(2.0)
        .build_recorder()
        .unwrap_err();
    assert_eq!(err.field, "sample_rate");
    let err = MetricsBuilder::new()
        .add_push_grouping("zone", "eu")
        .build_recorder()
        .unwrap_err();
    assert_eq!(err.field, "push.url");
    let err = MetricsBuilder::new()
        .with_push_gateway("http://127.0.0.1:9091", "j")
        .add_global_label("instance", "x")
        .add_push_grouping("instance", "w1")
        .build_recorder()
        .unwrap_err();
    assert_eq!(err.field, "global_labels.instance");
}

/// An install that fails for its exporter installs nothing; the second install fails, and the
/// error hands back a recorder that still records and renders. (One test: a process has one
/// global recorder.)
#[test]
fn a_failed_install_hands_the_recorder_back() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime.block_on(async { MetricsBuilder::new().install().map(|_| ()).unwrap_err() });
    assert!(matches!(err, BuildError::Config(_)), "{err}");
    let mut unreadable_ca = PushConfig::new("https://127.0.0.1:9", "j");
    unreadable_ca.ca_file = Some("/nonexistent/ca.pem".into());
    let err = runtime.block_on(async {
        let builder = MetricsBuilder::new().with_push(unreadable_ca);
        builder.install().map(|_| ()).unwrap_err()
    });
    assert!(err.to_string().contains("push.ca_file"), "{err}");
    // Neither installed anything: this is the first recorder.
    let handle = MetricsBuilder::new().install_recorder().unwrap();
    metrics::counter!("first_total").increment(1);
    assert!(handle.render().contains("first_total 1\n"));
    let err = MetricsBuilder::new()
        .prefix("second")
        .install_recorder()
        .unwrap_err();
    let BuildError::Install(err) = err else {
        panic!("expected an install error, got {err}");
    };
    let recorder = err.into_recorder();
    metrics::with_local_recorder(&recorder, || metrics::counter!("kept_total").increment(2));
    assert_eq!(
        recorder.render(),
        "# TYPE second_kept_total counter\nsecond_kept_total 2\n"
    );
    // The global recorder is still the first.
    metrics::counter!("first_total").increment(1);
    assert!(handle.render().contains("first_total 2\n"));
}

/// `build` needs a runtime for its exporter, and says so; `build_recorder` does not.
#[test]
fn build_outside_a_runtime_is_refused_naming_it() {
    let err = MetricsBuilder::new()
        .with_push_gateway("http://127.0.0.1:9", "j")
        .build()
        .unwrap_err();
    assert_eq!(err.field, "tokio runtime", "{err}");
    assert!(err.reason.contains("#[tokio::main]"), "{err}");
    let err = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { MetricsBuilder::new().build().map(|_| ()).unwrap_err() });
    assert!(err.reason.contains("[push] or [remote_write]"), "{err}");
}

/// No credential shows in any `Debug` of a config, a builder, a client or a writer, nor in a
/// validation error: a secret is put in every field that can hold one (a URL's password, a
/// token, basic auth, every header's value) of both sinks.
#[test]
fn no_secret_in_any_debug_or_error() {
    const SECRET: &str = "S3CRET";
    let mut push = PushConfig::new(format!("http://user:{SECRET}@127.0.0.1:9091"), "j");
    push.headers.insert("X-Api-Key".into(), SECRET.into());
    push.headers
        .insert("Authorization".into(), format!("Bearer {SECRET}"));
    let mut with_token = push.clone();
    with_token.url = "http://127.0.0.1:9091".into();
    with_token.bearer_token = Some(observer_metrics::export::Secret::new(SECRET));
    let mut with_basic = with_token.clone();
    with_basic.bearer_token = None;
    with_basic.basic_auth = Some(observer_metrics::export::BasicAuth::new("user", SECRET));
    let mut rw = observer_metrics::remote_write::RemoteWriteConfig::new(
        format!("http://{SECRET}@127.0.0.1:9090/api/v1/write"),
        "j",
    );
    rw.headers.insert("X-Scope-OrgID".into(), SECRET.into());
    let mut rw_token = rw.clone();
    rw_token.url = "http://127.0.0.1:9090/api/v1/write".into();
    rw_token.bearer_token = Some(observer_metrics::export::Secret::new(SECRET));

    let mut shown = Vec::new();
    for push in [&push, &with_token, &with_basic] {
        shown.push(format!("{push:?}"));
        let client = observer_metrics::push::PushClient::new(push.clone()).unwrap();
        let client = format!("{client:?}");
        assert!(
            client.starts_with("PushClient") && client.contains("127.0.0.1:9091/metrics/job/j"),
            "{client}"
        );
        shown.push(client);
    }
    shown.push(format!("{rw:?}"));
    shown.push(format!("{rw_token:?}"));
    let builder = MetricsBuilder::new()
        .with_push(with_basic.clone())
        .with_remote_write_config(rw_token.clone());
    shown.push(format!("{builder:?}"));
    shown.push(format!("{:?}", builder.config()));
    let recorder = builder.build_recorder().unwrap();
    for rw in [&rw, &rw_token] {
        let writer =
            observer_metrics::remote_write::RemoteWriter::new(recorder.handle(), rw.clone());
        shown.push(format!("{writer:?}"));
    }
    // A pusher shows its group's URL, the password as `***`.
    let client = observer_metrics::push::PushClient::new(push.clone()).unwrap();
    let pusher = observer_metrics::push::GroupPusher::new(recorder.handle(), client);
    let pusher = format!("{pusher:?}");
    assert!(
        pusher.contains("GroupPusher") && pusher.contains("user:***@127.0.0.1:9091/metrics/job/j"),
        "{pusher}"
    );
    shown.push(pusher);
    // Errors about a field holding a secret: a header value that is not printable, both
    // credentials at once, credentials in the URL beside a token.
    let mut bad_header = with_token.clone();
    bad_header
        .headers
        .insert("X-Api-Key".into(), format!("{SECRET}\n"));
    let mut both = with_basic.clone();
    both.bearer_token = Some(observer_metrics::export::Secret::new(SECRET));
    let mut url_and_token = push.clone();
    url_and_token.bearer_token = Some(observer_metrics::export::Secret::new(SECRET));
    for bad in [bad_header, both, url_and_token] {
        let err = MetricsBuilder::new()
            .with_push(bad)
            .build_recorder()
            .unwrap_err();
        shown.push(format!("{err} {err:?}"));
    }
    let env = MetricsConfig::default().with_env([(
        "OBSERVER_METRICS_PUSH_BEARER_TOKEN".to_owned(),
        format!("{SECRET}\n"),
    )]);
    shown.push(format!("{env:?}"));
    for text in &shown {
        assert!(!text.contains(SECRET), "a secret shows: {text}");
    }
    assert!(
        shown.iter().any(|t| t.contains("X-Api-Key")),
        "header names still show"
    );
}
