//! The crate's layers, checked: every `crate::` path in `src/` points down the stack, never up or
//! sideways to a peer. A pure test (it reads the sources), so it runs with nothing installed.
//!
//! The stack, lowest first. A module may use a module of a lower rank, and itself; two modules of
//! one rank are peers and never use each other. Inside `sinks`, the same holds one level down.
//! Unit tests (a trailing `#[cfg(test)] mod`) may reach anywhere: they build what they test with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The crate's top-level modules.
const TOP: &[(&str, u8)] = &[
    ("hash", 0),
    ("text", 0),
    ("naming", 1),
    ("error", 2),
    ("env", 2),
    ("recorder", 3),
    ("encoding", 4),
    ("platform", 5),
    ("sinks", 6),
    ("observer", 6),
    ("config", 7),
];

/// The modules inside `sinks`: what every HTTP sink shares, the sinks (peers), the schedule that
/// drives them, and the public facade over it all.
const SINKS: &[(&str, u8)] = &[
    ("error", 0),
    ("http", 1),
    ("turn", 0),
    ("push", 2),
    ("remote_write", 2),
    ("pull", 2),
    ("schedule", 3),
    ("export", 4),
];

/// The root's public re-exports of modules, as code inside the crate may spell them.
const ALIASES: &[(&str, &str)] = &[
    ("export", "sinks::export"),
    ("push", "sinks::push"),
    ("remote_write", "sinks::remote_write"),
    ("pull", "sinks::pull"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file, `["sinks", "push", "client"]` for `src/sinks/push/client.rs`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("a file under src/");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without its comments and its trailing unit tests.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b` path in `code`, as its segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let path: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !path.is_empty() {
            paths.push(path);
        }
    }
    paths
}

fn rank(table: &[(&str, u8)], name: &str) -> Option<u8> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, r)| r)
}

/// Why `from` may not use `to` (module paths), or `None` when it may.
fn violation(from: &[String], to: &[String]) -> Option<String> {
    let (Some(from_top), Some(to_top)) = (from.first(), to.first()) else {
        return None;
    };
    let Some(to_rank) = rank(TOP, to_top) else {
        // An item of the root itself: the crate's modules reach one through its own layer.
        return to_top
            .starts_with(char::is_uppercase)
            .then(|| format!("uses the root re-export `crate::{to_top}`: name its layer"));
    };
    let from_rank = rank(TOP, from_top)
        .unwrap_or_else(|| panic!("src/{from_top} is not in the layers table: add it"));
    if from_top != to_top {
        return match from_rank.cmp(&to_rank) {
            std::cmp::Ordering::Greater => None,
            std::cmp::Ordering::Equal => Some(format!("{from_top} and {to_top} are peers")),
            std::cmp::Ordering::Less => Some(format!("{to_top} is above {from_top}")),
        };
    }
    if from_top == "sinks" {
        let (Some(a), Some(b)) = (from.get(1), to.get(1)) else {
            return None;
        };
        if a == b {
            return None;
        }
        let ra = rank(SINKS, a).unwrap_or_else(|| panic!("sinks::{a} is not in the SINKS table"));
        let rb = rank(SINKS, b).unwrap_or_else(|| panic!("sinks::{b} is not in the SINKS table"));
        return match ra.cmp(&rb) {
            std::cmp::Ordering::Greater => None,
            std::cmp::Ordering::Equal => Some(format!("sinks::{a} and sinks::{b} are peers")),
            std::cmp::Ordering::Less => Some(format!("sinks::{b} is above sinks::{a}")),
        };
    }
    None
}

/// `crate::push::x` as the module it names, `sinks::push::x`.
fn resolve(path: Vec<String>) -> Vec<String> {
    match ALIASES.iter().find(|(alias, _)| path[0] == *alias) {
        Some((_, target)) => target
            .split("::")
            .map(str::to_owned)
            .chain(path.into_iter().skip(1))
            .collect(),
        None => path,
    }
}

fn layer_violations() -> BTreeMap<String, Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        if module.is_empty() {
            continue; // lib.rs: the root declares and re-exports every layer.
        }
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for path in crate_paths(&code(&text)) {
            let path = resolve(path);
            if let Some(why) = violation(&module, &path) {
                let shown = file.strip_prefix(&src).unwrap().display().to_string();
                found
                    .entry(shown)
                    .or_default()
                    .push(format!("crate::{}: {why}", path.join("::")));
            }
        }
    }
    found
}

#[test]
fn every_import_points_down_the_stack() {
    let found = layer_violations();
    assert!(
        found.is_empty(),
        "imports against the layers (see tests/layers.rs):\n{}",
        found
            .iter()
            .map(|(file, v)| format!("  src/{file}:\n    {}", v.join("\n    ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The check itself: an upward import, a peer's and a root re-export are each caught, and a
/// downward one is not.
#[test]
fn the_check_catches_what_it_is_for() {
    let m = |p: &str| p.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert!(violation(&m("recorder::index"), &m("config::MetricsConfig")).is_some());
    assert!(violation(&m("observer::metered"), &m("sinks::push")).is_some());
    assert!(violation(&m("sinks::remote_write"), &m("sinks::push::PushConfig")).is_some());
    assert!(violation(&m("encoding::text"), &m("RecorderHandle")).is_some());
    assert!(violation(&m("sinks::push::client"), &m("sinks::http::redact_url")).is_none());
    assert!(violation(&m("config"), &m("recorder::config::Reserved")).is_none());
    assert_eq!(
        crate_paths("use crate::a::b;\nx(crate::c); notcrate::d"),
        [m("a::b"), m("c")]
    );
    assert_eq!(resolve(m("push::PushConfig")), m("sinks::push::PushConfig"));
}
