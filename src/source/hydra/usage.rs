//! Last uses for a full scan. Looking them up batch by batch (`client_id IN (…)` over the
//! token tables' `(client_id, nid)` index) reads one random heap page per token: at 1,000,000
//! clients, 600,000 access and 200,000 refresh tokens, that was 26 ms of every 1,000-client
//! batch, a third of a full scan. A full scan instead reads every client's last use at its
//! start, in one statement grouping the usage tables' rows by client (sequential reads of
//! the tables), into a compact index.
//! A use recorded after that is found by the next usage follow, which starts from the mark
//! the scan took before reading the index.

use super::{HydraSource, USAGE_TABLES};
use crate::normalize::parse_time;
use crate::source::sql::{column_text, ParamType};
use crate::source::SourceError;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use std::hash::BuildHasher;

/// Last uses by client, in 16 bytes a client: a keyed 64-bit hash of the client_id and the
/// time in microseconds, sorted. Two clients share a hash with a probability of about
/// n² / 2⁶⁵ (3 in 100,000,000 for a million used clients), and the key is random for each
/// scan, so a registrant cannot choose a collision; one would at worst lend a use to a
/// client that had none.
pub(super) struct UsageIndex {
    hasher: std::collections::hash_map::RandomState,
    uses: Vec<(u64, i64)>,
}

impl UsageIndex {
    /// Every client's last use: one statement, grouping the usage tables' rows by client.
    pub(super) async fn read(src: &HydraSource) -> Result<UsageIndex, SourceError> {
        let d = src.dialect;
        let nid = d.param(1, ParamType::Uuid);
        let tables: Vec<String> = USAGE_TABLES
            .iter()
            .map(|t| format!("SELECT client_id, requested_at FROM {t} WHERE nid = {nid}"))
            .collect();
        let sql = format!(
            "SELECT client_id, {} FROM ({}) AS uses GROUP BY client_id",
            d.text("MAX(requested_at)"),
            tables.join(" UNION ALL ")
        );
        // PostgreSQL's `$1` is one parameter; positional ones (MySQL, SQLite) one per place.
        let binds = match d {
            crate::source::sql::Dialect::Postgres => 1,
            _ => tables.len(),
        };
        let mut query = sqlx::query(&sql);
        for _ in 0..binds {
            query = query.bind(&src.nid);
        }
        let hasher = std::collections::hash_map::RandomState::new();
        let mut uses = Vec::new();
        let mut rows = query.fetch(&src.pool);
        while let Some(row) = rows.try_next().await.map_err(|source| SourceError::Query {
            what: "usage tables",
            source,
        })? {
            let (Some(id), Some(at)) = (column_text(&row, 0), column_text(&row, 1)) else {
                continue;
            };
            if let Some(at) = parse_time(&at) {
                uses.push((hasher.hash_one(&id), at.timestamp_micros()));
            }
        }
        drop(rows);
        // Latest first within a client, then one entry per client.
        uses.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        uses.dedup_by_key(|u| u.0);
        uses.shrink_to_fit();
        Ok(UsageIndex { hasher, uses })
    }

    pub(super) fn last_use(&self, client_id: &str) -> Option<DateTime<Utc>> {
        let h = self.hasher.hash_one(client_id);
        let i = self.uses.binary_search_by_key(&h, |u| u.0).ok()?;
        DateTime::from_timestamp_micros(self.uses[i].1)
    }
}
