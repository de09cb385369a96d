//! Keycloak 26.7.3 for real (scripts/keycloak.sh), on PostgreSQL and on MariaDB: clients
//! registered through Keycloak's DCR endpoint by the MCP TypeScript SDK with the metadata
//! real MCP clients send, used through real authorization-code + PKCE flows on Keycloak's own
//! login and consent pages, read from Keycloak's database by regwarden: origins, creation
//! times, last uses, scores, families; acted on through the admin API as a service account
//! with the README's minimal roles (disable, delete after the grace, restore of both); the
//! realm's Max Clients capacity up to the 403 it ends in; the README's read-only grants.

mod admin_api;
mod crash;
pub mod kc;
mod outages;

use crate::actions::run_cli as cli;
use crate::harness::*;
use kc::*;
use regwarden::model::{Band, CreatedFrom, Origin, Usage};
use regwarden::state::State;
use serde_json::{json, Value};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The config for one realm: its database, its admin API as the service account, `extra`
/// (policy sections) before the store.
fn write_config(dir: &Path, kc: &Kc, realm: &Realm, http: &str, extra: &str) -> PathBuf {
    write_config_on(dir, &kc.db, kc, realm, http, extra)
}

/// The same, reading the database at `db`.
fn write_config_on(
    dir: &Path,
    db: &str,
    kc: &Kc,
    realm: &Realm,
    http: &str,
    extra: &str,
) -> PathBuf {
    let path = dir.join("regwarden.toml");
    std::fs::write(
        &path,
        format!(
            "[state]\nurl = \"sqlite://state.db\"\n[http]\nlisten = \"{http}\"\n{extra}\n\
             [[stores]]\nname = \"kc\"\nkind = \"keycloak\"\nrealm = \"{}\"\ndatabase_url = \"{}\"\n\
             admin_url = \"{}\"\nadmin_client_id = \"{}\"\nadmin_client_secret = \"{}\"\n",
            realm.name, db, kc.base, realm.sa_id, realm.sa_secret
        ),
    )
    .unwrap();
    path
}

fn id(reg: &Value) -> String {
    reg["client_id"].as_str().unwrap().to_owned()
}

