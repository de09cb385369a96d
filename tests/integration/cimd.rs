//! `regwarden cimd URL` as an operator runs it: every destination the daemon may not fetch
//! from is refused, with the rule that refused it, and exit status 1. A name that resolves to
//! loopback (`localhost`, through the system resolver) is refused when it is resolved for the
//! connection. Fetches that succeed are tested in the library (`fetch::tests`), against local
//! https servers a test-only client may reach.

use crate::harness::*;

/// Runs `regwarden cimd URL` in an empty folder (no ./regwarden.toml: default settings).
fn cimd(url: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    output(
        regwarden()
            .current_dir(dir.path())
            .env_remove("REGWARDEN_CONFIG")
            .args(["cimd", url]),
    )
}

#[test]
fn refused_destinations_name_their_rule_and_exit_1() {
    for (url, rule, says) in [
        (
            "http://example.com/client.json",
            "url.not_https",
            "only https",
        ),
        (
            "https://localhost/client.json",
            "address.loopback",
            "localhost resolves to",
        ),
        (
            "https://2130706433/client.json",
            "address.loopback",
            "host 2130706433 is 127.0.0.1",
        ),
        (
            "https://0x7f.1/client.json",
            "address.loopback",
            "host 0x7f.1 is 127.0.0.1",
        ),
        (
            "https://017700000001/c.json",
            "address.loopback",
            "host 017700000001 is 127.0.0.1",
        ),
        (
            "https://127.0.0.1/client.json",
            "address.loopback",
            "127.0.0.1 is loopback",
        ),
        (
            "https://[::1]/client.json",
            "address.loopback",
            "::1 is loopback",
        ),
        (
            "https://10.0.0.1/client.json",
            "address.private",
            "10.0.0.1 is private (RFC 1918)",
        ),
        (
            "https://192.168.1.10/client.json",
            "address.private",
            "RFC 1918",
        ),
        (
            "https://100.64.0.1/client.json",
            "address.cgnat",
            "RFC 6598",
        ),
        (
            "https://169.254.169.254/latest",
            "address.metadata",
            "cloud metadata",
        ),
        (
            "https://[fd00:ec2::254]/latest",
            "address.metadata",
            "cloud metadata",
        ),
        (
            "https://[::ffff:169.254.169.254]/x",
            "address.ipv4_embedded",
            "IPv4",
        ),
        ("https://[64:ff9b::a9fe:a9fe]/x", "address.nat64", "NAT64"),
        (
            "https://8.8.8.8/client.json",
            "url.ip_literal",
            "only DNS names",
        ),
        (
            "https://user:pw@example.com/c.json",
            "url.userinfo",
            "user information",
        ),
        ("https://example.com/", "url.invalid", "must have a path"),
        ("https://example.com/c.json#x", "url.invalid", "fragment"),
    ] {
        let (code, out, err) = cimd(url);
        assert_eq!(code, 1, "{url}: {out}{err}");
        assert!(out.starts_with("refused: "), "{url}: {out}");
        assert!(out.contains(&format!("[{rule}]")), "{url}: {out}");
        assert!(out.contains(says), "{url}: {out}");
    }
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let (code, _, err) = output(regwarden().arg("cimd"));
    assert_eq!(code, 2, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("regwarden.toml");
    std::fs::write(&cfg, "[fetch]\ntimeout = \"5m\"\n").unwrap();
    let (code, _, err) = output(
        regwarden()
            .args(["cimd", "https://example.com/c.json", "--config"])
            .arg(&cfg),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fetch.timeout"), "{err}");
}

/// The daemon with fetching on: it fetches the CIMD clients of a JSON Lines store when it
/// judges them, refuses the one whose name resolves to loopback, and counts both outcomes.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_fetches_cimd_documents_and_counts_each_outcome() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let line = |id: &str| {
        format!(
            r#"{{"client_id":"{id}","client_name":"Tools","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}}"#
        )
    };
    let clients = [
        line("https://localhost/client.json"),
        line("https://no-such-host.invalid/client.json"),
        line("plain-dcr-client"),
    ];
    std::fs::write(dir.join("clients.jsonl"), clients.join("\n")).unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let cfg = dir.join("regwarden.toml");
    std::fs::write(
        &cfg,
        format!(
            "[state]\nurl = \"sqlite://state.db\"\n[http]\nlisten = \"{http}\"\n\
             [fetch]\nenabled = true\ntimeout = \"3s\"\nconnect_timeout = \"2s\"\n\
             [[stores]]\nname = \"file\"\nkind = \"jsonl\"\npath = \"clients.jsonl\"\n"
        ),
    )
    .unwrap();
    let _daemon = Running(
        regwarden()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let series = |o: &str| format!(r#"regwarden_cimd_fetches_total{{outcome="{o}"}}"#);
    let text = wait_for(
        &format!("http://{http}/metrics"),
        "both CIMD clients fetched",
        std::time::Duration::from_secs(30),
        |_, b| {
            metric(b, &series("refused")).unwrap_or(0.0) >= 1.0
                && metric(b, &series("failed")).unwrap_or(0.0) >= 1.0
        },
    )
    .await;
    assert_eq!(metric(&text, &series("verified")), Some(0.0), "{text}");
    assert_eq!(metric(&text, &series("mismatch")), Some(0.0), "{text}");
}
