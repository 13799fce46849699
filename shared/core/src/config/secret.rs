//! [`Secret`]: a configuration value (an API key) that must never reach a log.

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _};

/// A secret string, such as an API key.
///
/// Guarantees: `Debug` never shows the value (only whether it is set), there is no `Display` and
/// no `Serialize`, and a config file that gives a non-string value is refused with a message
/// that does not repeat the value. Read it with [`Secret::expose`] where it is actually used.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Call it only where the key is compared or sent, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no value is set (the empty string).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            formatter.write_str("Secret(<empty>)")
        } else {
            formatter.write_str("Secret(<redacted>)")
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Going through a YAML value lets every non-string be refused without echoing it (serde's
        // own "invalid type: integer `1234`" would print a numeric key).
        match serde_yaml_ng::Value::deserialize(deserializer)? {
            serde_yaml_ng::Value::String(value) => Ok(Self(value)),
            serde_yaml_ng::Value::Null => Ok(Self::default()),
            _ => Err(D::Error::custom(
                "must be a string (quote the value); the value is not shown because it is a secret",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        let shown = format!("{secret:?} {:#?}", secret);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(format!("{:?}", Secret::default()), "Secret(<empty>)");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn non_strings_are_refused_without_echo() {
        let error = serde_yaml_ng::from_str::<Secret>("987654321").err();
        let message = error.map(|error| error.to_string()).unwrap_or_default();
        assert!(message.contains("must be a string"), "{message}");
        assert!(!message.contains("987654321"), "{message}");
        assert_eq!(
            serde_yaml_ng::from_str::<Secret>("~").ok(),
            Some(Secret::default())
        );
    }
}
