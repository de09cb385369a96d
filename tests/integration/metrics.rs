//! Metric label values stay bounded whatever gets registered: thousands of random names and
//! URIs give exactly the series a handful does.

use regwarden::config;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// splitmix64, for repeatable random registrations.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn random_registrations(n: usize) -> String {
    let mut s = 7;
    let names = [
        "Claude Code",
        "Cursor",
        "ChatGPT",
        "evil",
        "Ünïcödé",
        "\u{202e}gnp",
        "x\ny",
    ];
    (0..n)
        .map(|i| {
            let r = next(&mut s);
            serde_json::json!({
                "client_id": format!("c{i}-{r:x}"),
                "client_name": format!("{} {}", names[(r % 7) as usize], r % 1000),
                "redirect_uris": [format!("https://h{}.example/{}", r % 997, r % 13), format!("http://localhost:{}/callback", r % 60000)],
                "software_id": format!("sw-{}", r % 101),
                "created_at": "2026-11-01T00:00:00Z",
                "last_used_at": if r % 2 == 0 { serde_json::Value::Null } else { "2026-11-10T00:00:00Z".into() },
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the daemon on a JSON Lines store of `n` random registrations; returns the series.
async fn series(n: usize) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clients.jsonl"), random_registrations(n)).unwrap();
    let cfg_path = dir.path().join("regwarden.toml");
    std::fs::write(
        &cfg_path,
        "[state]\nurl = \"sqlite://state.db\"\n[[stores]]\nname = \"audit\"\nkind = \"jsonl\"\npath = \"clients.jsonl\"\ncapacity = 5000\n",
    )
    .unwrap();
    let cfg = config::load(&cfg_path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let daemon = tokio::spawn(regwarden::daemon::run(cfg, listener, stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "daemon not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    stop.cancel();
    daemon.await.unwrap().unwrap();
    let lines: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
        .collect();
    assert!(
        lines.contains(r#"regwarden_store_capacity{store="audit"}"#),
        "{text}"
    );
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn series_do_not_grow_with_what_is_registered() {
    let few = series(20).await;
    let many = series(3000).await;
    assert_eq!(
        few, many,
        "the same series for 20 and 3000 random registrations"
    );
    for line in &many {
        for part in line.split('"').skip(1).step_by(2) {
            assert!(
                part.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c)),
                "label value {part:?} in {line} is not a fixed value"
            );
        }
    }
    eprintln!("{} series for 3000 random registrations", many.len());
}
