//! Keycloak's admin REST API (never its database, whose caches would go stale): read, disable,
//! enable, delete and re-create clients of one realm, and the reads an API-only reader needs.
//!
//! regwarden signs in as a service-account client of the realm itself (client_credentials);
//! the access token is kept until shortly before it expires and fetched again once when
//! Keycloak refuses it. Timeouts, connection failures and 5xx answers are retried with
//! backoff as for Hydra; every attempt is counted. The service account's secret, access
//! tokens and clients' secrets never reach errors, logs or snapshots.
//!
//! Realm-management roles each call needs (checked on Keycloak 26.7.3): `view-clients` to
//! read clients, `manage-clients` to change them, `view-events` for the events and their
//! configuration, `view-realm` for the registration policies and the session counts.

mod clients;
mod realm;
mod representation;
#[cfg(test)]
mod tests;

pub use clients::Created;
pub use realm::{Event, EventsConfig, SessionStats};
pub use representation::{
    as_before, is_disabled, is_quarantined, quarantine_tag, strip_secrets, KEY,
};

use super::hydra::Answer;
use super::ActionError;
use crate::escape::esc_max;
use crate::secret::{redact_url, Secret};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use url::Url;

#[cfg(test)]
use super::retry::ATTEMPTS;

/// Clients every realm is created with (plus `<realm>-realm` in the master realm). Keycloak
/// needs them to run: regwarden never reads them as registrations nor acts on them.
pub const BUILT_IN: [&str; 6] = [
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
];

/// Whether `client_id` names one of the realm's built-in clients.
pub fn is_built_in(realm: &str, client_id: &str) -> bool {
    BUILT_IN.contains(&client_id) || (realm == "master" && client_id.ends_with("-realm"))
}

/// The realm-management roles, for messages naming what the service account lacks.
pub const VIEW_CLIENTS: &str = "view-clients";
pub const MANAGE_CLIENTS: &str = "manage-clients";
pub const VIEW_EVENTS: &str = "view-events";
pub const VIEW_REALM: &str = "view-realm";

/// The admin REST API of one Keycloak realm. Clones share the access token.
#[derive(Clone)]
pub struct KeycloakAdmin {
    base: Url,
    realm: String,
    client_id: String,
    client_secret: Secret,
    http: reqwest::Client,
    token: Arc<Mutex<Option<Token>>>,
}

struct Token {
    value: Secret,
    /// When to fetch a new one: shortly before Keycloak's `expires_in`.
    renew_at: Instant,
}

impl std::fmt::Debug for KeycloakAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeycloakAdmin")
            .field("base", &redact_url(self.base.as_str()))
            .field("realm", &self.realm)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Counts the attempts of an operation that makes several requests: 1 plus every retry,
/// so that `attempts - 1` is the number of retries, as for a single Hydra call.
#[derive(Default)]
struct Tally(u32);

impl Tally {
    fn add(&mut self, attempts: u32) {
        self.0 += attempts.saturating_sub(1);
    }
    /// A request sent again, for another reason than the retry policy (a refused token).
    fn retried(&mut self) {
        self.0 += 1;
    }
    fn attempts(&self) -> u32 {
        self.0 + 1
    }
}

