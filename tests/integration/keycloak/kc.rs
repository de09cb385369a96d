//! A real Keycloak for one test: a fresh realm with anonymous DCR open to loopback (the
//! trusted-hosts policy), a user who can log in, and a service-account client with exactly the
//! roles the README asks of operators. Everything through Keycloak's admin REST API.

use crate::harness::*;
use serde_json::{json, Value};
use std::process::Command;

/// The roles of realm-management regwarden's service account gets (the README's minimum).
pub const ROLES: [&str; 3] = ["view-clients", "manage-clients", "view-events"];

pub const USER: (&str, &str) = ("alice", "alice-pw");

/// Which of the two Keycloaks scripts/keycloak.sh starts.
#[derive(Clone, Copy)]
pub enum Backend {
    Postgres,
    MariaDb,
}

pub struct Kc {
    pub base: String,
    /// Keycloak's own database (read-only for regwarden).
    pub db: String,
    admin: (String, String),
    http: reqwest::Client,
}

pub struct Realm {
    pub name: String,
    /// The service account regwarden signs in as.
    pub sa_id: String,
    pub sa_secret: String,
}

impl Kc {
    pub fn new(backend: Backend) -> Kc {
        let (base, db) = match backend {
            Backend::Postgres => (
                need("REGWARDEN_TEST_KC_PG"),
                need("REGWARDEN_TEST_KC_PG_DB"),
            ),
            Backend::MariaDb => (
                need("REGWARDEN_TEST_KC_MY"),
                need("REGWARDEN_TEST_KC_MY_DB"),
            ),
        };
        Kc {
            base,
            db,
            admin: (
                need("REGWARDEN_TEST_KC_ADMIN"),
                need("REGWARDEN_TEST_KC_ADMIN_PASSWORD"),
            ),
            http: reqwest::Client::new(),
        }
    }

