//! The command line as an operator uses it: exit codes, messages, the demo, JSON Lines
//! stores with bad input, and the state database on PostgreSQL.

use crate::harness::*;
use serde_json::Value;
use std::path::Path;

fn run(args: &[&str], config: &Path) -> (i32, String, String) {
    output(regwarden().args(args).arg("--config").arg(config))
}

#[test]
fn check_config_names_every_bad_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[http]\nlisten = \"everywhere\"\n[schedule]\nscan = \"often\"\n[[stores]]\nname = \"a\"\nkind = \"auth0\"\n",
    )
    .unwrap();
    let (code, _, err) = run(&["check-config"], &cfg);
    assert_eq!(code, 2, "{err}");
    for key in ["http.listen", "schedule.scan", "stores[0].kind"] {
        assert!(err.contains(key), "{key} not named in:\n{err}");
    }
    std::fs::write(&cfg, "[http]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap();
    let (code, _, err) = run(&["scan"], &cfg);
    assert_eq!(code, 2);
    assert!(
        err.contains("http.listen_port") && err.contains("unknown field"),
        "{err}"
    );
}

#[test]
fn the_shipped_config_checks_out() {
    let (code, out, err) = run(
        &["check-config"],
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/regwarden.toml"
        )),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("store prod-hydra (hydra)"), "{out}");
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let (code, _, err) = run(&["report"], Path::new("/nonexistent/regwarden.toml"));
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read config file /nonexistent/regwarden.toml"),
        "{err}"
    );
}

#[test]
fn demo_leaves_a_config_every_command_works_on() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let out = regwarden()
        .args(["demo", "--registrations", "400", "--dir"])
        .arg(&demo_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Store demo (hydra): 400 live registrations, 0 gone"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Biggest name groups") && stdout.contains("claude code"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Oldest never-used registrations"),
        "{stdout}"
    );

    let cfg = demo_dir.join("regwarden.toml");
    let (code, out, err) = run(&["scan"], &cfg);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("demo: incremental scan"), "{out}");

    let (code, out, _) = run(&["report", "--format", "csv"], &cfg);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "store,client_id,client_name,origin,created_at,usage,last_used_at,first_seen_at,band"
    );
    assert_eq!(lines.len(), 401);

    let (code, out, _) = run(&["report", "--format", "json"], &cfg);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    let s = &report["stores"][0];
    assert_eq!(s["live"], 400);
    assert!(s["by_origin"]["admin"].as_u64().unwrap() >= 4, "{s}");
    assert!(s["by_usage"]["never"].as_u64().unwrap() > 50, "{s}");

    // A second demo run replaces the first.
    let again = regwarden()
        .args(["demo", "--registrations", "50", "--dir"])
        .arg(&demo_dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("50 live registrations"));
}

