//! Ory Hydra read through its admin API alone, for operators who cannot grant database access
//! (hosted Ory): `GET /admin/clients`, keyset-paginated by Hydra's opaque page token (next
//! page in the `Link` header, at most 500 clients a page). The API shows no usage, so every
//! registration's usage is unknown and expiry never acts on it; creation comes from the
//! client's `created_at`.

use super::super::{Batch, Refused, SourceError, SourceRecord};
use super::record::origin;
use crate::escape::esc;
use crate::model::{CreatedFrom, Usage};
use crate::normalize::parse_time;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// Hydra clamps larger pages to this.
pub const MAX_PAGE: u32 = 500;

/// Fields never kept from the API's answer.
const SECRET_FIELDS: [&str; 3] = [
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
];

pub struct HydraApiSource {
    http: reqwest::Client,
    base: Url,
    page_size: u32,
}

impl HydraApiSource {
    /// Checks the admin API answers a one-client listing.
    pub async fn open(base: &Url, batch_size: u32) -> Result<HydraApiSource, SourceError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| api_error(base, "build an HTTP client", e.to_string()))?;
        let src = HydraApiSource {
            http,
            base: base.clone(),
            page_size: batch_size.clamp(1, MAX_PAGE),
        };
        src.page(&src.first_page(1)).await?;
        Ok(src)
    }

    fn first_page(&self, size: u32) -> Url {
        let mut u = self.base.clone();
        u.path_segments_mut()
            .expect("http(s) URLs have paths")
            .pop_if_empty()
            .extend(["admin", "clients"]);
        u.query_pairs_mut()
            .append_pair("page_size", &size.to_string());
        u
    }

    pub fn pager(&self) -> HydraApiPager<'_> {
        HydraApiPager {
            src: self,
            next: Some(self.first_page(self.page_size)),
        }
    }

    /// One page: the clients and the next page's URL.
    async fn page(&self, url: &Url) -> Result<(Vec<Value>, Option<Url>), SourceError> {
        let res = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| api_error(&self.base, "list clients", e.without_url().to_string()))?;
        let status = res.status();
        if !status.is_success() {
            return Err(api_error(
                &self.base,
                "list clients",
                format!("unexpected HTTP {status}"),
            ));
        }
        let next = res
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link)
            .and_then(|l| self.base.join(&l).ok());
        let body: Value = res.json().await.map_err(|e| {
            api_error(
                &self.base,
                "list clients",
                format!("unreadable answer: {}", e.without_url()),
            )
        })?;
        match body {
            Value::Array(clients) => Ok((clients, next)),
            _ => Err(api_error(
                &self.base,
                "list clients",
                "the answer is not a JSON array".into(),
            )),
        }
    }
}

fn api_error(base: &Url, what: &str, message: String) -> SourceError {
    SourceError::Api {
        url: crate::config::redact_url(base.as_str()),
        what: what.to_owned(),
        message,
    }
}

/// The `rel="next"` target of one `Link` header value (RFC 8288), if it has one.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

/// One client as the admin API shows it, to a record.
fn record(client: Value) -> Result<SourceRecord, Refused> {
    let Value::Object(mut doc) = crate::quarantine::as_before(client) else {
        return Err(Refused {
            locator: "admin API client".into(),
            reason: "not a JSON object".into(),
        });
    };
    for k in SECRET_FIELDS {
        doc.remove(k);
    }
    let client_id = doc
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut warnings = Vec::new();
    let mut time = |key: &str| match doc.get(key) {
        Some(Value::String(s)) => parse_time(s).or_else(|| {
            warnings.push(format!("{key}: {:?} is not a timestamp", esc(s)));
            None
        }),
        _ => None,
    };
    let created_at = time("created_at");
    let updated_at = time("updated_at");
    let skip = match doc.get("skip_consent") {
        Some(Value::Bool(true)) => Some("true"),
        _ => None,
    };
    let strategy = doc
        .get("access_token_strategy")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let origin = origin(&client_id, doc.get("metadata"), skip, strategy.as_deref());
    for k in ["metadata", "owner", "created_at", "updated_at"] {
        doc.remove(k);
    }
    Ok(SourceRecord {
        locator: format!("admin API client {}", esc(&client_id)),
        doc: Value::Object(doc),
        created_at,
        created_from: Some(CreatedFrom::Store),
        updated_at,
        usage: Usage::Unknown,
        origin,
        warnings,
    })
}

pub struct HydraApiPager<'a> {
    src: &'a HydraApiSource,
    next: Option<Url>,
}

impl HydraApiPager<'_> {
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let (clients, next) = self.src.page(&url).await?;
        // Hydra answers the last page with a next link to an empty page; stop at either.
        if clients.is_empty() {
            return Ok(None);
        }
        self.next = next;
        let mut batch = Batch::default();
        for c in clients {
            match record(c) {
                Ok(r) => batch.records.push(r),
                Err(r) => batch.refused.push(r),
            }
        }
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_next_link_is_found_among_others() {
        let h = r#"</admin/clients?page_size=2&page_token=abc>; rel="next", </admin/clients?page_size=2>; rel="first""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("/admin/clients?page_size=2&page_token=abc")
        );
        assert_eq!(next_link(r#"</x>; rel="first""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn an_api_client_reads_like_its_row_with_usage_unknown() {
        let r = record(json!({
            "client_id": "0b3c1c44-6b0e-4f4e-9d2a-3f6b1f0c2a11",
            "client_name": "Cursor",
            "client_secret": "s3cret",
            "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback"],
            "created_at": "2026-11-01T10:00:00Z",
            "metadata": {},
            "skip_consent": false
        }))
        .unwrap();
        assert_eq!(r.origin, crate::model::Origin::Dcr);
        assert_eq!(r.usage, Usage::Unknown);
        assert!(r.doc.get("client_secret").is_none());
        assert_eq!(r.created_at, parse_time("2026-11-01T10:00:00Z"));
        let admin = record(json!({"client_id": "my-app", "skip_consent": true})).unwrap();
        assert_eq!(admin.origin, crate::model::Origin::Admin);
        assert!(record(json!("nope")).is_err());
    }
}
