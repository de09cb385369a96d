//! Client families: registrations made by installs of the same client software.
//!
//! The fingerprint keeps what stays the same across installs — the folded name (install
//! suffix and version dropped), software_id, redirect templates (loopback ports wildcarded,
//! query values and fragments dropped), grant types, auth method and the client_uri host —
//! and hashes it with SHA-256, so a family id is the same on every run, machine and input
//! order.

mod sorted;

use super::facts::Facts;
use super::uri::{host_kind, site, HostKind};
use crate::model::ClientMetadata;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Seconds each side of a registration's creation that its burst note counts members of its
/// family in (an incremental judgement reads the same windows).
pub const BURST_WINDOW: i64 = 300;
/// A burst: at least this many members of a family created within [`BURST_WINDOW`] seconds
/// of one another's creation.
pub const BURST_MIN: usize = 10;

/// Most sites kept per family: the smallest, so that which are kept does not depend on the
/// order members are added in.
pub const MAX_SITES: usize = 32;

/// What is known of one family: aggregates of its members that do not depend on the order
/// they were added in, and that a member can be taken out of again ([`FamilyIndex::remove`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Family {
    /// Folded name shared by the members.
    pub name: String,
    /// Catalog id of the software, when members match a known client (the smallest id, if
    /// members match different ones).
    pub software: Option<String>,
    /// Members that match `software`.
    pub software_members: u64,
    pub size: u64,
    pub used: u64,
    pub admin: u64,
    /// Members whose verdicts look at same-name families.
    pub named: u64,
    pub first_created: Option<i64>,
    pub last_created: Option<i64>,
    /// The smallest [`MAX_SITES`] sites of the members' redirect, client and logo URIs
    /// (loopback excluded), each with the members that point to it.
    pub sites: BTreeMap<String, u64>,
    /// Whether members point to more sites than are kept.
    pub sites_overflow: bool,
    /// Creation times of the members (after [`FamilyIndex::freeze`], sorted); an incremental
    /// judgement loads only those near the registrations it judges.
    pub created: Vec<i64>,
}

/// What a removal left a family unable to tell by itself: it must be counted again from
/// its members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recount {
    pub software: bool,
    pub sites: bool,
    /// The first or last creation time left.
    pub bounds: bool,
}

impl Family {
    /// Registrations beyond the first.
    pub fn duplicates(&self) -> u64 {
        self.size.saturating_sub(1)
    }

    /// How many members were created within `window` seconds of `t` (both sides).
    pub fn created_near(&self, t: i64, window: i64) -> usize {
        let c = &self.created;
        let lo = sorted::first_at_least(c, t.saturating_sub(window), sorted::interpolated(c, t));
        let hi = match t.checked_add(window).and_then(|end| end.checked_add(1)) {
            Some(after) => sorted::first_at_least(c, after, lo),
            None => c.len(),
        };
        hi - lo
    }

    /// Whether one of the kept sites is `site`.
    pub fn has_site(&self, site: &str) -> bool {
        self.sites.contains_key(site)
    }

    /// A family an impostor would copy: in use, made by an admin, or several members.
    pub fn established(&self) -> bool {
        self.used > 0 || self.admin > 0 || self.size >= 3
    }

    /// What a member of another family with the same name reads of this one.
    pub fn seen_by_namesakes(&self) -> (bool, bool, Vec<&str>) {
        (
            self.admin > 0,
            self.software.is_none(),
            self.sites.keys().map(String::as_str).collect(),
        )
    }

