//! Verdicts and families in the state database: pages of live registrations to judge, and
//! writing back what changed.

use super::json_rows::fetch_json_rows;
use super::registrations::{RegistrationRow, REGISTRATION_COLUMNS};
use super::{from_ts, q, State, StateError, UPDATE_CHUNK};
use crate::model::{Band, Registration};
use sqlx::Row;

/// The columns of a [`JudgedRow`] besides [`REGISTRATION_COLUMNS`].
pub(super) const JUDGED_COLUMNS: &str = "due_at, judged_created_at, judged_sites, judged_flags";

/// A row of `registrations` with what its last judgement stored, as read by a statement
/// from [`State::judged_rows_sql`].
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct JudgedRow {
    pub row: RegistrationRow,
    pub judged: JudgedColumns,
}

/// The columns of [`JUDGED_COLUMNS`], in order.
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct JudgedColumns {
    pub due_at: Option<i64>,
    pub judged_created_at: Option<i64>,
    pub judged_sites: Option<String>,
    pub judged_flags: Option<i64>,
}

impl State {
    /// The statement reading [`JudgedRow`]s by client_id: `rest` from its `FROM` on.
    pub(super) fn judged_rows_sql(&self, rest: &str) -> String {
        self.json_rows_sql(&[REGISTRATION_COLUMNS, JUDGED_COLUMNS], rest, "client_id")
    }
}

impl JudgedRow {
    pub fn judged(self) -> Judged {
        let registration = self.row.registration();
        let (r, j) = (self.row, self.judged);
        Judged {
            registration,
            gone: r.gone_at.is_some(),
            stored: VerdictRow {
                client_id: r.client_id,
                band: r
                    .band
                    .as_deref()
                    .and_then(Band::parse)
                    .map_or("", Band::as_str),
                score: r.score.unwrap_or_default(),
                reasons: r.reasons.unwrap_or_default(),
                family: r.family.unwrap_or_default(),
                software: r.software,
                due_at: j.due_at,
                judged_created_at: j.judged_created_at,
                judged_sites: j.judged_sites,
                judged_flags: j.judged_flags,
            },
        }
    }
}

/// A registration with the verdict stored for it (an empty band and family before its
/// first judgement).
#[derive(Debug, Clone)]
pub struct Judged {
    pub registration: Registration,
    pub gone: bool,
    pub stored: VerdictRow,
}

/// A verdict to store, with what the registration adds to its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictRow {
    pub client_id: String,
    pub band: &'static str,
    pub score: i64,
    pub reasons: String,
    pub family: String,
    pub software: Option<String>,
    /// When the verdict changes by time alone.
    pub due_at: Option<i64>,
    pub judged_created_at: Option<i64>,
    /// The sites of its URIs, space-separated (none: NULL).
    pub judged_sites: Option<String>,
    /// 1: its verdict looks at same-name families, 2: used, 4: created by an administrator;
    /// `None` while it is no member of a family (never judged, or gone).
    pub judged_flags: Option<i64>,
}

/// A verdict to write, with which of its parts that feed indexes differ from what is stored
/// (see [`State::store_verdicts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictWrite {
    pub row: VerdictRow,
    /// Its due time differs.
    pub due: bool,
    /// Its family or what it adds to its family differs.
    pub contribution: bool,
}

impl VerdictWrite {
    /// `row`, every column of it.
    pub fn whole(row: VerdictRow) -> VerdictWrite {
        VerdictWrite {
            row,
            due: true,
            contribution: true,
        }
    }

    /// `row` to be written over `stored`: only what differs of its due time and contribution.
    pub fn over(row: VerdictRow, stored: &VerdictRow) -> VerdictWrite {
        let contribution = row.family != stored.family
            || row.judged_created_at != stored.judged_created_at
            || row.judged_sites != stored.judged_sites
            || row.judged_flags != stored.judged_flags;
        VerdictWrite {
            due: row.due_at != stored.due_at,
            contribution,
            row,
        }
    }
}

/// A family to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyRow {
    pub id: String,
    /// The folded name its members share.
    pub name: String,
    pub software: Option<String>,
    pub software_members: i64,
    pub size: i64,
    pub used: i64,
    pub admin: i64,
    pub named: i64,
    pub first_created_at: Option<i64>,
    pub last_created_at: Option<i64>,
    /// The smallest sites with their members, `site=members` space-separated (none: NULL).
    pub sites: Option<String>,
    pub sites_overflow: bool,
}

/// Family figures of one store, for metrics and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FamilyStats {
    pub families: u64,
    pub duplicates: u64,
    pub largest: u64,
}

