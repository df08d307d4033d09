//! Why a configuration was refused: [`ConfigError`], the one error every layer's settings return,
//! and the range every timer of the crate must fit.

use std::fmt;

use crate::naming;

/// The longest delay a timer takes, in milliseconds: JS timers (`setTimeout`) hold a signed 32-bit
/// count, so every interval and deadline is at most `i32::MAX` ms (about 24.8 days) on every
/// target, and a config that works natively works on wasm too.
pub const MAX_TIMER_MS: u64 = i32::MAX as u64;

/// Why a configuration was refused. The message names the field (or the file or variable it came
/// from) and the offending value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The field, e.g. `histogram_buckets` or `global_labels.env`.
    pub field: String,
    /// The offending value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid metrics config: `{}` = {}: {}",
            self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn invalid(
    field: impl Into<String>,
    value: impl naming::Shown,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError {
        field: field.into(),
        value: value.shown(),
        reason: reason.into(),
    }
}
