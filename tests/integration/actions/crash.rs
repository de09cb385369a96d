//! Crash safety under SIGKILL at every step of an action, against a real Hydra. The binary
//! the tests run is a debug build, where `REGWARDEN_CRASH_AT=<point>:<n>` makes it SIGKILL
//! itself the nth time it reaches the point (src/crash.rs): before the intent, with the
//! intent's INSERT not committed, between intent and call, between call and outcome, with the
//! outcome's UPDATE not committed. After each crash the journal shows exactly what the point
//! implies; a restart settles it from the store (invariant 6) and finishes the plan. Then a
//! quarantine crashed between its call and outcome, and a daemon SIGKILLed during the
//! quarantine grace and restarted: each client is quarantined once and deleted once, not
//! before its grace ended. Throughout: journal and store agree, no action ran twice, none
//! was lost.

use super::*;
use regwarden::act::JournalEntry;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

const DELETES: &str =
    "[expiry]\nunused_after = \"3s\"\n[actions]\nmax_fraction_per_run = 1.0\nquarantine = false\n";
const GRACE: Duration = Duration::from_secs(12);
const QUARANTINES: &str = "[expiry]\nunused_after = \"3s\"\n[actions]\nmax_fraction_per_run = 1.0\nquarantine = true\nquarantine_grace = \"12s\"\n";

use crate::harness::apply_crashing as apply;

fn took_effect(e: &JournalEntry) -> bool {
    e.outcome
        .as_deref()
        .and_then(Outcome::parse)
        .is_some_and(Outcome::took_effect)
}

/// `n` never-used Claude Code installs, old enough to be unused by the policy on return.
async fn wave(s: &Setup, n: usize) -> Vec<String> {
    let ids = register(
        &s.mcp,
        &s.hydra.public,
        json!([{"client": "claude-code", "count": n}]),
    )
    .iter()
    .map(|r| r["client_id"].as_str().unwrap().to_owned())
    .collect();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    ids
}

/// Journal and store agree: no intent open; each of `acted` has exactly one `action` that
/// took effect (none twice), nothing else took effect on it; `kept` is exactly the store.
async fn agree(s: &Setup, state: &State, acted: &[String], kept: &[String], action: &str) {
    assert!(state.open_intents("hydra").await.unwrap().is_empty());
    let journal = state.recent_actions("hydra", 1000).await.unwrap();
    for c in acted {
        let n = journal
            .iter()
            .filter(|e| &e.client_id == c && e.action == action && took_effect(e))
            .count();
        assert_eq!(n, 1, "{c}: {action} took effect {n} times: {journal:#?}");
    }
    for e in &journal {
        assert_ne!(e.outcome.as_deref(), Some("error"), "{e:?}");
    }
    assert_eq!(
        hydra_clients(&s.hydra.admin).await,
        kept.iter().cloned().collect()
    );
}

