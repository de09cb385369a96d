//! Allow and deny matchers: every field given must match (AND); a matcher with no field is
//! refused at load. Names match a case-insensitive glob (`*`, `?`) on the NFKC-folded name;
//! hosts match exactly or as `*.example.com` (the domain and its subdomains).

use super::Candidate;
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub client_id: Option<String>,
    pub software_id: Option<String>,
    /// Glob on the client name, lowercased.
    pub name: Option<String>,
    pub redirect_host: Option<String>,
    /// Family (cluster) id as `regwarden explain` shows it.
    pub family: Option<String>,
    /// Catalog software id (`config/known-clients.toml`).
    pub software: Option<String>,
    /// Free text for people: why the rule exists.
    pub note: Option<String>,
}

impl Matcher {
    pub fn is_empty(&self) -> bool {
        self.client_id.is_none()
            && self.software_id.is_none()
            && self.name.is_none()
            && self.redirect_host.is_none()
            && self.family.is_none()
            && self.software.is_none()
    }

    /// Same conditions (the note aside): an allow and a deny rule like this contradict.
    pub fn same_conditions(&self, other: &Matcher) -> bool {
        Matcher {
            note: None,
            ..self.clone()
        } == Matcher {
            note: None,
            ..other.clone()
        }
    }

    /// True when only a name pattern of stars is given: it would match every registration.
    pub fn matches_anything(&self) -> bool {
        self.client_id.is_none()
            && self.software_id.is_none()
            && self.redirect_host.is_none()
            && self.family.is_none()
            && self.software.is_none()
            && self
                .name
                .as_deref()
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c == '*'))
    }

    pub fn matches(&self, c: &Candidate) -> bool {
        if self.is_empty() {
            return false;
        }
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.client_id, Some(&c.client_id))
            && eq(&self.software_id, c.software_id.as_deref())
            && eq(&self.family, c.family.as_deref())
            && eq(&self.software, c.software.as_deref())
            && self.name.as_deref().is_none_or(|p| {
                c.name
                    .as_deref()
                    .is_some_and(|n| glob(p, &n.to_lowercase()))
            })
            && self
                .redirect_host
                .as_deref()
                .is_none_or(|h| c.redirect_hosts.iter().any(|have| host_matches(h, have)))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (k, v) in [
            ("client_id", &self.client_id),
            ("software_id", &self.software_id),
            ("name", &self.name),
            ("redirect_host", &self.redirect_host),
            ("family", &self.family),
            ("software", &self.software),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={:?}", crate::escape::esc(v).to_string()));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
        None => host == pattern,
    }
}

/// Glob with `*` (any run) and `?` (one character); iterative, linear in practice.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob("claude code*", "claude code (github)"));
        assert!(glob("*code*", "visual studio code"));
        assert!(glob("c?rsor", "cursor"));
        assert!(!glob("cursor", "cursor2"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "acbd"));
    }

    #[test]
    fn hosts_match_exactly_or_as_subdomains() {
        assert!(host_matches("evil.example", "EVIL.example"));
        assert!(host_matches("*.example", "a.b.example"));
        assert!(host_matches("*.example", "example"));
        assert!(!host_matches("*.example", "notexample"));
        assert!(!host_matches("example", "a.example"));
    }
}
