//! `regwarden run` as an operator runs it: the real binary against a real Hydra on its own
//! PostgreSQL server, which the test stops and starts again under the running daemon.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A PostgreSQL server of this test's own (initdb in a temporary folder), so stopping it
/// disturbs no other test.
struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn as_postgres(&self, program: &str) -> Command {
        // initdb and pg_ctl refuse to run as root; on CI we are root.
        if unsafe_is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        }
    }

    fn init(bin: &str, dir: &Path) -> PrivatePostgres {
        let data = dir.join("pg");
        std::fs::create_dir_all(&data).unwrap();
        let pg = PrivatePostgres {
            bin: PathBuf::from(bin),
            data,
            port: free_port(),
        };
        if unsafe_is_root() {
            for p in [dir, &pg.data] {
                let ok = Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(p)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "chown {}", p.display());
            }
        }
        let out = pg
            .as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&pg.data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start();
        pg
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.data.display()
        );
        let out = self
            .as_postgres("pg_ctl")
            .args(["-w", "-D"])
            .arg(&self.data)
            .args(["-o", &opts, "-l"])
            .arg(self.data.join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        let out = self
            .as_postgres("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn daemon_serves_metrics_and_survives_its_store_going_down() {
    let (pg_bin, bin, mcp) = (
        need("REGWARDEN_TEST_PG_BIN"),
        need("REGWARDEN_HYDRA_BIN"),
        need("REGWARDEN_MCP_DIR"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pg = PrivatePostgres::init(&pg_bin, dir);
    let url = create_pg_database(&pg.url("postgres"), "hydra").await;
    hydra_migrate(&bin, &hydra_dsn(&url), None).await;
    let hydra = Hydra::start(&bin, &hydra_dsn(&url), dir);
    register(
        &mcp,
        &hydra.public,
        serde_json::json!([{"client": "claude-code", "count": 2}, {"client": "cursor"}]),
    );

    let http = format!("127.0.0.1:{}", free_port());
    let cfg = dir.join("regwarden.toml");
    std::fs::write(
        &cfg,
        format!(
            "[state]\nurl = \"sqlite://state.db\"\n[http]\nlisten = \"{http}\"\n[log]\nformat = \"json\"\n\
             [schedule]\nscan = \"*/2 * * * * *\"\nreconcile = \"*/10 * * * * *\"\n\
             [[stores]]\nname = \"hydra\"\nkind = \"hydra\"\ndatabase_url = \"{url}\"\n"
        ),
    )
    .unwrap();
    let log = dir.join("regwarden.log");
    let mut daemon = Running(
        regwarden()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{http}");
    // Real clients through DCR, whatever band their verdicts put them in.
    let dcr = |text: &str| -> f64 {
        let series = ["trusted", "neutral", "suspicious", "malicious"].map(|band| {
            format!(r#"regwarden_registrations{{band="{band}",origin="dcr",store="hydra"}}"#)
        });
        series.iter().filter_map(|s| metric(text, s)).sum()
    };

    wait_for(
        &format!("{base}/readyz"),
        "ready",
        Duration::from_secs(30),
        |s, _| s == 200,
    )
    .await;
    let text = wait_for(
        &format!("{base}/metrics"),
        "3 registrations",
        Duration::from_secs(10),
        |_, b| dcr(b) == 3.0,
    )
    .await;
    assert_eq!(
        metric(&text, r#"regwarden_unused_registrations{store="hydra"}"#),
        Some(3.0)
    );
    assert!(
        metric(
            &text,
            r#"regwarden_last_successful_scan_timestamp_seconds{store="hydra"}"#
        )
        .unwrap()
            > 1.7e9
    );
    assert!(text.contains("regwarden_build_info{version="), "{text}");
    assert!(
        text.contains(r#"regwarden_scan_duration_seconds_count{kind="full",store="hydra"}"#),
        "{text}"
    );

    // New registrations show up at the next incremental scan.
    register(
        &mcp,
        &hydra.public,
        serde_json::json!([{"client": "vscode", "count": 2}]),
    );
    let text = wait_for(
        &format!("{base}/metrics"),
        "5 registrations",
        Duration::from_secs(15),
        |_, b| dcr(b) == 5.0,
    )
    .await;
    let created = |software: &str| {
        metric(
            &text,
            &format!(
                r#"regwarden_registrations_created_total{{software="{software}",store="hydra"}}"#
            ),
        )
    };
    assert_eq!(
        (
            created("claude-code"),
            created("cursor"),
            created("vscode"),
            created("other")
        ),
        (Some(2.0), Some(1.0), Some(2.0), Some(0.0))
    );
    assert_eq!(
        metric(&text, r#"regwarden_clusters{store="hydra"}"#),
        Some(3.0),
        "{text}"
    );

    // The store's database goes away: the daemon stays up, says it is not ready, counts errors.
    drop(hydra);
    pg.stop();
    let body = wait_for(
        &format!("{base}/readyz"),
        "not ready",
        Duration::from_secs(30),
        |s, _| s == 503,
    )
    .await;
    assert!(body.contains("store hydra"), "{body}");
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    let errors = r#"regwarden_scan_errors_total{store="hydra"}"#;
    let text = wait_for(
        &format!("{base}/metrics"),
        "a counted scan error",
        Duration::from_secs(30),
        |_, b| metric(b, errors).is_some_and(|n| n >= 1.0),
    )
    .await;
    assert_eq!(dcr(&text), 5.0, "the last known state stays exported");

    // It comes back: so does readiness, without a restart.
    pg.start();
    wait_for(
        &format!("{base}/readyz"),
        "ready again",
        Duration::from_secs(30),
        |s, _| s == 200,
    )
    .await;

    // SIGTERM stops it cleanly.
    let pid = daemon.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "regwarden did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "exit {status}; logs:\n{logs}");
    assert!(
        logs.contains("scan failed") && logs.contains("regwarden stopped"),
        "{logs}"
    );
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(
            !line.contains("postgres://postgres@"),
            "a database URL reached the logs: {v}"
        );
    }
}
