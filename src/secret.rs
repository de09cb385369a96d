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

/// Why a server database URL (PostgreSQL, MySQL) cannot be used, without quoting it: the
/// parser's reason names what is wrong (a bad port, a broken host) but never the password.
/// SQLite URLs name files and are not checked here.
pub fn url_problem(raw: &str) -> Option<String> {
    if raw.starts_with("sqlite:") {
        return None;
    }
    match url::Url::parse(raw) {
        Ok(u) if u.host().is_some() => None,
        Ok(_) => Some("names no host".into()),
        Err(e) => Some(format!("is not a valid URL ({e})")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_problems_are_named_without_the_url() {
        let bad = url_problem("postgres://rw:Sekr1t@127.0.0.1:99999999/db").unwrap();
        assert_eq!(bad, "is not a valid URL (invalid port number)");
        let bad = url_problem("mysql://rw:Sekr1t@[::1/db").unwrap();
        assert!(!bad.contains("Sekr1t"), "{bad}");
        assert!(url_problem("postgres://rw:pw@db.internal:5432/regwarden").is_none());
        assert!(url_problem("sqlite://relative.db").is_none());
        assert_eq!(url_problem("postgres:nohost").unwrap(), "names no host");
        assert_eq!(
            redact_url("postgres://rw:Sekr1t@db/x"),
            "postgres://rw:***@db/x"
        );
    }
}
