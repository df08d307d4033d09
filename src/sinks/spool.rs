//! The durable spool (native): payloads a receiver has not accepted yet, one file each, kept across
//! runs until a later start of a recorder (or `observer-metrics replay`) delivers them.
//!
//! In the spirit of vmagent's persistent queue and the Prometheus agent's WAL, small:
//!
//! - A file is written under a temporary name, fsynced, renamed into place and its directory
//!   fsynced, so a crash (`kill -9`, power loss) leaves either the whole file or none of it; a
//!   temporary file a crash left is removed once it is older than a minute.
//! - Its first line carries a CRC-32 of the rest and the body's length: a file that fails either is
//!   moved to `corrupt/` and counted, never delivered and never fatal.
//! - Names sort oldest first (`<created ms>-<pid and tag>-<seq>-<sink>-<method>-<group hash>.om`), so
//!   replay keeps the order payloads were made in, and a Pushgateway group's newer PUT (which
//!   replaces the whole group, so the older bodies need not go) is found by name alone.
//! - Several processes may share one directory: a file is used only under an exclusive lock on it
//!   (`flock`), taken by its writer before the rename and by a replayer before it reads, and
//!   checked to still be the file at that name once locked. A lock dies with its process.
//! - Bounds: `max_bytes` (the oldest go first when a new file would pass it) and `max_age_secs`
//!   (older files are dropped unread). Every drop is counted by reason.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, Key, Label, Level, Metadata, Recorder};
use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError};
use crate::recorder::RecorderHandle;

/// Gauge: bytes in the spool's files.
pub const SPOOL_BYTES_GAUGE: &str = "observer_metrics_spool_bytes";
/// Counter: payloads a receiver did not accept that were kept in the spool, by `sink`.
pub const SPOOLED_COUNTER: &str = "observer_metrics_spooled_total";
/// Counter: spooled payloads a receiver later accepted, by `sink`.
pub const REPLAYED_COUNTER: &str = "observer_metrics_replayed_total";
/// Counter: spooled payloads removed undelivered, by `reason`: `full`, `expired`, `corrupt`,
/// `superseded` (a newer body of the same group), `rejected` (the receiver refused it for good).
pub const SPOOL_DROPPED_COUNTER: &str = "observer_metrics_spool_dropped_total";

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

const MAGIC: &str = "observer-metrics-spool 1";
const EXTENSION: &str = "om";
/// A temporary file older than this was left by a writer that died.
const ABANDONED: Duration = Duration::from_secs(60);

/// The `[spool]` table: where payloads that no receiver took wait for a later run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SpoolConfig {
    /// The directory (created if missing). Required.
    pub dir: PathBuf,
    /// The most the spool's files may hold; the oldest go first. Default: 64 MiB.
    pub max_bytes: u64,
    /// Files older than this are dropped undelivered. Default: 604,800 (7 days).
    pub max_age_secs: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: PathBuf::new(),
            max_bytes: 64 << 20,
            max_age_secs: 7 * 24 * 3600,
        }
    }
}

impl SpoolConfig {
    /// A spool in `dir` with the default bounds.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            ..Default::default()
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(invalid("spool.dir", "", "must name a directory"));
        }
        if self.max_bytes < 4096 {
            return Err(invalid(
                "spool.max_bytes",
                self.max_bytes,
                "must be at least 4096",
            ));
        }
        if self.max_age_secs == 0 {
            return Err(invalid("spool.max_age_secs", 0u64, "must be at least 1"));
        }
        Ok(())
    }

    /// Applies one `OBSERVER_METRICS_SPOOL_<FIELD>` variable, `field` in lower case without the
    /// prefix; the error is the reason.
    pub(crate) fn apply_env(&mut self, field: &str, value: &str) -> Result<(), &'static str> {
        match field {
            "dir" => self.dir = PathBuf::from(value.trim()),
            "max_bytes" => self.max_bytes = crate::env::parsed(value, "expected a whole number")?,
            "max_age_secs" => {
                self.max_age_secs = crate::env::parsed(value, "expected a whole number")?
            }
            _ => return Err("unknown variable"),
        }
        Ok(())
    }
}

