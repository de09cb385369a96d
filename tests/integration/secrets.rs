//! ARCHITECTURE.md invariant 9: database passwords, admin credentials and client secrets
//! never reach logs, reports, metrics or error messages. Known secrets are put everywhere a
//! deployment has them (the store's and the state database's URLs, the admin API's URL, a
//! Keycloak admin client secret read from a file, client secrets in the AS store and in JSON
//! Lines, a running Keycloak's service-account secret, database password and DCR client
//! secrets); every command and the daemon run at debug level, on working and on failing paths,
//! and everything they print is searched for every secret.

use crate::harness::*;
use sqlx::Connection;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What one run printed, with the command that printed it.
struct Outputs(Vec<(String, String)>);

impl Outputs {
    /// Runs `args` with `cfg`, keeps stdout and stderr, returns (status, stdout, stderr).
    fn run(&mut self, cfg: &Path, args: &[&str]) -> (i32, String, String) {
        let mut cmd = regwarden();
        cmd.args(args)
            .arg("--config")
            .arg(cfg)
            .current_dir(cfg.parent().unwrap())
            .env("RUST_LOG", "debug")
            .env("NO_COLOR", "1");
        let (code, out, err) = output(&mut cmd);
        let what = format!("regwarden {} (config {})", args.join(" "), cfg.display());
        self.0.push((format!("{what}: stdout"), out.clone()));
        self.0.push((format!("{what}: stderr"), err.clone()));
        (code, out, err)
    }

    fn keep(&mut self, what: &str, text: String) {
        self.0.push((what.to_owned(), text));
    }

    /// Fails naming the output and the secret when any secret appears in any output.
    fn assert_free_of(&self, secrets: &[(&str, &str)]) {
        for (what, text) in &self.0 {
            for (name, secret) in secrets {
                if let Some(at) = text.find(secret) {
                    let from = text[..at]
                        .char_indices()
                        .rev()
                        .nth(200)
                        .map_or(0, |(i, _)| i);
                    panic!(
                        "the {name} appears in {what}:\n…{}",
                        &text[from..(at + secret.len() + 100).min(text.len())]
                    );
                }
            }
        }
    }
}