impl State {
    /// Up to `limit` live registrations after `after` (by client_id), with stored verdicts.
    pub async fn live_page(
        &self,
        store: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Judged>, StateError> {
        let sql = self.judged_rows_sql(
            "FROM registrations WHERE store = $1 AND gone_at IS NULL AND client_id > $2 ORDER BY client_id LIMIT $3",
        );
        let query = sqlx::query(&sql)
            .bind(store)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit));
        let rows: Vec<JudgedRow> = fetch_json_rows(self.read_pool(), query)
            .await
            .map_err(q("read registrations to judge"))?;
        Ok(rows.into_iter().map(JudgedRow::judged).collect())
    }

    /// Stores verdicts, a statement (and transaction) per [`UPDATE_CHUNK`] rows of the same
    /// kind. A row's due time and family contribution are written only where they differ
    /// from what is stored: SQLite rewrites the index entry of every indexed column a
    /// statement sets, changed or not (a page of the family index and one of the due index per
    /// verdict, on top of its own).
    pub async fn store_verdicts(
        &self,
        store: &str,
        rows: &[VerdictWrite],
    ) -> Result<(), StateError> {
        for (due, contribution) in [(false, false), (true, false), (false, true), (true, true)] {
            let kind: Vec<&VerdictRow> = rows
                .iter()
                .filter(|w| (w.due, w.contribution) == (due, contribution))
                .map(|w| &w.row)
                .collect();
            let mut cols = vec!["band", "score", "reasons", "software"];
            if due {
                cols.push("due_at");
            }
            if contribution {
                cols.extend([
                    "family",
                    "judged_created_at",
                    "judged_sites",
                    "judged_flags",
                ]);
            }
            for chunk in kind.chunks(UPDATE_CHUNK) {
                let sql = self.update_from_rows(&cols, "", "", chunk.len());
                let mut query = sqlx::query(&sql).persistent(chunk.len() == UPDATE_CHUNK);
                for v in chunk {
                    query = query
                        .bind(v.client_id.as_str())
                        .bind(v.band)
                        .bind(v.score as i32)
                        .bind(v.reasons.as_str())
                        .bind(v.software.as_deref());
                    if due {
                        query = query.bind(v.due_at);
                    }
                    if contribution {
                        query = query
                            .bind(v.family.as_str())
                            .bind(v.judged_created_at)
                            .bind(v.judged_sites.as_deref())
                            .bind(v.judged_flags.map(|f| f as i32));
                    }
                }
                query
                    .bind(store)
                    .execute(self.pool())
                    .await
                    .map_err(q("store verdicts"))?;
            }
        }
        Ok(())
    }

    /// Replaces a store's families.
    pub async fn replace_families(
        &self,
        store: &str,
        rows: &[FamilyRow],
    ) -> Result<(), StateError> {
        let mut tx = self.pool().begin().await.map_err(q("begin families"))?;
        sqlx::query("DELETE FROM families WHERE store = $1")
            .bind(store)
            .execute(&mut *tx)
            .await
            .map_err(q("clear families"))?;
        insert_families(&mut tx, store, rows).await?;
        tx.commit().await.map_err(q("commit families"))
    }

    pub async fn family_stats(&self, store: &str) -> Result<FamilyStats, StateError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS families, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS members,
                 COALESCE(MAX(size), 0) AS largest
             FROM families WHERE store = $1",
        )
        .bind(store)
        .fetch_one(self.pool())
        .await
        .map_err(q("family figures"))?;
        let n = |name: &str| -> Result<u64, StateError> {
            Ok(row
                .try_get::<i64, _>(name)
                .map_err(q("decode family figures"))?
                .max(0) as u64)
        };
        let (families, members, largest) = (n("families")?, n("members")?, n("largest")?);
        Ok(FamilyStats {
            families,
            duplicates: members.saturating_sub(families),
            largest,
        })
    }
}

/// Inserts families (none of them stored yet).
pub(super) async fn insert_families(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    store: &str,
    rows: &[FamilyRow],
) -> Result<(), StateError> {
    for f in rows {
        sqlx::query(
            "INSERT INTO families (store, id, name, software, software_members, size, used, admin, named,
                                   first_created_at, last_created_at, sites, sites_overflow)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(store)
        .bind(f.id.as_str())
        .bind(f.name.as_str())
        .bind(f.software.as_deref())
        .bind(f.software_members)
        .bind(f.size)
        .bind(f.used)
        .bind(f.admin)
        .bind(f.named)
        .bind(f.first_created_at)
        .bind(f.last_created_at)
        .bind(f.sites.as_deref())
        .bind(i32::from(f.sites_overflow))
        .execute(&mut **tx)
        .await
        .map_err(q("store family"))?;
    }
    Ok(())
}

