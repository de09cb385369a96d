//! A quarantine on real Hydra stops every new token, not just tags the client: a used
//! client's refresh token, a new authorization code flow and client_credentials all fail
//! while it lasts, and work again, with the same secret and refresh tokens, after
//! `regwarden restore`. Start-up reconciliation recognizes a quarantine that took effect.

use super::*;
use regwarden::act::{reconcile, AdminApi, Intent};

/// A token request; the answer's status and JSON.
async fn token(hydra: &Hydra, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/oauth2/token", hydra.public))
        .form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn a_quarantined_client_gets_no_new_token_until_restored() {
    let s = start().await;
    let (hydra, mcp) = (&s.hydra, s.mcp.as_str());
    let regs = register(
        mcp,
        &hydra.public,
        json!([
            {"client": "claude-code"}, {"client": "librechat"},
            {"client": "custom", "metadata": {"client_name": "Nightly report job", "redirect_uris": [],
                "grant_types": ["client_credentials"], "response_types": [],
                "token_endpoint_auth_method": "client_secret_basic"}},
            {"client": "cursor"}
        ]),
    );
    let id = |i: usize| regs[i]["client_id"].as_str().unwrap().to_owned();
    let (public, confidential, job, other) = (id(0), id(1), id(2), id(3));
    let secret = |i: usize| regs[i]["client_secret"].as_str().unwrap().to_owned();
    let (conf_secret, job_secret) = (secret(1), secret(2));
    // Real use: live refresh tokens for the public and the confidential client.
    let public_refresh = authcode(mcp, hydra, &regs[0])["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let conf_refresh = authcode(mcp, hydra, &regs[1])["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh_public = || {
        let (rt, c) = (public_refresh.clone(), public.clone());
        async move {
            token(
                hydra,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &c),
                    ("refresh_token", &rt),
                ],
                None,
            )
            .await
        }
    };
    let refresh_confidential = || {
        let (rt, c, sec) = (
            conf_refresh.clone(),
            confidential.clone(),
            conf_secret.clone(),
        );
        async move {
            token(
                hydra,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                Some((&c, &sec)),
            )
            .await
        }
    };
    let credentials = || {
        let (c, sec) = (job.clone(), job_secret.clone());
        async move {
            token(
                hydra,
                &[("grant_type", "client_credentials")],
                Some((&c, &sec)),
            )
            .await
        }
    };
    assert_eq!(credentials().await.0, 200);
    let before: Vec<Value> = {
        let mut v = Vec::new();
        for c in [&public, &confidential, &job] {
            v.push(hydra_client(&hydra.admin, c).await);
        }
        v
    };

    // The default policy: quarantine first.
    let deny: String = [&public, &confidential, &job]
        .iter()
        .map(|c| format!("[[deny]]\nclient_id = \"{c}\"\nnote = \"test\"\n"))
        .collect();
    let cfg_path = write_config(
        &s,
        "regwarden.toml",
        &hydra.admin,
        &format!("[actions]\nmax_fraction_per_run = 0.75\n{deny}"),
    );
    let (code, out, err) = run_cli(&["apply", "--yes"], &cfg_path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 done, 0 already gone, 0 failed"), "{out}");
    assert_eq!(
        hydra_clients(&hydra.admin).await.len(),
        4,
        "nothing deleted"
    );

    // Hydra refuses every new token: refresh (public and confidential), client_credentials,
    // and a new authorization request.
    for (what, (status, answer)) in [
        ("public refresh", refresh_public().await),
        ("confidential refresh", refresh_confidential().await),
        ("client_credentials", credentials().await),
    ] {
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["error"], "unauthorized_client", "{what}: {answer}");
    }
    let denied = try_authcode(mcp, hydra, &regs[0]).unwrap_err();
    assert_eq!(denied["error"], "invalid_request", "{denied}");
    assert!(
        denied["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri"),
        "{denied}"
    );
    // Only the grant fields and the tag changed.
    let q = hydra_client(&hydra.admin, &public).await;
    let mut expected = before[0].clone();
    for (k, v) in [
        ("redirect_uris", json!([])),
        ("grant_types", json!([regwarden::quarantine::BLOCKED])),
        ("response_types", json!([regwarden::quarantine::BLOCKED])),
        ("updated_at", q["updated_at"].clone()),
        ("metadata", q["metadata"].clone()),
    ] {
        expected[k] = v;
    }
    assert_eq!(q, expected);
    let tag = &q["metadata"]["regwarden_quarantine"];
    assert!(
        tag["reason"].as_str().unwrap().starts_with("deny:"),
        "{tag}"
    );
    assert_eq!(tag["was"]["redirect_uris"], before[0]["redirect_uris"]);

    // Planned again (in the grace): nothing, although the deny rules still match.
    let (code, out, err) = run_cli(&["plan"], &cfg_path);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 action(s) planned"), "{out}");

    // Restore each quarantine: the same secret and refresh tokens work again, and a new
    // authorization code flow succeeds.
    let cfg = regwarden::config::load(&cfg_path).unwrap();
    let state = State::connect(&cfg.state_url).await.unwrap();
    let journal = state.recent_actions("hydra", 10).await.unwrap();
    for e in &journal {
        let (code, out, err) = run_cli(&["restore", &e.id.to_string()], &cfg_path);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("lifted the quarantine of client"), "{out}");
        assert!(out.contains("never touched"), "{out}");
        assert!(!out.contains("NEW secret"), "{out}");
    }
    for (i, c) in [&public, &confidential, &job].into_iter().enumerate() {
        let mut now = hydra_client(&hydra.admin, c).await;
        now["updated_at"] = before[i]["updated_at"].clone();
        assert_eq!(now, before[i], "{c} is back exactly as it was");
    }
    for (what, (status, answer)) in [
        ("public refresh", refresh_public().await),
        ("confidential refresh", refresh_confidential().await),
        ("client_credentials", credentials().await),
    ] {
        assert_eq!(status, 200, "{what}: {answer}");
        assert!(answer["access_token"].is_string(), "{what}: {answer}");
    }
    authcode(mcp, hydra, &regs[0]);
    let restores: Vec<_> = state
        .recent_actions("hydra", 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "restore")
        .collect();
    assert_eq!(restores.len(), 3);
    assert!(restores
        .iter()
        .all(|e| e.outcome.as_deref() == Some("done") && e.reason.contains("cannot come back")));
    assert!(state.quarantined("hydra").await.unwrap().is_empty());
    // A restore is not itself restorable.
    let (code, _, err) = run_cli(&["restore", &restores[0].id.to_string()], &cfg_path);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("only deletes and quarantines"), "{err}");

    // Reconcile: a quarantine whose call took effect, one that never reached Hydra, and a
    // restore that never did, each left open as by a killed process.
    let api = AdminApi::Hydra(regwarden::act::hydra::HydraAdmin::new(
        url::Url::parse(&hydra.admin).unwrap(),
    ));
    let intent = |client: &str, action: &str, snapshot: &Value| {
        let state = &state;
        let (client, action, snapshot) =
            (client.to_owned(), action.to_owned(), snapshot.to_string());
        async move {
            state
                .journal_intent(
                    &Intent {
                        store: "hydra",
                        client_id: &client,
                        action: &action,
                        mode: "enforce",
                        reason: "test",
                        snapshot: &snapshot,
                    },
                    chrono::Utc::now(),
                )
                .await
                .unwrap()
        }
    };
    let other_now = hydra_client(&hydra.admin, &other).await;
    let done = intent(&other, "quarantine", &other_now).await;
    api.quarantine(&other, &other_now, Default::default())
        .await
        .unwrap();
    let never = intent(&public, "quarantine", &before[0]).await;
    let restore_never = intent(&other, "restore", &other_now).await;
    let r = reconcile(&state, "hydra", &api).await.unwrap();
    assert_eq!((r.done, r.not_done), (1, 2));
    let outcome_of = |id: i64| {
        let state = &state;
        async move { state.journal_entry(id).await.unwrap().unwrap().outcome }
    };
    assert_eq!(
        outcome_of(done).await.as_deref(),
        Some(Outcome::ReconciledDone.as_str())
    );
    assert_eq!(
        outcome_of(never).await.as_deref(),
        Some(Outcome::ReconciledNotDone.as_str())
    );
    assert_eq!(
        outcome_of(restore_never).await.as_deref(),
        Some(Outcome::ReconciledNotDone.as_str())
    );
}
