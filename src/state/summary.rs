//! Reading the state back: live counts for metrics, and the summary behind `report`.

use super::{from_ts, q, ts, FamilyStats, FamilyView, State, StateError, StoredReason};
use crate::model::{Band, Origin};
use chrono::{DateTime, Duration, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// Counts of live registrations of one store, for `/metrics`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LiveCounts {
    pub by_band_origin: HashMap<(Band, Origin), u64>,
    pub unused: u64,
    pub inactive: u64,
}

/// Everything `report` shows about one store.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub store: String,
    pub kind: String,
    pub live: u64,
    pub gone: u64,
    pub by_origin: BTreeMap<String, u64>,
    pub by_usage: BTreeMap<String, u64>,
    /// Live registrations not used within `inactive_after` (never-used ones included),
    /// counting only those older than that window.
    pub inactive: u64,
    pub inactive_after_days: u64,
    pub by_age: Vec<(String, u64)>,
    pub name_groups: Vec<NameGroup>,
    pub oldest_unused: Vec<UnusedRegistration>,
    pub last_scan: Option<ScanRecord>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_full_scan_at: Option<DateTime<Utc>>,
    pub by_band: BTreeMap<String, u64>,
    /// The riskiest suspicious or malicious registrations, worst first.
    pub risky: Vec<RiskyRegistration>,
    pub families: FamilyStats,
    pub biggest_families: Vec<FamilyView>,
    /// Families per catalog software: (software, families, registrations).
    pub families_by_software: Vec<(String, u64, u64)>,
    /// Families whose client publishes a metadata document (filled by the report, which
    /// knows the catalog).
    pub cimd_replaceable: Vec<CimdOpportunity>,
    /// Big, long-used families no catalog entry vouches for (filled by the report).
    pub vouch: Vec<crate::score::vouch::VouchSuggestion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RiskyRegistration {
    pub client_id: String,
    pub client_name: Option<String>,
    pub band: String,
    pub score: i64,
    /// The reason with the most points.
    pub top_reason: Option<StoredReason>,
}

/// Registrations a CIMD-capable client could retire: with CIMD it needs none of them.
#[derive(Debug, Clone, Serialize)]
pub struct CimdOpportunity {
    pub software: String,
    pub cimd_client_id: String,
    pub families: u64,
    pub registrations: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NameGroup {
    pub name: String,
    pub registrations: u64,
    pub never_used: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnusedRegistration {
    pub client_id: String,
    pub client_name: Option<String>,
    pub origin: String,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanRecord {
    pub id: i64,
    pub kind: String,
    pub outcome: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub seen: i64,
    pub new: i64,
    pub gone: i64,
    pub warnings: i64,
    pub refused: i64,
    pub error: Option<String>,
}

/// The key registrations are grouped by in reports: the name as families fold it
/// ([`crate::score::text::fold_name`]: NFKC, case, spacing, hidden characters, install
/// suffix and version), so the report's name groups and the families agree.
pub fn name_group_key(name: &str) -> String {
    crate::score::text::fold_name(name)
}

const LIVE: &str = "store = $1 AND gone_at IS NULL";

impl State {
    /// Names of the stores the state database knows, with their kinds.
    pub async fn stores(&self) -> Result<Vec<(String, String)>, StateError> {
        let rows = sqlx::query("SELECT name, kind FROM stores ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(q("list stores"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("name").map_err(q("decode store"))?,
                    r.try_get("kind").map_err(q("decode store"))?,
                ))
            })
            .collect()
    }

    pub async fn live_counts(
        &self,
        store: &str,
        now: DateTime<Utc>,
        inactive_after: std::time::Duration,
    ) -> Result<LiveCounts, StateError> {
        let mut counts = LiveCounts::default();
        let rows = sqlx::query(&format!(
            "SELECT band, origin, COUNT(*) AS n FROM registrations WHERE {LIVE} GROUP BY band, origin"
        ))
        .bind(store)
        .fetch_all(self.pool())
        .await
        .map_err(q("count registrations"))?;
        for r in rows {
            let band: Option<String> = r.try_get("band").map_err(q("decode band"))?;
            let origin: String = r.try_get("origin").map_err(q("decode origin"))?;
            let n: i64 = r.try_get("n").map_err(q("decode count"))?;
            let band = band
                .as_deref()
                .and_then(Band::parse)
                .unwrap_or(Band::Neutral);
            *counts
                .by_band_origin
                .entry((band, Origin::parse(&origin)))
                .or_default() += n as u64;
        }
        counts.unused = self
            .count(
                &format!(
                    "SELECT COUNT(*) AS n FROM registrations WHERE {LIVE} AND usage = 'never'"
                ),
                store,
                None,
            )
            .await?;
        counts.inactive = self.count_inactive(store, now, inactive_after).await?;
        Ok(counts)
    }

