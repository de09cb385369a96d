//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a CIMD
//! client's client_id is an https URL, and the document there describes the client. Fetched
//! through the SSRF-safe [`Fetcher`], checked as the draft says, cached per HTTP caching
//! headers for at most 24 h; failures and documents that break the rules are never cached.
//!
//! What a verified document proves (invariant 10): that whoever controls the URL's host
//! published this client's metadata. An attacker controls the registration and any host they
//! own, so a document on their own host verifies their own claims only; it never vouches for
//! a name (impersonation rules still judge the name against the catalog).

use super::address::{Refusal, Rule};
use super::client::{check_url, FetchError, Fetcher};
use crate::escape::esc;
use crate::model::ClientMetadata;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most bytes a document may have (the draft's 5 KB).
pub const MAX_BYTES: usize = 5 * 1024;
/// The longest a document is reused before it is fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Documents kept at most; past that a new one is not cached.
const MAX_ENTRIES: usize = 10_000;

/// The outcome of one fetch, the `outcome` label of `regwarden_cimd_fetches_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Verified,
    Mismatch,
    Refused,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Verified,
        Outcome::Mismatch,
        Outcome::Refused,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::Mismatch => "mismatch",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// A document that follows the draft's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
}

/// Why a CIMD client_id gave no verified document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CimdError {
    /// The URL or its destination is refused (no request was made, or no connection).
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The fetch failed (network, status, size, not JSON): says nothing of the client.
    #[error("{0}")]
    Failed(String),
    /// The document breaks the draft's rules or contradicts the registration.
    #[error("mismatch: {0}")]
    Mismatch(String),
}

impl CimdError {
    pub fn outcome(&self) -> Outcome {
        match self {
            CimdError::Refused(_) => Outcome::Refused,
            CimdError::Failed(_) => Outcome::Failed,
            CimdError::Mismatch(_) => Outcome::Mismatch,
        }
    }
}

/// Checks a client_id against the draft's URL rules and the fetch rules: https with a path,
/// no fragment, query, dot segments or user information, a DNS name for a host.
pub fn check_client_id(id: &str) -> Result<url::Url, Refusal> {
    let url = check_url(id)?;
    let bad = |why: &str| {
        Err(Refusal::new(
            Rule::BadUrl,
            format!("a CIMD client_id {why}"),
        ))
    };
    if id.contains('#') {
        return bad("must not have a fragment");
    }
    if url.query().is_some() {
        return bad("must not have a query");
    }
    if url.path() == "/" || url.path().is_empty() {
        return bad("must have a path");
    }
    if id
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split('/')
        .skip(3)
        .any(|seg| matches!(seg, "." | ".." | "%2e" | "%2E" | "%2e%2e" | "%2E%2E"))
    {
        return bad("must not have dot segments");
    }
    Ok(url)
}

/// Reads and checks a fetched document against its URL: a JSON object whose client_id is the
/// URL exactly, with redirect URIs and no shared-secret authentication.
pub fn read_document(url: &str, body: &[u8]) -> Result<Document, CimdError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| CimdError::Failed(format!("the document is not JSON: {e}")))?;
    let Value::Object(doc) = value else {
        return Err(CimdError::Failed(
            "the document is not a JSON object".into(),
        ));
    };
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let mismatch = |m: String| Err(CimdError::Mismatch(m));
    let client_id = match doc.get("client_id") {
        Some(Value::String(s)) if s == url => s.clone(),
        Some(Value::String(s)) => {
            return mismatch(format!(
                "the document's client_id {:?} is not its URL",
                esc(s)
            ))
        }
        _ => return mismatch("the document has no client_id".into()),
    };
    let method = text("token_endpoint_auth_method");
    if let Some(m) = method
        .as_deref()
        .filter(|m| m.starts_with("client_secret_"))
    {
        return mismatch(format!(
            "the document asks for shared-secret authentication ({})",
            esc(m)
        ));
    }
    if doc.contains_key("client_secret") || doc.contains_key("client_secret_expires_at") {
        return mismatch("the document carries a client secret".into());
    }
    let redirect_uris: Vec<String> = match doc.get("redirect_uris") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if redirect_uris.is_empty() {
        return mismatch("the document lists no redirect_uris".into());
    }
    Ok(Document {
        client_id,
        client_name: text("client_name"),
        redirect_uris,
        token_endpoint_auth_method: method,
    })
}

