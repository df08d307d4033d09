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
    ("spool", 1),
    ("lane", 2),
    ("push", 3),
    ("remote_write", 3),
    ("pull", 3),
    ("replay", 4),
    ("schedule", 5),
    ("export", 6),
];

/// The root's public re-exports of modules, as code inside the crate may spell them.
const ALIASES: &[(&str, &str)] = &[
    ("export", "sinks::export"),
    ("push", "sinks::push"),
    ("remote_write", "sinks::remote_write"),
    ("pull", "sinks::pull"),
    ("spool", "sinks::spool"),
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

/// The code of a file without its comments and its unit-test modules (each `#[cfg(test)] mod`
/// block, wherever it stands, to its closing brace).
fn code(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect();
    let text = lines.join("\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let item = after["#[cfg(test)]".len()..].trim_start();
        if !item.starts_with("mod ") {
            out.push_str("#[cfg(test)]");
            rest = &after["#[cfg(test)]".len()..];
            continue;
        }
        // Skip to the brace that closes the module (braces in strings are rare enough in tests
        // here to be counted too: a miscount only cuts more test code).
        let open = after.find('{').expect("a test module has a body");
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Every path in `code` that starts at `start` (`crate::` or `super::`), as its segments, with a
/// group (`crate::{a::b, c}`) expanded into one path per member.
fn paths_from(code: &str, start: &str) -> Vec<Vec<String>> {
    code.match_indices(start)
        .filter(|&(at, _)| {
            let before = code[..at].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
        .flat_map(|(at, _)| expand(&code[at + start.len()..]))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The paths a `use` tree at the start of `text` names: `a::b`, `a::{b, c::d}`, `{a, b}`.
fn expand(text: &str) -> Vec<Vec<String>> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let prefix: Vec<String> = text[..end]
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let after = &text[end..];
    if !(text[..end].ends_with("::") || end == 0) || !after.starts_with('{') {
        return vec![prefix];
    }
    // A group: split its members at the commas of depth one.
    let mut members = Vec::new();
    let (mut depth, mut start) = (0usize, 1usize);
    for (i, c) in after.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    members.push(&after[start..i]);
                    break;
                }
            }
            ',' if depth == 1 => {
                members.push(&after[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    members
        .into_iter()
        .map(str::trim_start)
        .filter(|m| !m.is_empty())
        .flat_map(expand)
        .map(|tail| prefix.iter().cloned().chain(tail).collect())
        .collect()
}

/// `super::` paths of the file whose module is `module`, made absolute (`super::super::x` from
/// `sinks::push::client` is `sinks::x`).
fn super_paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    paths_from(code, "super::")
        .into_iter()
        .filter_map(|path| {
            // `super::` itself went with the start; each further `super` goes one level up more.
            let ups = 1 + path.iter().take_while(|s| *s == "super").count();
            let base = module.len().checked_sub(ups)?;
            Some(
                module[..base]
                    .iter()
                    .cloned()
                    .chain(path.into_iter().skip(ups - 1))
                    .collect(),
            )
        })
        .filter(|p: &Vec<String>| !p.is_empty())
        .collect()
}

/// Every `crate::a::b` path in `code`, as its segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    paths_from(code, "crate::")
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
        let code = code(&text);
        for path in crate_paths(&code)
            .into_iter()
            .chain(super_paths(&module, &code))
        {
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
    assert_eq!(
        crate_paths("use crate::{config::X, sinks::{push::Y, http}};"),
        [m("config::X"), m("sinks::push::Y"), m("sinks::http")]
    );
    assert_eq!(
        super_paths(
            &m("sinks::remote_write::writer"),
            "use super::super::push::P;"
        ),
        [m("sinks::push::P")]
    );
    assert_eq!(
        super_paths(&m("sinks::push"), "use super::http::H;"),
        [m("sinks::http::H")]
    );
    let stripped =
        code("a\n#[cfg(test)]\nmod tests {\n fn f() { crate::config::X }\n}\nb crate::c\n");
    assert_eq!(crate_paths(&stripped), [m("c")]);
    assert_eq!(resolve(m("push::PushConfig")), m("sinks::push::PushConfig"));
}
