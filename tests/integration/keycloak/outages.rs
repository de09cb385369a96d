//! Injected outages on a real Keycloak (on PostgreSQL), as `outages` injects them on Hydra: its
//! admin API answering 503, then hanging, each from the middle of an enforcing run; then its
//! database cut in the middle of a (slowed) scan. Each time: no action on partial knowledge,
//! the daemon stays up and /readyz and the metrics say what is wrong, and it finishes by
//! itself once the fault ends, every denied client deleted exactly once and nothing else.

use super::*;
use crate::outages::admin::{start_proxy, AdminProxy, FAIL, HANG, PASS};
use crate::outages::{acted_once, via, Daemon, TcpProxy};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

const SCAN_ERRORS: &str = "regwarden_scan_errors_total{store=\"kc\"}";
const DELETES_DONE: &str =
    "regwarden_actions_total{action=\"delete\",mode=\"enforce\",outcome=\"done\",store=\"kc\"}";
const DELETES_FAILED: &str =
    "regwarden_actions_total{action=\"delete\",mode=\"enforce\",outcome=\"error\",store=\"kc\"}";

/// A daemon enforcing on `realm` every 2s, deleting "Sketchy Sync" at once, reading Keycloak's
/// database at `db` and calling its admin API at `admin`; `store` is appended to the store.
fn start_daemon(
    dir: &Path,
    kc: &Kc,
    realm: &Realm,
    db: &str,
    admin: &str,
    store: &str,
    name: &str,
) -> Daemon {
    let port = free_port();
    let policy = "[schedule]\nscan = \"*/2 * * * * *\"\n\
        [actions]\nmode = \"enforce\"\nschedule = \"*/2 * * * * *\"\nmax_fraction_per_run = 1.0\nquarantine = false\n\
        [[deny]]\nname = \"Sketchy Sync\"\nnote = \"test\"\n";
    let cfg = write_config_on(dir, db, kc, realm, &format!("127.0.0.1:{port}"), policy);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace(
        &format!("admin_url = \"{}\"", kc.base),
        &format!("admin_url = \"{admin}\""),
    );
    std::fs::write(&cfg, format!("{text}{store}")).unwrap();
    Daemon::start(&cfg, port, dir.join(format!("{name}.log")))
}

/// `n` registrations the deny rule matches; their client ids.
async fn denied(kc: &Kc, realm: &str, n: u16) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let port = free_port();
        let reg = kc
            .register(
                realm,
                "Sketchy Sync",
                &format!("http://127.0.0.1:{port}/cb"),
                "none",
            )
            .await;
        ids.push(id(&reg));
    }
    ids
}

async fn remaining(kc: &Kc, realm: &str, ids: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    for c in ids {
        if kc.client_uuid(realm, c).await.is_some() {
            left.push(c.clone());
        }
    }
    left
}