    /// Registrations created in the last hour over the hourly average of the 7 days before,
    /// from the registrations' own creation times (so it is right on the first scan and after
    /// a restart). A baseline under one an hour counts as one, so a quiet store's first
    /// registration is no spike.
    pub async fn registration_rate_ratio(
        &self,
        store: &str,
        now: DateTime<Utc>,
    ) -> Result<f64, StateError> {
        let hour_ago = ts(now - Duration::hours(1));
        let week_before = ts(now - Duration::hours(1) - Duration::days(7));
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN created_at >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS last_hour,
                    CAST(COALESCE(SUM(CASE WHEN created_at < $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS week
             FROM registrations WHERE store = $1 AND created_at >= $3 AND created_at <= $4",
        )
        .bind(store)
        .bind(hour_ago)
        .bind(week_before)
        .bind(ts(now))
        .fetch_one(self.pool())
        .await
        .map_err(q("registration rate"))?;
        let n = |name: &str| -> Result<f64, StateError> {
            Ok(row
                .try_get::<i64, _>(name)
                .map_err(q("decode registration rate"))? as f64)
        };
        let (last_hour, week) = (n("last_hour")?, n("week")?);
        Ok(last_hour / (week / (7.0 * 24.0)).max(1.0))
    }

    async fn count_inactive(
        &self,
        store: &str,
        now: DateTime<Utc>,
        after: std::time::Duration,
    ) -> Result<u64, StateError> {
        let cut = now - Duration::from_std(after).unwrap_or(Duration::days(90));
        self.count(
            &format!(
                "SELECT COUNT(*) AS n FROM registrations WHERE {LIVE} AND COALESCE(created_at, first_seen_at) < $2
                 AND (usage = 'never' OR (usage = 'used' AND last_used_at < $2))"
            ),
            store,
            Some(ts(cut)),
        )
        .await
    }

    async fn count(&self, sql: &str, store: &str, arg: Option<i64>) -> Result<u64, StateError> {
        let mut query = sqlx::query(sql).bind(store);
        if let Some(a) = arg {
            query = query.bind(a);
        }
        let row = query.fetch_one(self.pool()).await.map_err(q("count"))?;
        let n: i64 = row.try_get("n").map_err(q("decode count"))?;
        Ok(n as u64)
    }

    /// The report of one store.
    pub async fn summary(
        &self,
        store: &str,
        kind: &str,
        now: DateTime<Utc>,
        inactive_after: std::time::Duration,
    ) -> Result<Summary, StateError> {
        let pool = self.pool();
        let mut by_origin = BTreeMap::new();
        for r in sqlx::query(&format!(
            "SELECT origin, COUNT(*) AS n FROM registrations WHERE {LIVE} GROUP BY origin"
        ))
        .bind(store)
        .fetch_all(pool)
        .await
        .map_err(q("count by origin"))?
        {
            by_origin.insert(
                r.try_get::<String, _>("origin")
                    .map_err(q("decode origin"))?,
                r.try_get::<i64, _>("n").map_err(q("decode count"))? as u64,
            );
        }
        let mut by_usage = BTreeMap::new();
        for r in sqlx::query(&format!(
            "SELECT usage, COUNT(*) AS n FROM registrations WHERE {LIVE} GROUP BY usage"
        ))
        .bind(store)
        .fetch_all(pool)
        .await
        .map_err(q("count by usage"))?
        {
            by_usage.insert(
                r.try_get::<String, _>("usage").map_err(q("decode usage"))?,
                r.try_get::<i64, _>("n").map_err(q("decode count"))? as u64,
            );
        }
        let live = by_origin.values().sum();
        let gone = self
            .count(
                "SELECT COUNT(*) AS n FROM registrations WHERE store = $1 AND gone_at IS NOT NULL",
                store,
                None,
            )
            .await?;

        let cut = |days: i64| ts(now - Duration::days(days));
        let age_sql = format!(
            "SELECT CASE WHEN created_at IS NULL THEN 5 WHEN created_at >= $2 THEN 0 WHEN created_at >= $3 THEN 1
                         WHEN created_at >= $4 THEN 2 WHEN created_at >= $5 THEN 3 ELSE 4 END AS bucket, COUNT(*) AS n
             FROM registrations WHERE {LIVE} GROUP BY bucket ORDER BY bucket"
        );
        let labels = [
            "under 1 day",
            "1-7 days",
            "7-30 days",
            "30-90 days",
            "over 90 days",
            "unknown",
        ];
        let mut by_age: Vec<(String, u64)> = labels.iter().map(|l| (l.to_string(), 0)).collect();
        for r in sqlx::query(&age_sql)
            .bind(store)
            .bind(cut(1))
            .bind(cut(7))
            .bind(cut(30))
            .bind(cut(90))
            .fetch_all(pool)
            .await
            .map_err(q("count by age"))?
        {
            let bucket: i64 = r.try_get("bucket").map_err(q("decode age bucket"))?;
            if let Some(slot) = by_age.get_mut(bucket as usize) {
                slot.1 = r.try_get::<i64, _>("n").map_err(q("decode count"))? as u64;
            }
        }

        // Name groups are folded in Rust (NFKC), streaming one row at a time.
        let mut groups: HashMap<String, (u64, u64)> = HashMap::new();
        let names_sql = format!("SELECT client_name, usage FROM registrations WHERE {LIVE}");
        let mut rows = sqlx::query(&names_sql).bind(store).fetch(pool);
        while let Some(r) = rows.try_next().await.map_err(q("read names"))? {
            let name: Option<String> = r.try_get("client_name").map_err(q("decode name"))?;
            let usage: String = r.try_get("usage").map_err(q("decode usage"))?;
            let g = groups
                .entry(
                    name.as_deref()
                        .map(name_group_key)
                        .unwrap_or_else(|| "(no name)".into()),
                )
                .or_default();
            g.0 += 1;
            g.1 += (usage == "never") as u64;
        }
        drop(rows);
        let mut name_groups: Vec<NameGroup> = groups
            .into_iter()
            .map(|(name, (registrations, never_used))| NameGroup {
                name,
                registrations,
                never_used,
            })
            .collect();
        name_groups.sort_by(|a, b| {
            b.registrations
                .cmp(&a.registrations)
                .then_with(|| a.name.cmp(&b.name))
        });
        name_groups.truncate(10);

        let mut oldest_unused = Vec::new();
        for r in sqlx::query(&format!(
            "SELECT client_id, client_name, origin, created_at FROM registrations WHERE {LIVE} AND usage = 'never'
             ORDER BY COALESCE(created_at, first_seen_at), client_id LIMIT 10"
        ))
        .bind(store)
        .fetch_all(pool)
        .await
        .map_err(q("read oldest unused"))?
        {
            oldest_unused.push(UnusedRegistration {
                client_id: r.try_get("client_id").map_err(q("decode client_id"))?,
                client_name: r.try_get("client_name").map_err(q("decode client_name"))?,
                origin: r.try_get("origin").map_err(q("decode origin"))?,
                created_at: from_ts(r.try_get("created_at").map_err(q("decode created_at"))?),
            });
        }

        let last_scan = sqlx::query(
            "SELECT id, kind, outcome, started_at, finished_at, seen, new_count, gone, warnings, refused, error
             FROM scans WHERE store = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(store)
        .fetch_optional(pool)
        .await
        .map_err(q("read last scan"))?
        .map(|r| -> Result<ScanRecord, sqlx::Error> {
            Ok(ScanRecord {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                outcome: r.try_get("outcome")?,
                started_at: from_ts(r.try_get("started_at")?),
                finished_at: from_ts(r.try_get("finished_at")?),
                seen: r.try_get("seen")?,
                new: r.try_get("new_count")?,
                gone: r.try_get("gone")?,
                warnings: r.try_get("warnings")?,
                refused: r.try_get("refused")?,
                error: r.try_get("error")?,
            })
        })
        .transpose()
        .map_err(q("decode last scan"))?;
        let cursor = self.store_cursor(store).await?;
        let mut by_band = BTreeMap::new();
        for r in sqlx::query(&format!("SELECT COALESCE(band, 'neutral') AS band, COUNT(*) AS n FROM registrations WHERE {LIVE} GROUP BY COALESCE(band, 'neutral')"))
            .bind(store)
            .fetch_all(pool)
            .await
            .map_err(q("count by band"))?
        {
            by_band.insert(r.try_get::<String, _>("band").map_err(q("decode band"))?, r.try_get::<i64, _>("n").map_err(q("decode count"))? as u64);
        }
        let mut risky = Vec::new();
        for r in sqlx::query(&format!(
            "SELECT client_id, client_name, band, score, reasons FROM registrations WHERE {LIVE} AND band IN ('suspicious', 'malicious')
             ORDER BY score DESC, client_id LIMIT 10"
        ))
        .bind(store)
        .fetch_all(pool)
        .await
        .map_err(q("read risky registrations"))?
        {
            let get = |e| q("decode risky registration")(e);
            let reasons: Vec<StoredReason> =
                r.try_get::<Option<String>, _>("reasons").map_err(get)?.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default();
            risky.push(RiskyRegistration {
                client_id: r.try_get("client_id").map_err(get)?,
                client_name: r.try_get("client_name").map_err(get)?,
                band: r.try_get("band").map_err(get)?,
                score: r.try_get("score").map_err(get)?,
                top_reason: reasons.into_iter().max_by_key(|x| x.points),
            });
        }

        Ok(Summary {
            store: store.to_owned(),
            kind: kind.to_owned(),
            live,
            gone,
            by_origin,
            by_usage,
            inactive: self.count_inactive(store, now, inactive_after).await?,
            inactive_after_days: inactive_after.as_secs() / 86_400,
            by_age,
            name_groups,
            oldest_unused,
            last_scan,
            last_success_at: cursor.last_success_at,
            last_full_scan_at: cursor.last_full_scan_at,
            by_band,
            risky,
            families: self.family_stats(store).await?,
            biggest_families: self.biggest_families(store, 10).await?,
            families_by_software: self.families_by_software(store).await?,
            cimd_replaceable: Vec::new(),
            vouch: Vec::new(),
        })
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
