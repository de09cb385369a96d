//! Two `regwarden run` replicas on one PostgreSQL state database, enforcing on a real Hydra:
//! exactly one leads (`regwarden_leader` says which; both serve /metrics); SIGKILL the leader
//! and the other takes over within one scan interval; SIGSTOP a leader past its lease and the
//! replica that took over acts while the paused one, resumed, finds itself deposed and acts on
//! nothing. Over three waves of unused registrations, every planned delete happened exactly
//! once: one journal entry that took effect per client, none open, none failed, and the
//! store holds exactly the clients that should stay.

use super::*;
use std::process::Stdio;
use std::time::Instant;

/// The incremental scan interval of the replicas; a takeover must be quicker.
const SCAN_INTERVAL: Duration = Duration::from_secs(10);

struct Replica {
    proc: Running,
    listen: String,
    log: std::path::PathBuf,
}

impl Replica {
    fn start(s: &Setup, name: &str, state_url: &str) -> Replica {
        let port = free_port();
        let cfg = s.dir.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[state]\nurl = \"{state_url}\"\nlease = \"3s\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
                 [schedule]\nscan = \"*/10 * * * * *\"\n[expiry]\nunused_after = \"3s\"\n\
                 [actions]\nmode = \"enforce\"\nschedule = \"*/2 * * * * *\"\nmax_fraction_per_run = 1.0\nquarantine = false\n\
                 [[stores]]\nname = \"hydra\"\nkind = \"hydra\"\ndatabase_url = \"{}\"\nadmin_url = \"{}\"\n",
                s.store_url, s.hydra.admin
            ),
        )
        .unwrap();
        let log = s.dir.join(format!("{name}.log"));
        let child = regwarden()
            .args(["run", "--config"])
            .arg(&cfg)
            .env_remove("REGWARDEN_CONFIG")
            .env("RUST_LOG", "regwarden=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Replica {
            proc: Running(child),
            listen: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// `regwarden_leader` as this replica's /metrics says it, None if it does not answer.
    async fn leader(&self) -> Option<f64> {
        let (status, body) = get(&format!("{}/metrics", self.listen)).await;
        (status == 200)
            .then(|| metric(&body, "regwarden_leader"))
            .flatten()
    }

    async fn deletes_done(&self) -> Option<f64> {
        let (_, body) = get(&format!("{}/metrics", self.listen)).await;
        metric(
            &body,
            "regwarden_actions_total{action=\"delete\",mode=\"enforce\",outcome=\"done\",store=\"hydra\"}",
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.proc.0.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}

/// Waits until `replica` reports `leader` = `want`; the time it took.
async fn until_leader(replica: &Replica, want: f64, limit: Duration) -> Duration {
    let start = Instant::now();
    while replica.leader().await != Some(want) {
        assert!(
            start.elapsed() < limit,
            "regwarden_leader never became {want} within {limit:?}:\n{}",
            replica.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

/// Registers `n` Claude Code installs that are never used; their client ids.
fn wave(s: &Setup, n: usize) -> Vec<String> {
    register(
        &s.mcp,
        &s.hydra.public,
        json!([{"client": "claude-code", "count": n}]),
    )
    .iter()
    .map(|r| r["client_id"].as_str().unwrap().to_owned())
    .collect()
}

async fn until_gone(s: &Setup, clients: &[String], logs: &[&Replica]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = hydra_clients(&s.hydra.admin).await;
        if clients.iter().all(|c| !now.contains(c)) {
            return;
        }
        let text: String = logs.iter().map(|r| r.log()).collect();
        assert!(
            Instant::now() < deadline,
            "not deleted: {clients:?}\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn two_replicas_act_once_each_action_through_a_killed_and_a_paused_leader() {
    let pg = need("REGWARDEN_TEST_PG_URL");
    let s = start().await;
    let state_url = create_pg_database(&pg, &unique("rw_ha")).await;
    let used = register(&s.mcp, &s.hydra.public, json!([{"client": "cursor"}]));
    authcode(&s.mcp, &s.hydra, &used[0]);
    let kept = used[0]["client_id"].as_str().unwrap().to_owned();
    let mut planned = wave(&s, 3);

    let a = Replica::start(&s, "a", &state_url);
    let b = Replica::start(&s, "b", &state_url);
    // Exactly one leads; both answer /metrics.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (leader, standby) = loop {
        match (a.leader().await, b.leader().await) {
            (Some(1.0), Some(0.0)) => break (a, b),
            (Some(0.0), Some(1.0)) => break (b, a),
            (Some(1.0), Some(1.0)) => panic!("two leaders:\n{}\n{}", a.log(), b.log()),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no leader:\n{}\n{}",
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    until_gone(&s, &planned, &[&leader, &standby]).await;
    // The count follows the journal's outcome, a moment after the client is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while leader.deletes_done().await != Some(3.0) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            leader.deletes_done().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A standby exports no store series (only the leader knows them).
    assert_eq!(standby.deletes_done().await, None, "the standby acted");
    assert_eq!(standby.leader().await, Some(0.0));
    let (status, body) = get(&format!("{}/readyz", standby.listen)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "ready (standby: another replica leads)\n")
    );

    // SIGKILL the leader: the standby takes over within one scan interval.
    let mut killed = leader;
    killed.proc.0.kill().unwrap();
    killed.proc.0.wait().unwrap();
    let takeover = until_leader(&standby, 1.0, SCAN_INTERVAL).await;
    eprintln!("takeover after SIGKILL of the leader: {takeover:?} (lease 3s)");
    let second = wave(&s, 3);
    until_gone(&s, &second, &[&standby]).await;
    planned.extend(second);

    // A new replica stands by; the leader is paused (SIGSTOP) past its lease: the new one
    // takes over and acts; the paused one, resumed, finds itself deposed and acts on nothing.
    let c = Replica::start(&s, "c", &state_url);
    until_leader(&c, 0.0, Duration::from_secs(30)).await;
    let paused = standby;
    assert_eq!(paused.deletes_done().await, Some(3.0));
    paused.signal("-STOP");
    let takeover = until_leader(&c, 1.0, SCAN_INTERVAL).await;
    eprintln!("takeover after SIGSTOP of the leader: {takeover:?}");
    let third = wave(&s, 3);
    until_gone(&s, &third, &[&c]).await;
    planned.extend(third);
    paused.signal("-CONT");
    until_leader(&paused, 0.0, Duration::from_secs(10)).await;
    assert!(paused.log().contains("leadership lost"), "{}", paused.log());
    // Two more planning periods: nobody acts again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Deposed, it dropped its store series; the journal below shows it did nothing more.
    assert_eq!(paused.deletes_done().await, None);
    assert_eq!(c.leader().await, Some(1.0));
    drop(killed);

    let state = State::connect(&regwarden::config::Secret::new(state_url))
        .await
        .unwrap();
    assert!(state.open_intents("hydra").await.unwrap().is_empty());
    let journal = state.recent_actions("hydra", 1000).await.unwrap();
    for client in &planned {
        let took: Vec<_> = journal
            .iter()
            .filter(|e| &e.client_id == client)
            .filter(|e| {
                Outcome::parse(e.outcome.as_deref().unwrap_or("")).is_some_and(|o| o.took_effect())
            })
            .collect();
        assert_eq!(took.len(), 1, "{client}: {journal:#?}");
        assert_eq!(took[0].action, "delete");
    }
    assert!(
        journal
            .iter()
            .all(|e| planned.contains(&e.client_id) && e.outcome.as_deref() != Some("error")),
        "{journal:#?}"
    );
    assert_eq!(
        hydra_clients(&s.hydra.admin).await,
        [kept.clone()].into_iter().collect()
    );

    // The commands that act from the command line take the lease too: refused while a daemon
    // leads, with nothing done; once the daemons stopped (and gave the lease up), they act.
    let cfg = s.dir.join("c.toml");
    let deleted = journal
        .iter()
        .find(|e| e.client_id == planned[0] && e.action == "delete")
        .unwrap()
        .id
        .to_string();
    for args in [&["apply", "--yes"][..], &["restore", &deleted]] {
        let (code, out, err) = run_cli(args, &cfg);
        assert_eq!(code, 1, "{args:?} beside a leader:\n{out}{err}");
        assert!(err.contains("holds the leader lease"), "{args:?}: {err}");
    }
    let after = state.recent_actions("hydra", 1000).await.unwrap();
    assert_eq!(
        after.len(),
        journal.len(),
        "acted beside a leader: {after:#?}"
    );
    for r in [&c, &paused] {
        r.signal("-TERM");
    }
    let (mut c, mut paused) = (c, paused);
    for r in [&mut c, &mut paused] {
        r.proc.0.wait().unwrap();
    }
    assert_eq!(state.lease_holder().await.unwrap(), None, "{}", c.log());
    let (code, out, err) = run_cli(&["restore", &deleted], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert!(hydra_clients(&s.hydra.admin).await.contains(&planned[0]));
    // Unused for longer than the policy's 3s again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (code, out, err) = run_cli(&["apply", "--yes"], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        hydra_clients(&s.hydra.admin).await,
        [kept].into_iter().collect(),
        "{out}"
    );
    assert_eq!(state.lease_holder().await.unwrap(), None);
}
