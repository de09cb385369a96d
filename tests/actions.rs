//! Acting through Hydra's admin API, against a real Ory Hydra v2.3.0 with real DCR
//! registrations and real tokens: exactly the expected clients go, the rest are untouched; a
//! refused plan, contradictory rules and an unreachable admin API change nothing; restore
//! brings a client back that then gets a real token; an intent left without outcome by a
//! stopped process is reconciled at start-up, never repeated.

mod common;

use common::*;
use regwarden::act::{outcome, Intent, Runner};
use regwarden::metrics::Metrics;
use regwarden::scan::{no_progress, Scan};
use regwarden::source::Source;
use regwarden::state::{ScanKind, State};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

struct Setup {
    _dir: tempfile::TempDir,
    hydra: Hydra,
    mcp: String,
    store_url: String,
    dir: std::path::PathBuf,
}

async fn start() -> Option<Setup> {
    let (Some(bin), Some(mcp)) = (need("REGWARDEN_HYDRA_BIN"), need("REGWARDEN_MCP_DIR")) else {
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hydra.db");
    let dsn = format!("sqlite://{}?_fk=true", file.display());
    hydra_migrate(&bin, &dsn, None).await;
    let hydra = Hydra::start(&bin, &dsn, dir.path());
    Some(Setup {
        store_url: format!("sqlite://{}", file.display()),
        dir: dir.path().to_path_buf(),
        _dir: dir,
        hydra,
        mcp,
    })
}

/// A config for the store with `extra` appended (policy sections).
fn write_config(s: &Setup, name: &str, admin: &str, extra: &str) -> std::path::PathBuf {
    write_config_with_state(s, name, "sqlite://state.db", admin, extra)
}

fn write_config_with_state(
    s: &Setup,
    name: &str,
    state: &str,
    admin: &str,
    extra: &str,
) -> std::path::PathBuf {
    let path = s.dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[state]\nurl = \"{state}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n{extra}\n\
             [[stores]]\nname = \"hydra\"\nkind = \"hydra\"\ndatabase_url = \"{}\"\nadmin_url = \"{admin}\"\n",
            free_port(),
            s.store_url
        ),
    )
    .unwrap();
    path
}