    pub fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.base)
    }

    async fn master_token(&self) -> String {
        let r: Value = self
            .http
            .post(format!(
                "{}/realms/master/protocol/openid-connect/token",
                self.base
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", &self.admin.0),
                ("password", &self.admin.1),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"]
            .as_str()
            .expect("master admin token")
            .to_owned()
    }

    /// An admin REST call as the master admin; `path` is below `/admin/realms`.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/admin/realms{path}", self.base))
            .bearer_auth(self.master_token().await);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.admin(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// The internal id of client `client_id` in `realm`.
    pub async fn client_uuid(&self, realm: &str, client_id: &str) -> Option<String> {
        let list = self
            .ok(
                reqwest::Method::GET,
                &format!("/{realm}/clients?clientId={client_id}&search=false"),
                None,
            )
            .await;
        list.as_array()?
            .iter()
            .find(|c| c["clientId"] == client_id)
            .and_then(|c| c["id"].as_str())
            .map(str::to_owned)
    }

    /// The client's representation, if it exists.
    pub async fn client(&self, realm: &str, client_id: &str) -> Option<Value> {
        let id = self.client_uuid(realm, client_id).await?;
        Some(
            self.ok(
                reqwest::Method::GET,
                &format!("/{realm}/clients/{id}"),
                None,
            )
            .await,
        )
    }

    /// A new realm: anonymous DCR from loopback, a user, regwarden's service account.
    pub async fn new_realm(&self, name: &str) -> Realm {
        use reqwest::Method;
        self.ok(
            Method::POST,
            "",
            Some(json!({"realm": name, "enabled": true})),
        )
        .await;
        let policies = self
            .ok(
                Method::GET,
                &format!("/{name}/components?type=org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"),
                None,
            )
            .await;
        let mut trusted = policies
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["providerId"] == "trusted-hosts")
            .expect("a new realm has the trusted-hosts policy")
            .clone();
        trusted["config"] = json!({
            "trusted-hosts": ["127.0.0.1", "localhost"],
            "host-sending-registration-request-must-match": ["true"],
            "client-uris-must-match": ["false"],
        });
        let id = trusted["id"].as_str().unwrap().to_owned();
        self.ok(
            Method::PUT,
            &format!("/{name}/components/{id}"),
            Some(trusted),
        )
        .await;
        self.ok(
            Method::POST,
            &format!("/{name}/users"),
            Some(json!({
                "username": USER.0, "enabled": true, "emailVerified": true,
                "firstName": "Alice", "lastName": "Tester", "email": "alice@example.org",
                "credentials": [{"type": "password", "value": USER.1, "temporary": false}]
            })),
        )
        .await;
        let sa_secret = format!("sa-{}", unique("secret"));
        self.ok(
            Method::POST,
            &format!("/{name}/clients"),
            Some(json!({
                "clientId": "regwarden", "enabled": true, "publicClient": false,
                "serviceAccountsEnabled": true, "standardFlowEnabled": false,
                "secret": sa_secret,
            })),
        )
        .await;
        let sa = self.client_uuid(name, "regwarden").await.unwrap();
        let user = self
            .ok(
                Method::GET,
                &format!("/{name}/clients/{sa}/service-account-user"),
                None,
            )
            .await;
        let rm = self.client_uuid(name, "realm-management").await.unwrap();
        let mut roles = Vec::new();
        for role in ROLES {
            roles.push(
                self.ok(
                    Method::GET,
                    &format!("/{name}/clients/{rm}/roles/{role}"),
                    None,
                )
                .await,
            );
        }
        self.ok(
            Method::POST,
            &format!(
                "/{name}/users/{}/role-mappings/clients/{rm}",
                user["id"].as_str().unwrap()
            ),
            Some(Value::Array(roles)),
        )
        .await;
        Realm {
            name: name.to_owned(),
            sa_id: "regwarden".into(),
            sa_secret,
        }
    }

    /// Sets the anonymous Max Clients policy's limit.
    pub async fn set_max_clients(&self, realm: &str, limit: u64) {
        use reqwest::Method;
        let policies = self
            .ok(
                Method::GET,
                &format!("/{realm}/components?type=org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"),
                None,
            )
            .await;
        let mut max = policies
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["providerId"] == "max-clients")
            .expect("a new realm has the max-clients policy")
            .clone();
        max["config"]["max-clients"] = json!([limit.to_string()]);
        let id = max["id"].as_str().unwrap().to_owned();
        self.ok(Method::PUT, &format!("/{realm}/components/{id}"), Some(max))
            .await;
    }

    /// Deletes the realm (tests leave the shared Keycloak as they found it).
    pub async fn drop_realm(&self, realm: &str) {
        self.admin(reqwest::Method::DELETE, &format!("/{realm}"), None)
            .await;
    }
}

/// A real authorization-code + PKCE flow through Keycloak's login and consent pages (with a
/// refresh when asked); Err holds the `{"error", "error_description"}` it ended with.
pub fn kc_authcode(mcp: &str, issuer: &str, reg: &Value, refresh: bool) -> Result<Value, Value> {
    let mut cmd = Command::new("node");
    cmd.arg(format!("{mcp}/kc-authcode.mjs")).args([
        "--issuer",
        issuer,
        "--client-id",
        reg["client_id"].as_str().unwrap(),
        "--redirect-uri",
        reg["redirect_uris"][0].as_str().unwrap(),
        "--username",
        USER.0,
        "--password",
        USER.1,
    ]);
    if let Some(secret) = reg["client_secret"].as_str() {
        cmd.args(["--client-secret", secret]);
        if let Some(m) = reg["token_endpoint_auth_method"].as_str() {
            cmd.args(["--auth-method", m]);
        }
    }
    if refresh {
        cmd.arg("--refresh");
    }
    let out = cmd.output().expect("run node kc-authcode.mjs");
    let text = String::from_utf8_lossy(&out.stdout);
    let answer: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "kc-authcode.mjs printed no JSON ({e}): {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if out.status.success() {
        Ok(answer)
    } else {
        Err(answer)
    }
}

/// Anonymous DCR straight to Keycloak's endpoint (what the SDK sends), for the requests the
/// test expects to fail: the status and the answer.
pub async fn raw_register(issuer: &str, metadata: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{issuer}/clients-registrations/openid-connect"))
        .json(&metadata)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}
