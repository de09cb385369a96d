//! The rules themselves: what each one looks at, and the detail it reports. Identity and
//! impersonation here; redirect and metadata hygiene in `hygiene`; name, grants, usage and
//! family notes in `signals`; software statements and fetched URIs in `attest`.

mod attest;
mod hygiene;
mod signals;

use attest::{fetch_target, fetched_uris, statement};
use hygiene::{display_metadata, metadata_sites, redirects};
use signals::{family, grants, name, usage};

use super::attestation::Attestation;
use super::catalog::canonical_redirect;
use super::facts::{CimdEvidence, Facts};
use super::text::skeleton;
use super::uri::{embedded_url, host_kind, HostKind};
use super::{Reason, Rule, Scorer, Tier, Verdict, CAPPED};
use crate::escape::{esc, esc_max};
use crate::model::{ClientMetadata, Origin, Registration, Usage};
use crate::score::family::{fingerprint_of, sites, FamilyIndex, Member};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::borrow::Cow;
use url::Url;

/// Collects reasons with their configured points.
pub(super) struct Reasons<'a> {
    scorer: &'a Scorer,
    list: Vec<Reason>,
    tiers: Vec<Tier>,
}

impl Reasons<'_> {
    pub(super) fn add(&mut self, rule: Rule, detail: String) {
        self.list.push(Reason {
            rule: rule.id(),
            points: self.scorer.points(rule),
            detail,
        });
        self.tiers.push(rule.tier());
    }

    /// The score and the reasons that count: the catalog's and a document's vouching
    /// dropped where anything else speaks against the registration, and what the tiers cap
    /// said as a reason of its own.
    fn finish(mut self) -> (i32, Vec<Reason>) {
        let scorer = self.scorer;
        // The catalog vouches for a shape, and a document for its host's owner, not for a
        // registration that also breaks the rules.
        if self.has_risk() {
            for rule in [Rule::CatalogSignature, Rule::CimdVerified] {
                if let Some(i) = self.list.iter().position(|x| x.rule == rule.id()) {
                    self.list.remove(i);
                    self.tiers.remove(i);
                }
            }
        }
        let points = self
            .tiers
            .iter()
            .copied()
            .zip(self.list.iter().map(|x| x.points));
        let (score, capped) = scorer.total(points);
        if capped > 0 {
            self.list.push(Reason {
                rule: CAPPED,
                points: -capped,
                detail: format!(
                    "weak evidence counts at most {} points, weak and hygiene evidence together at most {}",
                    scorer.bands.suspicious_at - 1,
                    scorer.bands.malicious_at - 1
                ),
            });
        }
        (score, self.list)
    }

    /// Whether anything beyond weak evidence or notes speaks against it.
    fn has_risk(&self) -> bool {
        self.tiers
            .iter()
            .zip(&self.list)
            .any(|(t, r)| matches!(t, Tier::Hygiene | Tier::Strong) && r.points > 0)
    }
}

/// Facts as scored: a verified software statement's claims win over the plain metadata.
pub(super) fn facts<'a>(scorer: &Scorer, reg: &'a Registration) -> Facts<'a> {
    facts_with(reg, attestation(scorer, reg).as_ref())
}

fn facts_with<'a>(reg: &'a Registration, attest: Option<&Attestation>) -> Facts<'a> {
    match attest {
        Some(Attestation::Verified { claims, .. }) => {
            Facts::new(Cow::Owned(with_claims(&reg.metadata, claims)))
        }
        _ => Facts::new(Cow::Borrowed(&reg.metadata)),
    }
}

fn attestation(scorer: &Scorer, reg: &Registration) -> Option<Attestation> {
    reg.metadata
        .software_statement
        .as_deref()
        .map(|s| scorer.publishers.check(s))
}

