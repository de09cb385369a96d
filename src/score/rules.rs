//! The rules themselves: what each one looks at, and the detail it reports.

use super::attestation::Attestation;
use super::catalog::canonical_redirect;
use super::facts::Facts;
use super::text::{name_findings, skeleton};
use super::uri::{dangerous_scheme, host_kind, loopback_lookalike, site, HostKind};
use super::{Reason, Rule, Scorer, Verdict};
use crate::cluster::{fingerprint_of, sites, FamilyIndex};
use crate::escape::{esc, esc_max};
use crate::model::{ClientMetadata, Origin, Registration, Usage};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;
use url::Url;

/// Names longer than this are absurd for a display name.
const MAX_NAME: usize = 120;
/// A burst: this many members of one family registered within [`BURST_WINDOW`] seconds.
const BURST_MIN: usize = 10;
const BURST_WINDOW: i64 = 300;
/// Redirect URIs on more sites than this are "many unrelated hosts".
const MAX_SITES: usize = 3;

/// Collects reasons with their configured points.
struct Reasons<'a> {
    scorer: &'a Scorer,
    list: Vec<Reason>,
}

impl Reasons<'_> {
    fn add(&mut self, rule: Rule, detail: String) {
        self.list.push(Reason {
            rule: rule.id(),
            points: self.scorer.points(rule),
            detail,
        });
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
    claimed: Option<usize>,
    by_software_id: bool,
    fits: bool,
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
            fits: true,
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
            fits: false,
            software: None,
        };
    };
    let known = c.get(idx);
    let auth_ok =
        known.auth_methods.is_empty() || known.auth_methods.contains(&m.token_endpoint_auth_method);
    let fits = auth_ok
        && !m.redirect_uris.is_empty()
        && facts.urls.iter().all(|u| fits_known(scorer, idx, u));
    Identity {
        claimed: Some(idx),
        by_software_id: by_name.is_none(),
        fits,
        software: fits.then(|| known.id.clone()),
    }
}

/// Whether a parsed redirect fits the known client's signatures.
fn fits_known(scorer: &Scorer, idx: usize, url: &Result<Url, url::ParseError>) -> bool {
    url.as_ref()
        .is_ok_and(|u| u.fragment().is_none() && scorer.catalog.fits(idx, &canonical_redirect(u)))
}

pub(super) fn judge(
    scorer: &Scorer,
    reg: &Registration,
    families: &FamilyIndex,
    now: DateTime<Utc>,
) -> Verdict {
    let mut r = Reasons {
        scorer,
        list: Vec::new(),
    };
    let attest = attestation(scorer, reg);
    match &attest {
        Some(Attestation::Verified { issuer, .. }) => {
            r.add(
                Rule::AttestationVerified,
                format!("software statement signed by {}", esc(issuer)),
            );
        }
        Some(Attestation::Unverifiable { issuer }) => {
            r.add(
                Rule::AttestationUnverified,
                format!(
                    "no publisher key is configured for issuer {:?}",
                    esc(issuer)
                ),
            );
        }
        Some(Attestation::Invalid { reason }) => {
            r.add(
                Rule::AttestationInvalid,
                format!("software statement rejected: {}", esc(reason)),
            );
        }
        None => {}
    }
    let facts = facts_with(reg, attest.as_ref());
    let identity = identify(scorer, reg, &facts);
    cimd(&mut r, reg, &identity, scorer);
    impersonation(&mut r, scorer, &facts, &identity);
    let redirect_sites = redirects(&mut r, scorer, &facts);
    metadata_sites(&mut r, &facts.meta, &redirect_sites, identity.fits);
    name(&mut r, &facts.meta);
    grants(&mut r, &facts.meta);
    let cluster = fingerprint_of(&facts);
    usage(&mut r, reg, now);
    family(&mut r, reg, &facts, families, cluster, &identity);

    // Tidy metadata is evidence only when nothing else is wrong: an impostor's https
    // redirect on its own domain is consistent too.
    let trust_only_if_clean = [Rule::ConsistentHttps.id(), Rule::ReverseDnsScheme.id()];
    let behaviour = [
        Rule::NeverUsed.id(),
        Rule::Burst.id(),
        Rule::AttestationUnverified.id(),
    ];
    if r.list
        .iter()
        .any(|x| x.points > 0 && !behaviour.contains(&x.rule))
    {
        r.list.retain(|x| !trust_only_if_clean.contains(&x.rule));
    }
    let score = r.list.iter().map(|x| x.points).sum();
    Verdict {
        band: scorer.bands.band(score),
        score,
        reasons: r.list,
        cluster,
        software: identity.software,
    }
}

