//! The client against a stand-in Keycloak: failures a real one cannot be made to produce on
//! demand (5xx, refused tokens, malformed answers, an unreachable server).

use super::*;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{json, Map};
use std::sync::Mutex as StdMutex;

const SECRET: &str = "sa-secret-never-shown";

#[derive(Clone, Debug)]
struct Req {
    method: Method,
    path: String,
    query: String,
    token: Option<String>,
    body: String,
}

impl Req {
    fn is_token(&self) -> bool {
        self.path == "/realms/r1/protocol/openid-connect/token"
    }
}

type Log = Arc<StdMutex<Vec<Req>>>;

/// A stand-in Keycloak answering each request with `script(request, earlier requests)`.
async fn keycloak(
    script: impl Fn(&Req, &[Req]) -> (u16, Value) + Send + Sync + 'static,
) -> (KeycloakAdmin, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let script = Arc::new(script);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let (seen, script) = (seen.clone(), script.clone());
            async move {
                let req = Req {
                    method,
                    path: uri.path().to_owned(),
                    query: uri.query().unwrap_or_default().to_owned(),
                    token: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .map(str::to_owned),
                    body,
                };
                let earlier = seen.lock().unwrap().clone();
                let (status, answer) = script(&req, &earlier);
                seen.lock().unwrap().push(req);
                let text = match answer {
                    Value::String(s) => s,
                    v => v.to_string(),
                };
                (StatusCode::from_u16(status).unwrap(), text)
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (admin_at(base), log)
}

fn admin_at(base: Url) -> KeycloakAdmin {
    KeycloakAdmin::new(base, "r1".into(), "regwarden".into(), Secret::new(SECRET))
}

/// Token number `n` (1-based) of the stand-in, valid for `expires_in` seconds.
fn token(earlier: &[Req], expires_in: u64) -> (u16, Value) {
    let n = earlier.iter().filter(|r| r.is_token()).count() + 1;
    (
        200,
        json!({"access_token": format!("tok-{n}"), "expires_in": expires_in}),
    )
}

fn count(log: &Log, f: impl Fn(&Req) -> bool) -> usize {
    log.lock().unwrap().iter().filter(|r| f(r)).count()
}

/// The lookup of client `c1` finds internal id `u1`.
fn lookup(r: &Req) -> Option<(u16, Value)> {
    (r.path == "/admin/realms/r1/clients" && r.query.contains("clientId=c1"))
        .then(|| (200, json!([{"id": "u1", "clientId": "c1"}])))
}

#[tokio::test]
async fn server_errors_are_retried_until_the_delete_succeeds() {
    let (kc, log) = keycloak(|r, earlier| {
        if r.is_token() {
            return token(earlier, 300);
        }
        if let Some(a) = lookup(r) {
            return a;
        }
        let deletes = earlier
            .iter()
            .filter(|e| e.method == Method::DELETE)
            .count();
        ([503, 502, 204][deletes.min(2)], Value::Null)
    })
    .await;
    let a = kc.delete("c1").await.unwrap();
    assert_eq!((a.value, a.attempts), (true, 3));
    assert_eq!(count(&log, |r| r.path == "/admin/realms/r1/clients/u1"), 3);
}

#[tokio::test]
async fn retries_stop_after_the_last_attempt_and_client_errors_are_not_retried() {
    let (kc, log) = keycloak(|r, earlier| match r.method {
        _ if r.is_token() => token(earlier, 300),
        Method::DELETE => (500, json!({"error": "boom"})),
        Method::PUT => (400, json!({"errorMessage": "Invalid redirect uri"})),
        _ => lookup(r).unwrap_or((404, Value::Null)),
    })
    .await;
    let e = kc.delete("c1").await.unwrap_err().to_string();
    assert!(
        e.contains("delete client") && e.contains("500") && e.contains("4 attempt"),
        "{e}"
    );
    assert_eq!(
        count(&log, |r| r.method == Method::DELETE),
        ATTEMPTS as usize
    );
    let snap = json!({"id": "u1", "clientId": "c1", "enabled": true});
    let e = kc.disable(&snap, Map::new()).await.unwrap_err().to_string();
    assert!(
        e.contains("Invalid redirect uri") && e.contains("1 attempt"),
        "{e}"
    );
    assert_eq!(count(&log, |r| r.method == Method::PUT), 1);
}

#[tokio::test]
async fn a_missing_client_is_none_and_counts_as_deleted() {
    let (kc, log) = keycloak(|r, earlier| match r.is_token() {
        true => token(earlier, 300),
        // Only a client whose id merely contains the one asked for.
        false => (200, json!([{"id": "u9", "clientId": "c1-other"}])),
    })
    .await;
    assert!(kc.get("c1").await.unwrap().value.is_none());
    let a = kc.delete("c1").await.unwrap();
    assert_eq!((a.value, a.attempts), (false, 1));
    assert_eq!(count(&log, |r| r.path.ends_with("/u9")), 0);
}

#[tokio::test]
async fn the_token_is_kept_and_fetched_again_once_when_refused() {
    let (kc, log) = keycloak(|r, earlier| match r.is_token() {
        true => token(earlier, 300),
        // Keycloak restarted with new keys: the first token is refused.
        false if r.token.as_deref() == Some("tok-1") => {
            (401, json!({"error": "HTTP 401 Unauthorized"}))
        }
        false => (200, json!([])),
    })
    .await;
    let a = kc.list(0, 10).await.unwrap();
    assert_eq!((a.value.len(), a.attempts), (0, 2));
    kc.list(10, 10).await.unwrap();
    kc.probe().await.unwrap();
    assert_eq!(count(&log, Req::is_token), 2, "one new token, then kept");
    assert_eq!(count(&log, |r| r.token.as_deref() == Some("tok-2")), 3);
    // The token request carries the credentials in the form, nowhere else.
    let first = log.lock().unwrap()[0].clone();
    assert!(
        first.body.contains("grant_type=client_credentials")
            && first.body.contains("client_id=regwarden")
    );
}

#[tokio::test]
async fn a_token_refused_twice_fails_without_looping_and_short_tokens_are_not_kept() {
    let (kc, log) = keycloak(|r, earlier| match r.is_token() {
        true => token(earlier, 0),
        false => (401, json!({"error": "HTTP 401 Unauthorized"})),
    })
    .await;
    let e = kc.list(0, 1).await.unwrap_err().to_string();
    assert!(e.contains("even with a new access token"), "{e}");
    assert_eq!(count(&log, Req::is_token), 2);
    let _ = kc.list(0, 1).await;
    assert_eq!(
        count(&log, Req::is_token),
        4,
        "a token that expires at once is not kept"
    );
}

#[tokio::test]
async fn probe_says_what_failed_and_never_shows_the_secret() {
    let (bad, log) = keycloak(|r, _| match r.is_token() {
        true => (401, json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"})),
        false => (200, json!([])),
    })
    .await;
    let e = bad.probe().await.unwrap_err().to_string();
    assert!(
        e.contains("credentials of client regwarden were refused")
            && e.contains("/realms/r1/protocol/openid-connect/token"),
        "{e}"
    );
    assert!(
        !e.contains(SECRET) && !format!("{bad:?}").contains(SECRET),
        "{e}"
    );
    assert_eq!(count(&log, |r| !r.is_token()), 0);

    let (no_sa, _) = keycloak(|_, _| {
        (401, json!({"error": "unauthorized_client", "error_description": "Client not enabled to retrieve service account"}))
    })
    .await;
    let e = no_sa.probe().await.unwrap_err().to_string();
    assert!(e.contains("service accounts enabled"), "{e}");

    let (no_realm, _) = keycloak(|_, _| (404, json!({"error": "Realm does not exist"}))).await;
    let e = no_realm.probe().await.unwrap_err().to_string();
    assert!(e.contains("realm r1 does not exist"), "{e}");

    let (no_role, _) = keycloak(|r, earlier| match r.is_token() {
        true => token(earlier, 300),
        false => (403, json!({"error": "HTTP 403 Forbidden"})),
    })
    .await;
    let e = no_role.probe().await.unwrap_err().to_string();
    assert!(
        e.contains("lacks the realm-management role view-clients"),
        "{e}"
    );
    let e = no_role.max_clients().await.unwrap_err().to_string();
    assert!(e.contains("role view-realm"), "{e}");
    let e = no_role.events_config().await.unwrap_err().to_string();
    assert!(e.contains("role view-events"), "{e}");
}

#[tokio::test]
async fn an_unreachable_keycloak_is_retried_then_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kc = admin_at(Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap());
    let e = kc.probe().await.unwrap_err();
    let ActionError::Admin {
        attempts,
        message,
        url,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(*attempts, ATTEMPTS);
    assert!(
        url.ends_with("/realms/r1/protocol/openid-connect/token"),
        "{e}"
    );
    assert!(
        message.contains("no access token") && message.contains("unreachable"),
        "{e}"
    );
}

#[tokio::test]
async fn malformed_answers_are_errors_naming_the_call() {
    let (kc, _) = keycloak(|r, earlier| {
        if r.is_token() {
            return token(earlier, 300);
        }
        match (r.path.as_str(), r.query.as_str()) {
            (_, q) if q.contains("clientId=c1") => (200, json!([{"clientId": "c1", "id": 7}])),
            (_, q) if q.contains("clientId=c2") => (200, json!([{"clientId": "c2", "id": "u2"}])),
            (_, q) if q.contains("clientId=") => (200, json!({"clients": []})),
            ("/admin/realms/r1/clients/u2", _) => (200, Value::String("<html>".into())),
            ("/admin/realms/r1/clients", _) => (200, json!([{"clientId": "a"}, "b"])),
            ("/admin/realms/r1/events", _) => (200, json!([{"type": "LOGIN"}])),
            ("/admin/realms/r1/events/config", _) => (200, json!([])),
            ("/admin/realms/r1/client-session-stats", _) => {
                (200, json!([{"clientId": "a", "active": "many"}]))
            }
            _ => (200, json!({"unexpected": true})),
        }
    })
    .await;
    let e = kc.get("c1").await.unwrap_err().to_string();
    assert!(e.contains("read client") && e.contains("without id"), "{e}");
    let e = kc.get("c2").await.unwrap_err().to_string();
    assert!(e.contains("unreadable answer"), "{e}");
    let e = kc.get("c3").await.unwrap_err().to_string();
    assert!(e.contains("not a list of clients"), "{e}");
    assert!(kc
        .list(0, 5)
        .await
        .unwrap_err()
        .to_string()
        .contains("not a list of clients"));
    assert!(kc
        .events(&["LOGIN"], None, 0, 5)
        .await
        .unwrap_err()
        .to_string()
        .contains("time and type"));
    assert!(kc.events_config().await.is_err());
    assert!(kc.session_stats().await.is_err());
    assert!(kc.max_clients().await.is_err());
}

#[tokio::test]
async fn a_token_answer_without_expiry_is_refused() {
    let (kc, _) = keycloak(|_, _| (200, json!({"access_token": "t"}))).await;
    let e = kc.probe().await.unwrap_err().to_string();
    assert!(e.contains("no access_token and expires_in"), "{e}");
}

#[tokio::test]
async fn ids_are_escaped_in_paths_and_queries() {
    let (kc, log) = keycloak(|r, earlier| match r.is_token() {
        true => token(earlier, 300),
        false if r.query.contains("clientId=") => {
            (200, json!([{"clientId": "a/b?c", "id": "x/y"}]))
        }
        false => (404, json!({"error": "Could not find client"})),
    })
    .await;
    assert!(
        kc.get("a/b?c").await.unwrap().value.is_none(),
        "gone between the two reads"
    );
    let log = log.lock().unwrap();
    assert!(
        log[1].query.contains("clientId=a%2Fb%3Fc&search=false"),
        "{:?}",
        log[1]
    );
    assert_eq!(log[2].path, "/admin/realms/r1/clients/x%2Fy");
}

#[tokio::test]
async fn disable_and_enable_send_the_snapshot_with_the_quarantine_and_never_a_secret() {
    let (kc, log) = keycloak(|r, earlier| match r.is_token() {
        true => token(earlier, 300),
        false => (204, Value::Null),
    })
    .await;
    let snap = json!({
        "id": "u1", "clientId": "c1", "enabled": true, "secret": "client-secret",
        "access": {"view": true}, "redirectUris": ["http://127.0.0.1:9/cb"],
        "attributes": {"use.refresh.tokens": "true", "client.secret.creation.time": "1700000000",
            "client.secret.rotated": "old-secret"}
    });
    let mut tag = Map::new();
    tag.insert("action_id".into(), json!(7));
    assert_eq!(kc.disable(&snap, tag).await.unwrap(), 1);
    kc.enable(&snap).await.unwrap();
    let puts: Vec<Value> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == Method::PUT)
        .map(|r| {
            assert_eq!(r.path, "/admin/realms/r1/clients/u1");
            assert!(
                !r.body.contains("secret\"") && !r.body.contains("old-secret"),
                "{}",
                r.body
            );
            serde_json::from_str(&r.body).unwrap()
        })
        .collect();
    let (off, on) = (&puts[0], &puts[1]);
    assert_eq!(off["enabled"], false);
    assert_eq!(off["redirectUris"], snap["redirectUris"]);
    assert!(off.get("access").is_none());
    let attrs = off["attributes"].as_object().unwrap();
    assert_eq!(attrs.len(), 2, "{attrs:?}");
    assert_eq!(attrs["use.refresh.tokens"], "true");
    assert_eq!(attrs[KEY_], r#"{"action_id":7,"was_enabled":true}"#);
    assert!(is_quarantined(off) && quarantine_tag(off).unwrap()["action_id"] == 7);
    assert_eq!(on["enabled"], true);
    assert_eq!(on["attributes"][KEY_], "");
    assert!(quarantine_tag(on).is_none());
}

const KEY_: &str = KEY;

#[tokio::test]
async fn create_returns_the_new_secret_and_what_could_not_come_back() {
    let (kc, log) = keycloak(|r, earlier| {
        if r.is_token() {
            return token(earlier, 300);
        }
        match (&r.method, r.path.as_str()) {
            (&Method::POST, _) => (201, Value::Null),
            (_, "/admin/realms/r1/clients") => (200, json!([{"id": "u1", "clientId": "c1"}])),
            (_, "/admin/realms/r1/clients/u1") => (
                200,
                json!({
                "id": "u1", "clientId": "c1", "publicClient": false,
                "clientAuthenticatorType": "client-secret", "secret": "new-secret"}),
            ),
            (_, "/admin/realms/r1/clients/u1/client-secret") => {
                (200, json!({"type": "secret", "value": "new-secret"}))
            }
            _ => (404, Value::Null),
        }
    })
    .await;
    let snap = json!({"id": "u1", "clientId": "c1", "publicClient": false, "serviceAccountsEnabled": true,
        "attributes": {"client.secret.creation.time": "1700000000"}});
    let c = kc.create(&snap).await.unwrap();
    assert_eq!(c.id, "u1");
    assert_eq!(c.secret.as_ref().map(Secret::expose), Some("new-secret"));
    assert!(c.client.get("secret").is_none() && !format!("{c:?}").contains("new-secret"));
    for lost in [
        "registration access token",
        "consents",
        "sessions",
        "new one was generated",
        "service account",
    ] {
        assert!(c.note.contains(lost), "{lost}: {}", c.note);
    }
    assert!(
        c.note.contains("internal id") && !c.note.contains("internal id ("),
        "{}",
        c.note
    );
    let sent: Value = serde_json::from_str(&log.lock().unwrap()[1].body).unwrap();
    assert_eq!(
        sent["attributes"],
        json!({}),
        "the old secret's creation time is not sent"
    );
}

#[tokio::test]
async fn a_create_answered_too_late_is_not_taken_for_a_conflict() {
    let (kc, log) = keycloak(|r, earlier| {
        if r.is_token() {
            return token(earlier, 300);
        }
        let posts = earlier
            .iter()
            .filter(|e| e.method == Method::POST && !e.is_token())
            .count();
        match (&r.method, r.path.as_str()) {
            // The first POST created the client, but its answer was lost to a 502.
            (&Method::POST, _) if posts == 0 => (502, Value::Null),
            (&Method::POST, _) => (409, json!({"errorMessage": "Client c1 already exists"})),
            (_, "/admin/realms/r1/clients") => (200, json!([{"id": "u1", "clientId": "c1"}])),
            (_, "/admin/realms/r1/clients/u1") => (
                200,
                json!({"id": "u1", "clientId": "c1", "publicClient": true}),
            ),
            _ => (404, Value::Null),
        }
    })
    .await;
    let snap = json!({"id": "u1", "clientId": "c1", "publicClient": true});
    let c = kc.create(&snap).await.unwrap();
    assert_eq!((c.id.as_str(), c.secret.is_none()), ("u1", true));
    // Not after a single attempt: then a 409 is someone else's client.
    let (kc, _) = keycloak(|r, earlier| match r.is_token() {
        true => token(earlier, 300),
        false if r.method == Method::POST => (409, json!({"errorMessage": "exists"})),
        false => (200, json!([{"id": "u1", "clientId": "c1"}])),
    })
    .await;
    let e = kc.create(&snap).await.unwrap_err().to_string();
    assert!(e.contains("exists (HTTP 409)"), "{e}");
    assert_eq!(
        count(&log, |r| r.method == Method::POST && !r.is_token()),
        2
    );
}