/// What the SDK registers in every scenario: three Claude Code installs, Cursor, VS Code, the
/// hosted Claude connector (confidential) and an impostor of Claude Code.
fn population() -> Value {
    json!([
        {"client": "claude-code", "count": 3},
        {"client": "cursor"},
        {"client": "vscode"},
        {"client": "claude-hosted"},
        {"client": "custom", "metadata": {
            "client_name": "Claude Code (github)",
            "redirect_uris": ["https://claude-code-auth.example.net/callback"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none"}}
    ])
}

/// Registers the population, uses some of it for real, scans, and checks what regwarden read.
/// With `events`, the realm saves its events (Keycloak's default types) from the start.
/// Returns the registrations.
async fn registered_used_and_read(
    kc: &Kc,
    realm: &Realm,
    dir: &Path,
    http: &str,
    events: bool,
) -> Vec<Value> {
    let mcp = need("REGWARDEN_MCP_DIR");
    let issuer = kc.issuer(&realm.name);
    if events {
        kc.ok(
            reqwest::Method::PUT,
            &format!("/{}/events/config", realm.name),
            Some(json!({"eventsEnabled": true})),
        )
        .await;
    }
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let regs = register(&mcp, &issuer, population());
    assert_eq!(regs.len(), 7, "{regs:?}");
    // An in-house app an administrator made.
    let (status, _) = kc
        .admin(
            reqwest::Method::POST,
            &format!("/{}/clients", realm.name),
            Some(json!({"clientId": "reporting-app", "name": "Reporting",
                "redirectUris": ["https://reports.example.org/callback"], "publicClient": false})),
        )
        .await;
    assert_eq!(status, 201);
    // Real use: Claude Code logs in and refreshes, Cursor logs in, the hosted connector
    // (a confidential client) logs in.
    let used = kc_authcode(&mcp, &issuer, &regs[0], true).expect("Claude Code's flow");
    assert!(used["refreshed"]["access_token"].is_string(), "{used}");
    kc_authcode(&mcp, &issuer, &regs[3], false).expect("Cursor's flow");
    kc_authcode(&mcp, &issuer, &regs[5], false).expect("the hosted connector's flow");

    let cfg = write_config(dir, kc, realm, http, "");
    let (code, out, err) = cli(&["scan", "--full"], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    // Realms store no events by default: say so, and what it means.
    let (code, out, _) = cli(&["check-config"], &cfg);
    assert_eq!(code, 0);
    assert_eq!(out.contains("stores no events"), !events, "{out}");

    let state = State::connect(&regwarden::config::Secret::new(format!(
        "sqlite://{}",
        dir.join("state.db").display()
    )))
    .await
    .unwrap();
    let get = |client: String| {
        let state = state.clone();
        async move {
            state
                .registration("kc", &client)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{client} was not read"))
        }
    };
    // Built-in clients are Keycloak's own: never handed over, never acted on.
    for builtin in regwarden::source::keycloak::BUILT_IN {
        assert!(state.registration("kc", builtin).await.unwrap().is_none());
    }
    let now = chrono::Utc::now() + chrono::Duration::seconds(5);
    for reg in &regs {
        let r = get(id(reg)).await;
        assert_eq!(r.origin, Origin::Dcr, "{reg}");
        assert_eq!(r.created_from, Some(CreatedFrom::Store), "{reg}");
        let created = r.created_at.unwrap();
        assert!(created > started && created < now, "{created}");
    }
    for admin in ["reporting-app", "regwarden"] {
        assert_eq!(get(admin.into()).await.origin, Origin::Admin);
    }
    // Last uses from persisted sessions and consents (and CODE_TO_TOKEN events when saved);
    // unused DCR clients are known never used (anonymous DCR forces consent, so a use leaves
    // one); the admin's app, which needs no consent, has unknown usage unless the realm's
    // events (kept forever here) would show its uses.
    for i in [0, 3, 5] {
        match get(id(&regs[i])).await.usage {
            Usage::LastUsed(t) => assert!(t > started && t < now, "{t}"),
            other => panic!("{}: {other:?}", regs[i]),
        }
    }
    for i in [1, 2, 4, 6] {
        assert_eq!(get(id(&regs[i])).await.usage, Usage::Never, "{}", regs[i]);
    }
    let admin_usage = if events { Usage::Never } else { Usage::Unknown };
    assert_eq!(get("reporting-app".into()).await.usage, admin_usage);
    // Scores and families.
    let mut claude = Vec::new();
    for r in &regs[..3] {
        claude.push(get(id(r)).await);
    }
    assert!(claude
        .iter()
        .all(|r| r.software.as_deref() == Some("claude-code")));
    assert!(claude.iter().all(|r| r.family == claude[0].family));
    assert!(claude
        .iter()
        .all(|r| matches!(r.band, Some(Band::Trusted | Band::Neutral))));
    let impostor = get(id(&regs[6])).await;
    assert_eq!(impostor.band, Some(Band::Malicious), "{impostor:?}");
    assert_ne!(impostor.family, claude[0].family);
    regs
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Keycloak on PostgreSQL and the MCP SDK: run scripts/test.sh"]
async fn keycloak_on_postgres_is_read_judged_acted_on_and_its_capacity_watched() {
    let kc = Kc::new(Backend::Postgres);
    let tmp = tempfile::tempdir().unwrap();
    let realm = kc.new_realm(&unique("mcp")).await;
    let http = format!("127.0.0.1:{}", free_port());
    let regs = registered_used_and_read(&kc, &realm, tmp.path(), &http, false).await;
    disabled_then_deleted_and_restored(&kc, &realm, &regs, tmp.path(), &http).await;
    the_admin_api_alone_reads_the_same_clients(&kc, &realm, tmp.path(), &http).await;
    capacity_is_watched_up_to_the_limit(&kc, &realm, tmp.path(), &http).await;
    readme_grants_suffice(&kc, &realm, tmp.path(), &http).await;
    kc.drop_realm(&realm.name).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Keycloak on MariaDB and the MCP SDK: run scripts/test.sh"]
async fn keycloak_on_mariadb_with_events_is_read_and_judged() {
    let kc = Kc::new(Backend::MariaDb);
    let tmp = tempfile::tempdir().unwrap();
    let realm = kc.new_realm(&unique("mcp")).await;
    let http = format!("127.0.0.1:{}", free_port());
    let regs = registered_used_and_read(&kc, &realm, tmp.path(), &http, true).await;
    created_before_an_upgrade_to_26_7(&kc, &realm, &regs, tmp.path(), &http).await;
    kc.drop_realm(&realm.name).await;
}

/// A client made before Keycloak 26.7 has no `created_timestamp`: its creation time comes
/// from its stored CLIENT_REGISTER event, and `explain` says so. (The test clears the column,
/// as an upgrade leaves it for older clients.)
async fn created_before_an_upgrade_to_26_7(
    kc: &Kc,
    realm: &Realm,
    regs: &[Value],
    dir: &Path,
    http: &str,
) {
    let old = id(&regs[1]);
    let mut db = sqlx::MySqlConnection::connect(&kc.db).await.unwrap();
    sqlx::query("UPDATE CLIENT SET CREATED_TIMESTAMP = NULL WHERE CLIENT_ID = ?")
        .bind(&old)
        .execute(&mut db)
        .await
        .unwrap();
    let sub = dir.join("upgraded");
    std::fs::create_dir_all(&sub).unwrap();
    let cfg = write_config(&sub, kc, realm, http, "");
    let (code, out, err) = cli(&["scan", "--full"], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = cli(&["explain", &old], &cfg);
    assert_eq!(code, 0);
    assert!(out.contains("(from its CLIENT_REGISTER event)"), "{out}");
    let (_, out, _) = cli(&["explain", &id(&regs[2])], &cfg);
    assert!(out.contains("(from the store's creation time)"), "{out}");
}

/// The daemon exports the realm's Max Clients limit and its use as Keycloak counts it (every
/// client, built-in ones too) with no capacity in the config; the limit is reached in the
/// metrics before Keycloak refuses the next registration with 403.
async fn capacity_is_watched_up_to_the_limit(kc: &Kc, realm: &Realm, dir: &Path, http: &str) {
    let cfg = write_config(
        dir,
        kc,
        realm,
        http,
        "[schedule]\nscan = \"*/2 * * * * *\"\nreconcile = \"*/2 * * * * *\"\n",
    );
    let _daemon = Running(
        regwarden()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let metrics = format!("http://{http}/metrics");
    let capacity = r#"regwarden_store_capacity{store="kc"}"#;
    let used = r#"regwarden_store_capacity_used{store="kc"}"#;
    // 6 built-in clients, the service account, the admin's app, 7 registrations.
    let text = wait_for(
        &metrics,
        "capacity figures",
        Duration::from_secs(60),
        |_, b| metric(b, used) == Some(15.0),
    )
    .await;
    assert_eq!(metric(&text, capacity), Some(200.0), "Keycloak's default");
    // One registration of headroom left: seen in the metrics before Keycloak refuses.
    kc.set_max_clients(&realm.name, 16).await;
    wait_for(
        &metrics,
        "the lowered limit",
        Duration::from_secs(60),
        |_, b| metric(b, capacity) == Some(16.0) && metric(b, used) == Some(15.0),
    )
    .await;
    let issuer = kc.issuer(&realm.name);
    let cursor = json!({"client_name": "Cursor", "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"});
    let (status, answer) = raw_register(&issuer, cursor.clone()).await;
    assert_eq!(status, 201, "{answer}");
    wait_for(
        &metrics,
        "the realm at its limit",
        Duration::from_secs(60),
        |_, b| metric(b, used) == Some(16.0),
    )
    .await;
    let (status, answer) = raw_register(&issuer, cursor).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "insufficient_scope", "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("Max Clients"),
        "{answer}"
    );
}

/// The README's read-only grants for Keycloak's PostgreSQL database are enough for a scan,
/// and keep the secrets out: the rotated-secret attribute and the realm's keys are not
/// readable by that role.
async fn readme_grants_suffice(kc: &Kc, realm: &Realm, dir: &Path, http: &str) {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("-- PostgreSQL. MariaDB/MySQL: the same column lists")
        .expect("README's Keycloak grants");
    let end = start + readme[start..].find("```").unwrap();
    let role = unique("regwarden_ro");
    let sql = readme[start..end]
        .replace("regwarden", &role)
        .replace("LOGIN PASSWORD '…'", "LOGIN PASSWORD 'ro'")
        .replace(
            "DATABASE keycloak",
            &format!("DATABASE {}", kc.db.rsplit('/').next().unwrap()),
        );
    let mut admin = sqlx::PgConnection::connect(&kc.db).await.unwrap();
    sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
    let mut url = url::Url::parse(&kc.db).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(Some("ro")).unwrap();
    let url = url.to_string();
    let sub = dir.join("ro");
    std::fs::create_dir_all(&sub).unwrap();
    let cfg = write_config_on(&sub, &url, kc, realm, http, "");
    let (code, out, err) = cli(&["scan", "--full"], &cfg);
    let cleanup = format!(
        "DROP POLICY {role}_reads ON client_attributes; DROP POLICY {role}_reads ON component_config;
         DROP OWNED BY {role}; DROP ROLE {role};"
    );
    let mut peek = sqlx::PgConnection::connect(&url).await.unwrap();
    let rotated: Result<Vec<(String,)>, _> = sqlx::query_as(
        "SELECT name FROM client_attributes WHERE name NOT IN ('logoUri', 'policyUri', 'tosUri',
         'jwks.url', 'post.logout.redirect.uris', 'software_id', 'software_version',
         'client.secret.creation.time', 'client.secret.authentication.allowed.method')",
    )
    .fetch_all(&mut peek)
    .await;
    let secret: Result<Vec<(Option<String>,)>, _> = sqlx::query_as("SELECT secret FROM client")
        .fetch_all(&mut peek)
        .await;
    drop(peek);
    sqlx::raw_sql(&cleanup).execute(&mut admin).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    // The population, the admin's app, the service account, the capacity test's client.
    assert!(
        out.contains("10 seen") && out.contains(" 0 refused"),
        "{out}"
    );
    assert_eq!(
        rotated.unwrap(),
        vec![],
        "other attributes are hidden by row-level security"
    );
    assert!(secret.is_err(), "client.secret must not be readable");
}

/// Enforcing: the impostor (malicious) and a denied client are disabled, nothing else; a
/// disabled client gets no token until `regwarden restore` re-enables it; after the grace the
/// still-unused impostor is deleted, and restoring the delete re-creates it, able to get
/// tokens again. The journal's snapshots hold no secret.
async fn disabled_then_deleted_and_restored(
    kc: &Kc,
    realm: &Realm,
    regs: &[Value],
    dir: &Path,
    http: &str,
) {
    let mcp = need("REGWARDEN_MCP_DIR");
    let issuer = kc.issuer(&realm.name);
    let (cursor, impostor) = (id(&regs[3]), id(&regs[6]));
    let limits = "[actions]\nmax_fraction_per_run = 0.5\nquarantine_grace = \"3s\"\n";
    let cfg = write_config(
        dir,
        kc,
        realm,
        http,
        &format!("{limits}[[deny]]\nname = \"Cursor\"\nnote = \"test\"\n"),
    );
    let (code, out, err) = cli(&["apply", "--yes"], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    let enabled = |c: Option<Value>| c.expect("client exists")["enabled"].as_bool();
    for reg in regs {
        let client = kc.client(&realm.name, &id(reg)).await;
        let expect = !(id(reg) == cursor || id(reg) == impostor);
        assert_eq!(enabled(client), Some(expect), "{reg}");
    }
    assert_eq!(
        enabled(kc.client(&realm.name, "reporting-app").await),
        Some(true)
    );
    let tagged = kc.client(&realm.name, &cursor).await.unwrap();
    assert!(
        tagged["attributes"]["regwarden.quarantine"]
            .as_str()
            .is_some_and(|t| t.contains("regwarden restore")),
        "{tagged}"
    );
    let err = kc_authcode(&mcp, &issuer, &regs[3], false).expect_err("a disabled client");
    assert!(err.to_string().to_lowercase().contains("disabled"), "{err}");

    let state = State::connect(&regwarden::config::Secret::new(format!(
        "sqlite://{}",
        dir.join("state.db").display()
    )))
    .await
    .unwrap();
    let journal = state.recent_actions("kc", 10).await.unwrap();
    assert_eq!(journal.len(), 2, "{journal:?}");
    for e in &journal {
        assert_eq!(e.action, "quarantine");
        assert!(!e.snapshot.contains("\"secret\""), "{}", e.snapshot);
    }
    let quarantine_of = |client: &str| {
        journal
            .iter()
            .find(|e| e.client_id == client)
            .map(|e| e.id)
            .unwrap()
    };
    let (code, out, err) = cli(&["restore", &quarantine_of(&cursor).to_string()], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(enabled(kc.client(&realm.name, &cursor).await), Some(true));
    kc_authcode(&mcp, &issuer, &regs[3], false).expect("Cursor is back");

    // After the grace: the impostor, still unused, is deleted (the deny rule is gone).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let cfg = write_config(dir, kc, realm, http, limits);
    let (code, out, err) = cli(&["apply", "--yes"], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert!(kc.client(&realm.name, &impostor).await.is_none(), "{out}");
    assert_eq!(enabled(kc.client(&realm.name, &cursor).await), Some(true));
    let delete = state
        .recent_actions("kc", 10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "delete" && e.client_id == impostor)
        .expect("the delete is journaled");
    let (code, out, err) = cli(&["restore", &delete.id.to_string()], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("cannot come back") || out.contains("registration access token"),
        "{out}"
    );
    let back = kc.client(&realm.name, &impostor).await.expect("re-created");
    assert_eq!(back["enabled"].as_bool(), Some(true), "{back}");
    assert_eq!(back["redirectUris"], regs[6]["redirect_uris"]);
    kc_authcode(&mcp, &issuer, &regs[6], false).expect("the restored client gets tokens again");
}

/// Live registrations of a state database: client id and origin, sorted.
async fn live(state_db: &Path) -> Vec<(String, String)> {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", state_db.display()))
        .await
        .unwrap();
    sqlx::query_as(
        "SELECT client_id, origin FROM registrations WHERE gone_at IS NULL ORDER BY client_id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
}

/// Without `database_url` the realm is read through the admin API: the same clients with the
/// same origins; what the API cannot show (creation, usage without events) is unknown.
async fn the_admin_api_alone_reads_the_same_clients(
    kc: &Kc,
    realm: &Realm,
    dir: &Path,
    http: &str,
) {
    let cfg = write_config(dir, kc, realm, http, "");
    let (code, out, err) = cli(&["scan", "--full"], &cfg);
    assert_eq!(code, 0, "{out}{err}");
    let sub = dir.join("api");
    std::fs::create_dir_all(&sub).unwrap();
    let api_cfg = sub.join("regwarden.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("database_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    // Small pages, so that paging and its overlap are exercised.
    std::fs::write(&api_cfg, format!("{text}batch_size = 3\n")).unwrap();
    let (code, out, err) = cli(&["scan", "--full"], &api_cfg);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = cli(&["check-config"], &api_cfg);
    assert_eq!(code, 0);
    assert!(out.contains("read through its admin API"), "{out}");
    assert!(out.contains("read through the admin API alone"), "{out}");
    let (sql, api) = (
        live(&dir.join("state.db")).await,
        live(&sub.join("state.db")).await,
    );
    assert!(sql.len() >= 9, "{sql:?}");
    assert_eq!(api, sql, "the API path reads what the database path reads");
    let state = State::connect(&regwarden::config::Secret::new(format!(
        "sqlite://{}",
        sub.join("state.db").display()
    )))
    .await
    .unwrap();
    for (client, _) in &api {
        let r = state.registration("kc", client).await.unwrap().unwrap();
        // No creation column through the API, no events here: at most a secret's issue time.
        assert!(
            matches!(r.created_from, None | Some(CreatedFrom::SecretIssued)),
            "{client}: {:?}",
            r.created_from
        );
        assert!(
            matches!(r.usage, Usage::Unknown | Usage::LastUsed(_)),
            "{client}: {:?} (events are off: never used cannot be known)",
            r.usage
        );
    }
}
