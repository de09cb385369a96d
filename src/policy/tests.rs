//! The planner, without I/O: small builders, one behaviour per test.

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn days_ago(d: i64) -> DateTime<Utc> {
    now() - chrono::Duration::days(d)
}

/// A DCR registration made `age` days ago, never used, neutral.
fn reg(id: &str, age: i64) -> Candidate {
    Candidate {
        client_id: id.into(),
        name: Some(format!("Claude Code ({id})")),
        software_id: None,
        redirect_hosts: vec!["localhost".into()],
        family: Some("fam-cc".into()),
        software: Some("claude-code".into()),
        band: Some(Band::Neutral),
        origin: Origin::Dcr,
        usage: Usage::Never,
        created_at: Some(days_ago(age)),
        quarantined_at: None,
    }
}

fn used(mut c: Candidate, days: i64) -> Candidate {
    c.usage = Usage::LastUsed(days_ago(days));
    c
}

/// Padding so a plan never covers the whole store by accident.
fn store(mut regs: Vec<Candidate>) -> Vec<Candidate> {
    for i in 0..20 {
        let mut c = used(reg(&format!("pad-{i:02}"), 30), 1);
        c.family = Some(format!("pad-{i}"));
        regs.push(c);
    }
    regs
}

fn ids(p: &Plan) -> Vec<(&str, ActionKind, &str)> {
    p.actions
        .iter()
        .map(|a| (a.client_id.as_str(), a.action, a.rule.as_str()))
        .collect()
}

fn by_id(id: &str) -> Matcher {
    Matcher {
        client_id: Some(id.into()),
        ..Matcher::default()
    }
}

#[test]
fn never_used_past_unused_after_goes_and_young_or_used_ones_stay() {
    let regs = store(vec![
        reg("old", 8),
        reg("young", 6),
        used(reg("used", 60), 3),
    ]);
    let p = plan("s", &regs, &Policy::default(), now()).unwrap();
    assert_eq!(
        ids(&p),
        [("old", ActionKind::Quarantine, "expiry.unused")],
        "{p}"
    );
    assert_eq!(p.live, 23);
}

#[test]
fn inactive_past_inactive_after_goes() {
    let regs = store(vec![
        used(reg("stale", 200), 91),
        used(reg("fresh", 200), 89),
    ]);
    let p = plan("s", &regs, &Policy::default(), now()).unwrap();
    assert_eq!(
        ids(&p),
        [("stale", ActionKind::Quarantine, "expiry.inactive")]
    );
}

#[test]
fn unknown_usage_and_unknown_age_are_never_expired() {
    let mut a = reg("unknown-usage", 400);
    a.usage = Usage::Unknown;
    let mut b = reg("unknown-age", 0);
    b.created_at = None;
    let p = plan("s", &store(vec![a, b]), &Policy::default(), now()).unwrap();
    assert!(p.actions.is_empty(), "{p}");
}

#[test]
fn admin_made_clients_are_not_expired_by_default() {
    let mut a = reg("admin", 400);
    a.origin = Origin::Admin;
    let p = plan("s", &store(vec![a]), &Policy::default(), now()).unwrap();
    assert!(p.actions.is_empty(), "{p}");
}

#[test]
fn allowlisted_registrations_are_never_acted_on_whatever_the_rule() {
    let mut bad = reg("impostor-but-allowed", 1);
    bad.band = Some(Band::Malicious);
    let policy = Policy {
        allow: vec![
            by_id("old"),
            Matcher {
                software: Some("claude-code".into()),
                redirect_host: Some("localhost".into()),
                name: Some("claude code (impostor*".into()),
                ..Matcher::default()
            },
        ],
        ..Policy::default()
    };
    let p = plan("s", &store(vec![reg("old", 30), bad]), &policy, now()).unwrap();
    assert!(p.actions.is_empty(), "{p}");
    assert_eq!(p.protected, 2);
}

