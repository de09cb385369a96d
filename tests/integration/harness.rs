//! Shared harness for the integration tests: real PostgreSQL and MariaDB (started by
//! scripts/services.sh), a real Ory Hydra v2.3.0 (scripts/hydra.sh), and real DCR through
//! the MCP TypeScript SDK (tests/mcp). Environment, set by scripts/test.sh:
//! REGWARDEN_TEST_PG_URL, REGWARDEN_TEST_PG_BIN, REGWARDEN_TEST_MYSQL_URL, REGWARDEN_HYDRA_BIN,
//! REGWARDEN_MCP_DIR, and Keycloak's REGWARDEN_TEST_KC_* (scripts/keycloak.sh). Tests that need one are `#[ignore]`d, naming the service; when they are
//! run (`--include-ignored`, as scripts/test.sh does) a missing service fails them.

use serde_json::Value;
use sqlx::Connection;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What each service variable provides, and where to get it.
const SERVICES: [(&str, &str); 13] = [
    (
        "REGWARDEN_TEST_PG_URL",
        "a PostgreSQL superuser's URL, as `scripts/services.sh start` prints it",
    ),
    (
        "REGWARDEN_TEST_PG_BIN",
        "the folder of PostgreSQL's initdb and pg_ctl, as `scripts/services.sh start` prints it",
    ),
    (
        "REGWARDEN_TEST_MYSQL_URL",
        "a MariaDB superuser's URL, as `scripts/services.sh start` prints it",
    ),
    (
        "REGWARDEN_HYDRA_BIN",
        "an Ory Hydra v2.3.0 binary, as `scripts/hydra.sh build` prints it",
    ),
    (
        "REGWARDEN_MCP_DIR",
        "tests/mcp with the MCP TypeScript SDK installed (`npm ci` there)",
    ),
    (
        "REGWARDEN_TEST_KC_PG",
        "Keycloak on PostgreSQL (its base URL), as `scripts/keycloak.sh start` prints it",
    ),
    (
        "REGWARDEN_TEST_KC_PG_DB",
        "the URL of Keycloak's PostgreSQL database, as `scripts/keycloak.sh start` prints it",
    ),
    (
        "REGWARDEN_TEST_KC_MY",
        "Keycloak on MariaDB (its base URL), as `scripts/keycloak.sh start` prints it",
    ),
    (
        "REGWARDEN_TEST_KC_MY_DB",
        "the URL of Keycloak's MariaDB database, as `scripts/keycloak.sh start` prints it",
    ),
    (
        "REGWARDEN_TEST_KC_ADMIN",
        "Keycloak's bootstrap admin user, as `scripts/keycloak.sh start` prints it",
    ),
    (
        "REGWARDEN_TEST_KC_ADMIN_PASSWORD",
        "Keycloak's bootstrap admin password, as `scripts/keycloak.sh start` prints it",
    ),
    (
        "REGWARDEN_PROMTOOL",
        "promtool, else `promtool` on PATH (Debian's prometheus package)",
    ),
    (
        "REGWARDEN_PROMETHEUS",
        "Prometheus, else `prometheus` on PATH (Debian's prometheus package)",
    ),
];

/// The service `var` names. Only `#[ignore]`d tests call this, so it runs when someone asked
/// for the service-backed tests: a missing service fails the test, saying what is missing and
/// how to provide it, rather than letting it pass without running.
pub fn need(var: &str) -> String {
    let what = SERVICES
        .iter()
        .find(|(v, _)| *v == var)
        .map_or("a service", |(_, what)| what);
    let value = match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: this test needs {what}. \
             scripts/test.sh provides every service; or set {var} yourself"
        ),
    };
    if var == "REGWARDEN_MCP_DIR" {
        let sdk = std::path::Path::new(&value).join("node_modules/@modelcontextprotocol/sdk");
        assert!(
            sdk.is_dir(),
            "{var}={value} has no {}: run `npm ci` there (scripts/test.sh does)",
            sdk.display()
        );
    } else if var.ends_with("_BIN") {
        assert!(
            std::path::Path::new(&value).exists(),
            "{var}={value} does not exist: this test needs {what}"
        );
    }
    value
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A unique lowercase name for databases and roles of one test.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// Replaces the database (path) of a URL.
pub fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{db}"));
    u.to_string()
}