impl KeycloakAdmin {
    pub fn new(base: Url, realm: String, client_id: String, client_secret: Secret) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with static settings builds");
        KeycloakAdmin {
            base,
            realm,
            client_id,
            client_secret,
            http,
            token: Arc::new(Mutex::new(None)),
        }
    }

    /// The client for a configured Keycloak store: its realm and `admin_*` settings.
    pub fn from_config(realm: &str, admin: &crate::config::KeycloakAdmin) -> Self {
        Self::new(
            admin.url.clone(),
            realm.to_owned(),
            admin.client_id.clone(),
            admin.client_secret.clone(),
        )
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The service-account client regwarden signs in as.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// `{base}/{first}/{realm}/{rest…}`, each segment escaped.
    fn url(&self, first: &[&str], rest: &[&str]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut segs) = u.path_segments_mut() {
            segs.pop_if_empty()
                .extend(first)
                .push(&self.realm)
                .extend(rest);
        }
        u
    }

    /// An admin API URL of the realm: `{base}/admin/realms/{realm}/{rest…}`.
    fn admin(&self, rest: &[&str]) -> Url {
        self.url(&["admin", "realms"], rest)
    }

    fn token_url(&self) -> Url {
        self.url(&["realms"], &["protocol", "openid-connect", "token"])
    }

    /// An error about the realm's admin API (URL without credentials).
    fn error(&self, what: &str, message: impl Into<String>, attempts: u32) -> ActionError {
        self.error_at(&self.admin(&[]), what, message, attempts)
    }

    fn error_at(
        &self,
        url: &Url,
        what: &str,
        message: impl Into<String>,
        attempts: u32,
    ) -> ActionError {
        ActionError::Admin {
            what: what.into(),
            url: redact_url(url.as_str()),
            message: message.into(),
            attempts,
        }
    }

    /// Sends a request under the retry policy ([`crate::act::retry`]).
    async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer<reqwest::Response>, ActionError> {
        super::retry::send("keycloak", what, build)
            .await
            .map_err(|(message, attempts)| self.error(what, message, attempts))
    }

    /// The access token: the cached one, or a new one when it is about to expire or
    /// `stale` (the one Keycloak just refused).
    async fn token(
        &self,
        what: &str,
        stale: Option<&Secret>,
        tally: &mut Tally,
    ) -> Result<Secret, ActionError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            if Some(&t.value) != stale && Instant::now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        *cached = None;
        let url = self.token_url();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        let a = self
            .send(what, || self.http.post(url.clone()).form(&form))
            .await
            .map_err(|e| self.token_error(what, e))?;
        tally.add(a.attempts);
        let status = a.value.status();
        let body: Value = a.value.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(self.token_refused(what, status, &body, a.attempts));
        }
        let (Some(access), Some(expires_in)) = (
            body.get("access_token").and_then(Value::as_str),
            body.get("expires_in").and_then(Value::as_u64),
        ) else {
            return Err(self.error_at(
                &self.token_url(),
                what,
                "no access token: the answer has no access_token and expires_in",
                a.attempts,
            ));
        };
        // Renewed a little before it expires, so that no request goes out with a token
        // that expires on the way.
        let margin = (expires_in / 4).min(30);
        let value = Secret::new(access);
        *cached = Some(Token {
            value: value.clone(),
            renew_at: Instant::now() + Duration::from_secs(expires_in - margin),
        });
        Ok(value)
    }

    /// A failure to reach the token endpoint, said as such.
    fn token_error(&self, what: &str, e: ActionError) -> ActionError {
        match e {
            ActionError::Admin {
                message, attempts, ..
            } => self.error_at(
                &self.token_url(),
                what,
                format!("no access token: {message}"),
                attempts,
            ),
            other => other,
        }
    }

    /// Keycloak refused the service account's token request: why, in its words and ours.
    fn token_refused(
        &self,
        what: &str,
        status: reqwest::StatusCode,
        body: &Value,
        attempts: u32,
    ) -> ActionError {
        let said = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
        let keycloak = format!("{} {}", said("error"), said("error_description"));
        let keycloak = esc_max(keycloak.trim(), 200);
        // Keycloak 26 answers 401 to all of these; only its description tells them apart.
        let client = esc_max(&self.client_id, 100);
        let why = match status.as_u16() {
            404 => format!("realm {} does not exist", esc_max(&self.realm, 100)),
            400 | 401 if said("error_description").contains("service account") => format!(
                "client {client} may not use client_credentials: it must be a confidential \
                 client with service accounts enabled"
            ),
            400 | 401 => format!(
                "the credentials of client {client} were refused (wrong client id or secret, or \
                 the client is disabled)"
            ),
            _ => "the token request was refused".into(),
        };
        self.error_at(
            &self.token_url(),
            what,
            format!("no access token: {why} (HTTP {status}: {keycloak})"),
            attempts,
        )
    }

    /// Sends an authorized request: a new token once if Keycloak refuses the cached one
    /// (401); a 403 names the role the service account lacks.
    async fn call(
        &self,
        what: &str,
        role: &str,
        tally: &mut Tally,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ActionError> {
        let mut refused: Option<Secret> = None;
        loop {
            let token = self.token(what, refused.as_ref(), tally).await?;
            let a = self
                .send(what, || build().bearer_auth(token.expose()))
                .await?;
            tally.add(a.attempts);
            match a.value.status().as_u16() {
                401 if refused.is_none() => {
                    tracing::info!(
                        what,
                        "Keycloak refused the access token; fetching a new one"
                    );
                    tally.retried();
                    refused = Some(token);
                }
                401 => {
                    return Err(self.error(
                        what,
                        "HTTP 401 Unauthorized even with a new access token",
                        tally.attempts(),
                    ))
                }
                403 => {
                    return Err(self.error(
                        what,
                        format!(
                            "HTTP 403 Forbidden: the service account of client {} lacks the \
                             realm-management role {role}",
                            esc_max(&self.client_id, 100)
                        ),
                        tally.attempts(),
                    ))
                }
                _ => return Ok(a.value),
            }
        }
    }

    /// An answer neither expected nor refused: its status and Keycloak's words.
    async fn unexpected(&self, what: &str, r: reqwest::Response, tally: &Tally) -> ActionError {
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        self.error(
            what,
            format!("HTTP {status}: {}", esc_max(text.trim(), 300)),
            tally.attempts(),
        )
    }

    /// Reads a JSON answer.
    async fn json(
        &self,
        what: &str,
        r: reqwest::Response,
        tally: &Tally,
    ) -> Result<Value, ActionError> {
        r.json().await.map_err(|e| {
            self.error(
                what,
                format!("unreadable answer: {}", e.without_url()),
                tally.attempts(),
            )
        })
    }

    /// A GET whose answer must be 2xx JSON.
    async fn get_json(
        &self,
        what: &str,
        role: &str,
        url: Url,
        tally: &mut Tally,
    ) -> Result<Value, ActionError> {
        let r = self
            .call(what, role, tally, || self.http.get(url.clone()))
            .await?;
        if !r.status().is_success() {
            return Err(self.unexpected(what, r, tally).await);
        }
        self.json(what, r, tally).await
    }

    /// Checks, before anything is planned to run, that Keycloak answers, grants a token to
    /// the service account and lets it list clients; the error says which failed.
    pub async fn probe(&self) -> Result<(), ActionError> {
        let mut tally = Tally::default();
        let mut u = self.admin(&["clients"]);
        u.query_pairs_mut()
            .append_pair("first", "0")
            .append_pair("max", "1");
        let v = self
            .get_json("list clients", VIEW_CLIENTS, u, &mut tally)
            .await?;
        if !v.is_array() {
            return Err(self.error(
                "list clients",
                "unreadable answer: not a list of clients",
                tally.attempts(),
            ));
        }
        Ok(())
    }
}
