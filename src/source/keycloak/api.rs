//! Keycloak read through its admin REST API alone, for operators who cannot grant database
//! access (managed Keycloak). Clients come in `first`/`max` pages; stored events give
//! creation (`CLIENT_REGISTER`) and use (`CODE_TO_TOKEN`, `REFRESH_TOKEN`, `CLIENT_LOGIN`);
//! the session counts tell which clients are in use right now. The representation shows no
//! registration token and no creation time, so the origin is read from what it does show
//! (a DCR client's client id is its internal id), creation is unknown
//! without events, and so is usage unless the realm's events cover the expiry windows.
//!
//! Offset pages have no cursor: a client inserted or deleted before the offset between two
//! pages shifts the rest. Each page after the first is read with an overlap and must contain
//! a client of the page before it (its anchor), else the overlap widens and the page is read
//! again; clients already seen are skipped. No client present through the whole scan is
//! missed, so a complete scan may mark the others gone.

use super::record::{ClientRow, ATTRIBUTES};
use super::{EventSettings, ScanFacts, SourceRecord};
use crate::act::keycloak::KeycloakAdmin;
use crate::act::ActionError;
use crate::config::KeycloakAdmin as AdminConfig;
use crate::model::Usage;
use crate::source::{Batch, SourceError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Clients read per request at most: Keycloak builds each full representation (mappers,
/// scopes, attributes) for the answer, about 7 ms a client on 2 cores, so larger pages only
/// risk the request's timeout.
const MAX_PAGE: u32 = 100;

/// Events read per request.
const EVENT_PAGE: u32 = 1000;

pub struct KeycloakApiSource {
    api: KeycloakAdmin,
    page: u32,
    window: Duration,
    events: EventSettings,
    /// Every client of the realm counted by the last complete scan (built-in ones too).
    counted: AtomicU64,
}

fn api_error(e: ActionError) -> SourceError {
    SourceError::Api {
        url: String::new(),
        what: "read Keycloak's admin API".into(),
        message: e.to_string(),
    }
}

impl KeycloakApiSource {
    /// Signs in and reads the realm's events configuration.
    pub async fn open(
        realm: &str,
        admin: &AdminConfig,
        batch_size: u32,
        window: Duration,
    ) -> Result<KeycloakApiSource, SourceError> {
        let api = KeycloakAdmin::from_config(realm, admin);
        api.probe().await.map_err(api_error)?;
        let c = api.events_config().await.map_err(api_error)?;
        let events = EventSettings {
            enabled: c.enabled,
            expiration: c.expiration_secs.map(Duration::from_secs),
            types: c.types,
        };
        Ok(KeycloakApiSource {
            api,
            page: batch_size.clamp(1, MAX_PAGE),
            window,
            events,
            counted: AtomicU64::new(0),
        })
    }

    pub fn notice(&self) -> String {
        let mut n = "read through the admin API alone: creation times come only from stored \
                     CLIENT_REGISTER events, and usage only from stored events and live sessions"
            .to_owned();
        if let Some(e) = self.events.notice(self.api.realm(), self.window) {
            n.push_str("; ");
            n.push_str(&e);
        }
        n
    }

    /// The realm's Max Clients limit (needs `view-realm`; unknown without it) and every
    /// client the last complete scan counted.
    pub async fn capacity(&self) -> super::Capacity {
        super::Capacity {
            limit: self.api.max_clients().await.ok().flatten(),
            used: self.counted.load(Ordering::Relaxed),
        }
    }

    pub fn pager(&self) -> KeycloakApiPager<'_> {
        KeycloakApiPager {
            src: self,
            offset: 0,
            overlap: (self.page / 10).max(10),
            anchors: HashSet::new(),
            seen: HashSet::new(),
            counted: 0,
            facts: None,
            done: false,
        }
    }

    /// First registration and last use of every client with stored events, by client id.
    async fn facts(&self) -> Result<ScanFacts, SourceError> {
        let mut f = ScanFacts::default();
        if self.events.enabled {
            for (types, register) in [
                (&["CLIENT_REGISTER"][..], true),
                (
                    &["CODE_TO_TOKEN", "REFRESH_TOKEN", "CLIENT_LOGIN"][..],
                    false,
                ),
            ] {
                let mut first = 0;
                loop {
                    let page = self
                        .api
                        .events(types, None, first, EVENT_PAGE)
                        .await
                        .map_err(api_error)?;
                    for e in &page {
                        let (Some(id), Some(t)) =
                            (&e.client_id, DateTime::from_timestamp_millis(e.time_ms))
                        else {
                            continue;
                        };
                        let map = if register {
                            &mut f.registered
                        } else {
                            &mut f.used
                        };
                        let slot = map.entry(id.clone()).or_insert(t);
                        *slot = if register {
                            (*slot).min(t)
                        } else {
                            (*slot).max(t)
                        };
                    }
                    if page.len() < EVENT_PAGE as usize {
                        break;
                    }
                    first += EVENT_PAGE;
                }
            }
        }
        // A live session is a use within the session idle timeout (30 minutes by default):
        // now stands in for its last access. Without view-realm the counts are unknown.
        if let Ok(stats) = self.api.session_stats().await {
            let now = Utc::now();
            for s in stats.into_iter().filter(|s| s.active + s.offline > 0) {
                let slot = f.used.entry(s.client_id).or_insert(now);
                *slot = (*slot).max(now);
            }
        }
        Ok(f)
    }
}

fn internal_id(c: &Value) -> Option<&str> {
    c.get("id").and_then(Value::as_str)
}

/// The clients of one page the scan has not seen yet, or None when the page does not reach
/// back to the page before it (clients before the offset were deleted meanwhile: read again
/// with more overlap). `anchors` are the previous page's internal ids (empty for the first).
fn fresh<'a>(
    page: &'a [Value],
    anchors: &HashSet<String>,
    seen: &HashSet<String>,
    from_start: bool,
) -> Option<Vec<&'a Value>> {
    let anchored = from_start
        || page
            .iter()
            .any(|c| internal_id(c).is_some_and(|id| anchors.contains(id)));
    anchored.then(|| {
        page.iter()
            .filter(|c| internal_id(c).is_some_and(|id| !seen.contains(id)))
            .collect()
    })
}

