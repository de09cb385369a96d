//! What an incremental judgement reads and writes (invariant 12): the stale registrations,
//! a narrow fold of every live one, registrations by id, and families by difference.

use super::json_rows::fetch_json_rows;
use super::verdicts::JudgedRow;
use super::{q, Judged, State, StateError};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Parameters per `IN (...)` list, well below every backend's limit.
const IN_CHUNK: usize = 100;

/// What a registration adds to its family, as stored with its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub client_id: String,
    pub family: String,
    pub software: Option<String>,
    pub judged_created_at: Option<i64>,
    pub judged_sites: Option<String>,
    pub judged_flags: i64,
}

/// A live member's family columns.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub client_id: String,
    pub family: String,
    pub judged_created_at: Option<i64>,
    pub judged_flags: i64,
}

/// What [`State::members_of`] reads, its fields in column order: filtered in Rust, so that
/// the statement is a primary-key lookup whatever the planner guesses of the other predicates.
#[derive(serde::Deserialize)]
struct MemberColumns {
    client_id: String,
    family: Option<String>,
    judged_created_at: Option<i64>,
    judged_flags: Option<i64>,
    gone_at: Option<i64>,
}

/// The indexes only an incremental judgement reads, as migrations 0005 and 0007 create them
/// (a test holds them equal). A full judgement writes every registration's verdict in key order, and
/// keeping these up to date meanwhile is random insertion into three indexes of the store's
/// size: it tripled a full judgement's time at 1,000,000 registrations. Building them after,
/// by sorting, is what bulk loads do.
pub(crate) const JUDGING_INDEXES: [(&str, &str); 2] = [
    (
        "registrations_due",
        "ON registrations (store, due_at) WHERE gone_at IS NULL",
    ),
    (
        // Covering: the family statements below read nothing else (SQLite counts the partial
        // condition's columns as read, hence the last two).
        "registrations_members",
        "ON registrations (store, family, judged_created_at, client_id, judged_flags, gone_at) \
         WHERE gone_at IS NULL AND judged_flags IS NOT NULL",
    ),
];