fn with_claims(m: &ClientMetadata, claims: &serde_json::Map<String, Value>) -> ClientMetadata {
    let mut doc = serde_json::to_value(m).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut doc {
        for (k, v) in claims {
            if !matches!(
                k.as_str(),
                "iss" | "iat" | "exp" | "nbf" | "jti" | "aud" | "sub"
            ) {
                obj.insert(k.clone(), v.clone());
            }
        }
        // normalize() wants an identifier; the claims carry none of their own.
        obj.insert(
            "client_id".into(),
            Value::String("software-statement".into()),
        );
    }
    // Re-normalized, so claims are bounded like any metadata.
    crate::normalize::normalize(&doc)
        .map(|n| n.metadata)
        .unwrap_or_else(|_| m.clone())
}

/// Which known client a registration claims to be, and whether it fits that client.
pub(super) struct Identity {
    pub(super) claimed: Option<usize>,
    by_software_id: bool,
    /// A CIMD client_id other than the known client's own metadata document.
    foreign_document: bool,
    pub(super) fits: bool,
    /// Fits, and only through signatures with a fixed host: the catalog vouches for it.
    vouched: bool,
    pub(super) software: Option<String>,
}

pub(super) fn identify(scorer: &Scorer, reg: &Registration, facts: &Facts) -> Identity {
    let m = &facts.meta;
    let c = &scorer.catalog;
    // A client_id that is a known client's metadata document identifies it outright.
    let cimd_idx = if reg.client_id.starts_with("https://") {
        c.clients()
            .iter()
            .position(|k| k.cimd_client_id.as_deref() == Some(reg.client_id.as_str()))
    } else {
        None
    };
    if let Some(idx) = cimd_idx {
        return Identity {
            claimed: Some(idx),
            by_software_id: false,
            foreign_document: false,
            fits: true,
            vouched: true,
            software: Some(c.get(idx).id.clone()),
        };
    }
    let by_name = facts.name.as_deref().and_then(|n| c.claimed_by_name(n));
    let by_sid = m
        .software_id
        .as_deref()
        .and_then(|s| c.claimed_by_software_id(s));
    let Some(idx) = by_name.or(by_sid) else {
        return Identity {
            claimed: None,
            by_software_id: false,
            foreign_document: false,
            fits: false,
            vouched: false,
            software: None,
        };
    };
    let known = c.get(idx);
    let auth_ok =
        known.auth_methods.is_empty() || known.auth_methods.contains(&m.token_endpoint_auth_method);
    // For a CIMD client the document's URL is the identity: a known client that publishes
    // one is not at any other URL.
    let foreign_document = reg.client_id.starts_with("https://") && known.cimd_client_id.is_some();
    let (mut fits, mut vouched) = (
        auth_ok && !foreign_document && !m.redirect_uris.is_empty(),
        true,
    );
    for u in &facts.urls {
        if !fits {
            break;
        }
        match u.as_ref().ok().and_then(|u| fit(scorer, idx, u)) {
            Some(fixed) => vouched &= fixed,
            None => fits = false,
        }
    }
    Identity {
        claimed: Some(idx),
        by_software_id: by_name.is_none(),
        foreign_document,
        fits,
        vouched: fits && vouched,
        software: fits.then(|| known.id.clone()),
    }
}

/// Whether a parsed redirect fits the known client's signatures. A fragment never fits, nor
/// a query that carries a URL: a known client's redirect chained to an open redirector.
fn fits_known(scorer: &Scorer, idx: usize, url: &Result<Url, url::ParseError>) -> bool {
    url.as_ref().is_ok_and(|u| fit(scorer, idx, u).is_some())
}

/// How a redirect fits the known client: `None` not at all, `Some(true)` through a signature
/// with a fixed host, `Some(false)` only through a self-hosted one.
fn fit(scorer: &Scorer, idx: usize, u: &Url) -> Option<bool> {
    if u.fragment().is_some() || embedded_url(u).is_some() {
        return None;
    }
    let canonical = canonical_redirect(u);
    let c = &scorer.catalog;
    if c.fits_fixed_host(idx, &canonical) {
        Some(true)
    } else {
        c.fits(idx, &canonical).then_some(false)
    }
}

