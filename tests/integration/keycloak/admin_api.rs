//! regwarden's Keycloak admin client (act::keycloak) against a real Keycloak 26, as an
//! operator sets it up: a service-account client of the realm with exactly the roles the
//! README will ask for, clients registered through anonymous DCR, real logins and tokens.
//! Each run creates its own realm and deletes it at the end, passed or failed.

use super::kc::{Backend, Kc, SA_SECRET};
use crate::harness::unique;
use regwarden::act::keycloak::{self, KeycloakAdmin};
use regwarden::config::Secret;
use serde_json::{json, Map, Value};

use super::kc::ROLES;
const PUBLIC_REDIRECT: &str = "http://127.0.0.1:33418/callback";
const CONFIDENTIAL_REDIRECT: &str = "https://claude.ai/api/mcp/auth_callback";

fn tag(action_id: i64) -> Map<String, Value> {
    let mut t = Map::new();
    t.insert("at".into(), json!("2026-11-26T12:00:00Z"));
    t.insert(
        "reason".into(),
        json!("test: quarantined by the integration test"),
    );
    t.insert("action_id".into(), json!(action_id));
    t.insert(
        "undo".into(),
        json!(format!("regwarden restore {action_id}")),
    );
    t
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Keycloak: run scripts/test.sh"]
async fn keycloak_admin_api_with_a_least_privileged_service_account() {
    let kc = Kc::new(Backend::Postgres);
    let realm = unique("regwarden").replace('_', "-");
    kc.setup(&realm).await;
    let run = tokio::spawn(scenario(kc.clone(), realm.clone())).await;
    kc.ok(reqwest::Method::DELETE, &format!("/{realm}"), None)
        .await;
    if let Err(e) = run {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(kc: Kc, realm: String) {
    use reqwest::Method;
    let api = KeycloakAdmin::new(
        url::Url::parse(&kc.base).unwrap(),
        realm.clone(),
        "regwarden".into(),
        Secret::new(SA_SECRET),
    );
    // Without any role: Keycloak grants the token, refuses the read, and the probe says so.
    let e = api.probe().await.unwrap_err().to_string();
    assert!(
        e.contains("lacks the realm-management role view-clients"),
        "{e}"
    );
    let wrong = KeycloakAdmin::new(
        api.base().clone(),
        realm.clone(),
        "regwarden".into(),
        Secret::new("wrong"),
    );
    let e = wrong.probe().await.unwrap_err().to_string();
    assert!(
        e.contains("credentials of client regwarden were refused") && !e.contains(SA_SECRET),
        "{e}"
    );

    kc.grant(&realm, &ROLES).await;
    api.probe().await.unwrap();
    // Registration policies and session counts need view-realm besides.
    let e = api.max_clients().await.unwrap_err().to_string();
    assert!(e.contains("role view-realm"), "{e}");
    assert!(api
        .session_stats()
        .await
        .unwrap_err()
        .to_string()
        .contains("role view-realm"));
    kc.grant(&realm, &["view-realm"]).await;
    assert_eq!(api.max_clients().await.unwrap(), Some(200));

    let public = kc
        .register(&realm, "Claude Code", PUBLIC_REDIRECT, "none")
        .await;
    let confidential = kc
        .register(
            &realm,
            "Claude",
            CONFIDENTIAL_REDIRECT,
            "client_secret_post",
        )
        .await;
    let (pub_id, conf_id) = (
        public["client_id"].as_str().unwrap(),
        confidential["client_id"].as_str().unwrap(),
    );

    // get: the full representation by OAuth client id, secrets stripped; None when absent.
    let before = api
        .get(pub_id)
        .await
        .unwrap()
        .value
        .expect("registered client");
    let conf_before = api.get(conf_id).await.unwrap().value.unwrap();
    for c in [&before, &conf_before] {
        assert!(
            c.get("secret").is_none() && c.get("registrationAccessToken").is_none(),
            "{c}"
        );
        assert!(!c
            .to_string()
            .contains(confidential["client_secret"].as_str().unwrap()));
    }
    assert_eq!(before["clientId"], pub_id);
    assert_eq!(before["redirectUris"], json!([PUBLIC_REDIRECT]));
    assert_eq!(conf_before["clientAuthenticatorType"], "client-secret");
    assert!(api.get("no-such-client").await.unwrap().value.is_none());
    assert!(
        api.get(&pub_id[..8]).await.unwrap().value.is_none(),
        "exact match only"
    );

    // Real use before the quarantine.
    let pub_tokens = kc.login(&realm, &public).await.unwrap();
    let conf_tokens = kc.login(&realm, &confidential).await.unwrap();
    let conf_secret = kc.secret_of(&realm, conf_id).await;

    // disable: enabled false and tagged; no new token of any kind, nor a way to undo it.
    api.disable(&before, tag(1)).await.unwrap();
    api.disable(&conf_before, tag(2)).await.unwrap();
    let q = api.get(pub_id).await.unwrap().value.unwrap();
    assert!(keycloak::is_disabled(&q) && keycloak::is_quarantined(&q));
    let t = keycloak::quarantine_tag(&q).unwrap();
    assert_eq!(
        (t["action_id"].as_i64(), t["was_enabled"].as_bool()),
        (Some(1), Some(true)),
        "{t}"
    );
    assert_eq!(keycloak::as_before(&q), before);
    let (status, page) = kc.login(&realm, &public).await.unwrap_err();
    assert_eq!(status, 400);
    assert!(page.contains("Client disabled"), "{page}");
    for (reg, tokens) in [(&public, &pub_tokens), (&confidential, &conf_tokens)] {
        let (status, answer) = kc
            .refresh(&realm, reg, tokens["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (401, Some("invalid_client")),
            "{answer}"
        );
    }
    let enable = json!({"clientId": pub_id, "enabled": true});
    assert_eq!(
        kc.registration(&realm, &public, Method::PUT, "default", Some(enable))
            .await,
        401
    );
    assert_eq!(
        kc.registration(&realm, &public, Method::DELETE, "openid-connect", None)
            .await,
        401
    );
    assert!(keycloak::is_quarantined(
        &api.get(pub_id).await.unwrap().value.unwrap()
    ));
    assert_eq!(
        kc.secret_of(&realm, conf_id).await,
        conf_secret,
        "a PUT without secret keeps it"
    );

    // enable: exactly as before, tag gone; the sessions' refresh tokens work again.
    api.enable(&before).await.unwrap();
    api.enable(&conf_before).await.unwrap();
    let back = api.get(pub_id).await.unwrap().value.unwrap();
    assert_eq!(back, before);
    assert!(back["attributes"].get(keycloak::KEY).is_none());
    assert_eq!(api.get(conf_id).await.unwrap().value.unwrap(), conf_before);
    assert_eq!(kc.secret_of(&realm, conf_id).await, conf_secret);
    for (reg, tokens) in [(&public, &pub_tokens), (&confidential, &conf_tokens)] {
        let (status, answer) = kc
            .refresh(&realm, reg, tokens["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(
        kc.registration(&realm, &public, Method::GET, "openid-connect", None)
            .await,
        200
    );

    // Events and sessions, as an API-only reader sees them.
    let off = api.events_config().await.unwrap();
    assert_eq!((off.enabled, off.expiration_secs), (false, None));
    assert!(off.types.iter().any(|t| t == "CODE_TO_TOKEN"), "{off:?}");
    let events = json!({"eventsEnabled": true, "eventsExpiration": 86400, "eventsListeners": ["jboss-logging"]});
    kc.ok(
        Method::PUT,
        &format!("/{realm}/events/config"),
        Some(events),
    )
    .await;
    let on = api.events_config().await.unwrap();
    assert_eq!((on.enabled, on.expiration_secs), (true, Some(86400)));
    let since = chrono::Utc::now().timestamp_millis() - 1000;
    kc.login(&realm, &public).await.unwrap();
    let seen = api
        .events(&["LOGIN", "CODE_TO_TOKEN"], Some(since), 0, 10)
        .await
        .unwrap();
    let kinds: Vec<(&str, Option<&str>)> = seen
        .iter()
        .map(|e| (e.kind.as_str(), e.client_id.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [("CODE_TO_TOKEN", Some(pub_id)), ("LOGIN", Some(pub_id))],
        "newest first"
    );
    assert!(seen.iter().all(|e| e.time_ms >= since));
    assert!(api
        .events(&["CODE_TO_TOKEN"], Some(seen[0].time_ms + 1), 0, 10)
        .await
        .unwrap()
        .is_empty());
    let stats = api.session_stats().await.unwrap();
    let mine = stats
        .iter()
        .find(|s| s.client_id == pub_id)
        .expect("sessions of the public client");
    assert!(mine.active >= 2 && mine.offline == 0, "{stats:?}");

    // delete, then create from the snapshot: same ids and settings, not what went with it.
    assert!(api.delete(pub_id).await.unwrap().value);
    assert!(api.get(pub_id).await.unwrap().value.is_none());
    assert!(!api.delete(pub_id).await.unwrap().value);
    let created = api.create(&before).await.unwrap();
    assert_eq!(
        created.id,
        before["id"].as_str().unwrap(),
        "the internal id is kept"
    );
    assert!(created.secret.is_none());
    assert_eq!(created.client["clientId"], pub_id);
    assert_eq!(created.client["redirectUris"], json!([PUBLIC_REDIRECT]));
    assert_eq!(
        created.client, before,
        "every setting of the representation comes back"
    );
    assert!(
        created.note.contains("registration access token") && created.note.contains("consents"),
        "{}",
        created.note
    );
    let (status, answer) = kc
        .refresh(
            &realm,
            &public,
            pub_tokens["refresh_token"].as_str().unwrap(),
        )
        .await;
    assert_ne!(status, 200, "the old sessions are gone: {answer}");
    assert_eq!(
        kc.registration(&realm, &public, Method::GET, "openid-connect", None)
            .await,
        401
    );

    assert!(api.delete(conf_id).await.unwrap().value);
    let created = api.create(&conf_before).await.unwrap();
    let new_secret = created
        .secret
        .as_ref()
        .expect("a new secret for a confidential client");
    assert_ne!(new_secret.expose(), conf_secret);
    assert_eq!(new_secret.expose(), kc.secret_of(&realm, conf_id).await);
    assert!(
        created.note.contains("a new one was generated"),
        "{}",
        created.note
    );
    let t = |c: &Value| {
        c["attributes"]["client.secret.creation.time"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert!(
        t(&created.client) >= t(&conf_before),
        "the new secret's own creation time"
    );
    let (status, _) = kc
        .refresh(
            &realm,
            &confidential,
            conf_tokens["refresh_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, 401, "the old secret is refused");
    let mut handed_over = confidential.clone();
    handed_over["client_secret"] = json!(new_secret.expose());
    kc.login(&realm, &handed_over)
        .await
        .expect("the new secret works");

    // list: pages in one order, together every client of the realm.
    let all = api.list(0, 1000).await.unwrap().value;
    let ids = |page: &[Value]| {
        page.iter()
            .map(|c| c["clientId"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let mut paged = Vec::new();
    for first in (0..).step_by(3) {
        let page = api.list(first, 3).await.unwrap().value;
        paged.extend(ids(&page));
        if page.len() < 3 {
            break;
        }
    }
    assert_eq!(paged, ids(&all));
    assert_eq!(
        all.len(),
        6 + 3,
        "6 built-in clients, regwarden's and 2 registrations: {paged:?}"
    );
    assert!(all.iter().all(|c| c.get("secret").is_none()));
}