pub async fn create_pg_database(admin_url: &str, name: &str) -> String {
    let mut c = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .unwrap();
    with_database(admin_url, name)
}

pub async fn create_mysql_database(admin_url: &str, name: &str) -> String {
    let mut c = sqlx::MySqlConnection::connect(admin_url)
        .await
        .expect("connect to test MariaDB");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .unwrap();
    with_database(admin_url, name)
}

/// Hydra's DSN for a database URL of ours (Hydra's MySQL DSN is Go's driver format).
pub fn hydra_dsn(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("mysql://") {
        let (creds, hostdb) = rest.split_once('@').unwrap();
        let (host, db) = hostdb.split_once('/').unwrap();
        format!("mysql://{creds}@tcp({host})/{db}?parseTime=true&multiStatements=true")
    } else if url.starts_with("postgres") {
        format!("{url}?sslmode=disable")
    } else {
        url.to_owned()
    }
}

/// Hydra v2.3.0's migrations that use `CAST(... AS JSON)`, which MariaDB lacks (Hydra
/// supports MySQL 8; Debian ships MariaDB). Both only convert existing rows, so on a fresh
/// database they are recorded as applied and skipped.
const MARIADB_SKIPPED_MIGRATIONS: [&str; 2] = ["20220513000001000001", "20220513000001000007"];

