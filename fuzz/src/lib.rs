//! The oracles of the fuzz targets, one module each, and what they share: a workload of `metrics`
//! calls built from the fuzzer's bytes, and a strict parser of the text format. The targets in
//! `fuzz_targets/` only hand their bytes to `check_bytes`; the tests below replay every committed
//! corpus and regression file through the same checks (with stable: `cargo test` in `fuzz/`).

pub mod text;
pub mod workload;

pub mod exposition {
    //! Any `metrics` keys and values: the render always parses as the text format, strictly.
    use crate::workload::Workload;

    /// The check of one input; panics (a crash for the fuzzer) on a render that does not parse.
    pub fn check_bytes(data: &[u8]) {
        let Some(workload) = Workload::from_bytes(data) else {
            return;
        };
        let Some(recorder) = workload.recorder(false) else {
            return;
        };
        let render = recorder.render();
        if let Err(e) = crate::text::parse(&render) {
            panic!("the render does not parse: {e}\n{render}");
        }
    }

    /// The render of one input, if it builds a recorder: for the corpus checks with promtool and
    /// the Python parser.
    pub fn render(data: &[u8]) -> Option<String> {
        let recorder = Workload::from_bytes(data)?.recorder(false)?;
        Some(recorder.render())
    }
}

pub mod config {
    //! Any TOML text, and any `OBSERVER_METRICS_*` variables: never a panic, every error names a
    //! field, and an accepted file written back reads back the same.
    use observer_metrics::MetricsConfig;

    /// The check of one input: TOML, or after a first line `ENV`, `KEY=VALUE` lines.
    pub fn check_bytes(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Some(vars) = text.strip_prefix("ENV\n") {
            let pairs = vars.lines().filter_map(|line| {
                let (k, v) = line.split_once('=')?;
                Some((format!("OBSERVER_METRICS_{k}"), v.to_owned()))
            });
            if let Err(e) = MetricsConfig::default().with_env(pairs.collect::<Vec<_>>()) {
                assert!(!e.field.is_empty(), "an error without a field: {e}");
            }
            return;
        }
        match MetricsConfig::from_toml_str(text) {
            Err(e) => assert!(!e.field.is_empty(), "an error without a field: {e}"),
            Ok(config) => {
                let written = toml::to_string(&config)
                    .unwrap_or_else(|e| panic!("an accepted config does not write: {e}"));
                let again = MetricsConfig::from_toml_str(&written)
                    .unwrap_or_else(|e| panic!("written back, refused: {e}\n{written}"));
                assert_eq!(again, config, "written back, read differently:\n{written}");
            }
        }
    }
}

pub mod remote_write {
    //! Any `metrics` keys and values: the encoder's `WriteRequest`, decoded with prost, is exactly
    //! the render's series, with the producer's `job` and `instance`.
    use crate::workload::Workload;
    use observer_metrics::remote_write::Encoder;
    use prost::Message;

    /// The remote-write 1.0 messages, as receivers declare them.
    #[derive(Clone, PartialEq, Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    const AT: i64 = 1_700_000_000_000;

    /// The check of one input.
    pub fn check_bytes(data: &[u8]) {
        let Some(workload) = Workload::from_bytes(data) else {
            return;
        };
        let Some(recorder) = workload.recorder(true) else {
            return;
        };
        let render = recorder.render();
        let mut encoder = Encoder::new("fuzz", "fuzz-1");
        let body = encoder.encode(&recorder.handle(), AT);
        let decoded = WriteRequest::decode(body.as_slice())
            .unwrap_or_else(|e| panic!("the request does not decode: {e}"));
        let expected = crate::text::parse(&render)
            .unwrap_or_else(|e| panic!("the render does not parse: {e}\n{render}"));
        assert_eq!(decoded.timeseries.len(), expected.len(), "{render}");
        for (series, (name, labels, value)) in decoded.timeseries.iter().zip(&expected) {
            // An empty label value is no label, for a scrape and for remote write alike.
            let mut want: Vec<(String, String)> = labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .cloned()
                .collect();
            want.push(("__name__".into(), name.clone()));
            want.push(("job".into(), "fuzz".into()));
            want.push(("instance".into(), "fuzz-1".into()));
            want.sort();
            let got: Vec<(String, String)> = series
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            assert_eq!(
                got, want,
                "labels, sorted by name as receivers require\n{render}"
            );
            assert_eq!(series.samples.len(), 1);
            let sample = &series.samples[0];
            assert_eq!(sample.timestamp, AT);
            assert!(
                sample.value.to_bits() == value.to_bits()
                    || (sample.value.is_nan() && value.is_nan()),
                "{name}: {} written, {value} rendered",
                sample.value
            );
        }
    }
}

