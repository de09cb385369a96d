//! Client families: registrations made by installs of the same client software.
//!
//! The fingerprint keeps what stays the same across installs — the folded name (install
//! suffix and version dropped), software_id, redirect templates (loopback ports wildcarded,
//! query values and fragments dropped), grant types, auth method and the client_uri host —
//! and hashes it with SHA-256, so a family id is the same on every run, machine and input
//! order.

use super::facts::Facts;
use super::uri::{host_kind, site, HostKind};
use crate::model::ClientMetadata;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use url::Url;

/// A stable family id: 16 hex characters of the fingerprint's SHA-256.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FamilyId([u8; 8]);

impl std::str::FromStr for FamilyId {
    type Err = ();

    /// The 16 hex characters [`FamilyId`]'s `Display` writes.
    fn from_str(s: &str) -> Result<FamilyId, ()> {
        if s.len() != 16 || !s.is_ascii() {
            return Err(());
        }
        let mut id = [0u8; 8];
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| ())?;
        }
        Ok(FamilyId(id))
    }
}

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyId({self})")
    }
}

impl Serialize for FamilyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The template of one redirect URI: what every install of a client registers.
pub fn redirect_template(raw: &str) -> String {
    template(raw, &Url::parse(raw))
}

fn template(raw: &str, parsed: &Result<Url, url::ParseError>) -> String {
    let Ok(url) = parsed else {
        return raw.to_owned();
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(url.scheme());
    out.push_str("://");
    if let Some(host) = url.host() {
        if host_kind(&host) == HostKind::Loopback {
            // Installs pick localhost, 127.0.0.1 or [::1] and any port (RFC 8252).
            out.push_str("loopback:*");
        } else {
            out.push_str(&url.host_str().unwrap_or_default().to_ascii_lowercase());
            if let Some(p) = url.port() {
                out.push(':');
                out.push_str(&p.to_string());
            }
        }
    }
    out.push_str(url.path());
    // Query keys stay (they are part of the endpoint); their values vary per flow.
    let keys: BTreeSet<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    if !keys.is_empty() {
        out.push('?');
        out.push_str(&keys.into_iter().collect::<Vec<_>>().join("&"));
    }
    out
}

/// The family fingerprint of a registration's metadata.
pub fn fingerprint(m: &ClientMetadata) -> FamilyId {
    fingerprint_of(&Facts::new(Cow::Borrowed(m)))
}

/// The fingerprint from facts already worked out.
pub fn fingerprint_of(facts: &Facts) -> FamilyId {
    let m = &facts.meta;
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update(s.as_bytes());
        h.update([0x1f]);
    };
    field(facts.name.as_deref().unwrap_or_default());
    field(m.software_id.as_deref().unwrap_or(""));
    let redirects: BTreeSet<String> = facts
        .redirects()
        .map(|(raw, parsed)| template(raw, parsed))
        .collect();
    for r in &redirects {
        field(r);
    }
    field("\u{1e}");
    let grants: BTreeSet<&str> = m.grant_types.iter().map(String::as_str).collect();
    for g in grants {
        field(g);
    }
    field("\u{1e}");
    field(&m.token_endpoint_auth_method);
    let client_host = m
        .client_uri
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    field(client_host.as_deref().unwrap_or(""));
    let digest = h.finalize();
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    FamilyId(id)
}

/// Most creation times kept per family for burst detection.
const MAX_TIMES: usize = 100_000;
/// Most sites kept per family.
const MAX_SITES: usize = 32;

/// What is known of one family after the first pass over a store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Family {
    /// Folded name shared by the members.
    pub name: String,
    /// Catalog id of the software, when the members match a known client.
    pub software: Option<String>,
    pub size: u64,
    pub used: u64,
    pub admin: u64,
    /// Members whose verdicts look at same-name families.
    #[serde(skip)]
    pub named: u64,
    pub first_created: Option<i64>,
    pub last_created: Option<i64>,
    /// Sites of the members' redirect, client and logo URIs (loopback excluded).
    pub sites: BTreeSet<String>,
    #[serde(skip)]
    created: Vec<i64>,
}

impl Family {
    /// Registrations beyond the first.
    pub fn duplicates(&self) -> u64 {
        self.size.saturating_sub(1)
    }

    /// How many members were created within `window` seconds of `t` (both sides).
    pub fn created_near(&self, t: i64, window: i64) -> usize {
        let lo = self.created.partition_point(|&c| c < t - window);
        let hi = self.created.partition_point(|&c| c <= t + window);
        hi - lo
    }

    /// Whether a family of `size` members has more than the creation times kept for bursts:
    /// which are kept then depends on the other members, so any change may move every
    /// member's note.
    pub fn oversized_at(size: u64) -> bool {
        size > MAX_TIMES as u64
    }

    /// What a member of another family with the same name reads of this one.
    pub fn seen_by_namesakes(&self) -> (bool, bool, &BTreeSet<String>) {
        (self.admin > 0, self.software.is_none(), &self.sites)
    }

    /// A family an impostor would copy: in use, made by an admin, or several members.
    pub fn established(&self) -> bool {
        self.used > 0 || self.admin > 0 || self.size >= 3
    }
}