/// Deletes of fresh waves, each crashed at one point and restarted; the clients deleted.
async fn crash_every_step(s: &Setup, cfg: &Path, state: &State, kept: &[String]) -> Vec<String> {
    let mut deleted = Vec::new();
    // (point, the action it hits, whether the call reached Hydra, whether an intent stays open)
    let cases = [
        ("before-intent", 2, false, false),
        ("intent-uncommitted", 1, false, false),
        ("after-intent", 2, false, true),
        ("after-call", 1, true, true),
        ("outcome-uncommitted", 3, true, true),
    ];
    for (point, nth, called, open) in cases {
        let clients = wave(s, 3).await;
        let before = state.recent_actions("hydra", 1000).await.unwrap().len();
        let (status, err) = apply(cfg, Some(&format!("{point}:{nth}")));
        assert_eq!(
            status.signal(),
            Some(9),
            "{point}: not killed: {status:?}\n{err}"
        );
        let mut entries = state.recent_actions("hydra", 1000).await.unwrap();
        entries.truncate(entries.len() - before);
        let done: Vec<&JournalEntry> = entries.iter().filter(|e| took_effect(e)).collect();
        assert_eq!(done.len(), nth - 1, "{point}: {entries:#?}");
        let pending = state.open_intents("hydra").await.unwrap();
        assert_eq!(pending.len(), usize::from(open), "{point}: {pending:#?}");
        let now = hydra_clients(&s.hydra.admin).await;
        let gone = clients.iter().filter(|c| !now.contains(*c)).count();
        assert_eq!(gone, nth - 1 + usize::from(called), "{point}");
        if let Some(p) = pending.first() {
            assert_eq!(now.contains(&p.client_id), !called, "{point}");
            assert!(
                p.snapshot.contains(&p.client_id),
                "the snapshot is journaled first"
            );
        }
        // Restart: settled from the store, the rest of the plan done, nothing twice.
        let (status, err) = apply(cfg, None);
        assert!(status.success(), "{point}: {err}");
        if let Some(p) = pending.first() {
            let settled = state.journal_entry(p.id).await.unwrap().unwrap();
            let want = if called {
                Outcome::ReconciledDone
            } else {
                Outcome::ReconciledNotDone
            };
            assert_eq!(settled.outcome.as_deref(), Some(want.as_str()), "{point}");
        }
        deleted.extend(clients);
        agree(s, state, &deleted, kept, "delete").await;
        eprintln!("{point}:{nth}: killed, restarted, journal and store agree");
    }

    deleted
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn sigkill_at_every_step_of_an_action_loses_nothing_and_repeats_nothing() {
    let s = start().await;
    let used = register(&s.mcp, &s.hydra.public, json!([{"client": "cursor"}]));
    authcode(&s.mcp, &s.hydra, &used[0]);
    let kept = vec![used[0]["client_id"].as_str().unwrap().to_owned()];
    let cfg = write_config(&s, "deletes.toml", &s.hydra.admin, DELETES);
    let state = State::connect(&regwarden::config::load(&cfg).unwrap().state_url)
        .await
        .unwrap();
    let deleted = crash_every_step(&s, &cfg, &state, &kept).await;

    // A quarantine killed between its call and outcome: settled as done from the tag.
    let cfg = write_config(&s, "quarantines.toml", &s.hydra.admin, QUARANTINES);
    let clients = wave(&s, 3).await;
    let (status, err) = apply(&cfg, Some("after-call:2"));
    assert_eq!(status.signal(), Some(9), "{err}");
    let (status, err) = apply(&cfg, None);
    assert!(status.success(), "{err}");
    let quarantined = state.quarantined("hydra").await.unwrap();
    for c in &clients {
        assert!(quarantined.contains_key(c), "{c} not quarantined");
    }
    let all: Vec<String> = deleted.iter().chain(&clients).cloned().collect();
    let mut kept_now = kept.clone();
    kept_now.extend(clients.iter().cloned());
    agree(&s, &state, &clients, &kept_now, "quarantine").await;

    // The daemon SIGKILLed during the grace and restarted: deletes once the grace is over,
    // once each, and never quarantines again.
    let daemon_cfg = write_config(
        &s,
        "daemon.toml",
        &s.hydra.admin,
        &QUARANTINES.replace(
            "[actions]\n",
            "[actions]\nmode = \"enforce\"\nschedule = \"* * * * * *\"\n",
        ),
    );
    let spawn = |name: &str| {
        Running(
            regwarden()
                .args(["run", "--config"])
                .arg(&daemon_cfg)
                .env_remove("REGWARDEN_CONFIG")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(s.dir.join(name)).unwrap())
                .spawn()
                .unwrap(),
        )
    };
    let mut first = spawn("daemon1.log");
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.0.kill().unwrap(); // SIGKILL, mid-grace
    first.0.wait().unwrap();
    assert_eq!(
        hydra_clients(&s.hydra.admin).await,
        kept_now.iter().cloned().collect(),
        "deleted before the grace ended"
    );
    let _second = spawn("daemon2.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while hydra_clients(&s.hydra.admin).await.len() > kept.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "not deleted after the grace: {}",
            std::fs::read_to_string(s.dir.join("daemon2.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The store shows a delete as soon as the call returns, before its outcome is journaled:
    // stopping the daemon now would be one more kill between call and outcome, which only a
    // further restart settles. Let it journal its last outcome first.
    while !state.open_intents("hydra").await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "an outcome never journaled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(_second);
    agree(&s, &state, &all, &kept, "delete").await;
    agree(&s, &state, &clients, &kept, "quarantine").await;
    let journal = state.recent_actions("hydra", 1000).await.unwrap();
    for c in &clients {
        let at = |action: &str| {
            journal
                .iter()
                .find(|e| &e.client_id == c && e.action == action && took_effect(e))
                .unwrap()
                .clone()
        };
        let (q, d) = (at("quarantine"), at("delete"));
        let grace = chrono::Duration::from_std(GRACE).unwrap();
        assert!(
            d.intent_at >= q.outcome_at.unwrap() + grace,
            "{c}: deleted at {} before its grace from {:?}",
            d.intent_at,
            q.outcome_at
        );
    }
}

/// The same steps with the journal on PostgreSQL: a transaction cut by the kill is rolled
/// back by the server, a committed one stays.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn sigkill_at_every_step_with_the_journal_on_postgresql() {
    let pg = need("REGWARDEN_TEST_PG_URL");
    let s = start().await;
    let used = register(&s.mcp, &s.hydra.public, json!([{"client": "cursor"}]));
    authcode(&s.mcp, &s.hydra, &used[0]);
    let kept = vec![used[0]["client_id"].as_str().unwrap().to_owned()];
    let state_url = create_pg_database(&pg, &unique("rw_crash")).await;
    let cfg = write_config_with_state(&s, "pg.toml", &state_url, &s.hydra.admin, DELETES);
    let state = State::connect(&regwarden::config::Secret::new(state_url))
        .await
        .unwrap();
    crash_every_step(&s, &cfg, &state, &kept).await;
}
