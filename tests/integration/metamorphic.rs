//! Metamorphic tests of ARCHITECTURE.md invariant 10: what an attacker adds to a store never
//! worsens another registration's verdict, and input order and client ids change nothing.
//! Run over every legitimate registration of both corpora, and over generated populations.

use crate::corpus;
use crate::corpus::heldout::held_out;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use regwarden::model::{Band, ClientMetadata, Origin, Registration, Usage};
use regwarden::score::{judge_all, Scorer, Verdict};
use regwarden::source::jsonl::parse_line;
use std::collections::BTreeSet;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .unwrap()
        .to_utc()
}

/// Every legitimate registration of the tuning corpus and of the held-out corpus.
fn legitimate() -> Vec<Registration> {
    let tuning = corpus::legitimate().into_iter().map(|c| {
        let rec = parse_line(&c.doc.to_string(), "corpus".into()).unwrap();
        rec.into_registration().unwrap().0
    });
    let held = held_out()
        .into_iter()
        .filter(|c| c.attack.is_none())
        .map(|c| c.registration);
    tuning.chain(held).collect()
}

/// What the check did: for each name, three registrations on a foreign host, some
/// weeks before the earliest real one, one of them used; plus, for each registration, a burst
/// of ten exact copies of its metadata around its creation time, all used.
fn attackers(legit: &[Registration]) -> Vec<Registration> {
    let mut out = Vec::new();
    let names: BTreeSet<&str> = legit
        .iter()
        .filter_map(|r| r.metadata.client_name.as_deref())
        .collect();
    let earliest = legit
        .iter()
        .filter_map(|r| r.created_at)
        .min()
        .unwrap_or_else(now);
    for (n, name) in names.iter().enumerate() {
        for i in 0..3 {
            out.push(Registration {
                client_id: format!("attacker-name-{n}-{i}"),
                metadata: ClientMetadata {
                    client_name: Some((*name).to_owned()),
                    redirect_uris: vec![format!("https://login-{n}.attacker.example/callback")],
                    grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                    response_types: vec!["code".into()],
                    token_endpoint_auth_method: "client_secret_basic".into(),
                    ..Default::default()
                },
                created_at: Some(earliest - Duration::weeks(6)),
                created_from: Some(regwarden::model::CreatedFrom::Store),
                updated_at: None,
                usage: if i == 0 {
                    Usage::LastUsed(earliest - Duration::weeks(5))
                } else {
                    Usage::Never
                },
                origin: Origin::Dcr,
            });
        }
    }
    for (k, r) in legit.iter().enumerate().step_by(7) {
        for i in 0..10 {
            let mut copy = r.clone();
            copy.client_id = format!("attacker-copy-{k}-{i}");
            copy.created_at = r.created_at.map(|t| t + Duration::seconds(i * 5));
            copy.usage = Usage::LastUsed(now() - Duration::hours(1));
            copy.origin = Origin::Dcr;
            out.push(copy);
        }
    }
    out
}

/// Verdicts of `regs` judged alone and judged with `extra` in the same store.
fn with_and_without(regs: &[Registration], extra: &[Registration]) -> (Vec<Verdict>, Vec<Verdict>) {
    let scorer = Scorer::with_defaults();
    let (_, alone) = judge_all(&scorer, regs, now());
    let mut all = regs.to_vec();
    all.extend_from_slice(extra);
    let (_, mut together) = judge_all(&scorer, &all, now());
    together.truncate(regs.len());
    (alone, together)
}

fn worsened(regs: &[Registration], alone: &[Verdict], together: &[Verdict]) -> Vec<String> {
    regs.iter()
        .zip(alone.iter().zip(together))
        .filter(|(_, (a, t))| t.score > a.score || t.band > a.band)
        .map(|(r, (a, t))| {
            format!(
                "{:?}: {:?} {} → {:?} {} {:?}",
                r.metadata.client_name, a.band, a.score, t.band, t.score, t.reasons
            )
        })
        .collect()
}

#[test]
fn attacker_registrations_never_worsen_a_legitimate_verdict() {
    let legit = legitimate();
    let extra = attackers(&legit);
    let (alone, together) = with_and_without(&legit, &extra);
    let worse = worsened(&legit, &alone, &together);
    assert!(
        worse.is_empty(),
        "{} of {} legitimate registrations got a worse verdict:\n{}",
        worse.len(),
        legit.len(),
        worse.join("\n")
    );
}

#[test]
fn order_and_client_ids_change_no_verdict() {
    let legit = legitimate();
    let (_, before) = judge_all(&Scorer::with_defaults(), &legit, now());
    // Reverse the order and hand every DCR registration another one's client id.
    let mut shuffled: Vec<(usize, Registration)> = legit.iter().cloned().enumerate().collect();
    shuffled.reverse();
    let dcr: Vec<usize> = (0..shuffled.len())
        .filter(|&i| !shuffled[i].1.client_id.starts_with("https://"))
        .collect();
    let ids: Vec<String> = dcr
        .iter()
        .map(|&i| shuffled[i].1.client_id.clone())
        .collect();
    for (k, &i) in dcr.iter().enumerate() {
        shuffled[i].1.client_id = ids[(k + 1) % ids.len()].clone();
    }
    let regs: Vec<Registration> = shuffled.iter().map(|(_, r)| r.clone()).collect();
    let (_, after) = judge_all(&Scorer::with_defaults(), &regs, now());
    for ((orig, r), v) in shuffled.iter().zip(&after) {
        let b = &before[*orig];
        assert_eq!(
            (b.band, b.score, b.family, &b.software),
            (v.band, v.score, v.family, &v.software),
            "{:?}",
            r.metadata.client_name
        );
    }
}