/// What one replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Files a receiver accepted.
    pub delivered: u64,
    /// Files left for a later replay: their receiver could not take them.
    pub kept: u64,
    /// Of `kept`, those whose receiver could not be reached or said to come back later (429,
    /// 503): what a sink sends next must wait behind them. A file refused otherwise (a 5xx for
    /// that body) does not hold the others back.
    pub waiting: u64,
    /// Files another holder had locked (a replay or a writer, perhaps in another process), or
    /// that went meanwhile: theirs to deliver.
    pub busy: u64,
    /// Files removed undelivered: refused for good, superseded, too old or corrupt.
    pub dropped: u64,
    /// A line for each file refused or kept, naming the file and why.
    pub notes: Vec<String>,
}

impl ReplayReport {
    /// Logs each note (a warning) and, when anything was delivered or dropped, the counts.
    pub fn log(&self) {
        for note in &self.notes {
            tracing::warn!("spool: {note}");
        }
        if self.delivered + self.dropped > 0 {
            tracing::info!(
                delivered = self.delivered,
                kept = self.kept,
                dropped = self.dropped,
                "spool replayed"
            );
        }
    }
}

/// What a spooled file holds besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// `pushgateway` or `remote_write`.
    pub(crate) sink: String,
    /// The HTTP method the body goes with.
    pub(crate) method: String,
    /// Where it goes, without credentials.
    pub(crate) url: String,
    /// A Pushgateway group's labels (`job` first), to find the group at the gateway; empty for
    /// remote write.
    pub(crate) group: Vec<(String, String)>,
    /// When the payload was made, by the wall clock.
    pub(crate) created_ms: u64,
    /// The body's content type when it is not the sink's usual one (a gateway body in protobuf);
    /// empty otherwise.
    pub(crate) content_type: String,
}

/// A payload to spool.
pub(crate) struct Payload<'a> {
    pub(crate) sink: &'static str,
    pub(crate) method: &'static str,
    pub(crate) url: &'a str,
    pub(crate) group: &'a [(String, String)],
    pub(crate) body: &'a [u8],
    /// The body's content type.
    pub(crate) content_type: &'a str,
}

/// One file, locked: what a writer holds until its send is answered, and what a replayer reads.
/// Dropped without [`delivered`](Self::delivered) or [`drop_for`](Self::drop_for), the file stays
/// for a later replay.
pub(crate) struct Locked<'s> {
    spool: &'s Spool,
    path: PathBuf,
    /// Holds the lock.
    _file: File,
    /// The file's length, taken off the known size when it goes.
    size: u64,
    pub(crate) header: Header,
    pub(crate) body: Vec<u8>,
    /// Whether it was just written (counted in `spooled_total` if it stays).
    fresh: bool,
    settled: bool,
}

impl Locked<'_> {
    /// The receiver accepted it: the file goes.
    pub(crate) fn delivered(mut self) {
        self.settled = true;
        self.spool.remove(&self.path, self.size);
        if !self.fresh {
            self.spool.metrics.replayed(&self.header.sink);
        }
    }

    /// It will never be delivered (`reason` is counted): the file goes.
    pub(crate) fn drop_for(mut self, reason: &'static str) {
        self.settled = true;
        self.spool.remove(&self.path, self.size);
        self.spool.metrics.dropped(reason);
    }

    /// Replaced by a newer copy of the same payload: the file goes, uncounted.
    pub(crate) fn discard(mut self) {
        self.settled = true;
        self.spool.remove(&self.path, self.size);
    }

    /// The file's name in the spool.
    pub(crate) fn name(&self) -> String {
        file_name(&self.path)
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if !self.settled && self.fresh {
            self.spool.metrics.spooled(&self.header.sink);
        }
    }
}

/// The self-metrics of a spool, on the recorder it serves (none for `replay` alone).
struct SpoolMetrics {
    recorder: Option<RecorderHandle>,
    bytes: Option<Gauge>,
}

