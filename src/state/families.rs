//! The families table: read by id or name, written by difference.

use super::{q, FamilyRow, State, StateError};
use sqlx::Row;

/// Parameters per `IN (...)` list, well below every backend's limit.
const IN_CHUNK: usize = 100;

impl State {
    /// Every family of a store as stored.
    pub async fn families(&self, store: &str) -> Result<Vec<FamilyRow>, StateError> {
        self.families_where(store, "TRUE", &[]).await
    }

    /// The families with these ids.
    pub async fn families_by_id(
        &self,
        store: &str,
        ids: &[&str],
    ) -> Result<Vec<FamilyRow>, StateError> {
        self.families_where(store, "id", ids).await
    }

    /// The families with these folded names.
    pub async fn families_named(
        &self,
        store: &str,
        names: &[&str],
    ) -> Result<Vec<FamilyRow>, StateError> {
        self.families_where(store, "name", names).await
    }

    /// Families whose `column` is one of `values` (every family for `TRUE`).
    async fn families_where(
        &self,
        store: &str,
        column: &str,
        values: &[&str],
    ) -> Result<Vec<FamilyRow>, StateError> {
        let mut out = Vec::new();
        let chunks: Vec<&[&str]> = if column == "TRUE" {
            vec![&[]]
        } else {
            values.chunks(IN_CHUNK).collect()
        };
        for chunk in chunks {
            let mut p = self.placeholders();
            let store_param = p();
            let filter = if column == "TRUE" {
                "TRUE".to_owned()
            } else {
                let params: Vec<String> = chunk.iter().map(|_| p()).collect();
                format!("{column} IN ({})", params.join(","))
            };
            let sql = format!(
                "SELECT id, name, software, software_members, size, used, admin, named, first_created_at,
                        last_created_at, sites, sites_overflow
                 FROM families WHERE store = {store_param} AND {filter}"
            );
            let mut query = sqlx::query(&sql).bind(store);
            for v in chunk {
                query = query.bind(*v);
            }
            let rows = query
                .fetch_all(self.pool())
                .await
                .map_err(q("read families"))?;
            for r in &rows {
                out.push(family_row(r).map_err(q("decode families"))?);
            }
        }
        Ok(out)
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

fn family_row(r: &sqlx::any::AnyRow) -> Result<FamilyRow, sqlx::Error> {
    Ok(FamilyRow {
        id: r.try_get("id")?,
        name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
        software: r.try_get("software")?,
        software_members: r.try_get("software_members")?,
        size: r.try_get("size")?,
        used: r.try_get("used")?,
        admin: r.try_get("admin")?,
        named: r.try_get("named")?,
        first_created_at: r.try_get("first_created_at")?,
        last_created_at: r.try_get("last_created_at")?,
        sites: r.try_get("sites")?,
        sites_overflow: r.try_get::<i32, _>("sites_overflow")? != 0,
    })
}