/// A generated legitimate family: one client software, several installs.
#[derive(Debug, Clone)]
struct Family {
    name: String,
    shape: u8,
    host: String,
    installs: Vec<(u16, i64, Option<i64>)>,
    admin: bool,
}

fn family() -> impl Strategy<Value = Family> {
    (
        prop_oneof![
            "[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8})?",
            Just("Claude Code".to_owned()),
            Just("Cursor".to_owned()),
            Just("MCP CLI Proxy".to_owned()),
            Just("Open WebUI".to_owned()),
            Just("Acme Billing".to_owned()),
        ],
        0u8..4,
        "[a-z]{3,8}\\.(com|org|io)",
        prop::collection::vec(
            (1024u16..65000, 0i64..200, prop::option::of(0i64..60)),
            1..6,
        ),
        any::<bool>(),
    )
        .prop_map(|(name, shape, host, installs, admin)| Family {
            name,
            shape,
            host,
            installs,
            admin,
        })
}

/// An attacker's registrations: a legitimate name (by index), a host of its own, earlier,
/// used or not, and how many.
#[derive(Debug, Clone)]
struct Attack {
    victim: usize,
    host: String,
    weeks_earlier: i64,
    used: bool,
    copies: usize,
    same_shape: bool,
}

fn attack() -> impl Strategy<Value = Attack> {
    (
        0usize..8,
        "[a-z]{3,8}\\.(net|example)",
        1i64..12,
        any::<bool>(),
        1usize..6,
        any::<bool>(),
    )
        .prop_map(
            |(victim, host, weeks_earlier, used, copies, same_shape)| Attack {
                victim,
                host,
                weeks_earlier,
                used,
                copies,
                same_shape,
            },
        )
}

fn metadata(name: &str, shape: u8, host: &str, port: u16) -> ClientMetadata {
    let (redirect, auth) = match shape {
        0 => (format!("http://localhost:{port}/callback"), "none"),
        1 => (
            format!("https://{host}/oauth/callback"),
            "client_secret_basic",
        ),
        2 => (
            format!("https://{host}/oauth/clients/x/callback"),
            "client_secret_post",
        ),
        _ => (
            format!("com.{}.app:/oauth", host.split('.').next().unwrap()),
            "none",
        ),
    };
    ClientMetadata {
        client_name: Some(name.to_owned()),
        redirect_uris: vec![redirect],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        token_endpoint_auth_method: auth.into(),
        ..Default::default()
    }
}

fn population(families: &[Family]) -> Vec<Registration> {
    let mut out = Vec::new();
    for (f, fam) in families.iter().enumerate() {
        for (i, (port, age, used)) in fam.installs.iter().enumerate() {
            out.push(Registration {
                client_id: format!("legit-{f}-{i}"),
                metadata: metadata(&fam.name, fam.shape, &fam.host, *port),
                created_at: Some(now() - Duration::days(*age)),
                created_from: Some(regwarden::model::CreatedFrom::Store),
                updated_at: None,
                usage: used.map_or(Usage::Never, |d| Usage::LastUsed(now() - Duration::days(d))),
                origin: if fam.admin {
                    Origin::Admin
                } else {
                    Origin::Dcr
                },
            });
        }
    }
    out
}

fn attack_registrations(families: &[Family], attacks: &[Attack]) -> Vec<Registration> {
    let mut out = Vec::new();
    for (a, at) in attacks.iter().enumerate() {
        let victim = &families[at.victim % families.len()];
        let earliest = victim.installs.iter().map(|i| i.1).max().unwrap_or(0);
        for c in 0..at.copies {
            let (shape, host) = if at.same_shape {
                (victim.shape, victim.host.as_str())
            } else {
                (1, at.host.as_str())
            };
            out.push(Registration {
                client_id: format!("attack-{a}-{c}"),
                metadata: metadata(&victim.name, shape, host, 4000 + c as u16),
                created_at: Some(
                    now() - Duration::days(earliest) - Duration::weeks(at.weeks_earlier),
                ),
                created_from: Some(regwarden::model::CreatedFrom::Store),
                updated_at: None,
                usage: if at.used && c == 0 {
                    Usage::LastUsed(now() - Duration::days(1))
                } else {
                    Usage::Never
                },
                origin: Origin::Dcr,
            });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn generated_attackers_never_worsen_a_verdict(
        families in prop::collection::vec(family(), 1..8),
        attacks in prop::collection::vec(attack(), 1..6),
    ) {
        let legit = population(&families);
        let extra = attack_registrations(&families, &attacks);
        let (alone, together) = with_and_without(&legit, &extra);
        let worse = worsened(&legit, &alone, &together);
        prop_assert!(worse.is_empty(), "{}", worse.join("\n"));
        // Nothing an attacker adds makes a legitimate registration malicious either.
        for (r, v) in legit.iter().zip(&together) {
            let a = alone.iter().zip(&legit).find(|(_, x)| x.client_id == r.client_id).unwrap().0;
            prop_assert!(v.band != Band::Malicious || a.band == Band::Malicious);
        }
    }
}