impl SpoolMetrics {
    fn counter(&self, name: &'static str, label: (&'static str, String)) -> Option<Counter> {
        let recorder = self.recorder.as_ref()?;
        let key = Key::from_parts(name, vec![Label::new(label.0, label.1)]);
        Some(recorder.register_counter(&key, &METADATA))
    }

    fn spooled(&self, sink: &str) {
        if let Some(c) = self.counter(SPOOLED_COUNTER, ("sink", sink.to_owned())) {
            c.increment(1);
        }
    }

    fn replayed(&self, sink: &str) {
        if let Some(c) = self.counter(REPLAYED_COUNTER, ("sink", sink.to_owned())) {
            c.increment(1);
        }
    }

    fn dropped(&self, reason: &'static str) {
        if let Some(c) = self.counter(SPOOL_DROPPED_COUNTER, ("reason", reason.to_owned())) {
            c.increment(1);
        }
    }
}

/// A spool directory, opened.
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_age: Duration,
    seq: AtomicU64,
    /// The spool's size as this process last saw it: a directory scan sets it (at open, on each
    /// write, at the end of a replay), and each removal here takes its file's size off, so a
    /// replay of n files lists the directory once, not n times.
    known_bytes: AtomicU64,
    /// Random per open spool: part of every name this process writes.
    tag: u32,
    metrics: SpoolMetrics,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).finish()
    }
}

impl Spool {
    /// Opens (creating) the spool of `config`; its counts go on `recorder` when given. The error
    /// names `spool.dir`.
    pub(crate) fn open(
        config: &SpoolConfig,
        recorder: Option<&RecorderHandle>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let shown = config.dir.display().to_string();
        fs::create_dir_all(config.dir.join("corrupt"))
            .map_err(|e| invalid("spool.dir", &shown, format!("cannot create it: {e}")))?;
        // Writable, and flock works there (it does not on some network file systems).
        let probe = config.dir.join(format!(".probe-{}", std::process::id()));
        let checked = File::create(&probe).and_then(|f| f.try_lock().map_err(io::Error::from));
        let _ = fs::remove_file(&probe);
        checked.map_err(|e| {
            invalid(
                "spool.dir",
                &shown,
                format!("cannot lock a file in it: {e}"),
            )
        })?;
        let spool = Spool {
            dir: config.dir.clone(),
            max_bytes: config.max_bytes,
            max_age: Duration::from_secs(config.max_age_secs),
            seq: AtomicU64::new(0),
            known_bytes: AtomicU64::new(0),
            tag: {
                use std::hash::{BuildHasher, Hasher};
                // The standard library's per-process random hash keys, as a random number.
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish() as u32
            },
            metrics: SpoolMetrics {
                bytes: recorder.map(|r| {
                    r.register_gauge(&Key::from_static_name(SPOOL_BYTES_GAUGE), &METADATA)
                }),
                recorder: recorder.cloned(),
            },
        };
        spool.remove_abandoned();
        spool.publish_bytes();
        Ok(spool)
    }