/// A client representation to the reader's row.
fn row_of(c: &Value) -> ClientRow {
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
    let flag = |k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(false);
    let list = |k: &str| -> Vec<String> {
        c.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let id = text("id").unwrap_or_default();
    let client_id = text("clientId").unwrap_or_default();
    let attributes = c
        .get("attributes")
        .and_then(Value::as_object)
        .map(|a| {
            ATTRIBUTES
                .iter()
                .filter_map(|(name, _)| {
                    let v = a.get(*name)?.as_str()?;
                    Some(((*name).to_owned(), v.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut redirect_uris = list("redirectUris");
    redirect_uris.sort();
    let mut web_origins = list("webOrigins");
    web_origins.sort();
    ClientRow {
        // The representation does not show the token: the origin rests on the client id
        // (the registration endpoint's is the internal id; an administrator's is chosen).
        has_registration_token: false,
        id,
        client_id,
        name: text("name"),
        public_client: flag("publicClient"),
        consent_required: flag("consentRequired"),
        standard_flow: flag("standardFlowEnabled"),
        implicit_flow: flag("implicitFlowEnabled"),
        direct_access_grants: flag("directAccessGrantsEnabled"),
        service_accounts: flag("serviceAccountsEnabled"),
        authenticator: text("clientAuthenticatorType"),
        protocol: text("protocol"),
        root_url: text("rootUrl"),
        base_url: text("baseUrl"),
        created_timestamp: None,
        redirect_uris,
        web_origins,
        attributes,
    }
}

pub struct KeycloakApiPager<'a> {
    src: &'a KeycloakApiSource,
    /// Where the next page starts.
    offset: u32,
    overlap: u32,
    /// Internal ids of the last page read.
    anchors: HashSet<String>,
    seen: HashSet<String>,
    counted: u64,
    facts: Option<ScanFacts>,
    done: bool,
}

impl KeycloakApiPager<'_> {
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let src = self.src;
        if self.facts.is_none() {
            self.facts = Some(src.facts().await?);
        }
        let (start, page) = loop {
            let start = if self.offset == 0 {
                0
            } else {
                self.offset.saturating_sub(self.overlap)
            };
            let max = src.page + (self.offset - start);
            let page = src.api.list(start, max).await.map_err(api_error)?.value;
            if page.is_empty() && start > 0 && !self.anchors.is_empty() {
                // Everything from the overlap on was deleted: reach further back.
                self.overlap = self.overlap.saturating_mul(2);
                continue;
            }
            match fresh(&page, &self.anchors, &self.seen, start == 0) {
                Some(_) => break (start, page),
                None => self.overlap = self.overlap.saturating_mul(2),
            }
        };
        let requested = src.page + (self.offset - start);
        let new: Vec<Value> = fresh(&page, &self.anchors, &self.seen, start == 0)
            .unwrap_or_default()
            .into_iter()
            .cloned()
            .collect();
        self.offset = start + page.len() as u32;
        self.anchors = page
            .iter()
            .filter_map(internal_id)
            .map(str::to_owned)
            .collect();
        if (page.len() as u32) < requested {
            self.done = true;
        }
        let facts = self.facts.as_ref().expect("read above");
        let mut batch = Batch::default();
        for c in &new {
            let Some(id) = internal_id(c) else { continue };
            self.seen.insert(id.to_owned());
            self.counted += 1;
            let row = row_of(c);
            if crate::act::keycloak::is_built_in(src.api.realm(), &row.client_id) {
                continue;
            }
            let usage = match facts.used.get(&row.client_id) {
                Some(t) => Usage::LastUsed(*t),
                None if src.events.covers(src.window) => Usage::Never,
                None => Usage::Unknown,
            };
            let registered = facts.registered.get(&row.client_id).copied();
            let mut record: SourceRecord = row.into_record(registered, usage);
            record.locator = format!("admin API client {}", crate::escape::esc(id));
            batch.records.push(record);
        }
        if self.done {
            src.counted.store(self.counted, Ordering::Relaxed);
        }
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(ids: &[&str]) -> Vec<Value> {
        ids.iter()
            .map(|i| json!({"id": i, "clientId": i}))
            .collect()
    }

    fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_page_must_reach_back_to_the_page_before() {
        let seen = set(&["a", "b", "c"]);
        // Nothing changed: the overlap re-reads c, which anchors the page; d, e are new.
        let p = page(&["c", "d", "e"]);
        let got = fresh(&p, &set(&["b", "c"]), &seen, false).unwrap();
        assert_eq!(got.len(), 2);
        // Clients before the offset were deleted: the window starts past the anchors.
        assert!(fresh(&page(&["f", "g"]), &set(&["b", "c"]), &seen, false).is_none());
        // Inserted before the offset: the window shifts back, seen clients are skipped.
        let p = page(&["b", "x", "c", "d"]);
        let got: Vec<_> = fresh(&p, &set(&["b", "c"]), &seen, false)
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, ["x", "d"]);
    }

    #[test]
    fn a_dcr_client_is_known_by_its_id() {
        let dcr = json!({"id": "5f0c", "clientId": "5f0c", "consentRequired": true,
            "publicClient": true, "redirectUris": ["http://localhost:1/cb"],
            "attributes": {"logoUri": "https://x.example/logo.png", "client.secret.rotated": "s"}});
        let row = row_of(&dcr);
        assert_eq!(row.origin(), crate::model::Origin::Dcr);
        assert_eq!(
            row.attributes,
            [(
                "logoUri".to_owned(),
                "https://x.example/logo.png".to_owned()
            )]
        );
        let admin = json!({"id": "9a1b", "clientId": "reporting", "consentRequired": false});
        assert_eq!(row_of(&admin).origin(), crate::model::Origin::Admin);
    }
}