/// A PostgreSQL role with a password, on the test server; returns the URL of `db` as it.
async fn role(admin_url: &str, name: &str, password: &str, db: &str) -> String {
    let mut c = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(&format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"))
        .execute(&mut c)
        .await
        .unwrap();
    let mut u = url::Url::parse(&with_database(admin_url, db)).unwrap();
    u.set_username(name).unwrap();
    u.set_password(Some(password)).unwrap();
    u.to_string()
}

async fn execute(url: &str, statements: &[String]) {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    for s in statements {
        sqlx::query(s).execute(&mut c).await.unwrap();
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL, Ory Hydra and Keycloak: run scripts/test.sh"]
async fn no_secret_reaches_any_output_of_any_command() {
    let pg = need("REGWARDEN_TEST_PG_URL");
    let bin = need("REGWARDEN_HYDRA_BIN");
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();

    let store_pw = "StorePw-q7Zr2mXk";
    let state_pw = "StatePw-w3Vn8bLp";
    let admin_pw = "AdminPw-h5Tg1cQs";
    let kc_secret = "KcSecret-r9Jd4yNe";
    let kc_db_pw = "KcDbPw-t2Fu6sWa";
    let unparsable_pw = "BadUrlPw-m8Kx3zPo";
    let client_secret = "ClientSecret-b4Lq9vRt";
    let jsonl_secret = "JsonlSecret-c6Hn2wEy";
    let jsonl_token = "JsonlRat-p1Dz7kUi";

    // The AS store: Hydra on PostgreSQL, read by a role of its own with a password; the state
    // database owned by another.
    let hydra_db = unique("rw_secret_hydra");
    let state_db = unique("rw_secret_state");
    let hydra_url = create_pg_database(&pg, &hydra_db).await;
    let dsn = hydra_dsn(&hydra_url);
    hydra_migrate(&bin, &dsn, None).await;
    let reader = unique("rw_secret_reader");
    let store_url = role(&pg, &reader, store_pw, &hydra_db).await;
    execute(
        &hydra_url,
        &[format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}"
        )],
    )
    .await;
    let owner = unique("rw_secret_state");
    let state_url = role(&pg, &owner, state_pw, "postgres").await;
    execute(&pg, &[format!("CREATE DATABASE {state_db} OWNER {owner}")]).await;
    let state_url = with_database(&state_url, &state_db);
    let hydra = Hydra::start(&bin, &dsn, base);

    // Client secrets in the store: a confidential client made by an operator, and one
    // registered through DCR (whose answer carries a secret and a registration access token).
    let http = reqwest::Client::new();
    let made = http
        .post(format!("{}/admin/clients", hydra.admin))
        .json(&serde_json::json!({
            "client_id": "payroll-backend", "client_name": "Payroll",
            "client_secret": client_secret,
            "redirect_uris": ["https://payroll.corp.example.com/callback"]
        }))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.text().await.unwrap());
    let dcr: serde_json::Value = http
        .post(format!("{}/oauth2/register", hydra.public))
        .json(&serde_json::json!({
            "client_name": "Cl\u{0430}ude Code\n2026-01-01 INFO forged line",
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "token_endpoint_auth_method": "client_secret_post"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dcr_id = dcr["client_id"].as_str().unwrap().to_owned();
    let dcr_secret = dcr["client_secret"].as_str().unwrap().to_owned();
    let dcr_token = dcr["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut c = sqlx::PgConnection::connect(&hydra_url).await.unwrap();
    let hashes: Vec<(String,)> =
        sqlx::query_as("SELECT client_secret FROM hydra_client WHERE client_secret <> ''")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(hashes.len(), 2, "both clients keep a hashed secret");

    // JSON Lines as saved from DCR answers, secrets and all.
    let line = |id: &str| {
        serde_json::json!({
            "client_id": id, "client_name": "=HYPERLINK(\"https://evil.example\")",
            "client_secret": jsonl_secret, "registration_access_token": jsonl_token,
            "redirect_uris": ["http://127.0.0.1:4000/cb"], "last_used_at": null
        })
        .to_string()
    };
    std::fs::write(
        base.join("clients.jsonl"),
        format!("{}\n{}\n", line("offline-1"), line("offline-2")),
    )
    .unwrap();
    std::fs::write(base.join("kc-secret"), format!("{kc_secret}\n")).unwrap();

    let admin = {
        let mut u = url::Url::parse(&hydra.admin).unwrap();
        u.set_username("regwarden").unwrap();
        u.set_password(Some(admin_pw)).unwrap();
        u.to_string()
    };
    let http_addr = format!("127.0.0.1:{}", free_port());
    let good = base.join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[state]\nurl = \"{state_url}\"\n[http]\nlisten = \"{http_addr}\"\n\
             [log]\nlevel = \"debug\"\nformat = \"json\"\n\
             [schedule]\nscan = \"*/2 * * * * *\"\nreconcile = \"*/3 * * * * *\"\n\
             [[stores]]\nname = \"hydra\"\nkind = \"hydra\"\ndatabase_url = \"{store_url}\"\nadmin_url = \"{admin}\"\n\
             [[stores]]\nname = \"offline\"\nkind = \"jsonl\"\npath = \"clients.jsonl\"\n"
        ),
    )
    .unwrap();

    let mut outputs = Outputs(Vec::new());
    let (code, out, err) = outputs.run(&good, &["check-config"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = outputs.run(&good, &["scan", "--full"]);
    assert_eq!(code, 0, "{out}{err}");
    for args in [
        &["scan"][..],
        &["plan"],
        &["plan", "--format", "json"],
        &["report"],
        &["report", "--format", "json"],
        &["apply"],
        &["explain", "payroll-backend"],
        &["explain", &dcr_id],
    ] {
        let (code, out, err) = outputs.run(&good, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    let (code, csv, err) = outputs.run(&good, &["report", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        csv.contains(&dcr_id) && csv.contains("payroll-backend"),
        "{csv}"
    );
    assert!(csv.contains("'=HYPERLINK"), "formula defused: {csv}");
    assert_eq!(
        csv.lines().count(),
        5,
        "header and four rows, none forged: {csv}"
    );
    let (code, out, err) = outputs.run(&good, &["score", "--input", "clients.jsonl"]);
    assert_eq!((code, out.lines().count()), (0, 2), "{out}{err}");
    // Failing paths of a good configuration.
    let (code, _, _) = outputs.run(&good, &["restore", "424242"]);
    assert_ne!(code, 0);
    let (code, _, _) = outputs.run(&good, &["explain", "no-such-client"]);
    assert_ne!(code, 0);

    // The daemon: a few scans, /metrics, /healthz and /readyz fetched.
    let log = base.join("daemon.log");
    let daemon = start_daemon(&good, base, &log);
    let url = format!("http://{http_addr}");
    wait_for(
        &format!("{url}/readyz"),
        "ready",
        Duration::from_secs(30),
        |s, _| s == 200,
    )
    .await;
    let scans = r#"regwarden_scan_duration_seconds_count{kind="incremental",store="hydra"}"#;
    let metrics = wait_for(
        &format!("{url}/metrics"),
        "two incremental scans",
        Duration::from_secs(30),
        |_, b| metric(b, scans).is_some_and(|n| n >= 2.0),
    )
    .await;
    outputs.keep("/metrics", metrics);
    for path in ["/healthz", "/readyz"] {
        outputs.keep(path, get(&format!("{url}{path}")).await.1);
    }
    let (code, out, err) = outputs.run(&good, &["healthcheck"]);
    assert_eq!(code, 0, "{out}{err}");
    stop(daemon);
    outputs.keep("the daemon's log", std::fs::read_to_string(&log).unwrap());

    // Failing configurations: the store's database named wrong, on a closed port, a Keycloak
    // store that cannot be reached (its admin secret read from a file), an unparsable URL.
    let http_addr = format!("127.0.0.1:{}", free_port());
    let wrong_db = with_database(&store_url, "no_such_database");
    let closed = store_url.replace(":5432/", ":1/");
    let bad = base.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[state]\nurl = \"{state_url}\"\n[http]\nlisten = \"{http_addr}\"\n\
             [log]\nlevel = \"debug\"\nformat = \"pretty\"\n\
             [schedule]\nscan = \"*/2 * * * * *\"\n\
             [[stores]]\nname = \"wrong-db\"\nkind = \"hydra\"\ndatabase_url = \"{wrong_db}\"\nadmin_url = \"{admin}\"\n\
             [[stores]]\nname = \"closed\"\nkind = \"hydra\"\ndatabase_url = \"{closed}\"\n\
             [[stores]]\nname = \"kc\"\nkind = \"keycloak\"\nrealm = \"master\"\n\
             database_url = \"postgres://kc:{kc_db_pw}@127.0.0.1:1/keycloak\"\n\
             admin_url = \"http://127.0.0.1:1/\"\nadmin_client_id = \"regwarden\"\nadmin_client_secret_file = \"kc-secret\"\n"
        ),
    )
    .unwrap();
    let (code, out, err) = outputs.run(&bad, &["check-config"]);
    assert_eq!(code, 0, "valid, if unreachable: {out}{err}");
    for store in ["wrong-db", "closed", "kc"] {
        let (code, out, err) = outputs.run(&bad, &["scan", "--store", store]);
        assert_eq!(code, 1, "{store}: {out}{err}");
        assert!(err.contains(store), "the failure names the store: {err}");
    }
    let (code, _, err) = outputs.run(&bad, &["apply", "--store", "kc"]);
    assert_ne!(code, 0, "{err}");
    let log = base.join("bad-daemon.log");
    let daemon = start_daemon(&bad, base, &log);
    let url = format!("http://{http_addr}");
    let errors = r#"regwarden_scan_errors_total{store="kc"}"#;
    let metrics = wait_for(
        &format!("{url}/metrics"),
        "failed scans counted",
        Duration::from_secs(30),
        |_, b| metric(b, errors).is_some_and(|n| n >= 1.0),
    )
    .await;
    outputs.keep("/metrics of the failing daemon", metrics);
    let (status, readyz) = get(&format!("{url}/readyz")).await;
    assert_eq!(status, 503, "{readyz}");
    outputs.keep("/readyz of the failing daemon", readyz);
    stop(daemon);
    outputs.keep(
        "the failing daemon's log",
        std::fs::read_to_string(&log).unwrap(),
    );

    let kc_secrets = keycloak_outputs(&mut outputs, base).await;

    let unparsable = base.join("unparsable.toml");
    std::fs::write(
        &unparsable,
        format!(
            "[state]\nurl = \"postgres://rw:{unparsable_pw}@127.0.0.1:99999999/state\"\n\
             [[stores]]\nname = \"h\"\nkind = \"hydra\"\ndatabase_url = \"postgres://rw:{unparsable_pw}@[::1/db\"\n"
        ),
    )
    .unwrap();
    let (code, _, err) = outputs.run(&unparsable, &["check-config"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = outputs.run(&unparsable, &["scan"]);
    assert_eq!(code, 2, "{err}");
    // A TOML syntax error on the line of a password.
    std::fs::write(
        &unparsable,
        format!("[state]\nurl = \"postgres://rw:{unparsable_pw}@127.0.0.1/state\n"),
    )
    .unwrap();
    let (code, _, err) = outputs.run(&unparsable, &["check-config"]);
    assert_eq!(code, 2, "{err}");

    let mut secrets = vec![
        ("store database password", store_pw),
        ("state database password", state_pw),
        ("admin API password", admin_pw),
        ("Keycloak admin client secret", kc_secret),
        ("Keycloak database password", kc_db_pw),
        ("password in an unparsable URL", unparsable_pw),
        ("operator-made client's secret", client_secret),
        ("DCR client's secret", &dcr_secret),
        ("DCR registration access token", &dcr_token),
        ("client_secret in JSON Lines", jsonl_secret),
        ("registration access token in JSON Lines", jsonl_token),
    ];
    for (hash,) in &hashes {
        secrets.push(("hashed client secret from Hydra's table", hash));
    }
    for (name, secret) in &kc_secrets {
        secrets.push((name, secret));
    }
    outputs.assert_free_of(&secrets);
    // The search found what it looked through: real output, not empty strings.
    let all: String = outputs.0.iter().map(|(_, t)| t.as_str()).collect();
    assert!(all.contains("payroll-backend") && all.contains(&dcr_id));
    assert!(
        all.contains("regwarden_registrations{"),
        "metrics were read"
    );
    drop(hydra);
}

/// A running Keycloak (on PostgreSQL): a realm whose service account's secret is read from a
/// file, Keycloak's database read with its password, a confidential client registered through
/// DCR; every command on it, and the daemon, on working paths. The secrets it put there.
async fn keycloak_outputs(outputs: &mut Outputs, base: &Path) -> Vec<(&'static str, String)> {
    use crate::keycloak::kc::{Backend, Kc};
    let kc = Kc::new(Backend::Postgres);
    let realm = kc.new_realm(&unique("secrets")).await;
    let reg = kc
        .register(
            &realm.name,
            "Payroll Sync",
            "https://payroll.corp.example.com/cb",
            "client_secret_basic",
        )
        .await;
    let field = |k: &str| {
        reg[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k}: {reg}"))
            .to_owned()
    };
    let (client, client_secret, rat) = (
        field("client_id"),
        field("client_secret"),
        field("registration_access_token"),
    );
    // Keycloak's database read by a role of its own, with a password.
    let db_password = "KcReaderPw-g4Ws8nZe";
    let reader = unique("rw_secret_kc");
    let kc_database = url::Url::parse(&kc.db)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let db_url = role(
        &need("REGWARDEN_TEST_PG_URL"),
        &reader,
        db_password,
        &kc_database,
    )
    .await;
    execute(
        &kc.db,
        &[format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}"
        )],
    )
    .await;
    std::fs::write(base.join("kc-sa-secret"), format!("{}\n", realm.sa_secret)).unwrap();
    let http_addr = format!("127.0.0.1:{}", free_port());
    let cfg = base.join("kc.toml");
    std::fs::write(
        &cfg,
        format!(
            "[state]\nurl = \"sqlite://kc-state.db\"\n[http]\nlisten = \"{http_addr}\"\n\
             [log]\nlevel = \"debug\"\n[schedule]\nscan = \"*/2 * * * * *\"\n\
             [[stores]]\nname = \"kc\"\nkind = \"keycloak\"\nrealm = \"{}\"\ndatabase_url = \"{}\"\n\
             admin_url = \"{}\"\nadmin_client_id = \"{}\"\nadmin_client_secret_file = \"kc-sa-secret\"\n",
            realm.name, db_url, kc.base, realm.sa_id
        ),
    )
    .unwrap();
    for args in [
        &["check-config"][..],
        &["scan", "--full"],
        &["scan"],
        &["plan", "--format", "json"],
        &["report"],
        &["report", "--format", "csv"],
        &["apply"],
        &["explain", &client],
    ] {
        let (code, out, err) = outputs.run(&cfg, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    let (code, out, err) = outputs.run(&cfg, &["report", "--format", "json"]);
    assert!(code == 0 && out.contains(&client), "{out}{err}");
    let log = base.join("kc-daemon.log");
    let daemon = start_daemon(&cfg, base, &log);
    let url = format!("http://{http_addr}");
    // Keycloak's tables keep no update times: every scan of it is a full one.
    let scans = r#"regwarden_scan_duration_seconds_count{kind="full",store="kc"}"#;
    let metrics = wait_for(
        &format!("{url}/metrics"),
        "two scans of Keycloak",
        Duration::from_secs(30),
        |_, b| metric(b, scans).is_some_and(|n| n >= 2.0),
    )
    .await;
    outputs.keep("/metrics (Keycloak)", metrics);
    outputs.keep("/readyz (Keycloak)", get(&format!("{url}/readyz")).await.1);
    stop(daemon);
    outputs.keep(
        "the daemon's log (Keycloak)",
        std::fs::read_to_string(&log).unwrap(),
    );
    kc.drop_realm(&realm.name).await;
    vec![
        ("Keycloak service account's secret", realm.sa_secret.clone()),
        ("Keycloak database password", db_password.to_owned()),
        ("Keycloak DCR client's secret", client_secret),
        ("Keycloak registration access token", rat),
    ]
}

/// `regwarden run` on `cfg` in `base`, logging at debug to `log`.
fn start_daemon(cfg: &Path, base: &Path, log: &Path) -> Running {
    Running(
        regwarden()
            .args(["run", "--config"])
            .arg(cfg)
            .current_dir(base)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// SIGTERM, then wait for the daemon to exit.
fn stop(daemon: Running) {
    let pid = daemon.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut daemon = daemon;
    while std::time::Instant::now() < deadline {
        if daemon.0.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("regwarden did not stop on SIGTERM");
}