/// Creates Hydra's schema with Hydra's own `migrate sql`. `mysql_url` is our URL of the same
/// database, used on MariaDB to step over the migrations it cannot run.
pub async fn hydra_migrate(bin: &str, dsn: &str, mysql_url: Option<&str>) {
    let run = || {
        let out = Command::new(bin)
            .args(["migrate", "sql", "up", "-e", "--yes"])
            .env("DSN", dsn)
            .output()
            .expect("run hydra migrate");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let mut skips = MARIADB_SKIPPED_MIGRATIONS.iter();
    loop {
        let (ok, log) = run();
        if ok {
            return;
        }
        match (mysql_url, skips.next()) {
            (Some(url), Some(version)) => {
                let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
                sqlx::query("INSERT INTO schema_migration (version, version_self) VALUES (?, 0)")
                    .bind(version)
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            _ => panic!("hydra migrate sql failed on {dsn}:\n{log}"),
        }
    }
}

/// A running Ory Hydra, killed when dropped.
pub struct Hydra {
    child: Child,
    pub public: String,
    pub admin: String,
    pub log: PathBuf,
}

impl Hydra {
    /// Runs `hydra serve all --dev` with DCR enabled on a migrated database.
    pub fn start(bin: &str, dsn: &str, dir: &std::path::Path) -> Hydra {
        let (pubp, admp) = (free_port(), free_port());
        let public = format!("http://127.0.0.1:{pubp}");
        let admin = format!("http://127.0.0.1:{admp}");
        let log = dir.join(format!("hydra-{pubp}.log"));
        let child = Command::new(bin)
            .args(["serve", "all", "--dev", "--sqa-opt-out"])
            .env("DSN", dsn)
            .env("SECRETS_SYSTEM", "regwarden-test-secret-0123456789")
            .env("OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED", "true")
            .env("SERVE_PUBLIC_HOST", "127.0.0.1")
            .env("SERVE_PUBLIC_PORT", pubp.to_string())
            .env("SERVE_ADMIN_HOST", "127.0.0.1")
            .env("SERVE_ADMIN_PORT", admp.to_string())
            .env("URLS_SELF_ISSUER", &public)
            .env("URLS_SELF_PUBLIC", &public)
            // Only the challenges in Location headers are read; nothing serves these.
            .env("URLS_LOGIN", "http://127.0.0.1:9/login")
            .env("URLS_CONSENT", "http://127.0.0.1:9/consent")
            // Hydra does not advertise its DCR endpoint unless told where it is.
            .env(
                "WEBFINGER_OIDC_DISCOVERY_CLIENT_REGISTRATION_URL",
                format!("{public}/oauth2/register"),
            )
            .env("SQA_OPT_OUT", "true")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start hydra");
        let mut hydra = Hydra {
            child,
            public,
            admin,
            log,
        };
        hydra.wait_ready();
        hydra
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/health/ready", self.admin);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "hydra exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if http_get_ok(&url) {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "hydra not ready within 60s: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

fn http_get_ok(url: &str) -> bool {
    let u = url::Url::parse(url).unwrap();
    let Ok(mut s) = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())) else {
        return false;
    };
    let _ = write!(s, "GET {} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", u.path());
    let mut buf = [0u8; 16];
    std::io::Read::read(&mut s, &mut buf)
        .is_ok_and(|n| String::from_utf8_lossy(&buf[..n]).contains(" 200"))
}

impl Drop for Hydra {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers clients through the MCP TypeScript SDK. `spec` is register.mjs's spec.
pub fn register(mcp_dir: &str, issuer: &str, spec: Value) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg(format!("{mcp_dir}/register.mjs"))
        .args(["--issuer", issuer, "--spec", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node register.mjs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        out.status.success(),
        "registration failed: {lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

/// Runs a real authorization_code + PKCE flow for a registered client; returns the tokens.
pub fn authcode(mcp_dir: &str, hydra: &Hydra, reg: &Value) -> Value {
    match try_authcode(mcp_dir, hydra, reg) {
        Ok(tokens) => tokens,
        Err(e) => panic!("authorization code flow failed: {e}"),
    }
}

/// The same flow; Err holds the `{"error", "error_description"}` it ended with.
pub fn try_authcode(mcp_dir: &str, hydra: &Hydra, reg: &Value) -> Result<Value, Value> {
    let mut cmd = Command::new("node");
    cmd.arg(format!("{mcp_dir}/authcode.mjs")).args([
        "--issuer",
        &hydra.public,
        "--admin",
        &hydra.admin,
        "--client-id",
        reg["client_id"].as_str().unwrap(),
        "--redirect-uri",
        reg["redirect_uris"][0].as_str().unwrap(),
    ]);
    if let Some(secret) = reg["client_secret"].as_str() {
        cmd.args(["--client-secret", secret]);
        if let Some(m) = reg["token_endpoint_auth_method"].as_str() {
            cmd.args(["--auth-method", m]);
        }
    }
    let out = cmd.output().expect("run node authcode.mjs");
    let text = String::from_utf8_lossy(&out.stdout);
    let answer: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "authcode.mjs printed no JSON ({e}): {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if !out.status.success() {
        return Err(answer);
    }
    assert!(answer["access_token"].is_string(), "{answer}");
    Ok(answer)
}

/// Path of the regwarden binary built for the tests.
/// `regwarden apply --yes`, killed at the crash point `crash` if given (`REGWARDEN_CRASH_AT`): its exit status and stderr.
pub fn apply_crashing(
    cfg: &std::path::Path,
    crash: Option<&str>,
) -> (std::process::ExitStatus, String) {
    let mut cmd = regwarden();
    cmd.args(["apply", "--yes", "--config"])
        .arg(cfg)
        .env_remove("REGWARDEN_CONFIG")
        .env_remove("REGWARDEN_CRASH_AT");
    if let Some(c) = crash {
        cmd.env("REGWARDEN_CRASH_AT", c);
    }
    let out = cmd.output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into())
}

pub fn regwarden() -> Command {
    Command::new(env!("CARGO_BIN_EXE_regwarden"))
}

/// Runs a command to its end: exit status (-1 when killed by a signal), stdout, stderr.
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The same story on every backend: real MCP clients register through DCR, an operator adds
/// a client through the admin API, some registrations get real tokens; regwarden must see
/// every one with the right origin and last use, follow changes incrementally, and mark a
/// deleted client gone only after a full scan.
pub async fn hydra_scenario(hydra: &Hydra, mcp: &str, store_url: &str, dir: &std::path::Path) {
    use chrono::Utc;
    use regwarden::model::{Band, Origin, Usage};
    use regwarden::refresh::{no_progress, Scan};
    use regwarden::source::Source;
    use regwarden::state::{ScanKind, State};
    use serde_json::json;

    let regs = register(
        mcp,
        &hydra.public,
        json!([
            {"client": "claude-code", "count": 3}, {"client": "vscode", "count": 2}, {"client": "cursor"},
            {"client": "mcp-remote", "count": 2}, {"client": "inspector"}, {"client": "claude-hosted"},
            {"client": "chatgpt"}, {"client": "librechat"}, {"client": "cline"}, {"client": "gemini-cli"},
            {"client": "goose"}
        ]),
    );
    assert_eq!(regs.len(), 15, "{regs:?}");
    let http = reqwest::Client::new();
    let admin_client = json!({
        "client_id": "grafana-internal", "client_name": "Grafana",
        "redirect_uris": ["https://grafana.corp.example.com/login/generic_oauth"], "metadata": {"team": "platform"}
    });
    let r = http
        .post(format!("{}/admin/clients", hydra.admin))
        .json(&admin_client)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "admin create: {}",
        r.text().await.unwrap()
    );

    // Real use: a Claude Code install (public, PKCE) and hosted Claude (client_secret_post).
    let before = Utc::now() - chrono::Duration::seconds(5);
    authcode(mcp, hydra, &regs[0]);
    authcode(mcp, hydra, &regs[9]);

    let cfg_path = dir.join("regwarden.toml");
    std::fs::write(
        &cfg_path,
        format!("[state]\nurl = \"sqlite://state.db\"\n\n[[stores]]\nname = \"hydra\"\nkind = \"hydra\"\ndatabase_url = \"{store_url}\"\nbatch_size = 4\n"),
    )
    .unwrap();
    let cfg = regwarden::config::load(&cfg_path).unwrap();
    let store = &cfg.stores[0];
    let state = State::connect(&cfg.state_url).await.unwrap();
    let source = Source::open(store).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let scan = Scan {
        state: &state,
        store,
        source: &source,
        scorer: &cfg.scorer,
        cimd: None,
        cancel: &cancel,
        progress: &no_progress,
    };

    // First scan: full (nothing seen before), in batches of 4.
    let (first, _) = scan.run(ScanKind::Incremental).await.unwrap();
    assert_eq!(first.kind, ScanKind::Full);
    assert_eq!(
        (first.counts.seen, first.counts.new, first.counts.refused),
        (16, 16, 0),
        "{:?}",
        first.counts
    );
    for (i, reg) in regs.iter().enumerate() {
        let id = reg["client_id"].as_str().unwrap();
        let seen = state
            .registration("hydra", id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} not recorded"));
        assert_eq!(seen.origin, Origin::Dcr, "{reg}");
        assert_eq!(seen.client_name.as_deref(), reg["client_name"].as_str());
        assert_eq!(
            seen.metadata.redirect_uris,
            serde_json::from_value::<Vec<String>>(reg["redirect_uris"].clone()).unwrap()
        );
        match (i, seen.usage) {
            (0 | 9, Usage::LastUsed(t)) => {
                assert!(t >= before && t <= Utc::now(), "last use {t} of {reg}")
            }
            (0 | 9, other) => panic!("{reg} was used, regwarden says {other:?}"),
            (_, usage) => assert_eq!(usage, Usage::Never, "{reg}"),
        }
    }
    let grafana = state
        .registration("hydra", "grafana-internal")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (grafana.origin, grafana.usage),
        (Origin::Admin, Usage::Never)
    );

    // Changes: two new installs, first use of a VS Code registration, one client deleted.
    let more = register(
        mcp,
        &hydra.public,
        json!([{"client": "claude-code", "count": 2}]),
    );
    authcode(mcp, hydra, &regs[3]);
    let deleted = regs[14]["client_id"].as_str().unwrap();
    let r = http
        .delete(format!("{}/admin/clients/{deleted}", hydra.admin))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let (inc, _) = scan.run(ScanKind::Incremental).await.unwrap();
    assert_eq!(inc.kind, ScanKind::Incremental);
    assert_eq!(
        (inc.counts.new, inc.counts.gone),
        (2, 0),
        "{:?}",
        inc.counts
    );
    for reg in &more {
        let seen = state
            .registration("hydra", reg["client_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((seen.origin, seen.usage), (Origin::Dcr, Usage::Never));
    }
    let vscode = state
        .registration("hydra", regs[3]["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(vscode.usage, Usage::LastUsed(t) if t >= before),
        "{:?}",
        vscode.usage
    );
    let gone = state.registration("hydra", deleted).await.unwrap().unwrap();
    assert_eq!(
        gone.gone_at, None,
        "an incremental scan never marks a registration gone"
    );

    let (full, families) = scan.run(ScanKind::Full).await.unwrap();
    assert!(
        families.is_some(),
        "a complete full scan brings the families"
    );
    assert_eq!(
        (full.counts.seen, full.counts.new, full.counts.gone),
        (17, 0, 1),
        "{:?}",
        full.counts
    );
    // Every real client is recognized for what it is, and none is taken for an impostor.
    let judged =
        regwarden::refresh::judge_store(&state, "hydra", &cfg.scorer, Utc::now(), families, None)
            .await
            .unwrap();
    assert_eq!(judged.judged, 17);
    fn expected(client: &str) -> &str {
        match client {
            "claude-hosted" => "claude",
            "inspector" => "mcp-inspector",
            other => other,
        }
    }
    for reg in regs.iter().take(14).chain(&more) {
        let seen = state
            .registration("hydra", reg["client_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            seen.software.as_deref(),
            Some(expected(reg["client"].as_str().unwrap())),
            "{reg} {:?}",
            seen.reasons
        );
        assert!(
            matches!(seen.band, Some(Band::Trusted | Band::Neutral)),
            "{reg} judged {:?}: {:?}",
            seen.band,
            seen.reasons
        );
    }
    let grafana = state
        .registration("hydra", "grafana-internal")
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(grafana.band, Some(Band::Trusted | Band::Neutral)),
        "{:?}",
        grafana.reasons
    );
    assert_eq!(
        judged.families.families, 11,
        "one family per live client software, plus Grafana"
    );

    assert!(state
        .registration("hydra", deleted)
        .await
        .unwrap()
        .unwrap()
        .gone_at
        .is_some());
    drop(source);
    drop(state);

    // What an operator sees.
    let out = regwarden()
        .args(["report", "--format", "json", "--config"])
        .arg(&cfg_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &report["stores"][0];
    assert_eq!(
        (s["live"].as_u64(), s["gone"].as_u64()),
        (Some(17), Some(1)),
        "{s}"
    );
    assert_eq!(s["by_origin"], json!({"admin": 1, "dcr": 16}));
    assert_eq!(s["by_usage"], json!({"never": 14, "used": 3}));
    assert_eq!(
        s["name_groups"][0],
        json!({"name": "claude code", "registrations": 5, "never_used": 4})
    );
}

/// A child process killed when the test ends, whether it passed or failed.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// GET a URL: status and body (status 0 and the error when it cannot be reached).
pub async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// Polls until `check` passes on the body of `url`, or fails with the last answer.
pub async fn wait_for(
    url: &str,
    what: &str,
    limit: Duration,
    check: impl Fn(u16, &str) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = get(url).await;
        if check(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last answer {status}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The value of one series in a metrics text, e.g. `regwarden_unused_registrations{store="hydra"}`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}