pub(super) fn judge(
    scorer: &Scorer,
    reg: &Registration,
    families: &FamilyIndex,
    now: DateTime<Utc>,
    evidence: Option<&CimdEvidence>,
) -> Verdict {
    let mut r = Reasons {
        scorer,
        list: Vec::new(),
        tiers: Vec::new(),
    };
    let attest = attestation(scorer, reg);
    if let Some(a) = &attest {
        statement(&mut r, a, &reg.metadata);
    }
    let facts = facts_with(reg, attest.as_ref());
    let identity = identify(scorer, reg, &facts);
    cimd(&mut r, reg, &identity, scorer, evidence);
    impersonation(&mut r, scorer, &facts, &identity);
    let redirect_sites = redirects(&mut r, scorer, &facts);
    if identity.fits {
        display_metadata(&mut r, scorer, &facts, &identity, &redirect_sites);
    } else {
        metadata_sites(&mut r, &facts.meta, &redirect_sites);
    }
    name(&mut r, &facts.meta);
    grants(&mut r, &facts.meta);
    fetched_uris(&mut r, &facts.meta);
    let member = member(reg, &facts, &identity);
    usage(&mut r, reg, now);
    family(&mut r, &member, families);
    let (score, reasons) = r.finish();
    Verdict {
        band: scorer.bands.band(score),
        score,
        reasons,
        family: member.family,
        member,
        software: identity.software,
        due: signals::usage_due(reg, now),
    }
}

/// The score and reasons [`judge`] gives with `families`, from the reasons it gave the same
/// registration with none (as stored) and what the registration adds to its family: the
/// family notes come last, and [`Reasons::finish`] is done again over them. `None` when a
/// stored reason is none of this scorer's rules.
pub(super) fn with_family(
    scorer: &Scorer,
    alone: &[(&str, i32, &str)],
    member: &Member,
    families: &FamilyIndex,
) -> Option<(i32, Vec<Reason>)> {
    let mut r = Reasons {
        scorer,
        list: Vec::with_capacity(alone.len() + 2),
        tiers: Vec::with_capacity(alone.len() + 2),
    };
    for &(rule, points, detail) in alone.iter().filter(|x| x.0 != CAPPED) {
        let rule = Rule::parse(rule)?;
        r.list.push(Reason {
            rule: rule.id(),
            points,
            detail: detail.to_owned(),
        });
        r.tiers.push(rule.tier());
    }
    family(&mut r, member, families);
    Some(r.finish())
}

/// Whether [`signals::family`] notes anything on `member` among `families`.
pub(super) fn family_notes(scorer: &Scorer, member: &Member, families: &FamilyIndex) -> bool {
    let mut r = Reasons {
        scorer,
        list: Vec::new(),
        tiers: Vec::new(),
    };
    family(&mut r, member, families);
    !r.list.is_empty()
}

/// What a registration adds to its family. `named` mirrors what [`signals::family`] needs
/// before it looks at same-name families.
pub(super) fn member(reg: &Registration, facts: &Facts, identity: &Identity) -> Member {
    let name = facts.name.clone().unwrap_or_default();
    let sites = sites(facts);
    Member {
        family: fingerprint_of(facts),
        named: identity.claimed.is_none() && !name.is_empty() && !sites.is_empty(),
        name,
        software: identity.software.clone(),
        used: matches!(reg.usage, Usage::LastUsed(_)),
        admin: reg.origin == Origin::Admin,
        created: reg.created_at.map(|t| t.timestamp()),
        sites,
    }
}