/// Whether a registration stored under the document's client_id agrees with it: every
/// redirect URI it holds is one the document lists (compared as the URL standard
/// serializes them, so `HTTPS://App.example/cb` is `https://app.example/cb`). The stored
/// auth method is not compared: a store may show its own default where the document said
/// nothing.
pub fn consistent(doc: &Document, reg: &ClientMetadata) -> Result<(), CimdError> {
    let canonical = |u: &str| url::Url::parse(u).map_or_else(|_| u.to_owned(), String::from);
    let listed: Vec<String> = doc.redirect_uris.iter().map(|u| canonical(u)).collect();
    match reg
        .redirect_uris
        .iter()
        .find(|u| !listed.contains(&canonical(u)))
    {
        Some(u) => Err(CimdError::Mismatch(format!(
            "the registration redirects to {}, which its document does not list",
            esc(u)
        ))),
        None => Ok(()),
    }
}

/// Documents fetched and verified, by URL, until their freshness runs out.
pub struct Cimd {
    fetcher: Fetcher,
    cache: Mutex<HashMap<String, (Instant, Document)>>,
    /// Counts every fetch by outcome (`regwarden_cimd_fetches_total`), when given.
    counter: Option<prometheus::IntCounterVec>,
}

impl Cimd {
    pub fn new(fetcher: Fetcher, counter: Option<prometheus::IntCounterVec>) -> Cimd {
        Cimd {
            fetcher,
            cache: Mutex::new(HashMap::new()),
            counter,
        }
    }

    /// How long the documents of one page of registrations may take together: twice the
    /// timeout of one fetch. Registrations whose fetch has not finished by then are judged
    /// as not fetched, so hosts that answer slowly (or a flood of registrations naming them)
    /// delay a judgement by this much per page at most.
    pub fn page_budget(&self) -> std::time::Duration {
        self.fetcher.settings().timeout * 2
    }

    /// The verified document for a CIMD client_id, checked against the registration when
    /// one is given: from the cache while fresh, fetched otherwise.
    pub async fn check(
        &self,
        client_id: &str,
        reg: Option<&ClientMetadata>,
    ) -> Result<Document, CimdError> {
        let (doc, fetched) = match self.cached(client_id) {
            Some(doc) => (Ok(doc), false),
            None => (self.fetch(client_id).await, true),
        };
        let checked = doc.and_then(|d| match reg {
            Some(m) => consistent(&d, m).map(|()| d),
            None => Ok(d),
        });
        if fetched {
            self.count(match &checked {
                Ok(_) => Outcome::Verified,
                Err(e) => e.outcome(),
            });
        }
        checked
    }

    fn cached(&self, url: &str) -> Option<Document> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(url)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, d)| d.clone())
    }

    async fn fetch(&self, client_id: &str) -> Result<Document, CimdError> {
        check_client_id(client_id).map_err(CimdError::Refused)?;
        let fetched = self
            .fetcher
            .get(client_id, "application/json", MAX_BYTES)
            .await
            .map_err(|e| match e {
                FetchError::Refused(r) => CimdError::Refused(r),
                other => CimdError::Failed(other.to_string()),
            })?;
        let doc = read_document(client_id, &fetched.body)?;
        if let Some(ttl) = fetched.fresh_for.map(|t| t.min(MAX_AGE)) {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() < MAX_ENTRIES {
                cache.insert(client_id.to_owned(), (now + ttl, doc.clone()));
            }
        }
        Ok(doc)
    }

    fn count(&self, outcome: Outcome) {
        if let Some(c) = &self.counter {
            c.with_label_values(&[outcome.as_str()]).inc();
        }
    }

    /// Documents in the cache now (fresh or not yet swept).
    pub fn cached_len(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
