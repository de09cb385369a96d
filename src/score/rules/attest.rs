//! Software statements (RFC 7591 §2.3) and the URIs an authorization server fetches on a
//! client's behalf (jwks_uri, sector_identifier_uri, request_uris: SSRF bait, RFC 6890).

use super::super::attestation::Attestation;
use super::super::uri::{ambiguous_host, host_kind, HostKind};
use super::super::Rule;
use super::Reasons;
use crate::escape::{esc, esc_max};
use crate::model::ClientMetadata;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use url::{Host, Url};

/// The reasons a software statement gives.
pub(super) fn statement(r: &mut Reasons, a: &Attestation, m: &ClientMetadata) {
    match a {
        Attestation::Verified { issuer, .. } => r.add(
            Rule::AttestationVerified,
            format!("software statement signed by {}", esc(issuer)),
        ),
        Attestation::Unverifiable { issuer, claims } => {
            r.add(
                Rule::AttestationUnverified,
                format!(
                    "no publisher key is configured for issuer {:?}",
                    esc(issuer)
                ),
            );
            contradictions(r, claims, m);
        }
        Attestation::Forged { issuer, reason } => r.add(
            Rule::AttestationForged,
            format!(
                "software statement in the name of configured publisher {}: {}",
                esc(issuer),
                esc(reason)
            ),
        ),
        Attestation::Unsigned { issuer, claims } => {
            r.add(
                Rule::AttestationUnsigned,
                format!(
                    "software statement{} is unsigned (alg none)",
                    issuer
                        .as_deref()
                        .map(|i| format!(" of {:?}", esc(i)))
                        .unwrap_or_default()
                ),
            );
            contradictions(r, claims, m);
        }
        Attestation::Invalid { reason } => r.add(
            Rule::AttestationInvalid,
            format!("software statement rejected: {}", esc(reason)),
        ),
    }
}

/// An unverified statement whose claims say otherwise than the metadata sent beside it:
/// whichever one the AS or a person reads, the other was meant to mislead.
fn contradictions(r: &mut Reasons, claims: &Map<String, Value>, m: &ClientMetadata) {
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    let differs = |claim: Option<&str>, meta: Option<&str>| match (claim, meta) {
        (Some(c), Some(v)) => c != v,
        _ => false,
    };
    let field = if differs(text("client_name"), m.client_name.as_deref()) {
        Some("client_name")
    } else if differs(text("software_id"), m.software_id.as_deref()) {
        Some("software_id")
    } else if differs(text("client_uri"), m.client_uri.as_deref()) {
        Some("client_uri")
    } else {
        let claimed: Option<BTreeSet<&str>> = claims
            .get("redirect_uris")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        let sent: BTreeSet<&str> = m.redirect_uris.iter().map(String::as_str).collect();
        claimed
            .filter(|c| !sent.is_empty() && *c != sent)
            .map(|_| "redirect_uris")
    };
    if let Some(f) = field {
        r.add(
            Rule::AttestationContradicts,
            format!("the statement's {f} differs from the registered {f}"),
        );
    }
}

/// Names only a cloud provider's metadata service answers to.
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// What is wrong with a URL the AS would fetch itself, if anything: a cloud metadata
/// service (strong), or loopback, a private network, an ambiguous host or plain http.
pub(super) fn fetch_target(raw: &str, url: &Url) -> Option<(Rule, String)> {
    let host = url.host();
    let metadata = match &host {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            METADATA_NAMES.contains(&d.as_str())
        }
        Some(h) => host_kind(h) == HostKind::Metadata,
        None => false,
    };
    if metadata {
        return Some((
            Rule::FetchMetadataAddress,
            "aims at a cloud metadata service".into(),
        ));
    }
    let local = match &host {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            host_kind(&Host::Domain(d.as_str())) == HostKind::Loopback
                || d.ends_with(".internal")
                || d.ends_with(".local")
                || !d.contains('.')
        }
        Some(h) => host_kind(h) != HostKind::PublicIp,
        None => true,
    };
    let why = if local {
        "aims at a local or private address the AS would fetch".to_owned()
    } else if let Some(why) = ambiguous_host(raw, url) {
        why
    } else if url.scheme() != "https" {
        "is not https".to_owned()
    } else {
        return None;
    };
    Some((Rule::FetchSpecialAddress, why))
}

/// jwks_uri, sector_identifier_uri and request_uris are fetched by the AS itself: aimed at
/// loopback, a private network or a metadata service they make it a proxy into its own
/// network.
pub(super) fn fetched_uris(r: &mut Reasons, m: &ClientMetadata) {
    let uris = m
        .jwks_uri
        .iter()
        .map(|u| ("jwks_uri", u))
        .chain(
            m.sector_identifier_uri
                .iter()
                .map(|u| ("sector_identifier_uri", u)),
        )
        .chain(m.request_uris.iter().map(|u| ("request_uris", u)));
    let mut worst: Option<(Rule, String)> = None;
    for (field, raw) in uris {
        let Ok(url) = Url::parse(raw) else { continue };
        let Some((rule, why)) = fetch_target(raw, &url) else {
            continue;
        };
        let detail = format!("{field} {} {why}", esc_max(raw, 120));
        if rule == Rule::FetchMetadataAddress {
            worst = Some((rule, detail));
            break;
        }
        worst.get_or_insert((rule, detail));
    }
    if let Some((rule, detail)) = worst {
        r.add(rule, detail);
    }
}
