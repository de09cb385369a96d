//! Ory Hydra's admin API (never its database): read, patch, delete and re-create clients.
//! Timeouts, connection failures and 5xx answers are retried with backoff; every attempt
//! is counted. Client secrets are stripped from what is kept and never logged.

use super::ActionError;
use serde_json::Value;
use std::time::Duration;
use url::Url;

#[cfg(test)]
use super::retry::ATTEMPTS;

/// Fields never kept in a snapshot nor sent back on restore.
const SECRET_FIELDS: [&str; 3] = [
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
];

#[derive(Debug, Clone)]
pub struct HydraAdmin {
    base: Url,
    http: reqwest::Client,
}

/// An answer and how many attempts it took.
#[derive(Debug)]
pub struct Answer<T> {
    pub value: T,
    pub attempts: u32,
}

impl HydraAdmin {
    pub fn new(base: Url) -> HydraAdmin {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with static settings builds");
        HydraAdmin { base, http }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn client_url(&self, id: Option<&str>) -> Url {
        let mut u = self.base.clone();
        {
            let mut segs = u.path_segments_mut().expect("http(s) URLs have paths");
            segs.pop_if_empty().extend(["admin", "clients"]);
            if let Some(id) = id {
                segs.push(id);
            }
        }
        u
    }

    /// Sends a request under the retry policy ([`super::retry`]).
    async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer<reqwest::Response>, ActionError> {
        super::retry::send("hydra", what, build)
            .await
            .map_err(|(message, attempts)| ActionError::Admin {
                what: what.into(),
                url: crate::config::redact_url(self.base.as_str()),
                message,
                attempts,
            })
    }

    fn unexpected(&self, what: &str, status: reqwest::StatusCode, attempts: u32) -> ActionError {
        ActionError::Admin {
            what: what.into(),
            url: crate::config::redact_url(self.base.as_str()),
            message: format!("unexpected HTTP {status}"),
            attempts,
        }
    }

    /// Checks the admin API answers at all, before anything is planned to run.
    pub async fn probe(&self) -> Result<(), ActionError> {
        let mut u = self.client_url(None);
        u.query_pairs_mut().append_pair("page_size", "1");
        let a = self
            .send("list clients", || self.http.get(u.clone()))
            .await?;
        if !a.value.status().is_success() {
            return Err(self.unexpected("list clients", a.value.status(), a.attempts));
        }
        Ok(())
    }

    /// The client as the admin API shows it, secrets stripped; None if it does not exist.
    pub async fn get(&self, id: &str) -> Result<Answer<Option<Value>>, ActionError> {
        let u = self.client_url(Some(id));
        let a = self
            .send("read client", || self.http.get(u.clone()))
            .await?;
        let status = a.value.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Answer {
                value: None,
                attempts: a.attempts,
            });
        }
        if !status.is_success() {
            return Err(self.unexpected("read client", status, a.attempts));
        }
        let mut v: Value = a.value.json().await.map_err(|e| ActionError::Admin {
            what: "read client".into(),
            url: crate::config::redact_url(self.base.as_str()),
            message: format!("unreadable answer: {}", e.without_url()),
            attempts: a.attempts,
        })?;
        strip_secrets(&mut v);
        Ok(Answer {
            value: Some(v),
            attempts: a.attempts,
        })
    }

    /// Deletes a client; a 404 counts as done (true when it was there).
    pub async fn delete(&self, id: &str) -> Result<Answer<bool>, ActionError> {
        let u = self.client_url(Some(id));
        let a = self
            .send("delete client", || self.http.delete(u.clone()))
            .await?;
        match a.value.status() {
            s if s.is_success() => Ok(Answer {
                value: true,
                attempts: a.attempts,
            }),
            reqwest::StatusCode::NOT_FOUND => Ok(Answer {
                value: false,
                attempts: a.attempts,
            }),
            s => Err(self.unexpected("delete client", s, a.attempts)),
        }
    }

    /// Applies a JSON Patch (RFC 6902) to a client; `what` names the change in errors, which
    /// carry Hydra's answer.
    pub async fn patch(&self, id: &str, what: &str, patch: &Value) -> Result<u32, ActionError> {
        let u = self.client_url(Some(id));
        let a = self
            .send(what, || {
                self.http
                    .patch(u.clone())
                    .header("content-type", "application/json-patch+json")
                    .body(patch.to_string())
            })
            .await?;
        let status = a.value.status();
        if !status.is_success() {
            let text = a.value.text().await.unwrap_or_default();
            return Err(ActionError::Admin {
                what: what.into(),
                url: crate::config::redact_url(self.base.as_str()),
                message: format!("HTTP {status}: {}", crate::escape::esc_max(&text, 300)),
                attempts: a.attempts,
            });
        }
        Ok(a.attempts)
    }

    /// Re-creates a client from a snapshot (same client_id and metadata). Returns the
    /// created client, whose `client_secret` is new for confidential clients.
    pub async fn create(&self, snapshot: &Value) -> Result<Value, ActionError> {
        let mut body = snapshot.clone();
        strip_secrets(&mut body);
        if let Some(o) = body.as_object_mut() {
            for k in ["created_at", "updated_at", "client_secret_expires_at"] {
                o.remove(k);
            }
        }
        let u = self.client_url(None);
        let a = self
            .send("create client", || self.http.post(u.clone()).json(&body))
            .await?;
        let status = a.value.status();
        if !status.is_success() {
            let text = a.value.text().await.unwrap_or_default();
            return Err(ActionError::Admin {
                what: "create client".into(),
                url: crate::config::redact_url(self.base.as_str()),
                message: format!("HTTP {status}: {}", crate::escape::esc_max(&text, 300)),
                attempts: a.attempts,
            });
        }
        a.value.json().await.map_err(|e| ActionError::Admin {
            what: "create client".into(),
            url: crate::config::redact_url(self.base.as_str()),
            message: format!("unreadable answer: {}", e.without_url()),
            attempts: a.attempts,
        })
    }
}

pub fn strip_secrets(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        for k in SECRET_FIELDS {
            o.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::delete;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// A stand-in admin API that answers DELETE with `answers` in turn (the last one repeats):
    /// failures a real Hydra cannot be made to produce on demand.
    async fn admin_answering(answers: Vec<StatusCode>) -> (HydraAdmin, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let app = axum::Router::new().route(
            "/admin/clients/{id}",
            delete(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst) as usize;
                let status = answers[n.min(answers.len() - 1)];
                async move { status }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (HydraAdmin::new(base), calls)
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_the_delete_succeeds() {
        let (api, calls) = admin_answering(vec![
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::BAD_GATEWAY,
            StatusCode::NO_CONTENT,
        ])
        .await;
        let a = api.delete("c1").await.unwrap();
        assert_eq!(
            (a.value, a.attempts, calls.load(Ordering::SeqCst)),
            (true, 3, 3)
        );
    }

    #[tokio::test]
    async fn a_missing_client_counts_as_deleted() {
        let (api, _) = admin_answering(vec![StatusCode::NOT_FOUND]).await;
        let a = api.delete("gone").await.unwrap();
        assert_eq!((a.value, a.attempts), (false, 1));
    }

    #[tokio::test]
    async fn retries_stop_after_the_last_attempt_with_a_clear_error() {
        let (api, calls) = admin_answering(vec![StatusCode::INTERNAL_SERVER_ERROR]).await;
        let e = api.delete("c1").await.unwrap_err().to_string();
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
        assert!(e.contains("500") && e.contains("delete client"), "{e}");
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (api, calls) = admin_answering(vec![StatusCode::FORBIDDEN]).await;
        assert!(api.delete("c1").await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
