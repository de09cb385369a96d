//! The state database: what regwarden has seen, its scans, verdicts, families and the action
//! journal. Every statement on it is here (no other module sees the pool), and rows are
//! decoded by column name.
//!
//! SQLite by default (created on first use), PostgreSQL for shared deployments; both through
//! sqlx's `Any` driver with the schema in `migrations/<backend>/`, applied at start-up. SQL
//! here is written once for both: `$n` parameters, `ON CONFLICT` upserts, integer times.
//! Statements that read many rows read them as one JSON array a page (`json_rows.rs`).

mod checkpoint;
mod copy_in;
mod export;
mod families;
mod journal;
mod json_rows;
mod judging;
mod known;
mod lease;
mod lists;
#[cfg(test)]
mod migration_tests;
mod pages;
mod ranges;
mod registrations;
#[cfg(test)]
mod schema_tests;
mod stale;
mod summary;
mod upsert;
mod verdicts;

pub use crate::model::{ScanKind, StoreCursor};
pub use export::ExportRow;
pub use journal::{ActionRow, Intent, Outcome, QuarantineEvent};
pub use judging::{Contribution, MemberRow};
pub use lease::Fence;
pub use pages::{ContributionRow, LivePages, PAGE};
pub use registrations::{BatchOutcome, Recorded, Stored, StoredReason};
pub use summary::{CimdOpportunity, LiveCounts, RiskyRegistration, Summary};
pub use verdicts::{FamilyRow, FamilyStats, FamilyView, Judged, VerdictRow, VerdictWrite};

use crate::secret::Secret;
use chrono::{DateTime, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;
use sqlx::{Connection, Executor};
use std::time::Duration;

/// Rows per multi-row UPDATE statement (at most 10 parameters each: well below every
/// backend's limit). Each statement is a transaction of its own: SQLite keeps a statement
/// journal (a temporary file) for a statement writing many rows inside a larger transaction.
/// Only statements of exactly this many rows are kept prepared: a shorter one (a chunk's tail)
/// has a text of its own, and a prepared statement of a thousand rows holds about half a
/// megabyte (a judgement that kept its tails prepared peaked at 103 MB instead of 47 MB).
pub(crate) const UPDATE_CHUNK: usize = 1000;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open state database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate state database {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("not the leader any more ({why}): nothing is acted on")]
    Fenced { why: String },
    #[error("state database query failed ({what}): {source}")]
    Query {
        what: &'static str,
        source: sqlx::Error,
    },
}

fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> StateError {
    move |source| StateError::Query { what, source }
}

/// Handle on the state database; cheap to clone.
#[derive(Clone, Debug)]
pub struct State {
    pool: AnyPool,
    /// A SQLite file's second connection, read-only, for the page reads of a full
    /// judgement: they run while the writer writes the verdicts of the pages before.
    reads: Option<AnyPool>,
    /// A PostgreSQL database's connection for `COPY`, opened when first used (see
    /// `copy_in.rs`).
    copy: Option<sqlx::PgPool>,
    sqlite: bool,
    /// The leader's term when replicas share the database: intents are written under it.
    fence: Option<std::sync::Arc<Fence>>,
}

/// Counts kept for a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScanCounts {
    pub seen: u64,
    pub new: u64,
    pub changed: u64,
    pub gone: u64,
    pub warnings: u64,
    pub refused: u64,
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub(crate) fn from_ts(s: Option<i64>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::from_timestamp(s, 0))
}

