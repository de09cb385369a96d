//! A process killed between intent and outcome: reconciled at start-up, never repeated.
//!
//! `regwarden apply --yes` talks to Hydra's admin API through a proxy that holds the DELETE's
//! answer (after passing it on, or without passing it on); the test kills the process with
//! SIGKILL while it waits, so the journal keeps an intent without outcome. The daemon then
//! starts against the real admin API and must settle both from what the store shows.

use super::*;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct Proxy {
    target: String,
    /// Whether a held DELETE is passed on to Hydra before the answer is held back.
    pass_delete: AtomicBool,
    delete_seen: AtomicBool,
}

async fn forward(p: Arc<Proxy>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let ctype = req.headers().get("content-type").cloned();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    let is_delete = method == axum::http::Method::DELETE;
    if is_delete && !p.pass_delete.load(Ordering::SeqCst) {
        p.delete_seen.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
    let mut out = reqwest::Client::new().request(method, format!("{}{path}", p.target));
    if let Some(c) = ctype {
        out = out.header("content-type", c);
    }
    let answer = out.body(body).send().await.unwrap();
    if is_delete {
        p.delete_seen.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
    let status = answer.status();
    let bytes = answer.bytes().await.unwrap();
    Response::builder()
        .status(status.as_u16())
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .unwrap()
}

async fn start_proxy(target: &str) -> (Arc<Proxy>, String) {
    let proxy = Arc::new(Proxy {
        target: target.to_owned(),
        pass_delete: AtomicBool::new(true),
        delete_seen: AtomicBool::new(false),
    });
    let p = proxy.clone();
    let app = axum::Router::new().fallback(move |req: Request| forward(p.clone(), req));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (proxy, format!("http://{addr}"))
}

/// Runs `apply --yes` until the proxy holds its DELETE, then kills it with SIGKILL.
async fn apply_and_kill(cfg: &Path, proxy: &Proxy) {
    proxy.delete_seen.store(false, Ordering::SeqCst);
    let mut child = regwarden()
        .args(["apply", "--yes", "--config"])
        .arg(cfg)
        .env_remove("REGWARDEN_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !proxy.delete_seen.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "apply never sent its DELETE"
        );
        assert!(child.try_wait().unwrap().is_none(), "apply ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL: no chance to write the outcome
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn a_process_killed_between_intent_and_outcome_is_reconciled_on_restart() {
    let pg = need("REGWARDEN_TEST_PG_URL");
    let s = start().await;
    // The journal on a PostgreSQL state database this time.
    let state_url = create_pg_database(&pg, &unique("rw_state")).await;
    let regs = register(
        &s.mcp,
        &s.hydra.public,
        json!([{"client": "claude-code", "count": 3}, {"client": "cursor"}]),
    );
    authcode(&s.mcp, &s.hydra, &regs[3]);
    let id = |i: usize| regs[i]["client_id"].as_str().unwrap().to_owned();
    let (deleted, spared, other, used) = (id(0), id(1), id(2), id(3));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (proxy, proxy_url) = start_proxy(&s.hydra.admin).await;
    // One planned delete per run: the allowlist holds back the other unused clients.
    let allow = |ids: &[&String]| {
        ids.iter()
            .map(|i| format!("[[allow]]\nclient_id = \"{i}\"\n"))
            .collect::<String>()
    };
    // Deletes at once (quarantine off), so the held call is the DELETE.
    let policy =
        "[expiry]\nunused_after = \"3s\"\n[actions]\nmax_fraction_per_run = 0.5\nquarantine = false\n";
    // 1. Killed after Hydra deleted the client, before the outcome was journaled.
    let first = write_config_with_state(
        &s,
        "first.toml",
        &state_url,
        &proxy_url,
        &format!("{policy}{}", allow(&[&spared, &other])),
    );
    apply_and_kill(&first, &proxy).await;
    let cfg = regwarden::config::load(&first).unwrap();
    let state = State::connect(&cfg.state_url).await.unwrap();
    let open = state.open_intents("hydra").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].client_id, deleted);
    assert!(
        open[0].snapshot.contains(&deleted),
        "the snapshot is journaled first"
    );
    assert!(!hydra_clients(&s.hydra.admin).await.contains(&deleted));
    let first_intent = open[0].id;

    // 2. The next process settles that intent from the store before anything else, then is
    //    killed while its own DELETE has not reached Hydra.
    proxy.pass_delete.store(false, Ordering::SeqCst);
    let second = write_config_with_state(
        &s,
        "second.toml",
        &state_url,
        &proxy_url,
        &format!("{policy}{}", allow(&[&other])),
    );
    apply_and_kill(&second, &proxy).await;
    let a = state.journal_entry(first_intent).await.unwrap().unwrap();
    assert_eq!(a.outcome.as_deref(), Some(Outcome::ReconciledDone.as_str()));
    let open = state.open_intents("hydra").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].client_id, spared);
    let second_intent = open[0].id;
    assert_eq!(
        hydra_clients(&s.hydra.admin).await,
        [&spared, &other, &used].into_iter().cloned().collect()
    );

    // Restart: the daemon (enforcing, its planning run far away) reconciles at start-up.
    let daemon_cfg = write_config_with_state(
        &s,
        "daemon.toml",
        &state_url,
        &s.hydra.admin,
        "[actions]\nmode = \"enforce\"\nschedule = \"0 0 1 1 *\"\n",
    );
    let log = s.dir.join("daemon.log");
    let mut daemon = regwarden()
        .args(["run", "--config"])
        .arg(&daemon_cfg)
        .env_remove("REGWARDEN_CONFIG")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !state.open_intents("hydra").await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "not reconciled: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::process::Command::new("kill")
        .arg(daemon.id().to_string())
        .status()
        .unwrap();
    daemon.wait().unwrap();
    let b = state.journal_entry(second_intent).await.unwrap().unwrap();
    assert_eq!(
        b.outcome.as_deref(),
        Some(Outcome::ReconciledNotDone.as_str())
    );
    // Nothing was repeated: two journal entries in all, and the spared client is still there.
    assert_eq!(state.recent_actions("hydra", 10).await.unwrap().len(), 2);
    assert_eq!(
        hydra_clients(&s.hydra.admin).await,
        [spared, other, used].into_iter().collect()
    );
}