/// A family as `explain` and `report` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FamilyView {
    pub id: String,
    pub software: Option<String>,
    /// A member's client_name, for people.
    pub name: Option<String>,
    pub size: i64,
    pub used: i64,
    pub first_created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_created_at: Option<chrono::DateTime<chrono::Utc>>,
}

const FAMILY_VIEW: &str = "SELECT f.id, f.software, f.size, f.used, f.first_created_at, f.last_created_at,
        (SELECT r.client_name FROM registrations r WHERE r.store = f.store AND r.family = f.id AND r.gone_at IS NULL
         ORDER BY r.client_id LIMIT 1) AS name
    FROM families f";

fn family_view(r: &sqlx::any::AnyRow) -> Result<FamilyView, sqlx::Error> {
    Ok(FamilyView {
        id: r.try_get("id")?,
        software: r.try_get("software")?,
        name: r.try_get("name")?,
        size: r.try_get("size")?,
        used: r.try_get("used")?,
        first_created_at: from_ts(r.try_get("first_created_at")?),
        last_created_at: from_ts(r.try_get("last_created_at")?),
    })
}

impl State {
    pub async fn family(&self, store: &str, id: &str) -> Result<Option<FamilyView>, StateError> {
        let row = sqlx::query(&format!("{FAMILY_VIEW} WHERE f.store = $1 AND f.id = $2"))
            .bind(store)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(q("read family"))?;
        row.as_ref()
            .map(family_view)
            .transpose()
            .map_err(q("decode family"))
    }

    /// The biggest families of a store.
    pub async fn biggest_families(
        &self,
        store: &str,
        limit: u32,
    ) -> Result<Vec<FamilyView>, StateError> {
        let rows = sqlx::query(&format!(
            "{FAMILY_VIEW} WHERE f.store = $1 ORDER BY f.size DESC, f.id LIMIT $2"
        ))
        .bind(store)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(q("read families"))?;
        rows.iter()
            .map(family_view)
            .collect::<Result<_, _>>()
            .map_err(q("decode family"))
    }

    /// Families no catalog entry recognizes, at least `min_size` big with `min_used` members
    /// in use, the first registered before `since`; biggest first, with one member's
    /// metadata snapshot (JSON).
    pub async fn vouch_candidates(
        &self,
        store: &str,
        min_size: i64,
        min_used: i64,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(FamilyView, String)>, StateError> {
        let rows = sqlx::query(&format!(
            "SELECT * FROM (
                SELECT v.*, (SELECT r.metadata FROM registrations r WHERE r.store = $1 AND r.family = v.id
                             AND r.gone_at IS NULL ORDER BY r.client_id LIMIT 1) AS snapshot
                FROM ({FAMILY_VIEW} WHERE f.store = $1 AND f.software IS NULL AND f.size >= $2
                      AND f.used >= $3 AND f.first_created_at <= $4) v
             ) c WHERE c.snapshot IS NOT NULL ORDER BY c.size DESC, c.id LIMIT 10"
        ))
        .bind(store)
        .bind(min_size)
        .bind(min_used)
        .bind(since.timestamp())
        .fetch_all(self.pool())
        .await
        .map_err(q("read vouch candidates"))?;
        rows.iter()
            .map(|r| Ok((family_view(r)?, r.try_get("snapshot")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(q("decode vouch candidates"))
    }

    /// Families and registrations per catalog software.
    pub async fn families_by_software(
        &self,
        store: &str,
    ) -> Result<Vec<(String, u64, u64)>, StateError> {
        let rows = sqlx::query(
            "SELECT software, COUNT(*) AS families, CAST(SUM(size) AS BIGINT) AS registrations
             FROM families WHERE store = $1 AND software IS NOT NULL GROUP BY software ORDER BY software",
        )
        .bind(store)
        .fetch_all(self.pool())
        .await
        .map_err(q("count families by software"))?;
        rows.iter()
            .map(|r| -> Result<(String, u64, u64), sqlx::Error> {
                Ok((
                    r.try_get("software")?,
                    r.try_get::<i64, _>("families")? as u64,
                    r.try_get::<i64, _>("registrations")? as u64,
                ))
            })
            .collect::<Result<_, _>>()
            .map_err(q("decode families by software"))
    }

    /// Stores holding a client_id (live or gone).
    pub async fn stores_with(&self, client_id: &str) -> Result<Vec<String>, StateError> {
        let rows =
            sqlx::query("SELECT store FROM registrations WHERE client_id = $1 ORDER BY store")
                .bind(client_id)
                .fetch_all(self.pool())
                .await
                .map_err(q("find registration"))?;
        rows.iter()
            .map(|r| r.try_get("store"))
            .collect::<Result<_, _>>()
            .map_err(q("decode store"))
    }
}

#[cfg(test)]
#[path = "verdicts_tests.rs"]
mod tests;
