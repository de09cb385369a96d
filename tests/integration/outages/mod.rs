//! Injected outages with real servers: a TCP proxy in front of a PostgreSQL (the store's or
//! the state's) that cuts every connection and refuses new ones; an HTTP proxy in front of
//! Hydra's admin API that answers 503 or hangs; a file-size limit on the daemon's SQLite
//! state (disk full). In each case: no action on partial knowledge, the daemon stays up,
//! /readyz and the metrics say what is wrong, and it recovers by itself when the fault ends,
//! with nothing in the state lost or half-written.

pub mod admin;
mod disk;
mod store;

use crate::harness::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A TCP proxy that can be cut: every connection closed and new ones closed at once.
pub struct TcpProxy {
    pub addr: String,
    cut: AtomicBool,
    /// Bytes passed from the server to the client.
    pub bytes_down: AtomicU64,
    conns: Mutex<Vec<AbortHandle>>,
}

impl TcpProxy {
    pub async fn start(target: String) -> Arc<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(TcpProxy {
            addr: listener.local_addr().unwrap().to_string(),
            cut: AtomicBool::new(false),
            bytes_down: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let p = proxy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if p.cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (p2, target) = (p.clone(), target.clone());
                let task = tokio::spawn(async move { p2.pipe(client, &target).await });
                p.conns.lock().unwrap().push(task.abort_handle());
            }
        });
        proxy
    }

    async fn pipe(&self, mut client: TcpStream, target: &str) {
        let Ok(mut server) = TcpStream::connect(target).await else {
            return;
        };
        let (mut cr, mut cw) = client.split();
        let (mut sr, mut sw) = server.split();
        let up = tokio::io::copy(&mut cr, &mut sw);
        let down = async {
            let mut buf = vec![0u8; 16384];
            loop {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                match sr.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        self.bytes_down.fetch_add(n as u64, Ordering::SeqCst);
                        if cw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        };
        tokio::select! {
            _ = up => {}
            _ = down => {}
        }
    }

    /// Cuts every connection now and closes new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// A PostgreSQL URL with its host and port replaced by `addr`.
pub fn via(url: &str, addr: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let (host, port) = addr.split_once(':').unwrap();
    u.set_host(Some(host)).unwrap();
    u.set_port(Some(port.parse().unwrap())).unwrap();
    u.to_string()
}

/// A running `regwarden run` and where it listens.
pub struct Daemon {
    pub proc: Running,
    pub base: String,
    pub log: std::path::PathBuf,
}

impl Daemon {
    pub fn start(config: &std::path::Path, port: u16, log: std::path::PathBuf) -> Daemon {
        let child = regwarden()
            .args(["run", "--config"])
            .arg(config)
            .env_remove("REGWARDEN_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            proc: Running(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = get(&format!("{}/metrics", self.base)).await;
        metric(&body, series)
    }

    /// Fails unless the process still runs and answers /healthz.
    pub async fn assert_up(&mut self) {
        assert!(
            self.proc.0.try_wait().unwrap().is_none(),
            "the daemon exited:\n{}",
            self.log()
        );
        let (status, _) = get(&format!("{}/healthz", self.base)).await;
        assert_eq!(status, 200, "/healthz:\n{}", self.log());
    }

    /// Waits until /readyz answers `status` with a body containing `text`; the body.
    pub async fn until_ready(&self, status: u16, text: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let (s, body) = get(&format!("{}/readyz", self.base)).await;
            if s == status && body.contains(text) {
                return body;
            }
            assert!(
                start.elapsed() < limit,
                "/readyz never answered {status} with {text:?}; last {s}: {body}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until `series` satisfies `check`; its value.
    pub async fn until_metric(
        &self,
        series: &str,
        limit: Duration,
        check: impl Fn(f64) -> bool,
    ) -> f64 {
        let start = Instant::now();
        loop {
            if let Some(v) = self.metric(series).await.filter(|v| check(*v)) {
                return v;
            }
            assert!(
                start.elapsed() < limit,
                "{series} never as expected (now {:?}):\n{}",
                self.metric(series).await,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub const SCAN_ERRORS: &str = "regwarden_scan_errors_total{store=\"hydra\"}";
pub const LAST_SCAN: &str = "regwarden_last_successful_scan_timestamp_seconds{store=\"hydra\"}";
pub const DELETES_DONE: &str =
    "regwarden_actions_total{action=\"delete\",mode=\"enforce\",outcome=\"done\",store=\"hydra\"}";
pub const DELETES_FAILED: &str =
    "regwarden_actions_total{action=\"delete\",mode=\"enforce\",outcome=\"error\",store=\"hydra\"}";

/// A real Hydra on PostgreSQL with DCR, one used client, and a temporary folder.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub hydra: Hydra,
    pub mcp: String,
    /// Hydra's PostgreSQL database, as regwarden reads it.
    pub store_url: String,
    pub kept: String,
}

impl Env {
    pub async fn start() -> Env {
        let (pg, bin, mcp) = (
            need("REGWARDEN_TEST_PG_URL"),
            need("REGWARDEN_HYDRA_BIN"),
            need("REGWARDEN_MCP_DIR"),
        );
        let dir = tempfile::tempdir().unwrap();
        let store_url = create_pg_database(&pg, &unique("rw_out_hydra")).await;
        let dsn = hydra_dsn(&store_url);
        hydra_migrate(&bin, &dsn, None).await;
        let hydra = Hydra::start(&bin, &dsn, dir.path());
        let used = register(
            &mcp,
            &hydra.public,
            serde_json::json!([{"client": "cursor"}]),
        );
        authcode(&mcp, &hydra, &used[0]);
        let kept = used[0]["client_id"].as_str().unwrap().to_owned();
        Env {
            dir,
            hydra,
            mcp,
            store_url,
            kept,
        }
    }

    /// `n` never-used Claude Code installs, unused by the policy (3s) on return.
    pub async fn wave(&self, n: usize) -> Vec<String> {
        let ids = register(
            &self.mcp,
            &self.hydra.public,
            serde_json::json!([{"client": "claude-code", "count": n}]),
        )
        .iter()
        .map(|r| r["client_id"].as_str().unwrap().to_owned())
        .collect();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        ids
    }

    /// An enforcing config: scans and plans every 2s, deletes unused clients at once.
    /// `extra_state` and `extra_store` go into `[state]` and `[[stores]]`.
    pub fn config(
        &self,
        state: &str,
        extra_state: &str,
        store_url: &str,
        admin: &str,
        extra_store: &str,
    ) -> (std::path::PathBuf, u16) {
        let port = free_port();
        let path = self.dir.path().join(format!("regwarden-{port}.toml"));
        std::fs::write(
            &path,
            format!(
                "[state]\nurl = \"{state}\"\n{extra_state}\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
                 [schedule]\nscan = \"*/2 * * * * *\"\n[expiry]\nunused_after = \"3s\"\n\
                 [actions]\nmode = \"enforce\"\nschedule = \"*/2 * * * * *\"\nmax_fraction_per_run = 1.0\nquarantine = false\n\
                 [[stores]]\nname = \"hydra\"\nkind = \"hydra\"\ndatabase_url = \"{store_url}\"\nadmin_url = \"{admin}\"\n{extra_store}\n"
            ),
        )
        .unwrap();
        (path, port)
    }

    pub async fn clients(&self) -> std::collections::BTreeSet<String> {
        crate::actions::hydra_clients(&self.hydra.admin).await
    }

    /// Waits until none of `ids` is in the store.
    pub async fn until_gone(&self, ids: &[String], daemon: &Daemon, limit: Duration) {
        let start = Instant::now();
        loop {
            let now = self.clients().await;
            if !ids.iter().any(|c| now.contains(c)) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "not deleted: {ids:?}\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Journal and store agree: the journal as [`acted_once`] wants it, and the store is
    /// exactly the used client.
    pub async fn agree(&self, state: &regwarden::state::State, acted: &[String]) {
        acted_once(state, "hydra", acted).await;
        assert_eq!(
            self.clients().await,
            [self.kept.clone()].into_iter().collect()
        );
    }
}

/// The journal of `store` after outages: no open intent, each of `acted` deleted exactly once
/// (failed attempts journaled as errors are allowed), and no other client touched.
pub async fn acted_once(state: &regwarden::state::State, store: &str, acted: &[String]) {
    use regwarden::act::Outcome;
    assert!(state.open_intents(store).await.unwrap().is_empty());
    let journal = state.recent_actions(store, 1000).await.unwrap();
    for c in acted {
        let n = journal
            .iter()
            .filter(|e| &e.client_id == c)
            .filter(|e| {
                e.outcome
                    .as_deref()
                    .and_then(Outcome::parse)
                    .is_some_and(Outcome::took_effect)
            })
            .count();
        assert_eq!(n, 1, "{c} deleted {n} times: {journal:#?}");
    }
    assert!(
        journal.iter().all(|e| acted.contains(&e.client_id)),
        "{journal:#?}"
    );
}
