//! The daemon in enforce mode, on its schedule, with quarantine.

use super::*;

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
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn the_daemon_enforces_on_its_schedule_quarantining_before_deleting() {
    let pg = need("REGWARDEN_TEST_PG_URL");
    let s = start().await;
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
    let mut daemon = Running(
        regwarden()
            .args(["run", "--config"])
            .arg(&cfg_path)
            .env_remove("REGWARDEN_CONFIG")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
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
                    // Not only a tag: the client can get no new token.
                    assert_eq!(a["grant_types"], json!([regwarden::quarantine::BLOCKED]));
                    assert_eq!(a["redirect_uris"], json!([]));
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
        .arg(daemon.0.id().to_string())
        .status()
        .unwrap();
    daemon.0.wait().unwrap();
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
    // Oldest first: per client a quarantine, later its delete, both done; nothing else.
    let mut journal = state.recent_actions("hydra", 10).await.unwrap();
    journal.reverse();
    for client in [id(0), id(1)] {
        let mine: Vec<(&str, Option<&str>)> = journal
            .iter()
            .filter(|e| e.client_id == client)
            .map(|e| (e.action.as_str(), e.outcome.as_deref()))
            .collect();
        assert_eq!(
            mine,
            [("quarantine", Some("done")), ("delete", Some("done"))],
            "{client}"
        );
    }
    assert_eq!(journal.len(), 4);
}
