//! SIGKILL at three steps of a quarantine (a disable, on Keycloak) against a real Keycloak,
//! with the debug build's `REGWARDEN_CRASH_AT` (src/crash.rs): after the call, after the
//! intent, with the outcome's UPDATE not committed (the reconciliation's own, and an
//! action's). Each restart settles the open intent from
//! what Keycloak shows (disabled or not) before planning; in the end every denied client is
//! disabled by exactly one quarantine that took effect, none is open, the rest is untouched.

use super::*;
use regwarden::act::Outcome;
use std::os::unix::process::ExitStatusExt;

use crate::harness::apply_crashing as apply;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Keycloak on PostgreSQL: run scripts/test.sh"]
async fn sigkill_mid_quarantine_on_keycloak_is_settled_from_the_store() {
    let kc = Kc::new(Backend::Postgres);
    let tmp = tempfile::tempdir().unwrap();
    let realm = kc.new_realm(&unique("crash")).await;
    let http = format!("127.0.0.1:{}", free_port());
    let mut denied = Vec::new();
    for port in 3001..3005 {
        let reg = kc
            .register(
                &realm.name,
                "Sketchy Sync",
                &format!("http://127.0.0.1:{port}/cb"),
                "none",
            )
            .await;
        denied.push(id(&reg));
    }
    let kept = id(&kc
        .register(
            &realm.name,
            "Cursor",
            "http://127.0.0.1:4000/callback",
            "none",
        )
        .await);
    let cfg = write_config(
        tmp.path(),
        &kc,
        &realm,
        &http,
        "[actions]\nmax_fraction_per_run = 1.0\n[[deny]]\nname = \"Sketchy Sync\"\nnote = \"test\"\n",
    );
    let state = State::connect(&regwarden::config::load(&cfg).unwrap().state_url)
        .await
        .unwrap();
    let enabled = |c: &str| {
        let (kc, realm, c) = (kc.clone(), realm.name.clone(), c.to_owned());
        async move { kc.client(&realm, &c).await.expect("client exists")["enabled"].as_bool() }
    };
    // (crash point, whether the open intent's call reached Keycloak). A restart first settles
    // the open intent (an outcome write: `outcome-uncommitted:1` kills it while it does, so
    // the same intent stays open for the next one), then plans and acts.
    for (point, called) in [
        ("after-call:1", true),
        ("after-intent:2", false),
        ("outcome-uncommitted:1", false),
        ("outcome-uncommitted:2", true),
    ] {
        let (status, err) = apply(&cfg, Some(point));
        assert_eq!(
            status.signal(),
            Some(9),
            "{point}: not killed: {status:?}\n{err}"
        );
        let open = state.open_intents("kc").await.unwrap();
        assert_eq!(open.len(), 1, "{point}: {open:#?}");
        assert_eq!(enabled(&open[0].client_id).await, Some(!called), "{point}");
        eprintln!("{point}: killed with one open intent, call made: {called}");
    }
    let (status, err) = apply(&cfg, None);
    assert!(status.success(), "{err}");
    assert!(state.open_intents("kc").await.unwrap().is_empty());
    let journal = state.recent_actions("kc", 100).await.unwrap();
    for c in &denied {
        let took: Vec<_> = journal
            .iter()
            .filter(|e| &e.client_id == c && e.action == "quarantine")
            .filter(|e| {
                e.outcome
                    .as_deref()
                    .and_then(Outcome::parse)
                    .is_some_and(Outcome::took_effect)
            })
            .collect();
        assert_eq!(took.len(), 1, "{c}: {journal:#?}");
        assert_eq!(enabled(c).await, Some(false), "{c}");
    }
    let outcomes: Vec<&str> = journal
        .iter()
        .filter_map(|e| e.outcome.as_deref())
        .collect();
    for o in ["reconciled-done", "reconciled-not-done", "done"] {
        assert!(outcomes.contains(&o), "no {o}: {journal:#?}");
    }
    assert!(
        journal.iter().all(|e| denied.contains(&e.client_id)),
        "{journal:#?}"
    );
    assert_eq!(enabled(&kept).await, Some(true));
    kc.drop_realm(&realm.name).await;
}