    /// Writes `payload` durably and returns it locked: the caller sends it, then says whether it
    /// was [`delivered`](Locked::delivered). Older files past `max_bytes` go first; for a
    /// Pushgateway group, older bodies of the same group are superseded by this one.
    pub(crate) fn write(&self, payload: &Payload<'_>) -> io::Result<Locked<'_>> {
        let created_ms = unix_ms();
        let header = Header {
            sink: payload.sink.to_owned(),
            method: payload.method.to_owned(),
            url: payload.url.to_owned(),
            group: payload.group.to_vec(),
            created_ms,
            content_type: match payload.content_type {
                crate::encoding::wire::TEXT_CONTENT_TYPE => String::new(),
                other => other.to_owned(),
            },
        };
        let bytes = encode(&header, payload.body);
        if bytes.len() as u64 > self.max_bytes {
            self.metrics.dropped("full");
            return Err(io::Error::other(format!(
                "a payload of {} bytes does not fit in spool.max_bytes ({})",
                bytes.len(),
                self.max_bytes
            )));
        }
        let seq = self.seq.fetch_add(1, Relaxed);
        // The process id and a random tag: processes in other PID namespaces (containers
        // sharing a volume) may have the same id.
        let writer = format!("{:010}{:08x}", std::process::id(), self.tag);
        let group = group_hash(payload.sink, payload.url);
        let name = format!(
            "{created_ms:013}-{writer}-{seq:08}-{}-{}-{group:016x}.{EXTENSION}",
            payload.sink, payload.method
        );
        let temporary = self.dir.join(format!(".tmp-{writer}-{seq}"));
        let path = self.dir.join(&name);
        let written = (|| -> io::Result<File> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            // Locked before it has its name, so no replayer can take it while its send is on.
            file.try_lock().map_err(io::Error::from)?;
            fs::rename(&temporary, &path)?;
            Ok(file)
        })();
        let file = written.inspect_err(|_| {
            let _ = fs::remove_file(&temporary);
        })?;
        // The file has its name: a failed directory sync only weakens its durability, and the
        // caller must still remove it once delivered.
        if let Err(e) = File::open(&self.dir).and_then(|d| d.sync_all()) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot sync the spool directory");
        }
        // Only a PUT replaces a whole group: a newer POST leaves what an older PUT carries (an
        // earlier run's success time) to arrive first.
        if payload.sink == "pushgateway" && payload.method == "PUT" {
            self.supersede(&name, group);
        }
        self.make_room(&name);
        self.publish(self.known_bytes.load(Relaxed));
        Ok(Locked {
            spool: self,
            path,
            _file: file,
            size: bytes.len() as u64,
            header,
            body: payload.body.to_vec(),
            fresh: true,
            settled: false,
        })
    }

    /// [`write`](Self::write), logging a failure (the send goes on without a copy on disk).
    pub(crate) fn keep(&self, payload: &Payload<'_>) -> Option<Locked<'_>> {
        self.write(payload)
            .inspect_err(|e| {
                tracing::error!(
                    dir = %self.dir.display(),
                    sink = payload.sink,
                    error = %e,
                    "cannot spool a payload"
                )
            })
            .ok()
    }

    /// The spooled files, oldest first (names only; a file may be gone by the time it is taken).
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && n.ends_with(&format!(".{EXTENSION}")))
            .collect();
        names.sort();
        names
    }

    /// Takes the file `name` for delivery. `Err(None)` when another process holds it or it is
    /// gone; `Err(Some(reason))` when it is dropped here: too old, corrupt, or superseded by a
    /// newer body of its group.
    pub(crate) fn take(&self, name: &str) -> Result<Locked<'_>, Option<&'static str>> {
        let path = self.dir.join(name);
        let mut file = OpenOptions::new()
            .read(true)
            .open(&path)
            .map_err(|_| None)?;
        file.try_lock().map_err(|_| None)?;
        // Locked, but perhaps after its holder delivered and removed it: then it is not ours.
        if !same_file(&file, &path) {
            return Err(None);
        }
        let created_ms = name
            .get(..13)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let size = file.metadata().map_or(0, |m| m.len());
        let settle = |reason: &'static str| {
            self.remove(&path, size);
            self.metrics.dropped(reason);
            Err(Some(reason))
        };
        if unix_ms().saturating_sub(created_ms) > self.max_age.as_millis() as u64 {
            return settle("expired");
        }
        let mut bytes = Vec::new();
        let decoded = file
            .read_to_end(&mut bytes)
            .ok()
            .and_then(|_| decode(&bytes));
        let Some((header, body)) = decoded else {
            // Set aside for a person to look at, never retried.
            if fs::rename(&path, self.dir.join("corrupt").join(name)).is_ok() {
                self.forget(size);
            }
            self.metrics.dropped("corrupt");
            return Err(Some("corrupt"));
        };
        if header.sink == "pushgateway" && self.has_newer(name) {
            return settle("superseded");
        }
        Ok(Locked {
            spool: self,
            path,
            _file: file,
            size,
            header,
            body,
            fresh: false,
            settled: false,
        })
    }

    /// Bytes in the spool's files now, by a directory scan; the known size becomes that.
    pub(crate) fn bytes(&self) -> u64 {
        let total = self
            .names()
            .iter()
            .filter_map(|n| fs::metadata(self.dir.join(n)).ok())
            .map(|m| m.len())
            .sum();
        self.known_bytes.store(total, Relaxed);
        total
    }

    /// Scans the spool and updates `observer_metrics_spool_bytes`.
    pub(crate) fn publish_bytes(&self) {
        self.publish(self.bytes());
    }

    fn publish(&self, total: u64) {
        if let Some(gauge) = &self.metrics.bytes {
            gauge.set(total as f64);
        }
    }

    /// Removes a file of `size` bytes, without a scan.
    fn remove(&self, path: &Path, size: u64) {
        if fs::remove_file(path).is_ok() {
            self.forget(size);
        }
    }

    /// Takes `size` bytes off the known size and publishes it.
    fn forget(&self, size: u64) {
        let before = self
            .known_bytes
            .fetch_update(Relaxed, Relaxed, |b| Some(b.saturating_sub(size)))
            .unwrap_or(0);
        self.publish(before.saturating_sub(size));
    }

    /// Whether a newer PUT of the same group as `name` is in the spool.
    fn has_newer(&self, name: &str) -> bool {
        let group = group_of(name);
        self.names().iter().any(|other| {
            other.as_str() > name && group_of(other) == group && other.contains("-PUT-")
        })
    }

    /// Drops the older files of `group` than `name`, those no one holds.
    fn supersede(&self, name: &str, group: u64) {
        let hex = format!("{group:016x}");
        for older in self.names() {
            if older.as_str() < name && group_of(&older) == Some(hex.as_str()) {
                if let Some(locked) = self.take_unchecked(&older) {
                    locked.drop_for("superseded");
                }
            }
        }
    }

    /// Drops the oldest files no one holds until the spool is within `max_bytes`.
    fn make_room(&self, keep: &str) {
        self.bytes();
        for name in self.names() {
            if self.known_bytes.load(Relaxed) <= self.max_bytes {
                break;
            }
            if name != keep {
                if let Some(locked) = self.take_unchecked(&name) {
                    locked.drop_for("full");
                }
            }
        }
    }

    /// `name`, locked, without reading it: only to remove it.
    fn take_unchecked(&self, name: &str) -> Option<Locked<'_>> {
        let path = self.dir.join(name);
        let file = File::open(&path).ok()?;
        file.try_lock().ok()?;
        let size = file.metadata().map_or(0, |m| m.len());
        same_file(&file, &path).then(|| Locked {
            spool: self,
            path,
            _file: file,
            size,
            header: Header {
                sink: String::new(),
                method: String::new(),
                url: String::new(),
                group: Vec::new(),
                created_ms: 0,
                content_type: String::new(),
            },
            body: Vec::new(),
            fresh: false,
            settled: false,
        })
    }

    /// Temporary files of writers that died mid-write.
    fn remove_abandoned(&self) {
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let is_temporary = entry.file_name().to_string_lossy().starts_with(".tmp-");
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if is_temporary && age.is_some_and(|a| a > ABANDONED) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The group hash in a file's name.
fn group_of(name: &str) -> Option<&str> {
    name.strip_suffix(&format!(".{EXTENSION}"))?
        .rsplit('-')
        .next()
}

/// Which group a payload belongs to: its sink and URL (a Pushgateway group URL names the group).
fn group_hash(sink: &str, url: &str) -> u64 {
    let mut crc = flate2::Crc::new();
    crc.update(sink.as_bytes());
    let low = crc.sum();
    crc.update(b"\n");
    crc.update(url.as_bytes());
    (u64::from(low) << 32) | u64::from(crc.sum())
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, path: &Path) -> bool {
    path.exists()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Header values on one line: `\` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `<MAGIC> <crc32 of the rest, hex> <body length>\n`, then `key value` lines, an empty line, the
/// body.
fn encode(header: &Header, body: &[u8]) -> Vec<u8> {
    let mut rest = format!(
        "sink {}\nmethod {}\nurl {}\ncreated_ms {}\n",
        escape(&header.sink),
        escape(&header.method),
        escape(&header.url),
        header.created_ms
    );
    for (name, value) in &header.group {
        rest.push_str(&format!("label {}={}\n", escape(name), escape(value)));
    }
    // Only when not the sink's usual one, so that text bodies read as before.
    if !header.content_type.is_empty() {
        rest.push_str(&format!("content_type {}\n", escape(&header.content_type)));
    }
    rest.push('\n');
    let mut rest = rest.into_bytes();
    rest.extend_from_slice(body);
    let mut bytes = format!("{MAGIC} {:08x} {}\n", crc32(&rest), body.len()).into_bytes();
    bytes.extend_from_slice(&rest);
    bytes
}

/// The header and body of a file's bytes; `None` for anything but a whole, intact file.
fn decode(bytes: &[u8]) -> Option<(Header, Vec<u8>)> {
    let first_end = bytes.iter().position(|&b| b == b'\n')?;
    let first = std::str::from_utf8(&bytes[..first_end]).ok()?;
    let mut parts = first.strip_prefix(MAGIC)?.split_whitespace();
    let crc = u32::from_str_radix(parts.next()?, 16).ok()?;
    let body_len: usize = parts.next()?.parse().ok()?;
    let rest = &bytes[first_end + 1..];
    if crc32(rest) != crc {
        return None;
    }
    let body_start = rest.len().checked_sub(body_len)?;
    let head = std::str::from_utf8(rest.get(..body_start)?).ok()?;
    let head = head.strip_suffix("\n\n")?;
    let mut header = Header {
        sink: String::new(),
        method: String::new(),
        url: String::new(),
        group: Vec::new(),
        created_ms: 0,
        content_type: String::new(),
    };
    for line in head.split('\n') {
        let (key, value) = line.split_once(' ')?;
        match key {
            "sink" => header.sink = crate::text::unescape(value),
            "method" => header.method = crate::text::unescape(value),
            "url" => header.url = crate::text::unescape(value),
            "created_ms" => header.created_ms = value.parse().ok()?,
            "content_type" => header.content_type = crate::text::unescape(value),
            "label" => {
                let (name, value) = value.split_once('=')?;
                header
                    .group
                    .push((crate::text::unescape(name), crate::text::unescape(value)));
            }
            _ => return None,
        }
    }
    Some((header, rest[body_start..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            sink: "pushgateway".into(),
            method: "PUT".into(),
            url: "http://127.0.0.1:9091/metrics/job/a".into(),
            group: vec![("job".into(), "a\nb=c\\".into())],
            created_ms: 42,
            content_type: String::new(),
        }
    }

    #[test]
    fn a_bodys_own_content_type_reads_back() {
        let header = Header {
            content_type: "application/vnd.google.protobuf; encoding=delimited".into(),
            ..header()
        };
        let bytes = encode(&header, b"\x05\x0a\x03abc");
        assert_eq!(decode(&bytes), Some((header, b"\x05\x0a\x03abc".to_vec())));
        // A text body's file has no such line, as before.
        assert!(!String::from_utf8_lossy(&encode(&self::header(), b"x")).contains("content_type"));
    }

    #[test]
    fn a_file_reads_back_and_any_damage_is_found() {
        let body = b"# TYPE x counter\nx 1\n\n";
        let bytes = encode(&header(), body);
        assert_eq!(decode(&bytes), Some((header(), body.to_vec())));
        // Every truncation and every flipped byte is refused.
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            assert_eq!(decode(&damaged), None, "flipped at {at}");
        }
    }

    fn spool(dir: &Path, max_bytes: u64) -> Spool {
        let mut config = SpoolConfig::new(dir);
        config.max_bytes = max_bytes;
        Spool::open(&config, None).unwrap()
    }

    fn payload<'a>(url: &'a str, body: &'a [u8]) -> Payload<'a> {
        Payload {
            sink: "remote_write",
            method: "POST",
            url,
            group: &[],
            body,
            content_type: "",
        }
    }

    #[test]
    fn a_held_file_is_not_taken_and_a_kept_one_is() {
        let dir = std::env::temp_dir().join(format!("om-spool-held-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = spool(&dir, 1 << 20);
        let held = spool.write(&payload("http://r/w", b"one")).unwrap();
        let name = held.name();
        assert!(spool.take(&name).is_err(), "a writer's file is its own");
        drop(held);
        let taken = spool.take(&name).expect("kept after its send failed");
        assert_eq!(taken.body, b"one");
        taken.delivered();
        assert!(spool.names().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_spool_drops_the_oldest() {
        let dir = std::env::temp_dir().join(format!("om-spool-full-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = spool(&dir, 8192);
        let body = vec![b'x'; 3000];
        let mut names = Vec::new();
        for _ in 0..4 {
            names.push(spool.write(&payload("http://r/w", &body)).unwrap().name());
        }
        assert_eq!(spool.names(), names[2..], "the two oldest made room");
        assert!(spool.bytes() <= 8192);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_groups_newer_body_supersedes_the_older() {
        let dir = std::env::temp_dir().join(format!("om-spool-group-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = spool(&dir, 1 << 20);
        let group = |url: &'static str, body: &'static [u8]| Payload {
            sink: "pushgateway",
            method: "PUT",
            url,
            group: &[],
            body,
            content_type: "",
        };
        let a1 = spool
            .write(&group("http://g/metrics/job/a", b"1"))
            .unwrap()
            .name();
        let b1 = spool
            .write(&group("http://g/metrics/job/b", b"1"))
            .unwrap()
            .name();
        let a2 = spool
            .write(&group("http://g/metrics/job/a", b"2"))
            .unwrap()
            .name();
        let mut left = vec![b1, a2.clone()];
        left.sort();
        assert_eq!(spool.names(), left);
        assert!(!spool.names().contains(&a1));
        // A newer POST (a failed run) leaves the PUT of the run before to arrive first.
        let post = Payload {
            method: "POST",
            ..group("http://g/metrics/job/a", b"3")
        };
        let a3 = spool.write(&post).unwrap().name();
        assert!(spool.names().contains(&a2) && spool.names().contains(&a3));
        assert!(spool.take(&a2).is_ok(), "not superseded by a POST");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_known_size_follows_every_write_drop_and_delivery() {
        let dir = std::env::temp_dir().join(format!("om-spool-size-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = spool(&dir, 8192);
        let on_disk = || -> u64 {
            spool
                .names()
                .iter()
                .map(|n| fs::metadata(dir.join(n)).unwrap().len())
                .sum()
        };
        let body = vec![b'x'; 3000];
        for _ in 0..4 {
            drop(spool.write(&payload("http://r/w", &body)).unwrap());
            assert_eq!(spool.known_bytes.load(Relaxed), on_disk(), "after a write");
        }
        for name in spool.names() {
            spool.take(&name).unwrap().delivered();
            assert_eq!(
                spool.known_bytes.load(Relaxed),
                on_disk(),
                "after a delivery"
            );
        }
        assert_eq!(on_disk(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_bad_field_is_named_and_each_variable_applies() {
        let base = SpoolConfig::new("/tmp/x");
        assert!(base.validate().is_ok());
        let named = |config: SpoolConfig| config.validate().unwrap_err().to_string();
        assert!(named(SpoolConfig::new("")).contains("spool.dir"));
        let small = |max_bytes| SpoolConfig {
            max_bytes,
            ..base.clone()
        };
        assert!(named(small(4095)).contains("spool.max_bytes"));
        assert!(small(4096).validate().is_ok());
        let young = SpoolConfig {
            max_age_secs: 0,
            ..base.clone()
        };
        assert!(named(young).contains("spool.max_age_secs"));

        let mut config = SpoolConfig::default();
        config.apply_env("dir", " /var/spool ").unwrap();
        config.apply_env("max_bytes", "8192").unwrap();
        config.apply_env("max_age_secs", "60").unwrap();
        assert_eq!(
            (config.dir.to_str(), config.max_bytes, config.max_age_secs),
            (Some("/var/spool"), 8192, 60)
        );
        assert!(config.apply_env("max_bytes", "lots").is_err());
        assert!(config.apply_env("size", "1").is_err());
    }

    /// The events of `f`, each as its fields.
    fn logged(f: impl FnOnce()) -> Vec<String> {
        use std::sync::{Arc, Mutex};
        use tracing::span;
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        struct Capture(Arc<Mutex<Vec<String>>>);
        impl tracing::Subscriber for Capture {
            fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
                span::Id::from_u64(1)
            }
            fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
            fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
            fn event(&self, event: &tracing::Event<'_>) {
                let mut fields = Fields(String::new());
                event.record(&mut fields);
                self.0.lock().unwrap().push(fields.0);
            }
            fn enter(&self, _: &span::Id) {}
            fn exit(&self, _: &span::Id) {}
        }
        let events = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::with_default(Capture(events.clone()), f);
        let events = events.lock().unwrap().clone();
        events
    }

    #[test]
    fn a_report_logs_its_notes_and_counts_only_what_moved() {
        let report = |delivered, kept, dropped| ReplayReport {
            delivered,
            kept,
            dropped,
            notes: vec!["a.om: kept for later".into()],
            busy: 0,
            waiting: 0,
        };
        let events = logged(|| report(1, 0, 0).log());
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            events[0].contains("spool: a.om: kept for later"),
            "{events:?}"
        );
        assert!(events[1].contains("delivered=1"), "{events:?}");
        let events = logged(|| report(0, 0, 1).log());
        assert!(events.iter().any(|e| e.contains("dropped=1")), "{events:?}");
        // Nothing moved (the receiver is still down): the notes, no counts.
        let events = logged(|| report(0, 2, 0).log());
        assert_eq!(events.len(), 1, "{events:?}");
    }

    #[test]
    fn a_payload_fits_up_to_max_bytes_and_shows_its_dir() {
        let dir = std::env::temp_dir().join(format!("om-spool-fit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = spool(&dir, 4096);
        assert!(format!("{spool:?}").contains("om-spool-fit-"));
        // The file's own header and checksum line count against the bound.
        let overhead = encode(
            &Header {
                sink: "remote_write".into(),
                method: "POST".into(),
                url: "http://r/w".into(),
                group: Vec::new(),
                created_ms: unix_ms(),
                content_type: String::new(),
            },
            &[b'x'; 4000],
        )
        .len()
            - 4000;
        let exactly = vec![b'x'; 4096 - overhead];
        drop(
            spool
                .write(&payload("http://r/w", &exactly))
                .expect("fits exactly"),
        );
        let over = vec![b'x'; 4096 - overhead + 1];
        assert!(spool.write(&payload("http://r/w", &over)).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_gateway_body_with_a_newer_put_of_its_group_is_superseded_when_taken() {
        let dir = std::env::temp_dir().join(format!("om-spool-newer-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = spool(&dir, 1 << 20);
        let put = Payload {
            sink: "pushgateway",
            method: "PUT",
            url: "http://g/metrics/job/a",
            group: &[],
            body: b"1",
            content_type: "",
        };
        let newer = spool.write(&put).unwrap().name();
        // An older body of the group, as another process could have left it while this one wrote.
        let made: u64 = newer[..13].parse().unwrap();
        let older = format!("{:013}{}", made - 1, &newer[13..]);
        fs::copy(dir.join(&newer), dir.join(&older)).unwrap();
        assert!(matches!(spool.take(&older), Err(Some("superseded"))));
        assert!(!dir.join(&older).exists());
        assert!(spool.take(&newer).is_ok(), "the newest stays");
        // The same for remote write is no supersession: every request goes.
        let rw = spool.write(&payload("http://r/w", b"2")).unwrap().name();
        let made: u64 = rw[..13].parse().unwrap();
        let earlier = format!("{:013}{}", made - 1, &rw[13..]);
        fs::copy(dir.join(&rw), dir.join(&earlier)).unwrap();
        assert!(spool.take(&earlier).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_old_temporary_file_goes_at_open_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("om-spool-tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let aged = |name: &str, secs: u64| {
            let file = File::create(dir.join(name)).unwrap();
            file.set_modified(SystemTime::now() - Duration::from_secs(secs))
                .unwrap();
        };
        aged(".tmp-dead-1", 120);
        aged(".tmp-writing-2", 0);
        aged("0000000000001-old.om", 120);
        let _spool = spool(&dir, 1 << 20);
        assert!(
            !dir.join(".tmp-dead-1").exists(),
            "a writer that died left it"
        );
        assert!(
            dir.join(".tmp-writing-2").exists(),
            "a writer may still be writing it"
        );
        assert!(
            dir.join("0000000000001-old.om").exists(),
            "only temporary files"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_file_gone_or_replaced_at_its_name_is_not_the_same() {
        let dir = std::env::temp_dir().join(format!("om-spool-same-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.om");
        fs::write(&path, b"1").unwrap();
        let file = File::open(&path).unwrap();
        assert!(same_file(&file, &path));
        // Delivered and removed by its holder meanwhile.
        fs::remove_file(&path).unwrap();
        assert!(!same_file(&file, &path));
        // Another file at the name since.
        fs::write(&path, b"2").unwrap();
        assert!(!same_file(&file, &path));
        fs::remove_dir_all(&dir).unwrap();
    }
}
