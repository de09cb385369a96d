//! What a fetched CIMD document adds to a verdict, and what it cannot.

use super::*;
use crate::model::{ClientMetadata, Origin, Usage};
use chrono::DateTime;

fn cimd_client(client_id: &str, name: &str, redirect: &str) -> Registration {
    Registration {
        client_id: client_id.into(),
        metadata: ClientMetadata {
            client_name: Some(name.into()),
            redirect_uris: vec![redirect.into()],
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: "none".into(),
            ..Default::default()
        },
        created_at: None,
        created_from: None,
        updated_at: None,
        usage: Usage::Unknown,
        origin: Origin::Cimd,
    }
}

fn verdict(reg: &Registration, evidence: Option<&CimdEvidence>) -> Verdict {
    let scorer = Scorer::with_defaults();
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let mut families = FamilyIndex::default();
    scorer.observe(&mut families, reg);
    families.freeze();
    scorer.judge_with(reg, &families, now, evidence)
}

fn rules(v: &Verdict) -> Vec<&str> {
    v.reasons.iter().map(|r| r.rule).collect()
}

#[test]
fn a_verified_document_is_trust_evidence_and_a_mismatch_strong_risk() {
    let reg = cimd_client(
        "https://tools.example/oauth/client.json",
        "Example Tools",
        "http://127.0.0.1/callback",
    );
    let unfetched = verdict(&reg, None);
    assert!(
        rules(&unfetched).contains(&"cimd.client_id"),
        "{unfetched:?}"
    );
    assert_eq!(unfetched.band, Band::Neutral);

    let verified = verdict(&reg, Some(&CimdEvidence::Verified));
    assert!(rules(&verified).contains(&"cimd.verified"), "{verified:?}");
    assert_eq!(verified.score, unfetched.score - 30);
    assert_eq!(verified.band, Band::Trusted, "{verified:?}");

    let why =
        "the registration redirects to https://evil.example/cb, which its document does not list";
    let mismatch = verdict(&reg, Some(&CimdEvidence::Mismatch(why.into())));
    assert!(rules(&mismatch).contains(&"cimd.mismatch"), "{mismatch:?}");
    assert!(!rules(&mismatch).contains(&"cimd.verified"));
    assert_eq!(mismatch.band, Band::Malicious, "{mismatch:?}");
    assert!(mismatch.reasons.iter().any(|r| r.detail.contains(why)));
}

#[test]
fn a_document_on_the_attackers_own_host_vouches_for_no_name() {
    // The attacker controls the registration and their own host: the document verifies, yet
    // a known client's name on it stays an impersonation and earns no trust.
    let reg = cimd_client(
        "https://attacker.example/claude.json",
        "Claude Code",
        "https://attacker.example/callback",
    );
    let v = verdict(&reg, Some(&CimdEvidence::Verified));
    assert!(!rules(&v).contains(&"cimd.verified"), "{v:?}");
    assert!(rules(&v).contains(&"impersonation.catalog"), "{v:?}");
    assert_eq!(v.band, Band::Malicious, "{v:?}");
    assert!(v.score >= verdict(&reg, None).score);
}