#[test]
fn bands_lead_to_their_configured_actions() {
    let mut m = used(reg("mal", 1), 0);
    m.band = Some(Band::Malicious);
    let mut s = used(reg("sus", 1), 0);
    s.band = Some(Band::Suspicious);
    let regs = store(vec![m, s]);
    let p = plan("s", &regs, &Policy::default(), now()).unwrap();
    assert_eq!(ids(&p), [("mal", ActionKind::Quarantine, "band.malicious")]);
    let mut policy = Policy::default();
    policy.bands.insert(Band::Suspicious, Verb::Delete);
    policy.bands.insert(Band::Malicious, Verb::Keep);
    let p = plan("s", &regs, &policy, now()).unwrap();
    assert_eq!(
        ids(&p),
        [("sus", ActionKind::Quarantine, "band.suspicious")]
    );
}

#[test]
fn denylist_matches_on_every_given_field() {
    let mut evil = used(reg("evil", 1), 0);
    evil.redirect_hosts = vec!["evil.example".into()];
    let policy = Policy {
        deny: vec![Matcher {
            redirect_host: Some("*.example".into()),
            name: Some("claude code*".into()),
            note: Some("phishing campaign".into()),
            ..Matcher::default()
        }],
        ..Policy::default()
    };
    let p = plan("s", &store(vec![evil]), &policy, now()).unwrap();
    assert_eq!(ids(&p), [("evil", ActionKind::Quarantine, "deny")]);
    assert!(p.actions[0].reason.contains("phishing campaign"));
}

#[test]
fn a_registration_matched_by_allow_and_deny_stops_the_plan() {
    let policy = Policy {
        allow: vec![by_id("x")],
        deny: vec![Matcher {
            software: Some("claude-code".into()),
            family: Some("fam-cc".into()),
            ..Matcher::default()
        }],
        ..Policy::default()
    };
    let err = plan("s", &store(vec![reg("x", 0), reg("y", 0)]), &policy, now()).unwrap_err();
    assert!(matches!(err, PlanError::Contradiction { ref client_id, .. } if client_id == "x"));
    assert!(err.to_string().contains("contradictory"), "{err}");
}

#[test]
fn a_deny_rule_matching_every_registration_is_refused() {
    let policy = Policy {
        deny: vec![Matcher {
            redirect_host: Some("localhost".into()),
            ..Matcher::default()
        }],
        ..Policy::default()
    };
    let err = plan("s", &store(vec![reg("a", 0)]), &policy, now()).unwrap_err();
    assert!(matches!(
        err,
        PlanError::DenyMatchesEverything { live: 21, .. }
    ));
}

#[test]
fn a_plan_acting_on_every_registration_is_refused() {
    let regs = vec![reg("a", 30), reg("b", 30), reg("c", 30)];
    let err = plan("s", &regs, &Policy::default(), now()).unwrap_err();
    assert!(matches!(
        err,
        PlanError::PlanMatchesEverything { live: 3, .. }
    ));
}

#[test]
fn family_keep_keeps_the_most_recently_used_and_drops_idle_extras() {
    let policy = Policy {
        family_keep: 2,
        unused: Verb::Keep,
        ..Policy::default()
    };
    let regs = store(vec![
        used(reg("used-1d", 100), 1),
        used(reg("used-20d", 100), 20),
        used(reg("used-30d", 100), 30),
        reg("never-10d", 10),
        reg("never-2d", 2),
    ]);
    let p = plan("s", &regs, &policy, now()).unwrap();
    let mut got = ids(&p);
    got.sort();
    assert_eq!(
        got,
        [
            ("never-10d", ActionKind::Quarantine, "family_keep"),
            ("used-30d", ActionKind::Quarantine, "family_keep"),
        ]
    );
}