pub mod group_url {
    //! Any job and grouping labels: the group URL that validation accepts parses, as the HTTP
    //! client parses it, into exactly the job and labels given (no dot segment resolved, nothing
    //! merged), the way the gateway decodes `@base64` values.
    use arbitrary::{Arbitrary, Unstructured};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use observer_metrics::push::{group_url, PushConfig};
    use std::collections::BTreeMap;

    const BASE: &str = "http://127.0.0.1:9091/base";

    /// The check of one input.
    pub fn check_bytes(data: &[u8]) {
        let mut input = Unstructured::new(data);
        let Ok((job, grouping)) = <(String, Vec<(String, String)>)>::arbitrary(&mut input) else {
            return;
        };
        let mut config = PushConfig::new(BASE, job.clone());
        config.grouping = grouping.into_iter().collect();
        if let Err(e) = config.validate() {
            assert!(!e.field.is_empty(), "an error without a field: {e}");
            return;
        }
        let url = group_url(&config);
        let parsed = url::Url::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let segments: Vec<&str> = parsed.path_segments().unwrap().collect();
        assert_eq!(segments[..2], ["base", "metrics"], "{url}");
        let pairs = &segments[2..];
        assert!(pairs.len().is_multiple_of(2), "{url}");
        let mut got = BTreeMap::new();
        for pair in pairs.chunks(2) {
            let (name, value) = match pair[0].strip_suffix("@base64") {
                Some(name) if pair[1] == "=" => (name, String::new()),
                Some(name) => {
                    let bytes = URL_SAFE_NO_PAD
                        .decode(pair[1])
                        .unwrap_or_else(|e| panic!("{url}: {e}"));
                    (name, String::from_utf8(bytes).unwrap())
                }
                None => (pair[0], pair[1].to_owned()),
            };
            assert!(
                got.insert(name.to_owned(), value).is_none(),
                "{name} twice: {url}"
            );
        }
        let mut want = config.grouping.clone();
        want.insert("job".into(), job);
        assert_eq!(got, want, "{url}");
    }
}

#[cfg(test)]
mod corpus {
    //! Every committed corpus and regression input, replayed through its target's oracle; and the
    //! exposition corpus's renders checked by promtool and the Python client's parser.
    use std::path::{Path, PathBuf};

    fn inputs(target: &str) -> Vec<PathBuf> {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["corpus", "regressions"] {
            if let Ok(entries) = std::fs::read_dir(here.join(dir).join(target)) {
                files.extend(entries.flatten().map(|e| e.path()));
            }
        }
        files.sort();
        files
    }

    fn replay(target: &str, check: fn(&[u8])) {
        let files = inputs(target);
        assert!(!files.is_empty(), "no corpus for {target}");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                panic!("{} fails", file.display());
            }
        }
    }

    #[test]
    fn exposition_corpus() {
        replay("exposition", crate::exposition::check_bytes);
    }

    #[test]
    fn config_corpus() {
        replay("config", crate::config::check_bytes);
    }

    #[test]
    fn remote_write_corpus() {
        replay("remote_write", crate::remote_write::check_bytes);
    }

    #[test]
    fn group_url_corpus() {
        replay("group_url", crate::group_url::check_bytes);
    }

    /// The renders of the exposition corpus, each checked by `promtool check metrics` and all by
    /// the Python client's parser (`prometheus_client.parser`). Both must be installed: the test
    /// fails naming them otherwise.
    #[test]
    fn exposition_corpus_renders_pass_promtool_and_the_python_parser() {
        let renders: Vec<String> = inputs("exposition")
            .iter()
            .filter_map(|f| crate::exposition::render(&std::fs::read(f).unwrap()))
            .filter(|r| !r.is_empty())
            .collect();
        assert!(renders.len() > 10, "{} renders", renders.len());
        let dir = std::env::temp_dir().join(format!("om-fuzz-renders-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, render) in renders.iter().enumerate() {
            let path = dir.join(format!("{i:05}.prom"));
            std::fs::write(&path, render).unwrap();
            let out = std::process::Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(std::fs::File::open(&path).unwrap())
                .output()
                .expect("promtool must be installed (apt-get install -y prometheus)");
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // Lint advice (a counter without `_total`, say) is not a parse error.
            assert!(
                !said.contains("parsing error") && !said.contains("error while"),
                "{}: {said}\n{render}",
                path.display()
            );
        }
        let script = "import sys, glob\n\
                      from prometheus_client.parser import text_string_to_metric_families\n\
                      for path in sorted(glob.glob(sys.argv[1] + '/*.prom')):\n\
                      \x20   with open(path, newline='') as f:\n\
                      \x20       try:\n\
                      \x20           list(text_string_to_metric_families(f.read()))\n\
                      \x20       except Exception as e:\n\
                      \x20           print(path, e)\n\
                      \x20           sys.exit(1)\n";
        let out = std::process::Command::new("python3")
            .args(["-c", script, dir.to_str().unwrap()])
            .output()
            .expect("python3 must be installed");
        assert!(
            out.status.success(),
            "the Python parser (pip install prometheus-client): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