impl State {
    /// Opens (creating a SQLite file if needed) and migrates the state database.
    pub async fn connect(url: &Secret) -> Result<State, StateError> {
        sqlx::any::install_default_drivers();
        let shown = url.redacted_url();
        let raw = url.expose();
        let sqlite = raw.starts_with("sqlite:");
        let connect_url = if sqlite && !raw.contains("mode=") {
            format!("{raw}{}mode=rwc", if raw.contains('?') { '&' } else { '?' })
        } else {
            raw.to_owned()
        };
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer; a single connection avoids busy errors between tasks.
            .max_connections(if sqlite { 1 } else { 5 })
            .acquire_timeout(Duration::from_secs(10))
            // Per connection, so that a connection the pool opens again has them too.
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        // A scan or judgement rewrites rows all over the file, several
                        // times over (registration, usage, contribution, verdict): a page
                        // is copied to the database once per checkpoint it is in the log
                        // of, so the log may grow to 512 MiB within a refresh, which ends
                        // with a checkpoint of its own ([`State::checkpoint`]). A 1%-changed
                        // scan of 1,000,000 took 8.4 s with checkpoints every 64 MiB, 6.4 s
                        // so (medians of three). The log is cut back to 64 MiB after a
                        // checkpoint.
                        conn.execute("PRAGMA wal_autocheckpoint = 131072").await?;
                        conn.execute("PRAGMA journal_size_limit = 67108864").await?;
                        // Sorts (building an index, above all) on every core: the family
                        // index of 1,000,000 registrations in 1.5 s instead of 1.85.
                        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                        conn.execute(format!("PRAGMA threads = {}", threads.min(4)).as_str())
                            .await?;
                    } else {
                        // A statement is planned for the table as it is when it runs. A
                        // generic plan, which PostgreSQL settles on after five runs, is
                        // made from the table's statistics: on a first scan those say
                        // "empty" until autovacuum gets to it (late on a busy server), and
                        // every lookup of known registrations read the whole table (100,000
                        // clients: a 12 s scan took 67 s).
                        conn.execute("SET plan_cache_mode = force_custom_plan")
                            .await?;
                        // Short statements over index ranges, which JIT compilation only
                        // slows: a list of 1,000 ranges is estimated dear (each range as if
                        // it held a whole family), compiled, and took 19-38 ms, not 1-4.
                        conn.execute("SET jit = off").await?;
                    }
                    Ok(())
                })
            })
            // A connection handed back still inside a transaction (a COMMIT that failed, on a
            // full disk say, then a ROLLBACK that failed too) is closed, which rolls it back:
            // reused, every later statement would run in that transaction and never reach
            // the disk, while reporting success. The ping first lets a queued rollback run.
            .after_release(|conn, _| {
                Box::pin(async move {
                    conn.ping().await?;
                    let clean = !conn.is_in_transaction();
                    if !clean {
                        tracing::warn!("state database connection left inside a failed transaction: closed, its work rolled back");
                    }
                    Ok(clean)
                })
            })
            .connect(&connect_url)
            .await
            .map_err(|source| StateError::Connect {
                url: shown.clone(),
                source,
            })?;
        let migrator = if sqlite {
            &SQLITE_MIGRATIONS
        } else {
            &POSTGRES_MIGRATIONS
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| StateError::Migrate { url: shown, source })?;
        let in_memory = raw.contains(":memory:") || raw.contains("mode=memory");
        let reads = if sqlite && !in_memory {
            let reads = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA query_only = ON").await?;
                        Ok(())
                    })
                })
                .connect(&connect_url)
                .await
                .map_err(|source| StateError::Connect {
                    url: url.redacted_url(),
                    source,
                })?;
            Some(reads)
        } else {
            None
        };
        let copy = (!sqlite).then(|| copy_in::pool(url)).transpose()?;
        let state = State {
            pool,
            reads,
            copy,
            sqlite,
            fence: None,
        };
        state.build_judging_indexes().await?;
        Ok(state)
    }

    /// The same database, every intent written under `fence` (the leader's term).
    pub fn fenced(&self, fence: std::sync::Arc<Fence>) -> State {
        State {
            fence: Some(fence),
            ..self.clone()
        }
    }

    /// Whether this is a SQLite state database (one process, always the leader).
    pub fn is_sqlite(&self) -> bool {
        self.sqlite
    }

    /// Runs a write of many rows whose plan does not depend on their values. PostgreSQL
    /// plans every run of a statement anew on these connections (see [`State::connect`]): for
    /// an upsert of a thousand rows, a third of its time (100,000 into an empty state: 9.2 s
    /// of recording, 6.1 s with plans kept). Here it keeps a generic plan. (The verdict
    /// writes showed no gain from it: they keep their custom plans.)
    async fn execute_planned<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        what: &'static str,
    ) -> Result<sqlx::any::AnyQueryResult, StateError> {
        if self.sqlite {
            return query.execute(self.pool()).await.map_err(q(what));
        }
        let mut tx = self.pool().begin().await.map_err(q(what))?;
        sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
            .execute(&mut *tx)
            .await
            .map_err(q(what))?;
        let done = query.execute(&mut *tx).await.map_err(q(what))?;
        tx.commit().await.map_err(q(what))?;
        Ok(done)
    }

    /// Only `state` runs statements on the pool.
    fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for reads that may run beside the writer: SQLite's read-only connection
    /// where there is one. Each statement sees what was committed when it began.
    fn read_pool(&self) -> &AnyPool {
        self.reads.as_ref().unwrap_or(&self.pool)
    }

    /// Placeholders for statements with many parameters, bound in order of appearance:
    /// `?` on SQLite (which looks numbered ones up by a linear search per bind, quadratic
    /// on long statements), `$1, $2, ...` on PostgreSQL.
    pub(crate) fn placeholders(&self) -> impl FnMut() -> String {
        let sqlite = self.sqlite;
        let mut n = 0;
        move || {
            n += 1;
            if sqlite {
                "?".to_owned()
            } else {
                format!("${n}")
            }
        }
    }

    /// One statement updating `rows` (at most [`UPDATE_CHUNK`]) registrations of a store from a list of values (SQLite
    /// 3.33+, PostgreSQL): `SET col = v.col` for each of `cols`, then `also` (more
    /// assignments, or nothing), where `when` holds too (a condition, or nothing). Bound in
    /// order: per row its client_id and then `cols`, last the store. A `VALUES` list, not a
    /// `UNION ALL` of selects, which SQLite limits to 500.
    pub(crate) fn update_from_rows(
        &self,
        cols: &[&str],
        also: &str,
        when: &str,
        rows: usize,
    ) -> String {
        let (values, store) = self.values_rows(cols.len() + 1, rows);
        // Both name a list's columns column1, column2, ...: column1 is the client_id.
        let assign: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = v.column{}", i + 2))
            .collect();
        format!(
            "UPDATE registrations SET {}{also}
             FROM (VALUES {values}) AS v WHERE registrations.store = {store} AND registrations.client_id = v.column1{}",
            assign.join(", "),
            if when.is_empty() { String::new() } else { format!(" AND ({when})") }
        )
    }

    /// Placeholders for `rows` rows of `columns` values each, as a `VALUES` list, then one
    /// more (for the store).
    pub(crate) fn values_rows(&self, columns: usize, rows: usize) -> (String, String) {
        let mut p = self.placeholders();
        let values: Vec<String> = (0..rows)
            .map(|_| {
                let row: Vec<String> = (0..columns).map(|_| p()).collect();
                format!("({})", row.join(", "))
            })
            .collect();
        (values.join(", "), p())
    }

    /// Answers whether the database is reachable (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StateError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(q("ping"))?;
        Ok(())
    }

    /// Makes sure a configured store has its row; its kind is refreshed from the config.
    pub async fn ensure_store(
        &self,
        name: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO stores (name, kind, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind",
        )
        .bind(name)
        .bind(kind)
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(q("register store"))?;
        Ok(())
    }

    pub async fn store_cursor(&self, name: &str) -> Result<StoreCursor, StateError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            cursor_updated_at: Option<String>,
            cursor_id: Option<String>,
            usage_cursor: Option<String>,
            last_full_scan_at: Option<i64>,
            last_success_at: Option<i64>,
        }
        let row: Option<Row> = sqlx::query_as(
            "SELECT cursor_updated_at, cursor_id, usage_cursor, last_full_scan_at, last_success_at
             FROM stores WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read store cursor"))?;
        Ok(row.map_or_else(StoreCursor::default, |r| StoreCursor {
            updated_at: r.cursor_updated_at,
            id: r.cursor_id,
            usage: r.usage_cursor,
            last_full_scan_at: from_ts(r.last_full_scan_at),
            last_success_at: from_ts(r.last_success_at),
        }))
    }

    /// Starts a scan record; its id marks every registration the scan sees.
    pub async fn begin_scan(
        &self,
        store: &str,
        kind: ScanKind,
        now: DateTime<Utc>,
    ) -> Result<i64, StateError> {
        if kind == ScanKind::Full {
            // What a failed full scan saw is not this one's.
            self.clear_seen(store).await?;
        }
        sqlx::query_scalar("INSERT INTO scans (store, kind, started_at, outcome) VALUES ($1, $2, $3, 'running') RETURNING id")
            .bind(store)
            .bind(kind.as_str())
            .bind(ts(now))
            .fetch_one(&self.pool)
            .await
            .map_err(q("begin scan"))
    }

    /// Closes a scan that completed: counts, the store's new cursors and freshness.
    pub async fn finish_scan(
        &self,
        store: &str,
        scan: i64,
        kind: ScanKind,
        counts: ScanCounts,
        cursor: &StoreCursor,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await.map_err(q("begin transaction"))?;
        sqlx::query(
            "UPDATE scans SET finished_at = $2, outcome = 'ok', seen = $3, new_count = $4, changed = $5,
                 gone = $6, warnings = $7, refused = $8 WHERE id = $1",
        )
        .bind(scan)
        .bind(ts(now))
        .bind(counts.seen as i64)
        .bind(counts.new as i64)
        .bind(counts.changed as i64)
        .bind(counts.gone as i64)
        .bind(counts.warnings as i64)
        .bind(counts.refused as i64)
        .execute(&mut *tx)
        .await
        .map_err(q("finish scan"))?;
        let full = kind == ScanKind::Full;
        sqlx::query(
            "UPDATE stores SET cursor_updated_at = $2, cursor_id = $3, usage_cursor = $4, last_success_at = $5,
                 last_full_scan_at = CASE WHEN $6 = 1 THEN $5 ELSE last_full_scan_at END
             WHERE name = $1",
        )
        .bind(store)
        .bind(cursor.updated_at.as_deref())
        .bind(cursor.id.as_deref())
        .bind(cursor.usage.as_deref())
        .bind(ts(now))
        .bind(full as i32)
        .execute(&mut *tx)
        .await
        .map_err(q("advance store cursor"))?;
        tx.commit().await.map_err(q("commit scan"))?;
        Ok(())
    }

    /// Records a scan that failed; nothing it saw counts as gone.
    pub async fn fail_scan(
        &self,
        scan: i64,
        counts: ScanCounts,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        sqlx::query("UPDATE scans SET finished_at = $2, outcome = 'failed', seen = $3, error = $4 WHERE id = $1")
            .bind(scan)
            .bind(ts(now))
            .bind(counts.seen as i64)
            .bind(error)
            .execute(&self.pool)
            .await
            .map_err(q("record failed scan"))?;
        Ok(())
    }

    /// Marks scans left `running` by a process that stopped mid-way.
    pub async fn close_interrupted_scans(&self, now: DateTime<Utc>) -> Result<u64, StateError> {
        let r = sqlx::query(
            "UPDATE scans SET outcome = 'interrupted', finished_at = $1 WHERE outcome = 'running'",
        )
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(q("close interrupted scans"))?;
        Ok(r.rows_affected())
    }
}

#[cfg(test)]
pub(crate) mod testing;
