//! What a scan learns of the registrations it reads before writing them: which the state
//! knows, which of those the store changed, and, for a full scan, which it saw unchanged
//! (the `scan_seen` table: their ids, so that what it did not see can be marked gone without
//! rewriting every row, invariant 12).

use super::json_rows::fetch_json_rows;
use super::{q, ts, State, StateError};
use crate::model::{CreatedFrom, Registration, Usage};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// Registrations looked up per statement: a batch of the default size in one round trip
/// (on PostgreSQL state, lookups of 100 at a time took 16–17 s of a 25 s scan of 100,000
/// into an empty state, 16 ms each; a tenth as many statements, 1.5–3.7 s), with 1,001
/// parameters, well below every backend's limit.
const KNOWN_CHUNK: usize = 1000;

/// A registration as the state database knows it, for telling what a scan changed; read as
/// a JSON array of its columns, in field order ([`KNOWN_COLUMNS`]).
#[derive(serde::Deserialize)]
pub(super) struct Known {
    pub(super) created_at: Option<i64>,
    pub(super) created_from: Option<String>,
    pub(super) updated_at: Option<i64>,
    pub(super) gone_at: Option<i64>,
    pub(super) usage: String,
    pub(super) last_used_at: Option<i64>,
    origin: String,
    metadata: String,
    warnings: Option<String>,
}

/// [`Known`]'s columns, in its fields' order.
const KNOWN_COLUMNS: &str =
    "created_at, created_from, updated_at, gone_at, usage, last_used_at, origin, metadata, warnings";

/// A registration as it would be written: its metadata and warnings as stored text.
pub(super) struct Written {
    pub(super) metadata: String,
    pub(super) warnings: Option<String>,
}

impl Known {
    /// Whether recording `r` changes what is known: its store record (updated), its return
    /// (it was gone), or its usage moving forward (the upsert never moves it back).
    pub(super) fn changed_by(&self, r: &Registration) -> bool {
        self.updated_at != r.updated_at.map(ts) || self.gone_at.is_some() || self.usage_moves(r)
    }

    /// Whether recording `r` moves usage forward (the upsert never moves it back).
    fn usage_moves(&self, r: &Registration) -> bool {
        match r.usage {
            Usage::LastUsed(t) => {
                self.usage != "used" || self.last_used_at.is_none_or(|l| l < ts(t))
            }
            Usage::Never => self.usage == "unknown",
            Usage::Unknown => false,
        }
    }

    /// Whether writing `r` as `written` changes what its verdict reads, so that it is to be
    /// judged again: its metadata, origin or creation time, a return, or usage moving
    /// forward.
    pub(super) fn stale_by(&self, r: &Registration, written: &Written) -> bool {
        let created_moves = r.created_at.is_some_and(|t| self.created_at != Some(ts(t)));
        self.gone_at.is_some()
            || self.metadata != written.metadata
            || self.origin != r.origin.as_str()
            || created_moves
            || self.usage_moves(r)
    }

    /// Whether writing `r` as `written` would leave the row as it is, but for the marks of
    /// the scan that saw it: nothing [`Known::changed_by`] speaks of, and every other column
    /// the upsert sets equal too (a store without update times, or a normalization that
    /// changed with a new version of regwarden, changes those alone).
    pub(super) fn unchanged_by(&self, r: &Registration, written: &Written) -> bool {
        let created_kept = match r.created_at {
            None => true,
            Some(t) => {
                self.created_at == Some(ts(t))
                    && self.created_from.as_deref() == r.created_from.map(CreatedFrom::as_str)
            }
        };
        !self.changed_by(r)
            && created_kept
            && self.origin == r.origin.as_str()
            && self.metadata == written.metadata
            && self.warnings == written.warnings
    }
}

impl State {
    /// What the state knows of the registrations of `batch`, by client_id, to tell new from
    /// changed (a scan is the only writer).
    pub(super) async fn known(
        &self,
        store: &str,
        client_ids: &[&str],
    ) -> Result<HashMap<String, Known>, StateError> {
        let mut known: HashMap<String, Known> = HashMap::with_capacity(client_ids.len());
        let size = self.list_chunk(KNOWN_CHUNK);
        for chunk in client_ids.chunks(size) {
            let mut p = self.placeholders();
            let store_param = p();
            let ids = self.in_list("client_id", chunk.len(), &mut p);
            let sql = self.json_rows_sql(
                &["client_id", KNOWN_COLUMNS],
                &format!("FROM registrations WHERE store = {store_param} AND {ids}"),
                "client_id",
            );
            // Kept prepared only at full size, as `UPDATE_CHUNK` says.
            let query = sqlx::query(&sql)
                .persistent(chunk.len() == size)
                .bind(store);
            let query = self.bind_list(query, chunk);
            // On the writer's connection: what it wrote last is what is known.
            let rows: Vec<((String,), Known)> = fetch_json_rows(self.pool(), query)
                .await
                .map_err(q("read known registrations"))?;
            known.extend(rows.into_iter().map(|((client_id,), k)| (client_id, k)));
        }
        Ok(known)
    }

    /// Those of `client_ids` the state holds, live or gone: a lookup in the key's index
    /// alone (with `gone_at`, which is in the row, 1,000 of 1,000,000 took SQLite 12-20 ms
    /// instead of 6).
    pub async fn known_among(
        &self,
        store: &str,
        client_ids: &[&str],
    ) -> Result<HashSet<String>, StateError> {
        let mut known = HashSet::with_capacity(client_ids.len());
        for chunk in client_ids.chunks(self.list_chunk(KNOWN_CHUNK)) {
            let mut p = self.placeholders();
            let store_param = p();
            let ids = self.in_list("client_id", chunk.len(), &mut p);
            let sql = format!(
                "SELECT client_id FROM registrations WHERE store = {store_param} AND {ids}"
            );
            let rows = self
                .bind_list(sqlx::query(&sql).bind(store), chunk)
                .fetch_all(self.pool())
                .await
                .map_err(q("read known registrations"))?;
            for row in rows {
                known.insert(row.try_get(0).map_err(q("read known registrations"))?);
            }
        }
        Ok(known)
    }

    /// Notes that the running full scan saw these registrations (unchanged: not written).
    pub(super) async fn note_seen(
        &self,
        store: &str,
        client_ids: &[&str],
    ) -> Result<(), StateError> {
        self.insert_ids("scan_seen", store, client_ids, "note registrations seen")
            .await
    }

    /// Forgets what a full scan of `store` saw unchanged (at its start, a failed scan's).
    pub(super) async fn clear_seen(&self, store: &str) -> Result<(), StateError> {
        sqlx::query("DELETE FROM scan_seen WHERE store = $1")
            .bind(store)
            .execute(self.pool())
            .await
            .map_err(q("clear registrations seen"))?;
        Ok(())
    }
}
