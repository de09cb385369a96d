//! One full scan of a realm: pages of clients by internal id, each with its redirect URIs,
//! web origins, attributes and the uses its sessions and consents show.

use super::record::{ClientRow, ATTRIBUTES};
use super::{query, KeycloakSource};
use crate::model::Usage;
use crate::source::sql::column_text;
use crate::source::{Batch, SourceError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Facts read once per scan.
#[derive(Default)]
pub(super) struct ScanFacts {
    pub registered: HashMap<String, DateTime<Utc>>,
    pub used: HashMap<String, DateTime<Utc>>,
}

pub struct KeycloakPager<'a> {
    src: &'a KeycloakSource,
    after_id: Option<String>,
    done: bool,
    scan_facts: Option<ScanFacts>,
}

impl<'a> KeycloakPager<'a> {
    pub(super) fn new(src: &'a KeycloakSource) -> KeycloakPager<'a> {
        KeycloakPager {
            src,
            after_id: None,
            done: false,
            scan_facts: None,
        }
    }

    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let src = self.src;
        if self.scan_facts.is_none() {
            self.scan_facts = Some(src.event_times().await?);
        }
        let sql = src.select_clients(self.after_id.is_some());
        let mut q = sqlx::query(&sql).bind(&src.realm_id);
        if let Some(id) = &self.after_id {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&src.pool).await.map_err(query("client"))?;
        if rows.len() < src.batch_size as usize {
            self.done = true;
        }
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        self.after_id = column_text(last, 0);
        let mut clients: Vec<ClientRow> = rows
            .iter()
            .map(|r| ClientRow::from_text(&|i| column_text(r, i)))
            .filter(|c| !c.is_built_in(&src.realm))
            .collect();
        let mut batch = Batch::default();
        if clients.is_empty() {
            return Ok(Some(batch));
        }
        let ids: Vec<String> = clients.iter().map(|c| c.id.clone()).collect();
        let index: HashMap<String, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let d = src.dialect;
        for (table, into_origins) in [("redirect_uris", false), ("web_origins", true)] {
            for r in src.by_client(table, &[d.text("value")], "", &ids).await? {
                let (Some(id), Some(v)) = (column_text(&r, 0), column_text(&r, 1)) else {
                    continue;
                };
                if let Some(&i) = index.get(&id) {
                    let c = &mut clients[i];
                    if into_origins {
                        c.web_origins.push(v);
                    } else {
                        c.redirect_uris.push(v);
                    }
                }
            }
        }
        let names: Vec<String> = ATTRIBUTES.iter().map(|(n, _)| format!("'{n}'")).collect();
        let attrs = if src.attributes_readable {
            src.by_client(
                "client_attributes",
                &[d.text("name"), d.text("value")],
                &format!(" AND name IN ({})", names.join(",")),
                &ids,
            )
            .await?
        } else {
            Vec::new()
        };
        for r in attrs {
            let (Some(id), Some(n), Some(v)) =
                (column_text(&r, 0), column_text(&r, 1), column_text(&r, 2))
            else {
                continue;
            };
            if let Some(&i) = index.get(&id) {
                clients[i].attributes.push((n, v));
            }
        }
        let sessions = src.session_uses(&ids).await?;
        let facts = self.scan_facts.as_ref().expect("read above");
        for mut c in clients {
            // Database order is not the client's: keep the lists stable across scans.
            c.redirect_uris.sort();
            c.web_origins.sort();
            let used = [facts.used.get(&c.client_id), sessions.get(&c.id)]
                .into_iter()
                .flatten()
                .max()
                .copied();
            let usage = match used {
                Some(t) => Usage::LastUsed(t),
                None if (c.consent_required && c.standard_flow)
                    || src.events.covers(src.window) =>
                {
                    Usage::Never
                }
                None => Usage::Unknown,
            };
            let registered = facts.registered.get(&c.client_id).copied();
            batch.records.push(c.into_record(registered, usage));
        }
        Ok(Some(batch))
    }
}
