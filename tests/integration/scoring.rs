//! Scoring quality on the labeled corpus (tests/integration/corpus): false positives on legitimate
//! registrations, attacks caught, family precision and recall measured pairwise. Run with
//! `cargo test --test integration scoring -- --nocapture` to see the figures.

use crate::corpus::heldout::held_out;
use crate::corpus::{attacks, legitimate, sign, weak, Case, PUBLISHER, PUBLISHER_JWKS, VOUCHED};
use regwarden::model::{Band, Registration};
use regwarden::score::Attestation;
use regwarden::score::{judge_all, Bands, Catalog, Publishers, Scorer, Verdict, RULES};
use regwarden::source::jsonl::parse_line;
use std::collections::{BTreeMap, BTreeSet};

fn scorer() -> Scorer {
    let mut p = Publishers::default();
    p.add(PUBLISHER, PUBLISHER_JWKS).unwrap();
    let vouched =
        Catalog::load(&[("tests/integration/corpus VOUCHED".into(), VOUCHED.into())]).unwrap();
    Scorer::new(vouched, p, &[], Bands::default())
}

fn registration(c: &Case) -> Registration {
    let rec = parse_line(&c.doc.to_string(), "corpus".into()).unwrap();
    rec.into_registration().unwrap().0
}

fn flagged(v: &Verdict) -> bool {
    matches!(v.band, Band::Suspicious | Band::Malicious)
}

/// Legitimate cases, attacks, and the verdicts of both followed by the weak cases'.
fn judged() -> (Vec<Case>, Vec<Case>, Vec<Verdict>) {
    let (legit, attack) = (legitimate(), attacks());
    let regs: Vec<Registration> = legit
        .iter()
        .chain(&attack)
        .chain(&weak())
        .map(registration)
        .collect();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .unwrap()
        .to_utc();
    let (_, verdicts) = judge_all(&scorer(), &regs, now);
    (legit, attack, verdicts)
}

#[test]
fn false_positives_and_catch_rate_meet_their_targets() {
    let (legit, attack, verdicts) = judged();
    let (vl, rest) = verdicts.split_at(legit.len());
    let va = &rest[..attack.len()];
    let false_pos: Vec<String> = legit
        .iter()
        .zip(vl)
        .filter(|(_, v)| flagged(v))
        .map(|(c, v)| format!("{} → {:?} {:?}", c.doc["client_name"], v.band, v.reasons))
        .collect();
    let mut per_class: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut missed = Vec::new();
    for (c, v) in attack.iter().zip(va) {
        let e = per_class.entry(c.attack.unwrap()).or_default();
        e.1 += 1;
        if flagged(v) {
            e.0 += 1;
        } else {
            missed.push(format!(
                "{} {} → {:?} {:?}",
                c.attack.unwrap(),
                c.doc,
                v.band,
                v.reasons
            ));
        }
    }
    let fp_rate = false_pos.len() as f64 / legit.len() as f64;
    let caught = attack.len() - missed.len();
    let catch_rate = caught as f64 / attack.len() as f64;
    eprintln!(
        "legitimate: {} registrations, {} flagged: false-positive rate {:.1}%",
        legit.len(),
        false_pos.len(),
        fp_rate * 100.0
    );
    eprintln!(
        "attacks: {} registrations, {caught} caught: {:.1}%",
        attack.len(),
        catch_rate * 100.0
    );
    for (class, (c, n)) in &per_class {
        eprintln!("  {class:<18} {c}/{n}");
    }
    // The corpus is at 0 and 100%: any change shows.
    assert!(
        false_pos.is_empty(),
        "false positives:\n{}",
        false_pos.join("\n")
    );
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
    let malicious: Vec<String> = legit
        .iter()
        .zip(vl)
        .filter(|(_, v)| v.band == Band::Malicious)
        .map(|(c, _)| c.doc.to_string())
        .collect();
    assert!(malicious.is_empty(), "{malicious:?}");
}

#[test]
fn weak_signals_fire_but_never_flag_on_their_own() {
    let (legit, attack, verdicts) = judged();
    let vw = &verdicts[legit.len() + attack.len()..];
    for (c, v) in weak().iter().zip(vw) {
        assert!(
            v.reasons.iter().any(|r| r.points > 0),
            "{} fires no rule",
            c.doc
        );
        assert!(!flagged(v), "{} → {:?} {:?}", c.doc, v.band, v.reasons);
    }
}

