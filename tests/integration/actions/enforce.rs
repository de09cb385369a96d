//! Enforcing with `apply --yes`: exactly the expected clients are quarantined, and deleted by
//! a run after the grace; refused plans, bad rules and an unreachable admin API change
//! nothing; restore brings a deleted client back as it was before its quarantine.

use super::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn enforce_quarantines_then_deletes_exactly_the_expected_clients_and_restore_brings_one_back()
{
    let s = start().await;
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
    let everything = write_config(
        &s,
        "everything.toml",
        &hydra.admin,
        &format!("{POLICY}[[deny]]\nname = \"*\"\n"),
    );
    let (code, _, err) = run_cli(&["apply", "--yes"], &everything);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("deny[0].name: matches every registration"),
        "{err}"
    );
    // Matching all without saying so is caught when planning.
    let any_name = write_config(
        &s,
        "any-name.toml",
        &hydra.admin,
        &format!("{POLICY}[[deny]]\nname = \"?*\"\n"),
    );
    let (code, _, err) = run_cli(&["apply", "--yes"], &any_name);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("matches every one of the 7 registrations"),
        "{err}"
    );
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
            assert_eq!(a["action"], "quarantine", "{a}");
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

    // 4. apply --yes: exactly the expected clients are quarantined (all still there, new
    //    tokens refused), every other one untouched.
    let before: Vec<Value> = futures_get_all(&hydra.admin, &[&cc0, &cursor, &vscode]).await;
    let (code, out, err) = run_cli(&["apply", "--yes"], &cfg_path);
    let quarantined = std::time::Instant::now();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 done, 0 already gone, 0 failed"), "{out}");
    assert_eq!(hydra_clients(&hydra.admin).await, all);
    for id in [&cc1, &cc2, &impostor, &job] {
        let c = hydra_client(&hydra.admin, id).await;
        assert!(regwarden::quarantine::is_quarantined(&c), "{c}");
    }
    assert_eq!(
        futures_get_all(&hydra.admin, &[&cc0, &cursor, &vscode]).await,
        before
    );
    let denied = try_authcode(mcp, hydra, &regs[5]).unwrap_err();
    assert_eq!(denied["error"], "invalid_request", "{denied}");
    authcode(mcp, hydra, &regs[0]); // the used install still works

    // The journal: one done quarantine per client, with a snapshot and no secret.
    let journal = state.recent_actions("hydra", 10).await.unwrap();
    assert_eq!(journal.len(), 4);
    for e in &journal {
        assert_eq!(
            (e.action.as_str(), e.outcome.as_deref()),
            ("quarantine", Some("done"))
        );
        let snap: Value = serde_json::from_str(&e.snapshot).unwrap();
        assert_eq!(snap["client_id"].as_str(), Some(e.client_id.as_str()));
        assert!(snap.get("client_secret").is_none(), "{snap}");
    }
    // Rescanned, the quarantined clients are judged as they were registered: the impostor is
    // still a malicious DCR registration, not one with no redirects made by an admin.
    full_scan(&cfg, &state).await;
    let seen = state
        .registration("hydra", &impostor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (seen.band, seen.origin),
        (
            Some(regwarden::model::Band::Malicious),
            regwarden::model::Origin::Dcr
        )
    );
    assert_eq!(
        seen.metadata.redirect_uris,
        ["https://claude-code-auth.example.net/callback"]
    );

    // 5. Within the grace nothing more happens; after it, the quarantined clients are deleted.
    let (code, out, err) = run_cli(&["apply", "--yes"], &cfg_path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 action(s) planned"), "{out}");
    let past_grace = quarantined + QUARANTINE_GRACE + Duration::from_secs(1);
    tokio::time::sleep_until(past_grace.into()).await;
    let (code, out, err) = run_cli(&["plan", "--format", "json"], &cfg_path);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    for a in plan["plans"][0]["actions"].as_array().unwrap() {
        assert_eq!(
            (&a["action"], &a["rule"]),
            (&json!("delete"), &json!("quarantine.grace"))
        );
    }
    let (code, out, err) = run_cli(&["apply", "--yes"], &cfg_path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 done, 0 already gone, 0 failed"), "{out}");
    let kept: BTreeSet<String> = [&cc0, &cursor, &vscode].into_iter().cloned().collect();
    assert_eq!(hydra_clients(&hydra.admin).await, kept);
    let journal = state.recent_actions("hydra", 10).await.unwrap();
    assert_eq!(journal.len(), 8);
    assert!(journal[..4]
        .iter()
        .all(|e| (e.action.as_str(), e.outcome.as_deref()) == ("delete", Some("done"))));
    let (_, report, _) = run_cli(&["report"], &cfg_path);
    assert!(report.contains("Recent actions in hydra"), "{report}");
    assert!(report.contains(&job), "{report}");

    // 6. Restore the confidential job's delete: same client_id and metadata as before its
    //    quarantine, a new secret that works in a real client_credentials token request.
    let action = journal
        .iter()
        .find(|e| e.client_id == job && e.action == "delete")
        .unwrap()
        .id;
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
    assert_eq!(back["metadata"], json!({}), "no quarantine tag");
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
