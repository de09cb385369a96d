//! Suggested catalog entries for the operator's own apps: a big family, in use for weeks, that
//! no catalog entry vouches for. Vouching is the operator's word, not the data's: the report
//! only suggests, a person decides (ARCHITECTURE.md invariant 10).

use super::uri::{host_kind, site, HostKind};
use crate::model::ClientMetadata;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use url::Url;

/// Families at least this big, with this many members in use, whose first member registered
/// at least this many days ago, are suggested.
pub const MIN_SIZE: i64 = 5;
pub const MIN_USED: i64 = 3;
pub const MIN_AGE_DAYS: i64 = 28;

/// One suggestion, with the entry to paste into an `extra_catalog` file.
#[derive(Debug, Clone, Serialize)]
pub struct VouchSuggestion {
    pub family: String,
    pub name: String,
    pub size: i64,
    pub used: i64,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub entry: String,
}

/// A catalog id from a name: lower-case letters, digits and dashes.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "in-house-app".into()
    } else {
        out
    }
}

/// TOML basic string, escaped.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The catalog entry (config/known-clients.toml's format) for a family's shape: its name, its
/// redirect URIs as signatures (loopback ports as `*`, queries dropped), its auth method and
/// the sites of its redirect and display URIs.
pub fn catalog_entry(name: &str, m: &ClientMetadata) -> String {
    let mut redirects = BTreeSet::new();
    let mut sites = BTreeSet::new();
    for raw in &m.redirect_uris {
        let Ok(u) = Url::parse(raw) else { continue };
        let loopback = u
            .host()
            .is_some_and(|h| host_kind(&h) == HostKind::Loopback);
        let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = match (loopback, u.port()) {
            (true, _) => ":*".to_owned(),
            (false, Some(p)) => format!(":{p}"),
            (false, None) => String::new(),
        };
        let authority = if u.has_host() {
            format!("//{host}{port}")
        } else {
            String::new()
        };
        redirects.insert(format!("{}:{authority}{}", u.scheme(), u.path()));
        if u.has_host() && !loopback {
            sites.insert(site(&host));
        }
    }
    for (_, raw) in m.display_uris() {
        if let Some(h) = Url::parse(raw).ok().and_then(|u| u.host_str().map(site)) {
            sites.insert(h);
        }
    }
    let list = |items: &BTreeSet<String>| {
        items
            .iter()
            .map(|s| quoted(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    let _ = writeln!(out, "[[client]]");
    let _ = writeln!(out, "id = {}", quoted(&slug(name)));
    let _ = writeln!(out, "name = {}", quoted(name));
    let _ = writeln!(out, "redirects = [{}]", list(&redirects));
    let _ = writeln!(
        out,
        "auth_methods = [{}]",
        quoted(&m.token_endpoint_auth_method)
    );
    if !sites.is_empty() {
        let _ = writeln!(out, "sites = [{}]", list(&sites));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Catalog;

    #[test]
    fn a_suggested_entry_loads_as_a_catalog_and_recognizes_the_family() {
        let m = ClientMetadata {
            client_name: Some("Acme \"Billing\" (eu)".into()),
            redirect_uris: vec![
                "https://billing.acme.com/oauth/callback?tenant=eu".into(),
                "http://127.0.0.1:4321/cb".into(),
            ],
            token_endpoint_auth_method: "client_secret_basic".into(),
            client_uri: Some("https://www.acme.com".into()),
            ..Default::default()
        };
        let entry = catalog_entry("Acme \"Billing\" (eu)", &m);
        assert!(entry.contains("id = \"acme-billing-eu\""), "{entry}");
        assert!(entry.contains("\"http://127.0.0.1:*/cb\""), "{entry}");
        assert!(
            entry.contains("\"https://billing.acme.com/oauth/callback\""),
            "{entry}"
        );
        assert!(entry.contains("sites = [\"acme.com\"]"), "{entry}");
        let catalog = Catalog::load(&[("suggested".into(), entry)]).unwrap();
        let idx = catalog.claimed_by_name("acme \"billing\"").unwrap();
        assert!(
            catalog.fits(idx, "http://localhost:9999/cb")
                || catalog.fits(idx, "http://127.0.0.1:9999/cb")
        );
        assert!(catalog.fits(idx, "https://billing.acme.com/oauth/callback"));
    }
}