/// `demo --kind keycloak`: the same population as a Keycloak realm's tables, read by the
/// Keycloak reader (origins from registration tokens, creation from the best evidence,
/// built-in clients left out), and its Max Clients limit exported by the daemon with no
/// capacity in the config.
#[tokio::test(flavor = "multi_thread")]
async fn demo_builds_a_keycloak_realm_too() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let out = regwarden()
        .args([
            "demo",
            "--kind",
            "keycloak",
            "--registrations",
            "400",
            "--dir",
        ])
        .arg(&demo_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Store demo (keycloak): 400 live registrations, 0 gone"),
        "{stdout}"
    );
    assert!(
        stdout.contains("disables the client in Keycloak"),
        "{stdout}"
    );
    let cfg = demo_dir.join("regwarden.toml");
    let (code, out, _) = run(&["report", "--format", "json"], &cfg);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    let s = &report["stores"][0];
    assert!(s["by_origin"]["admin"].as_u64().unwrap() >= 4, "{s}");
    assert!(s["by_origin"]["dcr"].as_u64().unwrap() > 300, "{s}");
    assert!(s["by_usage"]["never"].as_u64().unwrap() > 50, "{s}");
    let (_, csv, _) = run(&["report", "--format", "csv"], &cfg);
    let old_dcr = csv
        .lines()
        .skip(1)
        .find(|l| l.contains(",dcr,"))
        .and_then(|l| l.split(',').nth(1))
        .unwrap()
        .to_owned();
    let (code, out, _) = run(&["explain", &old_dcr], &cfg);
    assert_eq!(code, 0);
    assert!(
        out.contains("(from the store's creation time)")
            || out.contains("(from its CLIENT_REGISTER event)"),
        "{out}"
    );

    let http = format!("127.0.0.1:{}", free_port());
    let _daemon = Running(
        regwarden()
            .args(["run", "--config"])
            .arg(&cfg)
            .env("REGWARDEN_HTTP__LISTEN", &http)
            .env("REGWARDEN_SCHEDULE__SCAN", "*/2 * * * * *")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let text = wait_for(
        &format!("http://{http}/metrics"),
        "the realm's capacity",
        std::time::Duration::from_secs(60),
        |_, b| metric(b, r#"regwarden_store_capacity_used{store="demo"}"#).is_some(),
    )
    .await;
    // Every client of the realm, the six built-in ones too; the limit the demo set.
    assert_eq!(
        metric(&text, r#"regwarden_store_capacity_used{store="demo"}"#),
        Some(406.0)
    );
    assert_eq!(
        metric(&text, r#"regwarden_store_capacity{store="demo"}"#),
        Some(450.0)
    );
}

/// Well-formed, malformed and hostile JSON Lines: every record is accounted for, the scan
/// completes, nothing panics.
fn write_jsonl(path: &Path) {
    let lines = [
        r#"{"client_id":"a1","client_name":"Claude Code (docs)","redirect_uris":["http://localhost:5555/callback"],"created_at":"2026-01-01T00:00:00Z","last_used_at":null}"#.to_owned(),
        r#"{"client_id":"a2","client_name":"Visual Studio Code","created_at":"2026-02-01T00:00:00Z","last_used_at":"2026-03-01T00:00:00Z"}"#.to_owned(),
        r#"{"client_id":"https://vscode.dev/oauth/client-metadata.json","client_name":"Visual Studio Code"}"#.to_owned(),
        r#"{"client_id":"a3","client_name":"evil\u202e\u0000name","redirect_uris":"javascript:alert(1)","grant_types":[1,2]}"#.to_owned(),
        "{not json".to_owned(),
        "[1,2,3]".to_owned(),
        r#"{"client_name":"no id"}"#.to_owned(),
        format!(r#"{{"client_id":"big","client_name":"{}"}}"#, "x".repeat(2 << 20)),
        String::new(),
    ];
    std::fs::write(path, lines.join("\n")).unwrap();
}

fn jsonl_config(dir: &Path, state_url: &str) -> std::path::PathBuf {
    write_jsonl(&dir.join("clients.jsonl"));
    let cfg = dir.join("regwarden.toml");
    std::fs::write(&cfg, format!("[state]\nurl = \"{state_url}\"\n[[stores]]\nname = \"audit\"\nkind = \"jsonl\"\npath = \"clients.jsonl\"\nbatch_size = 2\n")).unwrap();
    cfg
}

fn check_jsonl_scan(cfg: &Path) {
    let (code, out, err) = run(&["scan"], cfg);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("audit: full scan, 4 seen, 4 new, 0 changed, 0 gone, 4 warnings, 4 refused"),
        "{out}\n{err}"
    );
    assert!(
        err.contains("line 5") && err.contains("not valid JSON"),
        "{err}"
    );
    assert!(
        !err.contains('\u{202e}'),
        "a bidi override reached the logs"
    );

    let (code, out, _) = run(&["report", "--format", "json"], cfg);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    let s = &report["stores"][0];
    assert_eq!(s["by_origin"], serde_json::json!({"cimd": 1, "unknown": 3}));
    assert_eq!(
        s["by_usage"],
        serde_json::json!({"never": 1, "unknown": 2, "used": 1})
    );
    assert_eq!(s["last_scan"]["refused"], 4);

    // Rescanning changes nothing and loses nothing.
    let (_, out, _) = run(&["scan"], cfg);
    assert!(out.contains("4 seen, 0 new, 0 changed, 0 gone"), "{out}");
}

#[test]
fn jsonl_store_with_bad_lines_on_sqlite_state() {
    let dir = tempfile::tempdir().unwrap();
    check_jsonl_scan(&jsonl_config(dir.path(), "sqlite://state.db"));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn the_state_database_can_be_postgresql() {
    let pg = need("REGWARDEN_TEST_PG_URL");
    let dir = tempfile::tempdir().unwrap();
    let url = create_pg_database(&pg, &unique("state")).await;
    let cfg = jsonl_config(dir.path(), &url);
    tokio::task::spawn_blocking(move || check_jsonl_scan(&cfg))
        .await
        .unwrap();
}

use crate::corpus;

/// `regwarden score` as ARCHITECTURE.md's contract says: one JSON object per input line, in order,
/// an error object for a malformed line, stable cluster ids whatever the input order.
#[test]
fn score_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<serde_json::Value> = corpus::legitimate()
        .into_iter()
        .chain(corpus::attacks())
        .map(|c| c.doc)
        .collect();
    let mut lines: Vec<String> = docs.iter().map(|d| d.to_string()).collect();
    lines.insert(3, "{broken".into());
    lines.insert(7, "[\"not an object\"]".into());
    lines.insert(9, r#"{"client_name": "no id"}"#.into());
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let run_score = |file: &Path| {
        let out = regwarden()
            .args(["score", "--now", "2026-11-20T00:00:00Z", "--input"])
            .arg(file)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = run_score(&input);
    let results: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), lines.len(), "one output line per input line");
    for (i, r) in results.iter().enumerate() {
        if [3, 7, 9].contains(&i) {
            assert_eq!(r["line"], i + 1, "{r}");
            assert!(r["error"].is_string(), "{r}");
            continue;
        }
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "band",
                "client_id",
                "cluster",
                "reasons",
                "score",
                "software"
            ],
            "{r}"
        );
        for reason in r["reasons"].as_array().unwrap() {
            assert!(
                reason["rule"].is_string()
                    && reason["points"].is_i64()
                    && reason["detail"].is_string(),
                "{reason}"
            );
        }
    }
    assert_eq!(out, run_score(&input), "repeatable with --now");

    // Reversed input: same verdict and cluster for every client_id.
    let reversed = dir.path().join("reversed.jsonl");
    std::fs::write(
        &reversed,
        lines.iter().rev().cloned().collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let by_id = |text: &str| -> std::collections::BTreeMap<String, (String, String)> {
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v.get("client_id").is_some())
            .map(|v| {
                (
                    v["client_id"].as_str().unwrap().to_owned(),
                    (v["cluster"].to_string(), v["band"].to_string()),
                )
            })
            .collect()
    };
    assert_eq!(by_id(&out), by_id(&run_score(&reversed)));

    let (code, _, err) = run(
        &["score", "--input", "/nonexistent.jsonl"],
        Path::new("/nonexistent/regwarden.toml"),
    );
    assert_eq!(
        code, 2,
        "an explicit config that is missing is a usage error: {err}"
    );
    let out = regwarden()
        .args(["score", "--now", "yesterday", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_shows_every_reason_family_and_catalog_match() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let out = regwarden()
        .args(["demo", "--registrations", "300", "--dir"])
        .arg(&demo_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let cfg = demo_dir.join("regwarden.toml");
    let (_, csv, _) = run(&["report", "--format", "csv"], &cfg);
    let pick = |band: &str| {
        csv.lines()
            .find(|l| l.ends_with(band))
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let (code, text, err) = run(&["explain", &pick(",malicious")], &cfg);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("Verdict: malicious"), "{text}");
    assert!(
        text.contains(" strong "),
        "the tier of the evidence is shown: {text}"
    );
    assert!(
        text.contains("Catalog:") && text.contains("Family "),
        "{text}"
    );
    let (_, text, _) = run(&["explain", &pick(",trusted")], &cfg);
    assert!(
        text.contains("Verdict: trusted") && text.contains("trust   catalog.signature"),
        "{text}"
    );
    let (code, _, err) = run(&["explain", "no-such-client"], &cfg);
    assert_eq!(code, 1);
    assert!(err.contains("no registration with client_id"), "{err}");
}