async fn until_gone(kc: &Kc, realm: &str, ids: &[String], d: &Daemon, limit: Duration) {
    let start = Instant::now();
    loop {
        let left = remaining(kc, realm, ids).await;
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "not deleted: {left:?}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The admin API fails (`mode`) after the first delete of a wave: nothing more is deleted
/// while it does, failures are journaled and counted, and everything is done once it is back.
async fn admin_fault(
    kc: &Kc,
    realm: &str,
    d: &mut Daemon,
    proxy: &Arc<AdminProxy>,
    mode: u8,
    hold: Duration,
) -> Vec<String> {
    let name = if mode == FAIL { "503" } else { "hang" };
    proxy.armed.store(mode, Ordering::SeqCst);
    let wave = denied(kc, realm, 4).await;
    let start = Instant::now();
    while proxy.mode.load(Ordering::SeqCst) == PASS {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name}: no delete:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(hold).await;
    d.assert_up().await;
    let left = remaining(kc, realm, &wave).await;
    assert_eq!(
        left.len(),
        3,
        "{name}: deleted while the admin API was down"
    );
    let failed = d.metric(DELETES_FAILED).await.unwrap_or(0.0);
    let ready = get(&format!("{}/readyz", d.base)).await;
    eprintln!(
        "keycloak admin API {name} for {hold:?}: {} requests faulted, {failed} deletes failed so far, /readyz {ready:?}",
        proxy.faulted.load(Ordering::SeqCst)
    );
    if mode == FAIL {
        assert!(failed >= 1.0, "{name}: no failure counted\n{}", d.log());
    }
    proxy.mode.store(PASS, Ordering::SeqCst);
    let back = Instant::now();
    until_gone(kc, realm, &wave, d, Duration::from_secs(90)).await;
    eprintln!(
        "keycloak admin API {name}: all deleted {:?} after it came back",
        back.elapsed()
    );
    wave
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Keycloak on PostgreSQL: run scripts/test.sh"]
async fn keycloak_admin_api_and_database_outages_lead_to_no_action_and_recover() {
    let kc = Kc::new(Backend::Postgres);
    let tmp = tempfile::tempdir().unwrap();
    let realm = kc.new_realm(&unique("outage")).await;
    let kept = id(&kc
        .register(
            &realm.name,
            "Cursor",
            "http://127.0.0.1:4000/callback",
            "none",
        )
        .await);

    // The admin API: 503 from the middle of a run, then hanging from the middle of another.
    let (proxy, admin) = start_proxy(&kc.base).await;
    let mut d = start_daemon(tmp.path(), &kc, &realm, &kc.db, &admin, "", "admin");
    let mut acted = admin_fault(
        &kc,
        &realm.name,
        &mut d,
        &proxy,
        FAIL,
        Duration::from_secs(8),
    )
    .await;
    acted.extend(
        admin_fault(
            &kc,
            &realm.name,
            &mut d,
            &proxy,
            HANG,
            Duration::from_secs(15),
        )
        .await,
    );
    d.assert_up().await;
    d.proc.0.kill().unwrap();
    d.proc.0.wait().unwrap();

    // Keycloak's database cut in the middle of a scan slowed to 2 rows a second.
    let wave = denied(&kc, &realm.name, 3).await;
    let db = url::Url::parse(&kc.db).unwrap();
    let cut = TcpProxy::start(format!("{}:{}", db.host_str().unwrap(), db.port().unwrap())).await;
    let mut d = start_daemon(
        tmp.path(),
        &kc,
        &realm,
        &via(&kc.db, &cut.addr),
        &kc.base,
        "batch_size = 2\nrows_per_second = 2\n",
        "database",
    );
    let done_before = d.metric(DELETES_DONE).await;
    let start = Instant::now();
    while cut.bytes_down.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    cut.cut();
    let cut_at = Instant::now();
    d.until_metric(SCAN_ERRORS, Duration::from_secs(30), |v| v >= 1.0)
        .await;
    let body = d
        .until_ready(503, "store kc", Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    d.assert_up().await;
    assert_eq!(
        remaining(&kc, &realm.name, &wave).await.len(),
        3,
        "acted on a cut scan"
    );
    assert_eq!(
        d.metric(DELETES_DONE).await.unwrap_or(0.0),
        done_before.unwrap_or(0.0)
    );
    eprintln!(
        "keycloak database cut for {:?}: {} failed scans, /readyz: {body:?}",
        cut_at.elapsed(),
        d.metric(SCAN_ERRORS).await.unwrap_or(0.0)
    );
    cut.restore();
    let back = Instant::now();
    until_gone(&kc, &realm.name, &wave, &d, Duration::from_secs(120)).await;
    d.until_ready(200, "ready", Duration::from_secs(60)).await;
    eprintln!(
        "keycloak database: all deleted {:?} after it came back",
        back.elapsed()
    );
    acted.extend(wave);
    // Let a last run settle its outcomes, then stop: what is on disk is all there is.
    tokio::time::sleep(Duration::from_secs(3)).await;
    d.proc.0.kill().unwrap();
    d.proc.0.wait().unwrap();

    let cfg = regwarden::config::load(&tmp.path().join("regwarden.toml")).unwrap();
    let state = State::connect(&cfg.state_url).await.unwrap();
    acted_once(&state, "kc", &acted).await;
    assert!(kc.client_uuid(&realm.name, &kept).await.is_some());
    kc.drop_realm(&realm.name).await;
}
