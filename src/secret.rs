//! [`Secret`]: the wrapper that keeps tokens, keys and passwords out of
//! `Debug`, `Display` and serialized output. Imports nothing of the crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value (API key, token, connection string with a password).
/// `Debug` and `Display` print `[redacted]`; use [`Secret::expose`] at the one
/// place that really sends it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The raw value, for the HTTP header or driver that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}