/// Every client_id the admin API lists.
async fn hydra_clients(admin: &str) -> BTreeSet<String> {
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

async fn full_scan(cfg: &regwarden::config::Config, state: &State) {
    let store = &cfg.stores[0];
    let source = Source::open(store).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    Scan {
        state,
        store,
        source: &source,
        scorer: &cfg.scorer,
        cancel: &cancel,
        progress: &no_progress,
    }
    .run(ScanKind::Full)
    .await
    .unwrap();
    regwarden::verdicts::judge_store(state, &store.name, &cfg.scorer, chrono::Utc::now())
        .await
        .unwrap();
}

fn run_cli(args: &[&str], config: &Path) -> (i32, String, String) {
    let out = regwarden()
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("REGWARDEN_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const POLICY: &str = "[expiry]\nunused_after = \"3s\"\n[actions]\nmax_fraction_per_run = 0.6\n";

#[tokio::test(flavor = "multi_thread")]
async fn enforce_deletes_exactly_the_expected_clients_and_restore_brings_one_back() {
    let Some(s) = start().await else { return };
    let (hydra, mcp) = (&s.hydra, s.mcp.as_str());
    let regs = register(
        mcp,
        &hydra.public,
        json!([
            {"client": "claude-code", "count": 3},
            {"client": "cursor"},
            {"client": "vscode"},
            {"client": "claude-code", "metadata": {"client_name": "Claude Code (github)",
                "redirect_uris": ["https://claude-code-auth.example.net/callback"],
                "client_uri": "https://www.anthropic.com"}},
            {"client": "custom", "metadata": {"client_name": "Nightly report job", "redirect_uris": [],
                "grant_types": ["client_credentials"], "response_types": [],
                "token_endpoint_auth_method": "client_secret_basic"}}
        ]),
    );
    let id = |i: usize| regs[i]["client_id"].as_str().unwrap().to_owned();
    let (cc0, cc1, cc2, cursor, vscode, impostor, job) =
        (id(0), id(1), id(2), id(3), id(4), id(5), id(6));
    // Real use: one Claude Code install, Cursor, and the impostor (used, yet malicious).
    authcode(mcp, hydra, &regs[0]);
    authcode(mcp, hydra, &regs[3]);
    authcode(mcp, hydra, &regs[5]);
    let all: BTreeSet<String> = [&cc0, &cc1, &cc2, &cursor, &vscode, &impostor, &job]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(hydra_clients(&hydra.admin).await, all);
    tokio::time::sleep(Duration::from_secs(4)).await; // past unused_after

    let allow = format!("[[allow]]\nclient_id = \"{vscode}\"\nnote = \"the team's editor\"\n");
    // 1. A plan beyond max_actions_per_run is refused whole: nothing changes.
    let tight = write_config(
        &s,
        "tight.toml",
        &hydra.admin,
        &format!("{POLICY}max_actions_per_run = 3\nmode = \"enforce\"\n{allow}"),
    );
    let cfg = regwarden::config::load(&tight).unwrap();
    let state = State::connect(&cfg.state_url).await.unwrap();
    full_scan(&cfg, &state).await;
    let metrics = Metrics::new();
    metrics.init_store("hydra", &[], None);
    let runner = Runner {
        state: &state,
        store: &cfg.stores[0],
        policy: &cfg.policy,
        mode: cfg.mode,
        metrics: Some(&metrics),
    };
    let err = runner.run(chrono::Utc::now()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("refused whole: 4 actions exceed max_actions_per_run = 3"),
        "{err}"
    );
    assert!(metrics
        .encode()
        .contains("regwarden_plan_refused_total{store=\"hydra\"} 1"));
    assert_eq!(hydra_clients(&hydra.admin).await, all);
    assert!(state.recent_actions("hydra", 10).await.unwrap().is_empty());

    // 2. Bad input: contradictory rules, an unreachable admin API: a message, no action.
    let contra = write_config(
        &s,
        "contra.toml",
        &hydra.admin,
        &format!("{POLICY}{allow}[[deny]]\nname = \"visual studio*\"\n"),
    );
    let (code, _, err) = run_cli(&["plan"], &contra);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("contradictory"), "{err}");
    let (code, _, err) = run_cli(&["apply", "--yes"], &contra);
    assert_eq!(code, 2, "{err}");
    let down = write_config(
        &s,
        "down.toml",
        &format!("http://127.0.0.1:{}", free_port()),
        &format!("{POLICY}{allow}"),
    );
    let (code, _, err) = run_cli(&["apply", "--yes"], &down);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("admin API") && err.contains("attempt"),
        "{err}"
    );
    assert_eq!(hydra_clients(&hydra.admin).await, all);

    // 3. Dry-run apply prints the plan and changes nothing.
    let cfg_path = write_config(
        &s,
        "regwarden.toml",
        &hydra.admin,
        &format!("{POLICY}{allow}"),
    );
    let (code, out, err) = run_cli(&["apply"], &cfg_path);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry-run: 4 action(s) would be taken"), "{out}");
    assert_eq!(hydra_clients(&hydra.admin).await, all);
    let (code, out, err) = run_cli(&["plan", "--format", "json"], &cfg_path);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let planned: BTreeSet<(String, String)> = plan["plans"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["client_id"].as_str().unwrap().to_owned(),
                a["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        (cc1.clone(), "expiry.unused"),
        (cc2.clone(), "expiry.unused"),
        (impostor.clone(), "band.malicious"),
        (job.clone(), "expiry.unused"),
    ]
    .into_iter()
    .map(|(c, r)| (c, r.to_owned()))
    .collect();
    assert_eq!(planned, expected);
    assert_eq!(plan["plans"][0]["protected"], 1);

    // 4. apply --yes: exactly the expected clients are gone, every other one untouched.
    let before: Vec<Value> = futures_get_all(&hydra.admin, &[&cc0, &cursor, &vscode]).await;
    let (code, out, err) = run_cli(&["apply", "--yes"], &cfg_path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 done, 0 already gone, 0 failed"), "{out}");
    let kept: BTreeSet<String> = [&cc0, &cursor, &vscode].into_iter().cloned().collect();
    assert_eq!(hydra_clients(&hydra.admin).await, kept);
    assert_eq!(
        futures_get_all(&hydra.admin, &[&cc0, &cursor, &vscode]).await,
        before
    );
    authcode(mcp, hydra, &regs[0]); // the used install still works

    // The journal: one done delete per client, with a snapshot and no secret.
    let journal = state.recent_actions("hydra", 10).await.unwrap();
    assert_eq!(journal.len(), 4);
    for e in &journal {
        assert_eq!(
            (e.action.as_str(), e.outcome.as_deref()),
            ("delete", Some("done"))
        );
        let snap: Value = serde_json::from_str(&e.snapshot).unwrap();
        assert_eq!(snap["client_id"].as_str(), Some(e.client_id.as_str()));
        assert!(snap.get("client_secret").is_none(), "{snap}");
    }
    let (_, report, _) = run_cli(&["report"], &cfg_path);
    assert!(report.contains("Recent actions in hydra"), "{report}");
    assert!(report.contains(&job), "{report}");

    // 5. Restore the confidential job: same client_id and metadata, a new secret that works
    //    in a real client_credentials token request.
    let action = journal.iter().find(|e| e.client_id == job).unwrap().id;
    let (code, out, err) = run_cli(&["restore", &action.to_string()], &cfg_path);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("old secret cannot come back"), "{out}");
    assert!(!err.contains("NEW secret"));
    let secret = out
        .lines()
        .skip_while(|l| !l.contains("NEW secret"))
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let back: Value = reqwest::get(format!("{}/admin/clients/{job}", hydra.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(back["client_name"], "Nightly report job");
    assert_eq!(back["grant_types"], json!(["client_credentials"]));
    let token = reqwest::Client::new()
        .post(format!("{}/oauth2/token", hydra.public))
        .basic_auth(&job, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    assert!(token["access_token"].is_string(), "{token}");
    // Restoring twice is refused: the client exists.
    let (code, _, err) = run_cli(&["restore", &action.to_string()], &cfg_path);
    assert_eq!(code, 1);
    assert!(err.contains("exists"), "{err}");
}

async fn futures_get_all(admin: &str, ids: &[&String]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        let v: Value = reqwest::get(format!("{admin}/admin/clients/{id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.push(v);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_intent_left_without_outcome_is_reconciled_at_start_up_never_repeated() {
    let Some(s) = start().await else { return };
    let regs = register(
        &s.mcp,
        &s.hydra.public,
        json!([{"client": "claude-code", "count": 3}]),
    );
    let id = |i: usize| regs[i]["client_id"].as_str().unwrap().to_owned();
    let (deleted, spared, other) = (id(0), id(1), id(2));
    // The journal on a PostgreSQL state database this time.
    let Some(pg) = need("REGWARDEN_TEST_PG_URL") else {
        return;
    };
    let state_url = create_pg_database(&pg, &unique("rw_state")).await;
    // Enforce mode, but the planning schedule is far away: only start-up reconciliation runs.
    let cfg_path = write_config_with_state(
        &s,
        "regwarden.toml",
        &state_url,
        &s.hydra.admin,
        "[actions]\nmode = \"enforce\"\nschedule = \"0 0 1 1 *\"\n",
    );
    let cfg = regwarden::config::load(&cfg_path).unwrap();
    let state = State::connect(&cfg.state_url).await.unwrap();
    full_scan(&cfg, &state).await;
    // A process that was killed twice: once after the admin call, once before it.
    fn intent(client: &str) -> Intent<'_> {
        Intent {
            store: "hydra",
            client_id: client,
            action: "delete",
            mode: "enforce",
            reason: "expiry.unused: test",
            snapshot: "{}",
        }
    }
    let a = state
        .journal_intent(&intent(&deleted), chrono::Utc::now())
        .await
        .unwrap();
    let b = state
        .journal_intent(&intent(&spared), chrono::Utc::now())
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .delete(format!("{}/admin/clients/{deleted}", s.hydra.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    drop(state);

    let mut daemon = regwarden()
        .args(["run", "--config"])
        .arg(&cfg_path)
        .env_remove("REGWARDEN_CONFIG")
        .stderr(std::fs::File::create(s.dir.join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let state = State::connect(&cfg.state_url).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if state.open_intents("hydra").await.unwrap().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not reconciled: {}",
            std::fs::read_to_string(s.dir.join("daemon.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::process::Command::new("kill")
        .arg(daemon.id().to_string())
        .status()
        .unwrap();
    daemon.wait().unwrap();
    let a = state.journal_entry(a).await.unwrap().unwrap();
    let b = state.journal_entry(b).await.unwrap().unwrap();
    assert_eq!(a.outcome.as_deref(), Some(outcome::RECONCILED_DONE));
    assert_eq!(b.outcome.as_deref(), Some(outcome::RECONCILED_NOT_DONE));
    // The interrupted delete was not repeated: the spared client is still there.
    let left = hydra_clients(&s.hydra.admin).await;
    assert_eq!(left, [spared, other].into_iter().collect());
}

async fn metric(listen: &str, series: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_enforces_on_its_schedule_quarantining_before_deleting() {
    let Some(s) = start().await else { return };
    let (hydra, mcp) = (&s.hydra, s.mcp.as_str());
    let regs = register(
        mcp,
        &hydra.public,
        json!([{"client": "claude-code", "count": 2}, {"client": "cursor"}, {"client": "goose"}]),
    );
    let id = |i: usize| regs[i]["client_id"].as_str().unwrap().to_owned();
    authcode(mcp, hydra, &regs[2]);
    authcode(mcp, hydra, &regs[3]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let Some(pg) = need("REGWARDEN_TEST_PG_URL") else {
        return;
    };
    let state_url = create_pg_database(&pg, &unique("rw_state")).await;
    let port = free_port();
    let cfg_path = s.dir.join("regwarden.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[state]\nurl = \"{state_url}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [expiry]\nunused_after = \"2s\"\n\
             [actions]\nmode = \"enforce\"\nschedule = \"* * * * * *\"\nmax_fraction_per_run = 0.5\n\
             quarantine = true\nquarantine_grace = \"4s\"\n\
             [[stores]]\nname = \"hydra\"\nkind = \"hydra\"\ndatabase_url = \"{}\"\nadmin_url = \"{}\"\n",
            s.store_url, hydra.admin
        ),
    )
    .unwrap();
    let log = s.dir.join("daemon.log");
    let mut daemon = regwarden()
        .args(["run", "--config"])
        .arg(&cfg_path)
        .env_remove("REGWARDEN_CONFIG")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let listen = format!("127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let get = |client: String| {
        let http = http.clone();
        let url = format!("{}/admin/clients/{client}", hydra.admin);
        async move { http.get(url).send().await.unwrap() }
    };
    // First the unused ones are tagged, and stay while their grace runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut tagged = false;
    let mut gone = false;
    while std::time::Instant::now() < deadline && !gone {
        let (a, b) = (get(id(0)).await, get(id(1)).await);
        match (a.status().as_u16(), b.status().as_u16()) {
            (200, 200) => {
                let a: Value = a.json().await.unwrap();
                if let Some(tag) = a["metadata"].get("regwarden_quarantine") {
                    assert!(
                        tag["reason"].as_str().unwrap().contains("expiry.unused"),
                        "{tag}"
                    );
                    tagged = true;
                }
            }
            (404, 404) => gone = true,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done_delete = metric(&listen, "regwarden_actions_total{action=\"delete\",mode=\"enforce\",outcome=\"done\",store=\"hydra\"}").await;
    let done_quarantine = metric(&listen, "regwarden_actions_total{action=\"quarantine\",mode=\"enforce\",outcome=\"done\",store=\"hydra\"}").await;
    let refused = metric(&listen, "regwarden_plan_refused_total{store=\"hydra\"}").await;
    std::process::Command::new("kill")
        .arg(daemon.id().to_string())
        .status()
        .unwrap();
    daemon.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(tagged && gone, "tagged {tagged}, gone {gone}: {log}");
    assert_eq!(
        hydra_clients(&hydra.admin).await,
        [id(2), id(3)].into_iter().collect()
    );
    assert_eq!(
        (done_quarantine, done_delete, refused),
        (Some(2.0), Some(2.0), Some(0.0)),
        "{log}"
    );
    assert!(!log.contains("client_secret"), "{log}");
    // The journal (on PostgreSQL): per client a quarantine, then a delete, both done.
    let state = State::connect(&regwarden::config::Secret::new(state_url))
        .await
        .unwrap();
    let mut journal: Vec<(String, String, Option<String>)> = state
        .recent_actions("hydra", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.client_id, e.action, e.outcome))
        .collect();
    journal.sort();
    let done = Some("done".to_owned());
    assert_eq!(
        journal,
        [
            (id(0), "delete".to_owned(), done.clone()),
            (id(0), "quarantine".to_owned(), done.clone()),
            (id(1), "delete".to_owned(), done.clone()),
            (id(1), "quarantine".to_owned(), done.clone()),
        ]
    );
}