fn cimd(
    r: &mut Reasons,
    reg: &Registration,
    identity: &Identity,
    scorer: &Scorer,
    evidence: Option<&CimdEvidence>,
) {
    let id = reg.client_id.as_str();
    if !id.starts_with("https://") && !id.starts_with("http://") {
        return;
    }
    let problem = match Url::parse(id) {
        Err(e) => Some(format!("does not parse ({e})")),
        Ok(u) if u.scheme() != "https" => Some("is not https".into()),
        Ok(_) if id.contains('#') => Some("has a fragment".into()),
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Some("carries user information".into())
        }
        Ok(_) if id.split('/').skip(3).any(|seg| seg == "." || seg == "..") => {
            Some("has dot segments".into())
        }
        Ok(u) if u.path() == "/" || u.path().is_empty() => Some("has no path".into()),
        Ok(u) if u.query().is_some() => Some("has a query".into()),
        Ok(u) => {
            // The AS fetches this URL: the same rules as any URI it fetches.
            if let Some((rule, why)) = fetch_target(id, &u) {
                r.add(rule, format!("client_id (a metadata document URL) {why}"));
                return;
            }
            None
        }
    };
    if problem.is_none() {
        if let Some(CimdEvidence::Mismatch(why)) = evidence {
            r.add(
                Rule::CimdMismatch,
                format!("metadata document {}: {why}", esc(id)),
            );
        }
    }
    let verified = evidence == Some(&CimdEvidence::Verified);
    match problem {
        Some(p) => r.add(Rule::CimdInvalid, format!("client_id {} {p}", esc(id))),
        None => {
            let known = identity
                .claimed
                .map(|i| scorer.catalog.get(i))
                .filter(|k| k.cimd_client_id.as_deref() == Some(id));
            match known {
                Some(k) => r.add(
                    Rule::CatalogSignature,
                    format!("client_id is {}'s published metadata document", k.name),
                ),
                None if verified => r.add(
                    Rule::CimdVerified,
                    format!(
                        "the metadata document at {} was fetched and agrees with the registration; it vouches for its host's owner, not for a name",
                        esc(id)
                    ),
                ),
                None => r.add(
                    Rule::CimdClientId,
                    format!(
                        "client_id {} is a metadata document URL{}",
                        esc(id),
                        if evidence.is_some() { "" } else { " (not fetched)" }
                    ),
                ),
            }
        }
    }
}

fn impersonation(r: &mut Reasons, scorer: &Scorer, facts: &Facts, identity: &Identity) {
    let c = &scorer.catalog;
    let m = &facts.meta;
    let name = m.client_name.as_deref();
    match identity.claimed {
        Some(idx) if identity.fits => {
            if identity.vouched && !r.list.iter().any(|x| x.rule == Rule::CatalogSignature.id()) {
                r.add(
                    Rule::CatalogSignature,
                    format!("matches {}'s redirect signature", c.get(idx).name),
                );
            }
        }
        Some(idx) => {
            let known = c.get(idx);
            let offending: Vec<(&str, &Result<Url, url::ParseError>)> = facts
                .redirects()
                .filter(|(_, u)| !fits_known(scorer, idx, u))
                .collect();
            let all_loopback = offending.iter().all(|(_, u)| {
                u.as_ref().is_ok_and(|p| {
                    matches!(p.scheme(), "http" | "https")
                        && p.host()
                            .is_some_and(|h| host_kind(&h) == HostKind::Loopback)
                })
            });
            let claim = if identity.by_software_id {
                format!("software_id of {}", known.name)
            } else {
                format!(
                    "the name {:?} of {}",
                    esc(name.unwrap_or_default()),
                    known.name
                )
            };
            let where_ = match offending.first() {
                _ if identity.foreign_document => format!(
                    "its metadata document is not {}",
                    known.cimd_client_id.as_deref().unwrap_or_default()
                ),
                Some((u, _)) => format!("redirects to {}", esc_max(u, 120)),
                None if m.redirect_uris.is_empty() => "has no redirect URI".into(),
                None => format!(
                    "uses token_endpoint_auth_method {:?}",
                    esc(&m.token_endpoint_auth_method)
                ),
            };
            let detail = format!(
                "claims {claim} but {where_}, which {} never does",
                known.name
            );
            if identity.by_software_id {
                r.add(Rule::ImpersonationSoftwareId, detail);
            } else if identity.foreign_document {
                r.add(Rule::ImpersonationCatalog, detail);
            } else if all_loopback && !m.redirect_uris.is_empty() {
                r.add(Rule::ImpersonationCatalogLoopback, detail);
            } else {
                r.add(Rule::ImpersonationCatalog, detail);
            }
        }
        None => {
            if let Some(n) = name {
                if let Some(idx) = c.look_alike(&skeleton(n)) {
                    r.add(
                        Rule::ImpersonationConfusable,
                        format!(
                            "name {:?} looks like {} but is not spelled the same",
                            esc(n),
                            c.get(idx).name
                        ),
                    );
                }
            }
        }
    }
}
