//! Why a configuration was refused: [`ConfigError`], the one error every layer's settings return,
//! and the range every timer of the crate must fit.

use std::fmt;

use crate::naming;

/// The longest delay a timer takes, in milliseconds: JS timers (`setTimeout`) hold a signed 32-bit
/// count, so every interval and deadline is at most `i32::MAX` ms (about 24.8 days) on every
/// target, and a config that works natively works on wasm too.
pub const MAX_TIMER_MS: u64 = i32::MAX as u64;

/// Why a configuration was refused. The message names where (a file and line, when it came from
/// one), the field and the offending value, once each.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConfigError {
    /// The field, e.g. `histogram_buckets` or `global_labels.env`.
    pub field: String,
    /// The offending value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
    /// Where it was given, when that is a file: `settings.toml, line 5, column 14` (the line and
    /// column when the TOML parser knew them).
    pub at: Option<String>,
    /// The I/O error behind it (a config file that cannot be read), as [`source`].
    ///
    /// [`source`]: std::error::Error::source
    source: Option<std::sync::Arc<std::io::Error>>,
}

impl ConfigError {
    /// The I/O error behind it, to tell a missing file (`NotFound`) from others.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.source.as_deref()
    }

    pub(crate) fn with_source(mut self, source: std::io::Error) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }
}

/// Equal when they say the same (the I/O error behind is compared by kind).
impl PartialEq for ConfigError {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field
            && self.value == other.value
            && self.reason == other.reason
            && self.at == other.at
            && self.io_error().map(std::io::Error::kind)
                == other.io_error().map(std::io::Error::kind)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid metrics config: ")?;
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        write!(f, "`{}` = {}: {}", self.field, self.value, self.reason)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub(crate) fn invalid(
    field: impl Into<String>,
    value: impl naming::Shown,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError {
        field: field.into(),
        value: value.shown(),
        reason: reason.into(),
        at: None,
        source: None,
    }
}