/// The sites (registrable domains) a registration's URIs point to, loopback excluded.
pub fn sites(facts: &Facts) -> BTreeSet<String> {
    let m = &facts.meta;
    let others = m
        .client_uri
        .iter()
        .chain(m.logo_uri.iter())
        .filter_map(|u| Url::parse(u).ok());
    let web = |u: &Url| {
        u.host()
            .is_some_and(|h| host_kind(&h) != HostKind::Loopback)
    };
    let mut out: BTreeSet<String> = facts
        .urls
        .iter()
        .filter_map(|u| u.as_ref().ok())
        .filter(|u| web(u))
        .filter_map(|u| u.host_str().map(site))
        .collect();
    out.extend(
        others
            .filter(|u| web(u))
            .filter_map(|u| u.host_str().map(site)),
    );
    out
}

/// What one registration adds to its family, worked out from the registration alone. A
/// judgement stores it beside the verdict (`registrations.judged_*`), so that a later one
/// folds the families from stored columns without reading metadata again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    pub family: FamilyId,
    /// The folded name (the same for every member: the fingerprint hashes it).
    pub name: String,
    pub software: Option<String>,
    pub used: bool,
    pub admin: bool,
    pub created: Option<i64>,
    pub sites: BTreeSet<String>,
    /// Whether its verdict looks at other families of the same name (a name no catalog entry
    /// claims, and URIs on some site).
    pub named: bool,
}

/// Families of one store, built in a first pass and frozen before verdicts are given.
#[derive(Debug, Default)]
pub struct FamilyIndex {
    families: HashMap<FamilyId, Family>,
    by_name: HashMap<String, Vec<FamilyId>>,
}

impl FamilyIndex {
    /// Adds a member (first pass). Members are added in client_id order: the kept creation
    /// times and sites of an oversized family depend on it.
    pub fn add(&mut self, m: &Member) {
        let f = self.families.entry(m.family).or_insert_with(|| Family {
            name: m.name.clone(),
            software: m.software.clone(),
            ..Family::default()
        });
        f.size += 1;
        f.used += m.used as u64;
        f.admin += m.admin as u64;
        f.named += m.named as u64;
        if let Some(t) = m.created {
            f.first_created = Some(f.first_created.map_or(t, |x| x.min(t)));
            f.last_created = Some(f.last_created.map_or(t, |x| x.max(t)));
            if f.created.len() < MAX_TIMES {
                f.created.push(t);
            }
        }
        for s in &m.sites {
            if f.sites.len() >= MAX_SITES {
                break;
            }
            f.sites.insert(s.clone());
        }
    }

    /// Ends the first pass.
    pub fn freeze(&mut self) {
        for (id, f) in &mut self.families {
            f.created.sort_unstable();
            if !f.name.is_empty() {
                self.by_name.entry(f.name.clone()).or_default().push(*id);
            }
        }
        for ids in self.by_name.values_mut() {
            ids.sort();
        }
    }

    pub fn get(&self, id: &FamilyId) -> Option<&Family> {
        self.families.get(id)
    }

    /// Other families sharing a folded name.
    pub fn same_name(
        &self,
        name: &str,
        except: FamilyId,
    ) -> impl Iterator<Item = (FamilyId, &Family)> {
        self.with_name(name).filter(move |(id, _)| *id != except)
    }

    /// The families of a (non-empty) folded name, by id.
    pub fn with_name(&self, name: &str) -> impl Iterator<Item = (FamilyId, &Family)> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|id| self.families.get(id).map(|f| (*id, f)))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&FamilyId, &Family)> {
        self.families.iter()
    }

    pub fn len(&self) -> usize {
        self.families.len()
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, redirects: &[&str]) -> ClientMetadata {
        ClientMetadata {
            client_name: Some(name.into()),
            redirect_uris: redirects.iter().map(|s| s.to_string()).collect(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: "none".into(),
            ..Default::default()
        }
    }

    #[test]
    fn installs_of_one_client_share_a_family() {
        let a = fingerprint(&meta(
            "Claude Code (github)",
            &["http://localhost:5555/callback"],
        ));
        let b = fingerprint(&meta(
            "Claude Code (linear)",
            &["http://localhost:41234/callback"],
        ));
        assert_eq!(a, b);
        let other = fingerprint(&meta("Claude Code", &["https://evil.example/callback"]));
        assert_ne!(a, other);
        let vs1 = fingerprint(&meta(
            "Visual Studio Code",
            &["https://vscode.dev/redirect", "http://127.0.0.1:33418/"],
        ));
        let vs2 = fingerprint(&meta(
            "Visual Studio Code",
            &["http://127.0.0.1:33418/", "https://vscode.dev/redirect"],
        ));
        assert_eq!(vs1, vs2, "order does not matter");
    }

    #[test]
    fn ids_are_stable_across_runs_and_machines() {
        // Pinned: changing the fingerprint changes every family id operators have seen.
        let id = fingerprint(&meta("Claude Code (x)", &["http://localhost:1/callback"]));
        assert_eq!(id.to_string().len(), 16);
        assert_eq!(
            id.to_string(),
            fingerprint(&meta("claude code", &["http://localhost:2/callback"])).to_string()
        );
    }

    #[test]
    fn templates_drop_per_flow_parts() {
        assert_eq!(
            redirect_template("http://127.0.0.1:4242/cb?state=abc&x=1#frag"),
            "http://loopback:*/cb?state&x"
        );
        assert_eq!(
            redirect_template("http://localhost/cb"),
            "http://loopback:*/cb"
        );
        assert_eq!(
            redirect_template("https://app.example:8443/cb"),
            "https://app.example:8443/cb"
        );
        assert_eq!(redirect_template("not a uri"), "not a uri");
    }
}
