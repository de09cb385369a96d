//! Ory Hydra (v2.x) store reader: streams `hydra_client` read-only from PostgreSQL,
//! MySQL/MariaDB or SQLite, as Hydra's own migrations create it.
//!
//! Full scans page by client id; incremental scans page by `(updated_at, id)` after the last
//! position seen. Every column is read as text so one code path serves three backends;
//! timestamps and JSON are parsed by us, and a bad value is a warning on that record only.
//! Last use comes from the token and flow tables, which Hydra indexes by `(client_id, nid)`
//! and by `requested_at`.

pub mod api;
mod record;

use super::sql::{column_text, connect_read_only, Dialect, ParamType};
use super::{Batch, SourceError};
use crate::model::Usage;
use crate::model::{ScanKind, StoreCursor};
use crate::normalize::parse_time;
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
pub use record::is_uuid_v4;
use record::{record_from_row, COLUMNS};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::AnyPool;
use std::collections::HashMap;

/// Tables whose `requested_at` is a use of the client.
const USAGE_TABLES: [&str; 3] = [
    "hydra_oauth2_access",
    "hydra_oauth2_refresh",
    "hydra_oauth2_flow",
];

pub struct HydraSource {
    pool: AnyPool,
    dialect: Dialect,
    nid: String,
    batch_size: u32,
}

impl HydraSource {
    /// Connects read-only and finds the network Hydra serves (the oldest, as Hydra does).
    pub async fn open(url: &Secret, batch_size: u32) -> Result<HydraSource, SourceError> {
        let shown = url.redacted_url();
        let (pool, dialect) = connect_read_only(url).await?;
        let not_hydra = |e: sqlx::Error| SourceError::NotHydra {
            url: shown.clone(),
            reason: e.to_string(),
        };
        let nid: Option<String> = sqlx::query(&format!(
            "SELECT {} FROM networks ORDER BY created_at, id LIMIT 1",
            dialect.text("id")
        ))
        .fetch_optional(&pool)
        .await
        .map_err(not_hydra)?
        .and_then(|r| column_text(&r, 0));
        let nid = nid.ok_or_else(|| SourceError::NotHydra {
            url: shown.clone(),
            reason: "the networks table is empty (has `hydra migrate sql` run?)".into(),
        })?;
        sqlx::query(&format!(
            "SELECT {} FROM hydra_client WHERE 1 = 0",
            COLUMNS.join(", ")
        ))
        .fetch_all(&pool)
        .await
        .map_err(not_hydra)?;
        Ok(HydraSource {
            pool,
            dialect,
            nid,
            batch_size,
        })
    }

