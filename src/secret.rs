//! Secrets: values that must never reach logs, reports or metrics (ARCHITECTURE.md, invariant 9). At
//! the bottom of the crate: the config reads them, the adapters use them.

use std::fmt;

/// A value that must never reach logs, reports or metrics (passwords inside URLs, tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(crate) String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Replaces the password of a URL with `***`; text that is no URL is hidden whole.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL hidden)".into(),
    }
}
