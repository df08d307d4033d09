//! The `observer-metrics` binary's configuration: a TOML file sets everything the flags set, the
//! environment and the flags override it, and a bad value fails at start naming the field.

#[path = "../../tests/support/mod.rs"]
mod support;

use support::Pushgateway;

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = cli!();
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("om-cli-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_config_file_sets_the_workload_and_the_push() {
    let gw = Pushgateway::start();
    let path = write_config(
        "full",
        &format!(
            "export_interval_secs = 30\nprefix = \"obs\"\n[push]\nurl = \"{}\"\njob = \"from-file\"\n\
             [push.grouping]\nregion = \"eu west\"\n[workload]\nevents = 321\nfailure_rate = 0.3\n\
             duplicate_rate = 0.0\nseed = 7\n",
            gw.url
        ),
    );
    let (code, _, stderr) = run(&["simulate", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("321 events: 0 duplicates"), "{stderr}");
    let labels = [("job", "from-file"), ("region", "eu west")];
    assert_eq!(gw.value(&labels, "obs_events_processed_total"), Some(321.0));

    // A flag overrides the file, the environment overrides the file too.
    let (code, _, stderr) = run(
        &[
            "simulate",
            "--config",
            path.to_str().unwrap(),
            "--events",
            "11",
            "--job",
            "from-flag",
        ],
        &[("OBSERVER_METRICS_PREFIX", "env")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let labels = [("job", "from-flag"), ("region", "eu west")];
    assert_eq!(gw.value(&labels, "env_events_processed_total"), Some(11.0));

    // OBSERVER_METRICS_JOB names the job as --job does, but a sink's own (the file's push.job,
    // OBSERVER_METRICS_PUSH_JOB) is more specific and wins; --job itself wins over all.
    let simulate = [
        "simulate",
        "--config",
        path.to_str().unwrap(),
        "--events",
        "5",
    ];
    let (code, _, stderr) = run(&simulate, &[("OBSERVER_METRICS_JOB", "generic")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        gw.value(
            &[("job", "from-file"), ("region", "eu west")],
            "obs_events_processed_total"
        ),
        Some(5.0)
    );
    let (code, _, stderr) = run(
        &simulate,
        &[
            ("OBSERVER_METRICS_JOB", "generic"),
            ("OBSERVER_METRICS_PUSH_JOB", "specific"),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(gw
        .value(
            &[("job", "specific"), ("region", "eu west")],
            "obs_events_processed_total"
        )
        .is_some());
    let no_file = ["simulate", "--events", "3", "--push-gateway", &gw.url];
    let (code, _, stderr) = run(&no_file, &[("OBSERVER_METRICS_JOB", "generic")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        gw.value(&[("job", "generic")], "events_processed_total"),
        Some(3.0)
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn bad_settings_fail_at_start_naming_the_field() {
    /// (case, extra flags, environment, config file).
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 11] = [
        ("buckets", &[], &[], "histogram_buckets = [5, 1]\n"),
        ("workload", &[], &[], "[workload]\nfailure_rate = 2\n"),
        ("unknown", &[], &[], "[workload]\nevnets = 3\n"),
        ("flag", &["--rate", "fast"], &[], ""),
        ("env", &[], &[("OBSERVER_METRICS_SAMPLE_RATE", "7")], ""),
        ("push", &["--push-gateway", "localhost:9091"], &[], ""),
        (
            "type",
            &[],
            &[],
            "[push]\nurl = \"http://127.0.0.1:9\"\ntimeout_ms = \"fast\"\n",
        ),
        (
            "rate-flag",
            &["--duplicate-rate", "3"],
            &[],
            "[workload]\nduplicate_rate = 0.5\n",
        ),
        (
            "grouping",
            &[
                "--push-gateway",
                "http://127.0.0.1:9",
                "--grouping",
                "job=other",
            ],
            &[],
            "",
        ),
        ("listen", &["--listen", "localhost"], &[], ""),
        (
            "rate-env",
            &[],
            &[("OBSERVER_METRICS_WORKLOAD_DUPLICATE_RATE", "3")],
            "",
        ),
    ];
    let expected = [
        "`histogram_buckets` = [5, 1]: must be strictly increasing",
        "workload.failure_rate = 2 in ",
        "line 2, column 1: `workload.evnets` = 3: unknown field `evnets`",
        "--rate",
        "sample_rate",
        "push.url",
        // The file, line and field once, the value as written: not `toml` and the parser's
        // caret drawing.
        "line 3, column 14: `push.timeout_ms` = \"fast\": invalid type: string \"fast\", expected u64",
        // The flag given, not the file it overrode.
        "--duplicate-rate 3: must be between 0 and 1",
        "`push.grouping.job` = \"other\": the group's job is push.job (--job)",
        "`pull.listen` = \"localhost\": expected an address and port",
        // The variable that set it, not its flag.
        "OBSERVER_METRICS_WORKLOAD_DUPLICATE_RATE=3: must be between 0 and 1",
    ];
    for ((name, flags, env, toml), expect) in cases.into_iter().zip(expected) {
        let path = write_config(name, toml);
        let command = if name == "listen" {
            "serve"
        } else {
            "simulate"
        };
        let mut args = vec![command, "--config", path.to_str().unwrap()];
        args.extend_from_slice(flags);
        let (code, stdout, stderr) = run(&args, env);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stdout.is_empty(), "{name}: nothing runs on a bad config");
        assert!(
            stderr.contains(expect),
            "{name}: {stderr:?} should name {expect}"
        );
        if toml.contains('[') && name != "rate-flag" {
            assert!(
                stderr.contains(path.to_str().unwrap()),
                "{name}: {stderr:?} names no file"
            );
        }
        // One line (clap's own usage errors excepted).
        if name != "flag" {
            assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr:?}");
        }
    }
}

/// `--listen localhost:PORT` is the IPv4 loopback, as a scrape config would write it.
#[test]
fn serve_listens_on_localhost() {
    let port = support::free_port();
    let _serve = support::ChildGuard::spawn(
        cli!()
            .args(["serve", "--listen", &format!("localhost:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut body = None;
    while body.is_none() && std::time::Instant::now() < deadline {
        body = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|mut stream| {
                use std::io::{Read, Write};
                let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut text = String::new();
                let _ = stream.read_to_string(&mut text);
                text
            });
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let body = body.expect("serve listened on 127.0.0.1");
    assert!(body.contains("events_processed_total"), "{body}");
}

/// The file is parsed once, as written: an error's line is the file's own line, in the
/// `[workload]` table as in the metrics settings (the file was once re-serialised before the
/// metrics part was parsed, and a `[workload]` error had no position).
#[test]
fn config_errors_point_at_the_files_own_lines() {
    let cases = [
        (
            "lines-push",
            "# a comment\n\n[push]\nurl = \"http://127.0.0.1:9\"\ntimeout_ms = \"fast\"\n",
            "line 5",
        ),
        (
            "lines-workload",
            "prefix = \"p\"\n\n[workload]\nevents = 10\nseed = \"one\"\n",
            "line 5",
        ),
        ("lines-top", "\n\n\nsample_rate = true\n", "line 4"),
    ];
    for (name, toml, expected) in cases {
        let path = write_config(name, toml);
        let (code, _, stderr) = run(&["simulate", "--config", path.to_str().unwrap()], &[]);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{name}: {stderr:?} should say {expected}"
        );
        assert!(
            stderr.contains(name),
            "{name}: {stderr:?} should name the file"
        );
    }
}

#[test]
fn without_a_gateway_simulate_prints_a_valid_exposition() {
    let (code, stdout, stderr) = run(&["simulate", "--events", "500"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    support::promtool_check(&stdout);
    assert_eq!(
        support::sample(&stdout, "events_processed_total"),
        Some(500.0)
    );
    assert!(stderr.contains("invariants hold"), "{stderr}");
}

/// Global labels the gateway would choke on or overwrite are refused before anything is pushed: a
/// global `le` made the gateway reject every push whole. The gateway receives nothing.
#[test]
fn reserved_global_labels_are_refused_before_any_push() {
    let gw = Pushgateway::start();
    for (labels, named) in [
        ("le=x", "global_labels.le"),
        ("quantile=0.5", "global_labels.quantile"),
        ("job=other", "global_labels.job"),
        ("instance=b", "global_labels.instance"),
        ("__x=1", "global_labels.__x"),
    ] {
        let (code, _, stderr) = run(
            &[
                "simulate",
                "--events",
                "5",
                "--push-gateway",
                &gw.url,
                "--grouping",
                "instance=a",
            ],
            &[("OBSERVER_METRICS_GLOBAL_LABELS", labels)],
        );
        assert_eq!(code, Some(2), "{labels}: {stderr}");
        assert!(
            stderr.contains(named),
            "{labels}: {stderr:?} should name {named}"
        );
    }
    assert!(gw.groups().is_empty(), "{}", gw.api_metrics());
}

/// Every setting is checked, and the listen address bound, before the first push: a bad `--listen`
/// used to push zeros and then wait out the shutdown deadline.
#[test]
fn serve_checks_and_binds_before_pushing() {
    let gw = Pushgateway::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_address = taken.local_addr().unwrap().to_string();
    for (listen, named) in [
        ("999.0.0.1:80", "pull.listen"),
        ("no-port", "pull.listen"),
        (taken_address.as_str(), "cannot listen on"),
    ] {
        let (code, _, stderr) = run(
            &["serve", "--listen", listen, "--push-gateway", &gw.url],
            &[],
        );
        assert_eq!(code, Some(2), "{listen}: {stderr}");
        assert!(
            stderr.contains(named),
            "{listen}: {stderr:?} should name {named}"
        );
    }
    assert!(gw.groups().is_empty(), "{}", gw.api_metrics());
}

/// With `sample_rate < 1` histogram counts are estimates: the batch's invariants must not compare
/// them with counters (it exited 3 every time).
#[test]
fn a_sampled_batch_passes_its_invariants() {
    let (code, stdout, stderr) = run(
        &["simulate", "--events", "2000"],
        &[("OBSERVER_METRICS_SAMPLE_RATE", "0.5")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("invariants hold"), "{stderr}");
    let sampled = support::sample(&stdout, "event_processing_duration_ms_count").unwrap();
    assert!(sampled > 0.0 && sampled < 2000.0, "{sampled}");
}

/// Only `OBSERVER_METRICS_*` variables are read: another one that is not UTF-8 made the CLI panic.
/// One of ours that is not UTF-8 is an error naming it.
#[cfg(unix)]
#[test]
fn non_utf8_environment_variables() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    let out = cli!()
        .args(["simulate", "--events", "3"])
        .env("SOMEONE_ELSES", bad)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli!()
        .args(["simulate", "--events", "3"])
        .env("OBSERVER_METRICS_PREFIX", bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("OBSERVER_METRICS_PREFIX"), "{stderr}");
}

/// A push setting from the environment with the URL from a flag: the whole is validated once the
/// flags are applied, not after the environment alone (which has no URL yet).
#[test]
fn env_push_settings_combine_with_the_flags_url() {
    let gw = Pushgateway::start();
    let (code, _, stderr) = run(
        &[
            "simulate",
            "--events",
            "4",
            "--push-gateway",
            &gw.url,
            "--job",
            "mixed",
        ],
        &[
            ("OBSERVER_METRICS_PUSH_TIMEOUT_MS", "2000"),
            ("OBSERVER_METRICS_PUSH_HEADERS", "X-Team=obs"),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        gw.value(&[("job", "mixed")], "events_processed_total"),
        Some(4.0)
    );
}

/// URLs are parsed at start as the HTTP client will parse them: a port out of range, a space in the
/// host or a `?query` fail at start naming `push.url` (they used to fail every push, after
/// retries), an uppercase `HTTP://` works, and an interval past the timers' range is refused.
#[test]
fn urls_and_intervals_are_checked_at_start() {
    let gw = Pushgateway::start();
    for url in [
        "http://127.0.0.1:99999",
        "http://gate way:9091",
        &format!("{}/?tenant=a", gw.url),
    ] {
        let (code, _, stderr) = run(&["simulate", "--events", "3", "--push-gateway", url], &[]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert!(stderr.contains("push.url"), "{url}: {stderr}");
    }
    let upper = gw.url.replace("http://", "HTTP://");
    let (code, _, stderr) = run(
        &[
            "simulate",
            "--events",
            "3",
            "--push-gateway",
            &upper,
            "--job",
            "upper",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        gw.value(&[("job", "upper")], "events_processed_total"),
        Some(3.0)
    );
    let (code, _, stderr) = run(
        &["simulate", "--events", "3", "--push-gateway", &gw.url],
        &[(
            "OBSERVER_METRICS_EXPORT_INTERVAL_SECS",
            "18446744073709551615",
        )],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("export_interval_secs"), "{stderr}");
}

/// The command line as clap gives it: `--version`, help for every subcommand with the defaults,
/// the environment twins and the exit codes, clap's errors (exit 2), and completion scripts.
#[test]
fn help_version_errors_and_completions() {
    let (code, stdout, _) = run(&["--version"], &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout.trim(),
        format!("observer-metrics {}", env!("CARGO_PKG_VERSION"))
    );
    for command in ["simulate", "serve", "check", "replay"] {
        let (code, stdout, _) = run(&[command, "--help"], &[]);
        assert_eq!(code, Some(0), "{command}");
        for expected in [
            "[env: OBSERVER_METRICS_PUSH_URL=]",
            "Exit codes: 0 success;",
            "130 / 143",
        ] {
            assert!(
                stdout.contains(expected),
                "{command} --help lacks {expected}:\n{stdout}"
            );
        }
    }
    // Each subcommand lists its own flags only.
    for (command, has, lacks) in [
        (
            "simulate",
            &["--events", "--rate", "--spool-dir"][..],
            &["--listen", "--query"][..],
        ),
        (
            "serve",
            &["--listen", "--rate", "--spool-dir"],
            &["--events", "--query"],
        ),
        (
            "check",
            &["--query", "--job"],
            &["--events", "--rate", "--listen", "--spool-dir"],
        ),
        (
            "replay",
            &["--spool-dir", "--push-gateway"],
            &["--events", "--job", "--query"],
        ),
    ] {
        let (_, help, _) = run(&[command, "--help"], &[]);
        let flags: Vec<&str> = help
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("--"))
            .filter_map(|l| l.split([' ', '\t']).next())
            .collect();
        for flag in has {
            assert!(
                flags.contains(&&flag[2..]),
                "{command} lacks {flag}: {flags:?}"
            );
        }
        for flag in lacks {
            assert!(
                !flags.contains(&&flag[2..]),
                "{command} lists {flag}: {flags:?}"
            );
        }
    }
    let (_, help, _) = run(&["simulate", "--help"], &[]);
    assert!(help.contains("[default: 1000]"), "{help}");
    let (code, stdout, stderr) = run(&["simulate", "--events", "many"], &[]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error: invalid value 'many' for '--events <N>'"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["simulate", "--evnets", "3"], &[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("unexpected argument '--evnets'"),
        "{stderr}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let (code, stdout, _) = run(&["completions", shell], &[]);
        assert_eq!(code, Some(0), "{shell}");
        assert!(
            stdout.contains("simulate") && stdout.contains("push-gateway"),
            "{shell}: {stdout}"
        );
    }
}

/// What bash offers after the words `words` (a Tab after them), asked of the completion script
/// the binary prints, the way bash calls it.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let ask = r#"source "$1"; shift
fn=$(complete -p observer-metrics | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=(observer-metrics "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
"$fn" observer-metrics "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#;
    let out = std::process::Command::new("bash")
        .args(["-c", ask, "ask"])
        .arg(script)
        .args(words)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The completion scripts complete each subcommand's own flags (bash asked as it asks; zsh and
/// fish parse theirs). clap_complete's bash script completed none for a hyphenated binary.
#[test]
fn completions_complete_each_subcommands_own_flags() {
    let dir = std::env::temp_dir().join(format!("om-completions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let (code, script, stderr) = run(&["completions", shell], &[]);
        assert_eq!(code, Some(0), "{shell}: {stderr}");
        let path = dir.join(format!("observer-metrics.{shell}"));
        std::fs::write(&path, script).unwrap();
        if shell == "bash" {
            assert_eq!(bash_completes(&path, &["simulate", "--ev"]), ["--events"]);
            assert_eq!(bash_completes(&path, &["serve", "--lis"]), ["--listen"]);
            assert_eq!(bash_completes(&path, &["si"]), ["simulate"]);
            let check = bash_completes(&path, &["check", "--"]);
            assert!(check.contains(&"--query".to_owned()), "{check:?}");
            assert!(!check.contains(&"--events".to_owned()), "{check:?}");
            continue;
        }
        // Installed by the README's test command (zsh and fish, Debian's packages).
        let parse: &[&str] = if shell == "zsh" {
            &["-n"]
        } else {
            &["--no-execute"]
        };
        let out = std::process::Command::new(shell)
            .args(parse)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{shell} must be installed (apt-get install {shell}): {e}"));
        assert!(
            out.status.success(),
            "{shell} cannot parse its script: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every flag has its `OBSERVER_METRICS_*` twin, shown in `--help` (--grouping's is the library's
/// `OBSERVER_METRICS_PUSH_GROUPING`, which its help names); `observer-metrics env` lists every
/// variable the binary reads with its setting and default; a name it does not know is refused
/// with the one meant.
#[test]
fn every_flag_has_a_variable_and_env_lists_them_all() {
    for command in ["simulate", "serve", "check", "replay"] {
        let (_, help, _) = run(&[command, "--help"], &[]);
        let mut blocks: Vec<String> = Vec::new();
        for line in help.lines() {
            // A flag's line is indented less than its description (and its possible values).
            let indent = line.len() - line.trim_start().len();
            if indent < 8 && line.trim_start().starts_with('-') {
                blocks.push(String::new());
            }
            if let Some(block) = blocks.last_mut() {
                block.push_str(line);
                block.push('\n');
            }
        }
        for block in &blocks {
            let flag = block
                .split_whitespace()
                .find(|w| w.starts_with("--"))
                .unwrap_or("");
            if ["--help", "--version"].contains(&flag) {
                continue;
            }
            let twin = if flag == "--grouping" {
                "OBSERVER_METRICS_PUSH_GROUPING"
            } else {
                "[env: OBSERVER_METRICS_"
            };
            assert!(
                block.contains(twin),
                "{command} {flag} has no variable:\n{block}"
            );
        }
    }
    let (code, listing, _) = run(&["env"], &[]);
    assert_eq!(code, Some(0));
    for v in observer_metrics::env_variables() {
        let line = listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(v.name))
            .unwrap_or_else(|| panic!("{} is not listed:\n{listing}", v.name));
        assert!(line.contains(v.field), "{line}");
    }
    for own in [
        "OBSERVER_METRICS_WORKLOAD_EVENTS",
        "OBSERVER_METRICS_JOB",
        "OBSERVER_METRICS_CONFIG",
    ] {
        assert!(listing.contains(own), "{own}:\n{listing}");
    }
    assert!(listing.contains("OBSERVER_METRICS_PUSH_TIMEOUT_MS") && listing.contains("5000"));
    // A workload variable runs the workload; a typo is refused with the one meant.
    let (code, stdout, stderr) = run(&["simulate"], &[("OBSERVER_METRICS_WORKLOAD_EVENTS", "7")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("\nevents_processed_total 7\n"), "{stdout}");
    let (code, _, stderr) = run(&["simulate"], &[("OBSERVER_METRICS_PUSH_UR", "http://gw")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("did you mean OBSERVER_METRICS_PUSH_URL?"),
        "{stderr}"
    );
}

/// A flag's environment twin stands in for the flag: the gateway URL from
/// `OBSERVER_METRICS_PUSH_URL` alone, and the flag wins over it.
#[test]
fn flags_fall_back_to_their_environment_twins() {
    let gw = Pushgateway::start();
    let (code, _, stderr) = run(
        &["simulate", "--events", "6", "--job", "from-env"],
        &[("OBSERVER_METRICS_PUSH_URL", &gw.url)],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        gw.value(&[("job", "from-env")], "events_processed_total"),
        Some(6.0)
    );
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    let (code, _, stderr) = run(
        &[
            "simulate",
            "--events",
            "2",
            "--job",
            "flag-wins",
            "--push-gateway",
            &gw.url,
        ],
        &[("OBSERVER_METRICS_PUSH_URL", &dead)],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        gw.value(&[("job", "flag-wins")], "events_processed_total"),
        Some(2.0)
    );
}