    pub fn pager(&self, kind: ScanKind, cursor: &StoreCursor) -> HydraPager<'_> {
        let after = match (kind, &cursor.updated_at) {
            (ScanKind::Incremental, Some(u)) => Some((rewind(u), String::new())),
            _ => None,
        };
        HydraPager {
            src: self,
            kind,
            after_id: None,
            after,
            seen: None,
            done: false,
        }
    }

    fn select(&self, kind: ScanKind, has_cursor: bool) -> String {
        let d = self.dialect;
        let cols: Vec<String> = COLUMNS.iter().map(|c| d.text(c)).collect();
        let nid = d.param(1, ParamType::Uuid);
        let limit = self.batch_size;
        match (kind, has_cursor) {
            (ScanKind::Full, false) => format!("SELECT {} FROM hydra_client WHERE nid = {nid} ORDER BY id LIMIT {limit}", cols.join(", ")),
            (ScanKind::Full, true) => {
                format!("SELECT {} FROM hydra_client WHERE nid = {nid} AND id > {} ORDER BY id LIMIT {limit}", cols.join(", "), d.param(2, ParamType::Text))
            }
            (ScanKind::Incremental, false) => {
                format!("SELECT {} FROM hydra_client WHERE nid = {nid} ORDER BY updated_at, id LIMIT {limit}", cols.join(", "))
            }
            (ScanKind::Incremental, true) => format!(
                "SELECT {} FROM hydra_client WHERE nid = {nid} AND (updated_at > {} OR (updated_at = {} AND id > {}))
                 ORDER BY updated_at, id LIMIT {limit}",
                cols.join(", "),
                d.param(2, ParamType::Timestamp),
                d.param(2, ParamType::Timestamp),
                d.param(3, ParamType::Text),
            ),
        }
    }

    /// Last use of each given client, from the token and flow tables.
    async fn last_use(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, SourceError> {
        let mut out: HashMap<String, DateTime<Utc>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let d = self.dialect;
        let list: Vec<String> = (0..ids.len())
            .map(|i| d.param(i + 2, ParamType::Text))
            .collect();
        for table in USAGE_TABLES {
            let sql = format!(
                "SELECT client_id, {} FROM {table} WHERE nid = {} AND client_id IN ({}) GROUP BY client_id",
                d.text("MAX(requested_at)"),
                d.param(1, ParamType::Uuid),
                list.join(",")
            );
            let mut query = sqlx::query(&sql).bind(&self.nid);
            for id in ids {
                query = query.bind(id);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(|source| SourceError::Query {
                    what: table,
                    source,
                })?;
            merge_uses(&mut out, &rows);
        }
        Ok(out)
    }

    /// The latest `requested_at` in the usage tables, where a later usage follow starts.
    pub async fn usage_mark(&self) -> Result<Option<String>, SourceError> {
        let mut mark: Option<String> = None;
        for table in USAGE_TABLES {
            let sql = format!(
                "SELECT {} FROM {table} WHERE nid = {}",
                self.dialect.text("MAX(requested_at)"),
                self.dialect.param(1, ParamType::Uuid)
            );
            let row = sqlx::query(&sql)
                .bind(&self.nid)
                .fetch_one(&self.pool)
                .await
                .map_err(|source| SourceError::Query {
                    what: table,
                    source,
                })?;
            mark = later(mark, column_text(&row, 0));
        }
        Ok(mark)
    }

    /// Uses recorded after `cursor` (a `requested_at` as this database writes it).
    pub async fn usage_since(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<(String, DateTime<Utc>)>, Option<String>), SourceError> {
        let Some(cursor) = cursor else {
            return Ok((Vec::new(), self.usage_mark().await?));
        };
        let d = self.dialect;
        let mut uses: HashMap<String, DateTime<Utc>> = HashMap::new();
        let mut mark = Some(cursor.to_owned());
        let since = rewind(cursor);
        for table in USAGE_TABLES {
            // The rows since the cursor, in requested_at order: a range of Hydra's
            // requested_at index, as long as what was added since (grouping by client in
            // SQL would make SQLite walk the client_id index over the whole table).
            let sql = format!(
                "SELECT client_id, {} FROM {table} WHERE nid = {} AND requested_at > {} ORDER BY requested_at",
                d.text("requested_at"),
                d.param(1, ParamType::Uuid),
                d.param(2, ParamType::Timestamp)
            );
            let mut rows = sqlx::query(&sql)
                .bind(&self.nid)
                .bind(&since)
                .fetch(&self.pool);
            while let Some(row) = rows.try_next().await.map_err(|source| SourceError::Query {
                what: table,
                source,
            })? {
                mark = later(mark, column_text(&row, 1));
                merge_uses(&mut uses, std::slice::from_ref(&row));
            }
        }
        Ok((uses.into_iter().collect(), mark))
    }
}

/// How far incremental reads go back before their cursor. Rows committed late (a long
/// transaction) or in the same coarse second as the cursor (MariaDB keeps whole seconds)
/// would otherwise be missed until the next full scan; re-reading a minute is cheap and
/// idempotent.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(60);

/// The cursor moved back by [`OVERLAP`], written so every backend compares it as a time
/// (SQLite compares text; this form sorts correctly against Hydra's).
fn rewind(cursor: &str) -> String {
    match parse_time(cursor) {
        Some(t) => (t - OVERLAP).format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        None => cursor.to_owned(),
    }
}

/// The later of two timestamps as the database wrote them (compared parsed, kept as text).
fn later(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if parse_time(&b) > parse_time(&a) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

fn merge_uses(out: &mut HashMap<String, DateTime<Utc>>, rows: &[AnyRow]) {
    for r in rows {
        let (Some(id), Some(t)) = (column_text(r, 0), column_text(r, 1)) else {
            continue;
        };
        if let Some(t) = parse_time(&t) {
            let e = out.entry(id).or_insert(t);
            *e = (*e).max(t);
        }
    }
}

pub struct HydraPager<'a> {
    src: &'a HydraSource,
    kind: ScanKind,
    /// Full scans: the last id read.
    after_id: Option<String>,
    /// Incremental scans: where the next page starts, (updated_at, id).
    after: Option<(String, String)>,
    /// The greatest (updated_at, id) read so far.
    seen: Option<(String, String)>,
    done: bool,
}

impl HydraPager<'_> {
    pub fn position(&self) -> (Option<String>, Option<String>) {
        match &self.seen {
            Some((u, id)) => (Some(u.clone()), Some(id.clone())),
            None => (None, None),
        }
    }

    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let src = self.src;
        let rows = match self.kind {
            ScanKind::Full => {
                let sql = src.select(ScanKind::Full, self.after_id.is_some());
                let mut query = sqlx::query(&sql).bind(&src.nid);
                if let Some(id) = &self.after_id {
                    query = query.bind(id);
                }
                query.fetch_all(&src.pool).await
            }
            ScanKind::Incremental => {
                let sql = src.select(ScanKind::Incremental, self.after.is_some());
                let mut query = sqlx::query(&sql).bind(&src.nid);
                if let Some((u, id)) = &self.after {
                    query = query.bind(u);
                    if src.dialect != Dialect::Postgres {
                        query = query.bind(u); // Positional parameters: bind it again.
                    }
                    query = query.bind(id);
                }
                query.fetch_all(&src.pool).await
            }
        }
        .map_err(|source| SourceError::Query {
            what: "hydra_client",
            source,
        })?;
        if rows.len() < src.batch_size as usize {
            self.done = true;
        }
        if rows.is_empty() {
            return Ok(None);
        }

        let mut batch = Batch::default();
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let text = |i: usize| column_text(row, i);
            let Some(id) = text(0) else { continue };
            // Track the position in the store's own text form, whatever the record holds.
            self.after_id = Some(id.clone());
            if let Some(updated) = text(16) {
                // The position kept for the next incremental scan is the greatest
                // (updated_at, id) read: anywhere in a full scan (which pages by id).
                let newer = match &self.seen {
                    None => true,
                    Some((u, i)) => (parse_time(&updated), &id) > (parse_time(u), i),
                };
                if newer {
                    self.seen = Some((updated.clone(), id.clone()));
                }
                if self.kind == ScanKind::Incremental {
                    self.after = Some((updated, id.clone()));
                }
            }
            ids.push(id);
            batch.records.push(record_from_row(&text));
        }
        let uses = src.last_use(&ids).await?;
        for r in &mut batch.records {
            let id = r
                .doc
                .get("client_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            r.usage = uses
                .get(id)
                .map(|t| Usage::LastUsed(*t))
                .unwrap_or(Usage::Never);
        }
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests;
