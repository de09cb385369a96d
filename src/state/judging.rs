//! What an incremental judgement reads and writes (invariant 12): the stale registrations,
//! a narrow fold of every live one, registrations by id, and families by difference.

use super::registrations::REGISTRATION_COLUMNS;
use super::verdicts::{JudgedRow, JUDGED_COLUMNS};
use super::{q, FamilyRow, Judged, State, StateError};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Parameters per `IN (...)` list, well below every backend's limit.
const IN_CHUNK: usize = 100;

/// What the family fold reads of a live registration: its stored contribution, never its
/// metadata.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FoldRow {
    pub client_id: String,
    pub family: Option<String>,
    pub software: Option<String>,
    pub created_at: Option<i64>,
    pub usage: String,
    pub origin: String,
    pub judged_sites: Option<String>,
    pub judged_named: Option<i64>,
    pub due_at: Option<i64>,
    pub stale: i64,
}

impl State {
    /// The scorer fingerprint of the store's last complete judgement (none before one, or
    /// while one runs).
    pub async fn judged_with(&self, store: &str) -> Result<Option<String>, StateError> {
        let row = sqlx::query("SELECT judged_with FROM stores WHERE name = $1")
            .bind(store)
            .fetch_optional(self.pool())
            .await
            .map_err(q("read judged_with"))?;
        row.map(|r| r.try_get::<Option<String>, _>("judged_with"))
            .transpose()
            .map(Option::flatten)
            .map_err(q("decode judged_with"))
    }

    /// Records the scorer of a complete judgement; `None` while one runs, so that a judgement
    /// that never finished is followed by a full one.
    pub async fn set_judged_with(
        &self,
        store: &str,
        fingerprint: Option<&str>,
    ) -> Result<(), StateError> {
        sqlx::query("UPDATE stores SET judged_with = $2 WHERE name = $1")
            .bind(store)
            .bind(fingerprint)
            .execute(self.pool())
            .await
            .map_err(q("record judged_with"))?;
        Ok(())
    }

    /// Whether anything needs judging: a stale registration, or a verdict due by `now`.
    /// Two index ranges.
    pub async fn judging_due(&self, store: &str, now: DateTime<Utc>) -> Result<bool, StateError> {
        let row = sqlx::query(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM registrations WHERE store = $1 AND stale = 1)
                           OR EXISTS (SELECT 1 FROM registrations WHERE store = $1 AND gone_at IS NULL AND due_at <= $2)
                         THEN 1 ELSE 0 END AS due",
        )
        .bind(store)
        .bind(now.timestamp())
        .fetch_one(self.pool())
        .await
        .map_err(q("look for registrations to judge"))?;
        let due: i32 = row.try_get("due").map_err(q("decode judging due"))?;
        Ok(due != 0)
    }

    /// Up to `limit` stale registrations (live or gone) after `after`, by client_id.
    pub async fn stale_page(
        &self,
        store: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<Judged>, StateError> {
        let rows: Vec<JudgedRow> = sqlx::query_as(&format!(
            "SELECT {REGISTRATION_COLUMNS}, {JUDGED_COLUMNS} FROM registrations
             WHERE store = $1 AND stale = 1 AND client_id > $2 ORDER BY client_id LIMIT $3"
        ))
        .bind(store)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(q("read stale registrations"))?;
        Ok(rows.into_iter().map(JudgedRow::judged).collect())
    }

    /// Up to `limit` live registrations after `after`, by client_id, as the family fold
    /// reads them.
    pub async fn fold_page(
        &self,
        store: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<FoldRow>, StateError> {
        sqlx::query_as(
            "SELECT client_id, family, software, created_at, usage, origin, judged_sites, judged_named, due_at, stale
             FROM registrations WHERE store = $1 AND gone_at IS NULL AND client_id > $2 ORDER BY client_id LIMIT $3",
        )
        .bind(store)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(q("fold families"))
    }

    /// The live registrations among `ids`, with their stored verdicts.
    pub async fn live_by_id(&self, store: &str, ids: &[&str]) -> Result<Vec<Judged>, StateError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let mut p = self.placeholders();
            let store_param = p();
            let params: Vec<String> = chunk.iter().map(|_| p()).collect();
            let sql = format!(
                "SELECT {REGISTRATION_COLUMNS}, {JUDGED_COLUMNS} FROM registrations
                 WHERE store = {store_param} AND gone_at IS NULL AND client_id IN ({}) ORDER BY client_id",
                params.join(",")
            );
            let mut query = sqlx::query_as::<_, JudgedRow>(&sql).bind(store);
            for id in chunk {
                query = query.bind(*id);
            }
            let rows = query
                .fetch_all(self.pool())
                .await
                .map_err(q("read registrations to judge"))?;
            out.extend(rows.into_iter().map(JudgedRow::judged));
        }
        Ok(out)
    }

    /// Gone registrations leave their families: what they added is forgotten and they are
    /// no longer stale.
    pub async fn settle_gone(&self, store: &str) -> Result<u64, StateError> {
        let r = sqlx::query(
            "UPDATE registrations SET stale = 0, due_at = NULL, judged_created_at = NULL, judged_sites = NULL,
                 judged_named = NULL
             WHERE store = $1 AND stale = 1 AND gone_at IS NOT NULL",
        )
        .bind(store)
        .execute(self.pool())
        .await
        .map_err(q("settle gone registrations"))?;
        Ok(r.rows_affected())
    }

    /// Every family of a store as stored.
    pub async fn families(&self, store: &str) -> Result<Vec<FamilyRow>, StateError> {
        let rows = sqlx::query(
            "SELECT id, name, software, size, used, admin, named, first_created_at, last_created_at, sites
             FROM families WHERE store = $1",
        )
        .bind(store)
        .fetch_all(self.pool())
        .await
        .map_err(q("read families"))?;
        rows.iter()
            .map(|r| -> Result<FamilyRow, sqlx::Error> {
                Ok(FamilyRow {
                    id: r.try_get("id")?,
                    name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                    software: r.try_get("software")?,
                    size: r.try_get("size")?,
                    used: r.try_get("used")?,
                    admin: r.try_get("admin")?,
                    named: r.try_get("named")?,
                    first_created_at: r.try_get("first_created_at")?,
                    last_created_at: r.try_get("last_created_at")?,
                    sites: r.try_get("sites")?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(q("decode families"))
    }

    /// Writes the families that changed and removes those that are gone, in one transaction.
    pub async fn update_families(
        &self,
        store: &str,
        changed: &[FamilyRow],
        removed: &[&str],
    ) -> Result<(), StateError> {
        if changed.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await.map_err(q("begin families"))?;
        let ids: Vec<&str> = changed
            .iter()
            .map(|f| f.id.as_str())
            .chain(removed.iter().copied())
            .collect();
        for chunk in ids.chunks(IN_CHUNK) {
            let mut p = self.placeholders();
            let store_param = p();
            let params: Vec<String> = chunk.iter().map(|_| p()).collect();
            let sql = format!(
                "DELETE FROM families WHERE store = {store_param} AND id IN ({})",
                params.join(",")
            );
            let mut query = sqlx::query(&sql).bind(store);
            for id in chunk {
                query = query.bind(*id);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(q("remove families"))?;
        }
        super::verdicts::insert_families(&mut tx, store, changed).await?;
        tx.commit().await.map_err(q("commit families"))
    }
}