    fn add(&mut self, m: &Member) {
        self.size += 1;
        self.used += m.used as u64;
        self.admin += m.admin as u64;
        self.named += m.named as u64;
        if let Some(t) = m.created {
            self.first_created = Some(self.first_created.map_or(t, |x| x.min(t)));
            self.last_created = Some(self.last_created.map_or(t, |x| x.max(t)));
            self.created.push(t);
        }
        if let Some(s) = &m.software {
            match &self.software {
                Some(cur) if cur == s => self.software_members += 1,
                Some(cur) if cur < s => {}
                _ => (self.software, self.software_members) = (Some(s.clone()), 1),
            }
        }
        for site in &m.sites {
            if let Some(n) = self.sites.get_mut(site) {
                *n += 1;
            } else if self.sites.len() < MAX_SITES {
                // Kept sites are the smallest of all: fewer than the most means all of them
                // (a removal that would break this counts again).
                self.sites.insert(site.clone(), 1);
            } else {
                self.sites_overflow = true;
                let largest = self.sites.keys().next_back().cloned().unwrap_or_default();
                if *site < largest {
                    // Not kept, yet smaller than a kept one: no member pointed to it.
                    self.sites.remove(&largest);
                    self.sites.insert(site.clone(), 1);
                }
            }
        }
    }

    fn remove(&mut self, m: &Member) -> Recount {
        let mut recount = Recount::default();
        self.size = self.size.saturating_sub(1);
        self.used = self.used.saturating_sub(m.used as u64);
        self.admin = self.admin.saturating_sub(m.admin as u64);
        self.named = self.named.saturating_sub(m.named as u64);
        if let Some(t) = m.created {
            recount.bounds = self.first_created == Some(t) || self.last_created == Some(t);
        }
        if m.software.is_some() && m.software == self.software {
            self.software_members = self.software_members.saturating_sub(1);
            recount.software = self.software_members == 0;
        }
        for site in &m.sites {
            if let Some(n) = self.sites.get_mut(site) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.sites.remove(site);
                    // A site that was not kept may be among the smallest now.
                    recount.sites |= self.sites_overflow;
                }
            }
        }
        recount
    }

    /// Sets the software from the members' matches (one entry per member that has one).
    pub fn recount_software<'a>(&mut self, matches: impl Iterator<Item = &'a str>) {
        let (mut software, mut n) = (None::<&str>, 0);
        for s in matches {
            match software {
                Some(cur) if cur == s => n += 1,
                Some(cur) if cur < s => {}
                _ => (software, n) = (Some(s), 1),
            }
        }
        self.software = software.map(str::to_owned);
        self.software_members = n;
    }

    /// Sets the sites from the members' (one set per member).
    pub fn recount_sites<'a>(&mut self, members: impl Iterator<Item = &'a BTreeSet<String>>) {
        let mut all: BTreeMap<&str, u64> = BTreeMap::new();
        for sites in members {
            for s in sites {
                *all.entry(s).or_default() += 1;
            }
        }
        self.sites_overflow = all.len() > MAX_SITES;
        self.sites = all
            .into_iter()
            .take(MAX_SITES)
            .map(|(s, n)| (s.to_owned(), n))
            .collect();
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
    /// Adds a member (first pass), in any order.
    pub fn add(&mut self, m: &Member) {
        self.families
            .entry(m.family)
            .or_insert_with(|| Family {
                name: m.name.clone(),
                ..Family::default()
            })
            .add(m);
    }

    /// Takes a member out of its family again; says what the family must count again from
    /// its members. A family left without members is dropped.
    pub fn remove(&mut self, m: &Member) -> Recount {
        let Some(f) = self.families.get_mut(&m.family) else {
            return Recount::default();
        };
        let recount = f.remove(m);
        if f.size == 0 {
            self.families.remove(&m.family);
            return Recount::default();
        }
        recount
    }

    /// A family as stored (before [`FamilyIndex::freeze`]).
    pub fn insert(&mut self, id: FamilyId, family: Family) {
        self.families.insert(id, family);
    }

    pub fn get_mut(&mut self, id: &FamilyId) -> Option<&mut Family> {
        self.families.get_mut(id)
    }

    /// Ends the first pass: creation times sorted, families indexed by name.
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
#[path = "family_tests.rs"]
mod tests;