#[test]
fn every_real_client_is_recognized_and_trusted_or_neutral() {
    let (legit, _, verdicts) = judged();
    let mut seen = BTreeSet::new();
    for (c, v) in legit.iter().zip(&verdicts) {
        assert!(
            !flagged(v),
            "{} judged {:?}: {:?}",
            c.doc,
            v.band,
            v.reasons
        );
        if let Some(s) = &v.software {
            seen.insert(s.clone());
        }
    }
    // Every client of REFERENCE.md's table, and the operator's vouched apps.
    for id in [
        "claude-code",
        "claude",
        "vscode",
        "cursor",
        "mcp-inspector",
        "mcp-remote",
        "cline",
        "gemini-cli",
        "goose",
        "chatgpt",
        "librechat",
        "acme-billing",
        "team-wiki",
    ] {
        assert!(seen.contains(id), "{id} is not recognized: {seen:?}");
    }
}

#[test]
fn families_match_pairwise() {
    let (legit, _, verdicts) = judged();
    let (mut tp, mut fp, mut fneg) = (0u32, 0u32, 0u32);
    for i in 0..legit.len() {
        for j in i + 1..legit.len() {
            let truth = legit[i].family == legit[j].family;
            let predicted = verdicts[i].family == verdicts[j].family;
            match (truth, predicted) {
                (true, true) => tp += 1,
                (false, true) => {
                    fp += 1;
                    eprintln!("merged: {} / {}", legit[i].doc, legit[j].doc);
                }
                (true, false) => {
                    fneg += 1;
                    eprintln!("split: {} / {}", legit[i].doc, legit[j].doc);
                }
                _ => {}
            }
        }
    }
    let precision = f64::from(tp) / f64::from(tp + fp);
    let recall = f64::from(tp) / f64::from(tp + fneg);
    eprintln!(
        "families: pairwise precision {precision:.3}, recall {recall:.3} ({tp} true pairs found)"
    );
    assert!(
        precision >= 0.95 && recall >= 0.95,
        "precision {precision}, recall {recall}"
    );
}

#[test]
fn the_corpus_exercises_every_rule() {
    let (_, _, verdicts) = judged();
    let fired: BTreeSet<&str> = verdicts
        .iter()
        .flat_map(|v| v.reasons.iter().map(|r| r.rule))
        .collect();
    // Burst and never-used need time-spread populations, an admin origin is not written in
    // JSON Lines, and CIMD evidence comes from fetching; the scorer's unit tests cover them.
    let untested: Vec<&str> = RULES
        .iter()
        .map(|r| r.1)
        .filter(|id| {
            !fired.contains(id)
                && ![
                    "behaviour.burst",
                    "usage.never_used",
                    "usage.recent",
                    "origin.admin",
                    "impersonation.operator_app",
                    "attestation.unverified",
                    // Need a fetched metadata document; unit tests in score::evidence_tests.
                    "cimd.verified",
                    "cimd.mismatch",
                ]
                .contains(id)
        })
        .collect();
    assert!(
        untested.is_empty(),
        "rules no corpus case exercises: {untested:?}"
    );
}

#[test]
fn software_statements_verify_against_the_configured_publisher_only() {
    let p = scorer().publishers;
    let good =
        sign(&serde_json::json!({"iss": PUBLISHER, "software_id": "acme", "client_name": "Acme"}));
    match p.check(&good) {
        Attestation::Verified { claims, .. } => assert_eq!(claims["client_name"], "Acme"),
        other => panic!("{other:?}"),
    }
    let other_issuer = sign(&serde_json::json!({"iss": "https://else.example"}));
    assert!(matches!(
        p.check(&other_issuer),
        Attestation::Unverifiable { issuer, .. } if issuer == "https://else.example"
    ));
    let mut tampered = good.clone();
    tampered.insert_str(good.find('.').unwrap() + 1, "eyJ4IjoxfQ");
    assert!(matches!(
        p.check(&tampered),
        Attestation::Invalid { .. } | Attestation::Forged { .. }
    ));
    // Claims rewritten, signature kept: in the publisher's name, so forged.
    let (head, rest) = good.split_once('.').unwrap();
    let sig = rest.split_once('.').unwrap().1;
    let other_claims = sign(&serde_json::json!({"iss": PUBLISHER, "client_name": "Evil"}));
    let other_payload = other_claims.split('.').nth(1).unwrap();
    let swapped = format!("{head}.{other_payload}.{sig}");
    assert!(matches!(p.check(&swapped), Attestation::Forged { .. }));
    let expired = sign(&serde_json::json!({"iss": PUBLISHER, "exp": 1000}));
    assert!(matches!(p.check(&expired), Attestation::Forged { .. }));
    // alg none: unsigned; in a configured publisher's name, forged.
    let none = |claims: serde_json::Value| {
        use base64::Engine;
        let b = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!("{}.{}.", b(&serde_json::json!({"alg": "none"})), b(&claims))
    };
    assert!(matches!(
        p.check(&none(serde_json::json!({"iss": "https://else.example"}))),
        Attestation::Unsigned { .. }
    ));
    assert!(matches!(
        p.check(&none(serde_json::json!({"iss": PUBLISHER}))),
        Attestation::Forged { .. }
    ));
}