fn cimd(r: &mut Reasons, reg: &Registration, identity: &Identity, scorer: &Scorer) {
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
        Ok(_) => None,
    };
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
                None => r.add(
                    Rule::CimdClientId,
                    format!(
                        "client_id {} is a metadata document URL (not fetched)",
                        esc(id)
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
            if !r.list.iter().any(|x| x.rule == Rule::CatalogSignature.id()) {
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

/// Redirect hygiene. Returns the sites of the non-loopback web redirects.
fn redirects(r: &mut Reasons, scorer: &Scorer, facts: &Facts) -> BTreeSet<String> {
    let m = &facts.meta;
    let mut fired: Vec<Rule> = Vec::new();
    let mut fire = |r: &mut Reasons, rule: Rule, detail: String| {
        if !fired.contains(&rule) {
            fired.push(rule);
            r.add(rule, detail);
        }
    };
    let mut web_sites = BTreeSet::new();
    let mut all_https_one_site = !m.redirect_uris.is_empty();
    let mut reverse_dns = !m.redirect_uris.is_empty();
    for (raw, parsed) in facts.redirects() {
        let shown = esc_max(raw, 120);
        if raw.contains('*') {
            fire(
                r,
                Rule::RedirectWildcard,
                format!("{shown} contains a wildcard"),
            );
        }
        let url = match parsed {
            Ok(u) => u,
            Err(e) => {
                fire(
                    r,
                    Rule::RedirectInvalid,
                    format!("{shown} is not a URI ({e})"),
                );
                all_https_one_site = false;
                reverse_dns = false;
                continue;
            }
        };
        let scheme = url.scheme();
        if dangerous_scheme(scheme) {
            fire(
                r,
                Rule::RedirectDangerousScheme,
                format!("{shown} uses the {scheme}: scheme"),
            );
            all_https_one_site = false;
            reverse_dns = false;
            continue;
        }
        if url.fragment().is_some() {
            fire(r, Rule::RedirectFragment, format!("{shown} has a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            fire(
                r,
                Rule::RedirectUserinfo,
                format!("{shown} carries user information"),
            );
        }
        match scheme {
            "http" | "https" => {
                reverse_dns = false;
                let Some(host) = url.host() else { continue };
                let kind = host_kind(&host);
                if scheme == "http" && kind != HostKind::Loopback {
                    fire(
                        r,
                        Rule::RedirectHttp,
                        format!("{shown} uses http on a non-loopback host"),
                    );
                }
                if scheme == "http" || kind == HostKind::Loopback {
                    all_https_one_site = false;
                }
                match kind {
                    HostKind::Loopback => {}
                    HostKind::PublicIp => fire(
                        r,
                        Rule::RedirectPublicIp,
                        format!("{shown} goes to a public IP address"),
                    ),
                    HostKind::SpecialIp => fire(
                        r,
                        Rule::RedirectSpecialIp,
                        format!("{shown} goes to a private or link-local address"),
                    ),
                    HostKind::Metadata => fire(
                        r,
                        Rule::RedirectSpecialIp,
                        format!("{shown} goes to a cloud metadata address"),
                    ),
                    HostKind::Name => {
                        let h = url.host_str().unwrap_or_default();
                        if loopback_lookalike(h) {
                            fire(
                                r,
                                Rule::RedirectLookalike,
                                format!("{shown}: host {} looks like loopback but is not", esc(h)),
                            );
                        }
                    }
                }
                if kind != HostKind::Loopback {
                    if let Some(h) = url.host_str() {
                        web_sites.insert(site(h));
                    }
                }
            }
            _ => {
                all_https_one_site = false;
                if !scheme.contains('.') {
                    reverse_dns = false;
                    if !scorer.catalog.knows_scheme(scheme) {
                        fire(
                            r,
                            Rule::RedirectPrivateScheme,
                            format!("{shown}: private-use scheme {scheme}: is not reverse-DNS"),
                        );
                    }
                }
            }
        }
    }
    if web_sites.len() > MAX_SITES {
        let list: Vec<&str> = web_sites.iter().take(6).map(String::as_str).collect();
        fire(
            r,
            Rule::RedirectManySites,
            format!(
                "redirects go to {} sites: {}",
                web_sites.len(),
                esc(&list.join(", "))
            ),
        );
    }
    if m.redirect_uris.is_empty() && m.grant_types.iter().any(|g| g == "authorization_code") {
        fire(
            r,
            Rule::RedirectMissing,
            "authorization_code without a redirect URI".into(),
        );
    }
    let clean = fired.is_empty();
    if clean && all_https_one_site && web_sites.len() == 1 {
        let client_site = m
            .client_uri
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .and_then(|u| u.host_str().map(site));
        if client_site.as_ref().is_none_or(|s| web_sites.contains(s)) {
            let s = web_sites.iter().next().cloned().unwrap_or_default();
            r.add(
                Rule::ConsistentHttps,
                format!("every redirect is https on {}", esc(&s)),
            );
        }
    }
    if clean && reverse_dns {
        r.add(
            Rule::ReverseDnsScheme,
            "redirects use a reverse-DNS private-use scheme".into(),
        );
    }
    web_sites
}

/// RFC 7591 §5: client, logo, policy and terms URIs should share a site with the redirects.
fn metadata_sites(
    r: &mut Reasons,
    m: &ClientMetadata,
    redirect_sites: &BTreeSet<String>,
    fits_catalog: bool,
) {
    let mut not_https = None;
    let mut elsewhere: Vec<(&str, String)> = Vec::new();
    let mut client_elsewhere = None;
    for (field, value) in [
        ("client_uri", &m.client_uri),
        ("logo_uri", &m.logo_uri),
        ("policy_uri", &m.policy_uri),
        ("tos_uri", &m.tos_uri),
    ] {
        let Some(v) = value else { continue };
        let Ok(u) = Url::parse(v) else { continue };
        let loopback = u
            .host()
            .is_some_and(|h| host_kind(&h) == HostKind::Loopback);
        if u.scheme() != "https" && !loopback && not_https.is_none() {
            not_https = Some(format!("{field} {} is not https", esc_max(v, 120)));
        }
        let Some(h) = u.host_str() else { continue };
        if fits_catalog || redirect_sites.is_empty() || redirect_sites.contains(&site(h)) {
            continue;
        }
        if field == "client_uri" {
            client_elsewhere = Some(format!(
                "client_uri host {} is not a redirect site ({})",
                esc(h),
                esc(&join(redirect_sites))
            ));
        } else {
            elsewhere.push((field, h.to_owned()));
        }
    }
    if let Some(d) = not_https {
        r.add(Rule::MetadataNotHttps, d);
    }
    if let Some(d) = client_elsewhere {
        r.add(Rule::MetadataClientUriSite, d);
    }
    if let Some((field, host)) = elsewhere.first() {
        r.add(
            Rule::MetadataUriSite,
            format!(
                "{field} host {} is not a redirect site ({})",
                esc(host),
                esc(&join(redirect_sites))
            ),
        );
    }
}

fn join(s: &BTreeSet<String>) -> String {
    s.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
}

fn name(r: &mut Reasons, m: &ClientMetadata) {
    let Some(n) = m.client_name.as_deref() else {
        r.add(Rule::NameMissing, "no client_name".into());
        return;
    };
    let f = name_findings(n);
    if f.invisible_only {
        r.add(
            Rule::NameInvisible,
            format!("client_name {:?} shows nothing", esc(n)),
        );
    } else if f.hidden > 0 {
        r.add(
            Rule::NameHidden,
            format!(
                "client_name {:?} holds {} hidden character(s)",
                esc_max(n, 80),
                f.hidden
            ),
        );
    }
    if let Some(what) = f.url_or_instruction {
        r.add(
            Rule::NameUrlOrInstruction,
            format!("client_name {:?} holds {what}", esc_max(n, 80)),
        );
    }
    if f.length > MAX_NAME {
        r.add(
            Rule::NameLength,
            format!("client_name is {} characters long", f.length),
        );
    }
}

fn grants(r: &mut Reasons, m: &ClientMetadata) {
    let implicit_response = m
        .response_types
        .iter()
        .find(|t| t.split_whitespace().any(|w| w == "token"));
    if m.grant_types.iter().any(|g| g == "implicit") || implicit_response.is_some() {
        let what = implicit_response
            .map(|t| format!("response_type {:?}", esc(t)))
            .unwrap_or_else(|| "the implicit grant".into());
        r.add(Rule::GrantImplicit, format!("asks for {what}"));
    }
    if m.grant_types.iter().any(|g| g == "password") {
        r.add(Rule::GrantPassword, "asks for the password grant".into());
    }
    if m.token_endpoint_auth_method == "none"
        && m.grant_types.iter().any(|g| g == "client_credentials")
    {
        r.add(
            Rule::GrantRisky,
            "a public client (auth method none) asks for client_credentials".into(),
        );
    }
}

fn usage(r: &mut Reasons, reg: &Registration, now: DateTime<Utc>) {
    match reg.usage {
        Usage::LastUsed(t) if now - t <= chrono::Duration::days(30) => {
            r.add(
                Rule::RecentlyUsed,
                format!("last used {}", t.format("%Y-%m-%d")),
            );
        }
        Usage::Never => {
            if let Some(c) = reg
                .created_at
                .filter(|c| now - *c >= chrono::Duration::days(1))
            {
                r.add(
                    Rule::NeverUsed,
                    format!("never used since it registered on {}", c.format("%Y-%m-%d")),
                );
            }
        }
        _ => {}
    }
    if reg.origin == Origin::Admin {
        r.add(Rule::OriginAdmin, "created through the admin API".into());
    }
}

fn family(
    r: &mut Reasons,
    reg: &Registration,
    facts: &Facts,
    families: &FamilyIndex,
    id: crate::cluster::ClusterId,
    identity: &Identity,
) {
    let Some(own) = families.get(&id) else { return };
    if let Some(t) = reg.created_at.map(|t| t.timestamp()) {
        let near = own.created_near(t, BURST_WINDOW);
        if near >= BURST_MIN {
            r.add(
                Rule::Burst,
                format!(
                    "one of {near} registrations of its family within {} minutes",
                    2 * BURST_WINDOW / 60
                ),
            );
        }
    }
    if identity.claimed.is_some() || own.name.is_empty() {
        return;
    }
    let mine = sites(facts);
    if mine.is_empty() {
        return;
    }
    let created = reg.created_at.map(|t| t.timestamp());
    for (_, other) in families.same_name(&own.name, id) {
        let older = match (other.first_created, created) {
            (Some(o), Some(c)) => o < c,
            _ => true,
        };
        if other.established() && older && !other.sites.is_empty() && !mine.is_subset(&other.sites)
        {
            let new: Vec<&str> = mine
                .difference(&other.sites)
                .map(String::as_str)
                .take(3)
                .collect();
            r.add(
                Rule::ImpersonationFamily,
                format!(
                    "name {:?} belongs to a family of {} registration(s) on {}; this one uses {}",
                    esc(&own.name),
                    other.size,
                    esc(&join(&other.sites)),
                    esc(&new.join(", "))
                ),
            );
            return;
        }
    }
}