#[test]
fn quarantine_first_then_delete_after_the_grace_unless_used_since() {
    // The default: a 7-day grace.
    let policy = Policy::default();
    assert_eq!(policy.quarantine_grace, Some(DEFAULT_QUARANTINE_GRACE));
    let fresh = reg("fresh", 30);
    let mut waiting = reg("waiting", 30);
    waiting.quarantined_at = Some(days_ago(6));
    let mut due = reg("due", 30);
    due.quarantined_at = Some(days_ago(8));
    // Used after its quarantine: lifted outside regwarden, judged afresh; nothing matches now.
    let mut revived = used(reg("revived", 30), 2);
    revived.quarantined_at = Some(days_ago(8));
    let p = plan(
        "s",
        &store(vec![fresh, waiting, due, revived]),
        &policy,
        now(),
    )
    .unwrap();
    assert_eq!(
        ids(&p),
        [
            ("fresh", ActionKind::Quarantine, "expiry.unused"),
            ("due", ActionKind::Delete, "quarantine.grace"),
        ]
    );
    assert_eq!(
        p.actions[1].reason,
        "quarantined 7 days ago and not used since"
    );
}

#[test]
fn a_quarantined_client_is_not_replanned_in_its_grace_whatever_it_looks_like() {
    // Malicious and denied: still only the quarantine's grace decides.
    let mut q = used(reg("q", 30), 3);
    q.band = Some(Band::Malicious);
    q.quarantined_at = Some(days_ago(1));
    let policy = Policy {
        deny: vec![by_id("q")],
        ..Policy::default()
    };
    let p = plan("s", &store(vec![q.clone()]), &policy, now()).unwrap();
    assert!(p.actions.is_empty(), "{p}");
    // A malicious one that escaped its quarantine (used since) is quarantined again.
    q.usage = Usage::LastUsed(days_ago(0));
    let p = plan("s", &store(vec![q]), &Policy::default(), now()).unwrap();
    assert_eq!(ids(&p), [("q", ActionKind::Quarantine, "band.malicious")]);
}

#[test]
fn with_quarantine_off_every_rule_deletes_at_once() {
    let policy = Policy {
        quarantine_grace: None,
        ..Policy::default()
    };
    let mut m = used(reg("mal", 1), 0);
    m.band = Some(Band::Malicious);
    // Quarantined while it was on: the rules decide again.
    let mut q = reg("old", 30);
    q.quarantined_at = Some(days_ago(1));
    let p = plan("s", &store(vec![m, q]), &policy, now()).unwrap();
    assert_eq!(
        ids(&p),
        [
            ("mal", ActionKind::Delete, "band.malicious"),
            ("old", ActionKind::Delete, "expiry.unused"),
        ]
    );
}

#[test]
fn limits_refuse_a_plan_whole() {
    let regs = store(vec![reg("a", 30), reg("b", 30), reg("c", 30)]);
    let p = plan("s", &regs, &Policy::default(), now()).unwrap();
    assert_eq!(p.actions.len(), 3);
    let ok = Limits {
        max_actions_per_run: 3,
        max_fraction_per_run: 0.5,
    };
    assert!(check_limits(&p, &ok).is_ok());
    let few = Limits {
        max_actions_per_run: 2,
        ..ok
    };
    let r = check_limits(&p, &few).unwrap_err();
    assert_eq!(r.actions, 3);
    assert!(r.to_string().contains("max_actions_per_run = 2"), "{r}");
    // 23 live × 0.1 = 2.3 → at most 2.
    let frac = Limits {
        max_actions_per_run: 100,
        max_fraction_per_run: 0.1,
    };
    assert!(check_limits(&p, &frac)
        .unwrap_err()
        .to_string()
        .contains("max_fraction_per_run"));
}

#[test]
fn planning_is_deterministic_and_escapes_names() {
    let mut a = reg("a", 30);
    a.name = Some("evil\u{202e}name".into());
    let regs = store(vec![a]);
    let p1 = plan("s", &regs, &Policy::default(), now()).unwrap();
    let p2 = plan("s", &regs, &Policy::default(), now()).unwrap();
    assert_eq!(p1, p2);
    assert!(!p1.to_string().contains('\u{202e}'));
}