/// The held-out corpus, judged by the default scorer (built-in catalog, no publishers, no
/// operator config). Its figures are measured, not tuned for (see tests/heldout/README.md), and
/// must be the ones README.md reports.
/// `cargo test --test integration held_out -- --nocapture` prints them.
#[test]
fn held_out_corpus_figures() {
    let corpus = held_out();
    let regs: Vec<Registration> = corpus.iter().map(|c| c.registration.clone()).collect();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .unwrap()
        .to_utc();
    let (_, verdicts) = judge_all(&Scorer::with_defaults(), &regs, now);
    let (mut legit, mut flagged_legit, mut malicious_legit) = (0u32, Vec::new(), Vec::new());
    let mut per_class: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut missed = Vec::new();
    for (c, v) in corpus.iter().zip(&verdicts) {
        let shown = || {
            format!(
                "{:?} {:?} → {:?} {:?}",
                c.registration.metadata.client_name,
                c.registration.metadata.redirect_uris,
                v.band,
                v.reasons.iter().map(|r| r.rule).collect::<Vec<_>>()
            )
        };
        match &c.attack {
            None => {
                legit += 1;
                if flagged(v) {
                    flagged_legit.push(shown());
                }
                if v.band == Band::Malicious {
                    malicious_legit.push(shown());
                }
            }
            Some(class) => {
                let e = per_class.entry(class).or_default();
                e.1 += 1;
                if flagged(v) {
                    e.0 += 1;
                } else {
                    missed.push(format!("{class}: {}", shown()));
                }
            }
        }
    }
    let attacks: u32 = per_class.values().map(|x| x.1).sum();
    let caught: u32 = per_class.values().map(|x| x.0).sum();
    let (mut tp, mut fp, mut fneg) = (0u64, 0u64, 0u64);
    let fam: Vec<(&str, String)> = corpus
        .iter()
        .zip(&verdicts)
        .filter_map(|(c, v)| c.family.as_deref().map(|f| (f, v.family.to_string())))
        .collect();
    for i in 0..fam.len() {
        for j in i + 1..fam.len() {
            match (fam[i].0 == fam[j].0, fam[i].1 == fam[j].1) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fneg += 1,
                _ => {}
            }
        }
    }
    eprintln!("held-out corpus: {legit} legitimate, {attacks} attacks");
    eprintln!(
        "  attacks caught: {caught}/{attacks} = {:.1}%",
        100.0 * f64::from(caught) / f64::from(attacks)
    );
    for (class, (c, n)) in &per_class {
        eprintln!("    {class:<28} {c}/{n}");
    }
    eprintln!(
        "  legitimate flagged: {}/{legit} = {:.1}%; judged malicious: {}",
        flagged_legit.len(),
        100.0 * flagged_legit.len() as f64 / f64::from(legit),
        malicious_legit.len()
    );
    eprintln!(
        "  families: pairwise precision {:.3}, recall {:.3}",
        tp as f64 / (tp + fp).max(1) as f64,
        tp as f64 / (tp + fneg).max(1) as f64
    );
    for m in flagged_legit.iter().chain(&missed) {
        eprintln!("  {m}");
    }

    // What README.md reports, word for word: a change in the figures must change the README.
    assert!(
        malicious_legit.is_empty(),
        "legitimate registrations judged malicious:\n{}",
        malicious_legit.join("\n")
    );
    let claims = [
        format!("a held-out corpus of {} registrations", legit + attacks),
        format!(
            "{caught} of {attacks} attacks caught ({:.1}%), {} of {legit} legitimate registrations \
             flagged ({:.1}%), none judged malicious",
            100.0 * f64::from(caught) / f64::from(attacks),
            flagged_legit.len(),
            100.0 * flagged_legit.len() as f64 / f64::from(legit),
        ),
    ];
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    for claim in claims {
        assert!(
            readme.contains(&claim),
            "README.md's held-out figures differ from the measured ones: it should say {claim:?}"
        );
    }
}
