//! The store's database cut mid-scan, and the state database unavailable.

use super::*;
use regwarden::state::State;
use sqlx::Connection;

/// Scans as the state database records them: (outcome, registrations seen).
async fn scans(sqlite_url: &str) -> Vec<(String, i64)> {
    let mut c = sqlx::SqliteConnection::connect(sqlite_url).await.unwrap();
    sqlx::query_as("SELECT outcome, seen FROM scans ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn the_store_database_cut_mid_scan_leads_to_no_action_and_recovers() {
    let env = Env::start().await;
    let unused = env.wave(10).await;
    let db = url::Url::parse(&env.store_url).unwrap();
    let proxy = TcpProxy::start(format!("{}:{}", db.host_str().unwrap(), db.port().unwrap())).await;
    let state_url = format!("sqlite://{}", env.dir.path().join("state.db").display());
    // Slow reads (2 rows a second, 2 a batch): a full scan of 11 takes over 5s.
    let (cfg, port) = env.config(
        &state_url,
        "",
        &via(&env.store_url, &proxy.addr),
        &env.hydra.admin,
        "batch_size = 2\nrows_per_second = 2\n",
    );
    let mut d = Daemon::start(&cfg, port, env.dir.path().join("store-cut.log"));
    // Cut once the first scan has read some pages.
    let start = Instant::now();
    while proxy.bytes_down.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    proxy.cut();
    let cut_at = Instant::now();
    d.until_metric(SCAN_ERRORS, Duration::from_secs(20), |v| v >= 1.0)
        .await;
    // While the fault lasts (three planning periods): up, not ready, nothing done.
    d.until_ready(
        503,
        "store hydra: no successful scan yet",
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    d.assert_up().await;
    assert_eq!(
        d.metric(LAST_SCAN).await,
        None,
        "a scan counted as successful"
    );
    assert_eq!(d.metric(DELETES_DONE).await.unwrap_or(0.0), 0.0);
    let recorded = scans(&state_url).await;
    assert!(
        recorded
            .iter()
            .any(|(o, seen)| o == "failed" && *seen > 0 && *seen < 11),
        "no scan failed part-way: {recorded:?}"
    );
    assert!(
        recorded
            .iter()
            .all(|(o, _)| o == "failed" || o == "running"),
        "{recorded:?}"
    );
    let errors = d.metric(SCAN_ERRORS).await.unwrap();
    eprintln!(
        "store database cut for {:?}: {errors} failed scans (the first after {:?} rows), no action",
        cut_at.elapsed(),
        recorded.first()
    );
    // Retried after the backoff or at the next scheduled scan (2s), not in a loop.
    assert!(
        errors <= 8.0,
        "{errors} failed scans in {:?}",
        cut_at.elapsed()
    );
    assert_eq!(env.clients().await.len(), 11, "acted during the fault");
    // The fault ends: it recovers by itself and acts once on a complete scan.
    proxy.restore();
    let restored = Instant::now();
    d.until_ready(200, "ready", Duration::from_secs(60)).await;
    eprintln!(
        "ready again {:?} after the store database came back",
        restored.elapsed()
    );
    env.until_gone(&unused, &d, Duration::from_secs(60)).await;
    d.assert_up().await;
    let state = State::connect(&regwarden::config::Secret::new(state_url.clone()))
        .await
        .unwrap();
    env.agree(&state, &unused).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn the_state_database_unavailable_stops_everything_until_it_is_back() {
    let env = Env::start().await;
    let pg = need("REGWARDEN_TEST_PG_URL");
    let state_direct = create_pg_database(&pg, &unique("rw_out_state")).await;
    let db = url::Url::parse(&state_direct).unwrap();
    let proxy = TcpProxy::start(format!("{}:{}", db.host_str().unwrap(), db.port().unwrap())).await;
    let (cfg, port) = env.config(
        &via(&state_direct, &proxy.addr),
        "lease = \"3s\"",
        &env.store_url,
        &env.hydra.admin,
        "",
    );
    let first = env.wave(3).await;
    let mut d = Daemon::start(&cfg, port, env.dir.path().join("state-cut.log"));
    env.until_gone(&first, &d, Duration::from_secs(60)).await;
    d.until_ready(200, "ready", Duration::from_secs(20)).await;
    assert_eq!(d.metric("regwarden_leader").await, Some(1.0));

    proxy.cut();
    let cut_at = Instant::now();
    let body = d
        .until_ready(503, "state database", Duration::from_secs(20))
        .await;
    eprintln!(
        "state database cut: /readyz after {:?}: {body}",
        cut_at.elapsed()
    );
    d.until_metric("regwarden_leader", Duration::from_secs(10), |v| v == 0.0)
        .await;
    eprintln!("leadership given up {:?} after the cut", cut_at.elapsed());
    let second = env.wave(3).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    d.assert_up().await;
    assert_eq!(
        env.clients().await.len(),
        4,
        "acted without its state database"
    );
    assert!(d.log().contains("leadership lost"), "{}", d.log());

    proxy.restore();
    let restored = Instant::now();
    d.until_metric("regwarden_leader", Duration::from_secs(20), |v| v == 1.0)
        .await;
    eprintln!(
        "leading again {:?} after the state database came back",
        restored.elapsed()
    );
    env.until_gone(&second, &d, Duration::from_secs(60)).await;
    d.until_ready(200, "ready", Duration::from_secs(20)).await;
    let state = State::connect(&regwarden::config::Secret::new(state_direct))
        .await
        .unwrap();
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    env.agree(&state, &all).await;
}