/// The family columns of a live member.
pub(super) const MEMBER: &str =
    "store = $1 AND family = $2 AND gone_at IS NULL AND judged_flags IS NOT NULL";

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
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM stale_registrations WHERE store = $1)
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

    /// Up to `limit` stale registrations (live or gone) after `after`, by client_id, and the
    /// last client_id marked among them (`None`: no mark is after `after`). A mark whose
    /// registration was never written gives no row.
    pub async fn stale_page(
        &self,
        store: &str,
        after: &str,
        limit: u32,
    ) -> Result<(Vec<Judged>, Option<String>), StateError> {
        // The marks first, then their rows by key: joined before the limit, PostgreSQL
        // planned parallel workers to read the whole range of marks.
        let marked: Vec<String> = sqlx::query_scalar(
            "SELECT client_id FROM stale_registrations
             WHERE store = $1 AND client_id > $2 ORDER BY client_id LIMIT $3",
        )
        .bind(store)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(q("read stale marks"))?;
        let ids: Vec<&str> = marked.iter().map(String::as_str).collect();
        let rows = self.judged_by_id(store, &ids, self.pool()).await?;
        Ok((rows, marked.last().cloned()))
    }

    /// The catalog matches of a family's members, one per member that has one.
    pub async fn family_software(
        &self,
        store: &str,
        family: &str,
    ) -> Result<Vec<String>, StateError> {
        sqlx::query_scalar(&format!(
            "SELECT software FROM registrations WHERE {MEMBER} AND software IS NOT NULL"
        ))
        .bind(store)
        .bind(family)
        .fetch_all(self.pool())
        .await
        .map_err(q("count a family's software"))
    }

    /// The sites of a family's members, one text per member that has some.
    pub async fn family_sites(&self, store: &str, family: &str) -> Result<Vec<String>, StateError> {
        sqlx::query_scalar(&format!(
            "SELECT judged_sites FROM registrations WHERE {MEMBER} AND judged_sites IS NOT NULL"
        ))
        .bind(store)
        .bind(family)
        .fetch_all(self.pool())
        .await
        .map_err(q("count a family's sites"))
    }

    /// A family's `k` first and `k` last creation times, each from its end of the family
    /// index (two index ranges).
    pub async fn family_edges(
        &self,
        store: &str,
        family: &str,
        k: usize,
    ) -> Result<(Vec<i64>, Vec<i64>), StateError> {
        let mut edges = Vec::with_capacity(2);
        for order in ["ASC", "DESC"] {
            let times: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT judged_created_at FROM registrations
                 WHERE {MEMBER} AND judged_created_at IS NOT NULL
                 ORDER BY judged_created_at {order} LIMIT $3"
            ))
            .bind(store)
            .bind(family)
            .bind(i64::try_from(k).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await
            .map_err(q("read a family's creation times"))?;
            edges.push(times);
        }
        let last = edges.pop().unwrap_or_default();
        Ok((edges.pop().unwrap_or_default(), last))
    }

    /// Members of `families` whose verdicts look at same-name families.
    pub async fn name_lookers(
        &self,
        store: &str,
        families: &[&str],
    ) -> Result<Vec<String>, StateError> {
        let mut out = Vec::new();
        for chunk in families.chunks(IN_CHUNK) {
            let mut p = self.placeholders();
            let store_param = p();
            let params: Vec<String> = chunk.iter().map(|_| p()).collect();
            let sql = format!(
                "SELECT client_id FROM registrations WHERE store = {store_param} AND family IN ({})
                 AND gone_at IS NULL AND judged_flags IS NOT NULL AND (judged_flags & 1) = 1",
                params.join(",")
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql).bind(store);
            for f in chunk {
                query = query.bind(*f);
            }
            out.extend(
                query
                    .fetch_all(self.pool())
                    .await
                    .map_err(q("read name lookers"))?,
            );
        }
        Ok(out)
    }

    /// The family columns of the live members among `ids`.
    pub async fn members_of(
        &self,
        store: &str,
        ids: &[&str],
    ) -> Result<Vec<MemberRow>, StateError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.list_chunk(IN_CHUNK)) {
            let mut p = self.placeholders();
            let store_param = p();
            let ids = self.in_list("client_id", chunk.len(), &mut p);
            let sql = self.json_rows_sql(
                &["client_id, family, judged_created_at, judged_flags, gone_at"],
                &format!("FROM registrations WHERE store = {store_param} AND {ids}"),
                "client_id",
            );
            let query = self.bind_list(sqlx::query(&sql).bind(store), chunk);
            let rows: Vec<MemberColumns> = fetch_json_rows(self.pool(), query)
                .await
                .map_err(q("read family members"))?;
            out.extend(rows.into_iter().filter_map(|r| match r {
                MemberColumns {
                    client_id,
                    family: Some(family),
                    judged_created_at,
                    judged_flags: Some(judged_flags),
                    gone_at: None,
                } => Some(MemberRow {
                    client_id,
                    family,
                    judged_created_at,
                    judged_flags,
                }),
                _ => None,
            }));
        }
        Ok(out)
    }

    /// Drops the indexes only an incremental judgement reads ([`JUDGING_INDEXES`]), before a
    /// full judgement rewrites every row in an order none of them follows. Until
    /// [`State::build_judging_indexes`] the store's `judged_with` is cleared, so nothing reads
    /// them.
    pub async fn drop_judging_indexes(&self) -> Result<(), StateError> {
        for (name, _) in JUDGING_INDEXES {
            sqlx::query(&format!("DROP INDEX IF EXISTS {name}"))
                .execute(self.pool())
                .await
                .map_err(q("drop a judging index"))?;
        }
        Ok(())
    }

    /// Builds the indexes of [`JUDGING_INDEXES`] that are missing: after a full judgement, and
    /// on connecting (a judgement interrupted between dropping and building them).
    /// Only the missing ones are named to the database: on PostgreSQL, `CREATE INDEX IF NOT
    /// EXISTS` locks the table before it looks, and waits for an autovacuum of it (which
    /// PostgreSQL then cancels, after `deadlock_timeout`): a second at every start after a
    /// large scan.
    pub async fn build_judging_indexes(&self) -> Result<(), StateError> {
        let sql = if self.sqlite {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'registrations'"
        } else {
            "SELECT indexname::text FROM pg_indexes
             WHERE tablename = 'registrations' AND schemaname = current_schema()"
        };
        let present: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(self.pool())
            .await
            .map_err(q("list the judging indexes"))?;
        for (name, definition) in JUDGING_INDEXES {
            if present.iter().any(|p| p == name) {
                continue;
            }
            sqlx::query(&format!("CREATE INDEX IF NOT EXISTS {name} {definition}"))
                .execute(self.pool())
                .await
                .map_err(q("build a judging index"))?;
        }
        Ok(())
    }

    /// Before a full judgement: fresh planner statistics on PostgreSQL, whose autovacuum may
    /// not have analyzed a table a first scan just filled (the judgement's page reads and
    /// verdict writes depend on them). SQLite's statements here do not.
    pub async fn refresh_statistics(&self) -> Result<(), StateError> {
        if !self.sqlite {
            sqlx::raw_sql("ANALYZE registrations; ANALYZE families")
                .execute(self.pool())
                .await
                .map_err(q("analyze"))?;
        }
        Ok(())
    }

    /// After a full judgement rewrote a store's rows, on PostgreSQL: `VACUUM (ANALYZE)`,
    /// which gives fresh statistics too. The incremental judgement reads its family index
    /// ranges from the index alone only where a vacuum has marked the table's pages
    /// all-visible; until autovacuum gets to a table a first scan filled and its judgement
    /// rewrote, every entry is looked up in the table as well (1,000,000 clients, 1%
    /// changed: 6.0-6.5 s against 4.7-5.2 s). The dead versions the rewrite left are made
    /// free for the next writes. Each its own statement: a vacuum runs outside transactions.
    pub async fn vacuum_after_judgement(&self) -> Result<(), StateError> {
        if !self.sqlite {
            for vacuum in [
                "VACUUM (ANALYZE) registrations",
                "VACUUM (ANALYZE) families",
            ] {
                sqlx::raw_sql(vacuum)
                    .execute(self.pool())
                    .await
                    .map_err(q("vacuum"))?;
            }
        }
        Ok(())
    }

    /// How many registrations of the store are live.
    pub async fn live_count(&self, store: &str) -> Result<u64, StateError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM registrations WHERE store = $1 AND gone_at IS NULL",
        )
        .bind(store)
        .fetch_one(self.pool())
        .await
        .map_err(q("count live registrations"))?;
        Ok(n.max(0) as u64)
    }

    /// Live registrations whose verdicts are due by `now`: an index range.
    pub async fn due(&self, store: &str, now: i64) -> Result<Vec<String>, StateError> {
        sqlx::query_scalar(
            "SELECT client_id FROM registrations WHERE store = $1 AND gone_at IS NULL AND due_at <= $2",
        )
        .bind(store)
        .bind(now)
        .fetch_all(self.pool())
        .await
        .map_err(q("read due verdicts"))
    }

    /// The live registrations among `ids`, with their stored verdicts; on the read
    /// connection where there is one, so that a read may run while the writer writes what
    /// was judged before.
    pub async fn live_by_id(&self, store: &str, ids: &[&str]) -> Result<Vec<Judged>, StateError> {
        // Gone ones are left out here, not in SQL: the statement stays a key lookup.
        let mut all = self.judged_by_id(store, ids, self.read_pool()).await?;
        all.retain(|j| !j.gone);
        Ok(all)
    }

    /// The registrations among `ids`, live or gone, with their stored verdicts, by client_id,
    /// read on `pool`.
    async fn judged_by_id(
        &self,
        store: &str,
        ids: &[&str],
        pool: &sqlx::AnyPool,
    ) -> Result<Vec<Judged>, StateError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.list_chunk(IN_CHUNK)) {
            let mut p = self.placeholders();
            let store_param = p();
            let ids = self.in_list("client_id", chunk.len(), &mut p);
            let sql = self.judged_rows_sql(&format!(
                "FROM registrations WHERE store = {store_param} AND {ids}"
            ));
            let query = self.bind_list(sqlx::query(&sql).bind(store), chunk);
            let rows: Vec<JudgedRow> = fetch_json_rows(pool, query)
                .await
                .map_err(q("read registrations to judge"))?;
            out.extend(rows.into_iter().map(JudgedRow::judged));
        }
        Ok(out)
    }

    /// Registrations that are gone leave their families: what they added is forgotten. After
    /// a full judgement, every one that added something; `settle_gone_of` those of `ids`.
    pub async fn settle_gone(&self, store: &str) -> Result<u64, StateError> {
        let r = sqlx::query(&format!("{SETTLE} WHERE store = $1 AND {SETTLED}"))
            .bind(store)
            .execute(self.pool())
            .await
            .map_err(q("settle gone registrations"))?;
        Ok(r.rows_affected())
    }

    /// [`State::settle_gone`] of the registrations `ids`: the gone among the stale ones.
    pub async fn settle_gone_of(&self, store: &str, ids: &[&str]) -> Result<(), StateError> {
        for chunk in ids.chunks(self.list_chunk(IN_CHUNK)) {
            let mut p = self.placeholders();
            let store_param = p();
            let list = self.in_list("client_id", chunk.len(), &mut p);
            let sql = format!("{SETTLE} WHERE store = {store_param} AND {list} AND {SETTLED}");
            self.bind_list(sqlx::query(&sql).bind(store), chunk)
                .execute(self.pool())
                .await
                .map_err(q("settle gone registrations"))?;
        }
        Ok(())
    }
}

/// What a gone registration keeps of its last judgement: nothing of its family.
const SETTLE: &str = "UPDATE registrations SET due_at = NULL, judged_created_at = NULL,
     judged_sites = NULL, judged_flags = NULL";
/// A gone registration [`SETTLE`] changes.
const SETTLED: &str = "gone_at IS NOT NULL
     AND (due_at IS NOT NULL OR judged_created_at IS NOT NULL OR judged_sites IS NOT NULL
          OR judged_flags IS NOT NULL)";
