//! A real Keycloak for one test, set up as its bootstrap admin would: a fresh realm with
//! anonymous DCR open to loopback (the trusted-hosts policy), a user who can log in,
//! regwarden's service-account client with the roles the test grants, registrations, and real
//! logins (through the MCP SDK, or a minimal browser that reports the page a refused client
//! gets). Everything through Keycloak's admin REST API and its own pages.

use crate::harness::*;
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::BTreeMap;
use std::process::Command;

/// The roles of realm-management regwarden's service account gets (the README's minimum).
pub const ROLES: [&str; 3] = ["view-clients", "manage-clients", "view-events"];

pub const USER: (&str, &str) = ("alice", "alice-pw");

/// The secret of regwarden's service account in every test realm.
pub const SA_SECRET: &str = "regwarden-test-service-account-secret";

/// Which of the two Keycloaks scripts/keycloak.sh starts.
#[derive(Clone, Copy)]
pub enum Backend {
    Postgres,
    MariaDb,
}

#[derive(Clone)]
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
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.base)
    }

    /// A master admin token, fetched per call: admin-cli's tokens last 60 s.
    pub async fn admin_token(&self) -> String {
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
            .bearer_auth(self.admin_token().await);
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

    pub async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    /// A new realm set up by [`Kc::setup`], its service account granted the README's roles.
    pub async fn new_realm(&self, name: &str) -> Realm {
        self.setup(name).await;
        self.grant(name, &ROLES).await;
        Realm {
            name: name.to_owned(),
            sa_id: "regwarden".into(),
            sa_secret: SA_SECRET.into(),
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

    pub async fn secret_of(&self, realm: &str, client_id: &str) -> String {
        let id = self.client_uuid(realm, client_id).await.unwrap();
        let v = self
            .ok(
                reqwest::Method::GET,
                &format!("/{realm}/clients/{id}/client-secret"),
                None,
            )
            .await;
        v["value"].as_str().unwrap().to_owned()
    }

    /// Grants realm-management `roles` to the service account of client `regwarden`.
    pub async fn grant(&self, realm: &str, roles: &[&str]) {
        let sa = self.client_uuid(realm, "regwarden").await.unwrap();
        let user = self
            .ok(
                reqwest::Method::GET,
                &format!("/{realm}/clients/{sa}/service-account-user"),
                None,
            )
            .await;
        let rm = self.client_uuid(realm, "realm-management").await.unwrap();
        let mut reps = Vec::new();
        for role in roles {
            let r = self
                .ok(
                    reqwest::Method::GET,
                    &format!("/{realm}/clients/{rm}/roles/{role}"),
                    None,
                )
                .await;
            reps.push(json!({"id": r["id"], "name": r["name"]}));
        }
        let path = format!(
            "/{realm}/users/{}/role-mappings/clients/{rm}",
            user["id"].as_str().unwrap()
        );
        self.ok(reqwest::Method::POST, &path, Some(Value::Array(reps)))
            .await;
    }

    /// A realm with regwarden's service account, anonymous DCR from loopback, and a user.
    pub async fn setup(&self, realm: &str) {
        use reqwest::Method;
        self.ok(
            Method::POST,
            "",
            Some(json!({"realm": realm, "enabled": true})),
        )
        .await;
        let sa = json!({"clientId": "regwarden", "publicClient": false, "serviceAccountsEnabled": true,
            "standardFlowEnabled": false, "secret": SA_SECRET});
        self.ok(Method::POST, &format!("/{realm}/clients"), Some(sa))
            .await;
        let policies = format!(
            "/{realm}/components?type=org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"
        );
        let all = self.ok(Method::GET, &policies, None).await;
        let mut trusted = all
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["providerId"] == "trusted-hosts")
            .unwrap()
            .clone();
        trusted["config"] = json!({"trusted-hosts": ["127.0.0.1", "localhost"],
            "host-sending-registration-request-must-match": ["true"], "client-uris-must-match": ["false"]});
        let id = trusted["id"].as_str().unwrap().to_owned();
        self.ok(
            Method::PUT,
            &format!("/{realm}/components/{id}"),
            Some(trusted),
        )
        .await;
        let alice = json!({"username": "alice", "enabled": true, "email": "alice@example.com", "emailVerified": true,
            "firstName": "Alice", "lastName": "Liddell",
            "credentials": [{"type": "password", "value": "alice-pw", "temporary": false}]});
        self.ok(Method::POST, &format!("/{realm}/users"), Some(alice))
            .await;
    }

    /// Registers a client through anonymous DCR; the registration response.
    pub async fn register(&self, realm: &str, name: &str, redirect: &str, auth: &str) -> Value {
        let url = format!(
            "{}/realms/{realm}/clients-registrations/openid-connect",
            self.base
        );
        let body = json!({"client_name": name, "redirect_uris": [redirect], "response_types": ["code"],
            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": auth});
        let r = self.http.post(url).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 201, "DCR refused");
        r.json().await.unwrap()
    }

    /// A POST to the realm's token endpoint: status and answer.
    pub async fn token(&self, realm: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}/realms/{realm}/protocol/openid-connect/token", self.base);
        let r = self.http.post(url).form(form).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn refresh(&self, realm: &str, reg: &Value, refresh_token: &str) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", reg["client_id"].as_str().unwrap()),
            ("refresh_token", refresh_token),
        ];
        if let Some(s) = reg["client_secret"].as_str() {
            form.push(("client_secret", s));
        }
        self.token(realm, &form).await
    }

    /// A client's own registration request with its registration access token.
    pub async fn registration(
        &self,
        realm: &str,
        reg: &Value,
        method: reqwest::Method,
        provider: &str,
        body: Option<Value>,
    ) -> u16 {
        let id = reg["client_id"].as_str().unwrap();
        let url = format!(
            "{}/realms/{realm}/clients-registrations/{provider}/{id}",
            self.base
        );
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(reg["registration_access_token"].as_str().unwrap());
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// A real authorization-code + PKCE flow as alice, consent accepted: the tokens, or the
    /// authorization endpoint's status and page when it refuses the client.
    pub async fn login(&self, realm: &str, reg: &Value) -> Result<Value, (u16, String)> {
        let client_id = reg["client_id"].as_str().unwrap();
        let redirect = reg["redirect_uris"][0].as_str().unwrap();
        let verifier = hex(&sha2::Sha256::digest(format!(
            "{client_id}{:?}",
            std::time::SystemTime::now()
        )));
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(&verifier));
        let mut auth = url::Url::parse(&format!(
            "{}/realms/{realm}/protocol/openid-connect/auth",
            self.base
        ))
        .unwrap();
        auth.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid")
            .append_pair("state", "s1")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let mut browser = Browser::new(self.http.clone());
        let (status, _, page) = browser.go(auth.clone(), None).await;
        let Some(login) = form_action(&auth, &page) else {
            return Err((status, page));
        };
        let creds = [("username", "alice"), ("password", "alice-pw")];
        let (_, mut location, _) = browser.go(login, Some(&creds)).await;
        if !location.as_ref().is_some_and(|l| l.contains("code=")) {
            // The consent form (DCR clients require consent).
            let consent =
                url::Url::parse(location.as_deref().expect("redirect after login")).unwrap();
            let (_, _, page) = browser.go(consent.clone(), None).await;
            let accept = form_action(&consent, &page).expect("a consent form");
            location = browser.go(accept, Some(&[("accept", "Yes")])).await.1;
        }
        let back = url::Url::parse(location.as_deref().expect("redirect with code")).unwrap();
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .expect("code")
            .1
            .into_owned();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ];
        if let Some(s) = reg["client_secret"].as_str() {
            form.push(("client_secret", s));
        }
        let (status, tokens) = self.token(realm, &form).await;
        assert_eq!(status, 200, "code exchange: {tokens}");
        Ok(tokens)
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Just enough of a browser for Keycloak's login pages: cookies (Keycloak marks them
/// Secure; a browser still sends them to loopback over http) and forms.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(http: reqwest::Client) -> Browser {
        Browser {
            http,
            cookies: BTreeMap::new(),
        }
    }

    /// GET `url`, or POST `form` to it: status, Location, body.
    async fn go(
        &mut self,
        url: url::Url,
        form: Option<&[(&str, &str)]>,
    ) -> (u16, Option<String>, String) {
        let mut req = match form {
            Some(f) => self.http.post(url).form(f),
            None => self.http.get(url),
        };
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !jar.is_empty() {
            req = req.header("cookie", jar.join("; "));
        }
        let r = req.send().await.unwrap();
        for c in r.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.trim().to_owned(), v.to_owned());
            }
        }
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (r.status().as_u16(), location, r.text().await.unwrap())
    }
}

/// The first form's action on `page`, resolved against the page's URL.
fn form_action(page_url: &url::Url, page: &str) -> Option<url::Url> {
    let start = page.find("action=\"")? + "action=\"".len();
    let end = start + page[start..].find('"')?;
    page_url.join(&page[start..end].replace("&amp;", "&")).ok()
}
