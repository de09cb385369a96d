//! Acting through Hydra's admin API, against a real Ory Hydra v2.3.0 with real DCR
//! registrations and real tokens: exactly the expected clients are quarantined, then deleted
//! after the grace, the rest are untouched; a refused plan, contradictory rules and an
//! unreachable admin API change nothing; a quarantined client gets no new token until a
//! restore lifts it; restore brings a deleted client back that then gets a real token; an
//! intent left without outcome by a stopped process is reconciled at start-up, never repeated;
//! SIGKILL at every step of an action loses nothing and repeats nothing; two replicas act once.

mod crash;
mod daemon;
mod enforce;
mod quarantine;
mod replicas;
mod restart;

use crate::harness::*;
use regwarden::act::{Outcome, Runner};
use regwarden::metrics::Metrics;
use regwarden::refresh::{no_progress, refresh, Scan};
use regwarden::source::Source;
use regwarden::state::{ScanKind, State};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

pub struct Setup {
    _dir: tempfile::TempDir,
    hydra: Hydra,
    mcp: String,
    store_url: String,
    dir: std::path::PathBuf,
}

/// A Hydra on SQLite, with DCR, for one test.
pub async fn start() -> Setup {
    let (bin, mcp) = (need("REGWARDEN_HYDRA_BIN"), need("REGWARDEN_MCP_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hydra.db");
    let dsn = format!("sqlite://{}?_fk=true", file.display());
    hydra_migrate(&bin, &dsn, None).await;
    let hydra = Hydra::start(&bin, &dsn, dir.path());
    Setup {
        store_url: format!("sqlite://{}", file.display()),
        dir: dir.path().to_path_buf(),
        _dir: dir,
        hydra,
        mcp,
    }
}

/// A config for the store with `extra` appended (policy sections).
pub fn write_config(s: &Setup, name: &str, admin: &str, extra: &str) -> std::path::PathBuf {
    write_config_with_state(s, name, "sqlite://state.db", admin, extra)
}

pub fn write_config_with_state(
    s: &Setup,
    name: &str,
    state: &str,
    admin: &str,
    extra: &str,
) -> std::path::PathBuf {
    let path = s.dir.join(name);
    // A command killed on PostgreSQL state holds the leader lease until it runs out, and the
    // next one waits for that: a short lease.
    let lease = if state.starts_with("postgres") {
        "lease = \"2s\"\n"
    } else {
        ""
    };
    std::fs::write(
        &path,
        format!(
            "[state]\nurl = \"{state}\"\n{lease}[http]\nlisten = \"127.0.0.1:{}\"\n{extra}\n\
             [[stores]]\nname = \"hydra\"\nkind = \"hydra\"\ndatabase_url = \"{}\"\nadmin_url = \"{admin}\"\n",
            free_port(),
            s.store_url
        ),
    )
    .unwrap();
    path
}

/// Every client_id the admin API lists.
pub async fn hydra_clients(admin: &str) -> BTreeSet<String> {
    let list: Vec<Value> = reqwest::get(format!("{admin}/admin/clients?page_size=500"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn full_scan(cfg: &regwarden::config::Config, state: &State) {
    let store = &cfg.stores[0];
    let source = Source::open(store).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let scan = Scan {
        state,
        store,
        source: &source,
        scorer: &cfg.scorer,
        cimd: None,
        cancel: &cancel,
        progress: &no_progress,
    };
    refresh(&scan, ScanKind::Full, chrono::Utc::now())
        .await
        .unwrap();
}

pub fn run_cli(args: &[&str], config: &Path) -> (i32, String, String) {
    output(
        regwarden()
            .args(args)
            .arg("--config")
            .arg(config)
            .env_remove("REGWARDEN_CONFIG"),
    )
}

/// The quarantine grace is long enough for the checks between a quarantine and the end of its
/// grace (two real authorization flows, a scan) on a loaded machine; see QUARANTINE_GRACE.
pub const POLICY: &str = "[expiry]\nunused_after = \"3s\"\n[actions]\nmax_fraction_per_run = 0.6\nquarantine_grace = \"10s\"\n";
/// POLICY's quarantine grace.
pub const QUARANTINE_GRACE: Duration = Duration::from_secs(10);

/// A client as the admin API shows it.
pub async fn hydra_client(admin: &str, id: &str) -> Value {
    reqwest::get(format!("{admin}/admin/clients/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
