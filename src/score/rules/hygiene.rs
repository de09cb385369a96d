//! Redirect hygiene (RFC 8252, RFC 9700, OAuth 2.1) and metadata consistency (RFC 7591 §5).

use super::super::uri::{
    ambiguous_host, dangerous_scheme, embedded_url, host_kind, loopback_lookalike, site, HostKind,
};
use super::super::{Rule, Scorer};
use super::{Identity, Reasons};
use crate::escape::{esc, esc_max};
use crate::model::ClientMetadata;
use crate::score::facts::Facts;
use std::collections::BTreeSet;
use url::Url;

/// Redirect URIs on more sites than this are "many unrelated hosts".
const MAX_SITES: usize = 3;

/// Redirect hygiene. Returns the sites of the non-loopback web redirects.
pub(super) fn redirects(r: &mut Reasons, scorer: &Scorer, facts: &Facts) -> BTreeSet<String> {
    let m = &facts.meta;
    let mut fired: Vec<Rule> = Vec::new();
    let mut fire = |r: &mut Reasons, rule: Rule, detail: String| {
        if !fired.contains(&rule) {
            fired.push(rule);
            r.add(rule, detail);
        }
    };
    let mut web_sites = BTreeSet::new();
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
            continue;
        }
        if let Some(why) = ambiguous_host(raw, url) {
            fire(r, Rule::RedirectAmbiguousHost, format!("{shown}: {why}"));
        }
        if let Some((key, value)) = embedded_url(url) {
            fire(
                r,
                Rule::RedirectEmbeddedUrl,
                format!(
                    "{shown}: query parameter {} carries {}",
                    esc(&key),
                    esc_max(&value, 80)
                ),
            );
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
                let Some(host) = url.host() else { continue };
                let kind = host_kind(&host);
                if scheme == "http" && kind != HostKind::Loopback {
                    fire(
                        r,
                        Rule::RedirectHttp,
                        format!("{shown} uses http on a non-loopback host"),
                    );
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
                        Rule::RedirectMetadataIp,
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
            _ if !scheme.contains('.') && !scorer.catalog.knows_scheme(scheme) => fire(
                r,
                Rule::RedirectPrivateScheme,
                format!("{shown}: private-use scheme {scheme}: is not reverse-DNS"),
            ),
            _ => {}
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
    web_sites
}

/// RFC 7591 §5: client, logo, policy and terms URIs should share a site with the redirects.
pub(super) fn metadata_sites(
    r: &mut Reasons,
    m: &ClientMetadata,
    redirect_sites: &BTreeSet<String>,
) {
    let mut not_https = None;
    let mut elsewhere: Vec<(&str, String)> = Vec::new();
    let mut client_elsewhere = None;
    for (field, v) in m.display_uris() {
        let Ok(u) = Url::parse(v) else { continue };
        let loopback = u
            .host()
            .is_some_and(|h| host_kind(&h) == HostKind::Loopback);
        if u.scheme() != "https" && !loopback && not_https.is_none() {
            not_https = Some(format!("{field} {} is not https", esc_max(v, 120)));
        }
        let Some(h) = u.host_str() else { continue };
        if redirect_sites.is_empty() || redirect_sites.contains(&site(h)) {
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

/// A recognized client's display metadata (what the consent screen shows under the vouched
/// name) must stay on that client's own sites: the catalog's, or its own redirect sites.
pub(super) fn display_metadata(
    r: &mut Reasons,
    scorer: &Scorer,
    facts: &Facts,
    identity: &Identity,
    redirect_sites: &BTreeSet<String>,
) {
    let Some(idx) = identity.claimed else { return };
    let known = scorer.catalog.get(idx);
    let m = &facts.meta;
    for (field, v) in m.display_uris() {
        let foreign = match Url::parse(v) {
            Ok(u) => match u.host_str() {
                Some(h) => {
                    let s = site(h);
                    !(known.sites.contains(&s) || redirect_sites.contains(&s))
                        || !matches!(u.scheme(), "https" | "http")
                }
                None => true,
            },
            Err(_) => true,
        };
        if foreign {
            r.add(
                Rule::ImpersonationDisplay,
                format!(
                    "registers as {} but its {field} is {}, not one of {}'s sites",
                    known.name,
                    esc_max(v, 120),
                    known.name
                ),
            );
            return;
        }
    }
}

pub(super) fn join(s: &BTreeSet<String>) -> String {
    s.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
}
