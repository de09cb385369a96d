//! Last uses for a full scan. Looking them up batch by batch (`client_id IN (…)` over the
//! token tables' `(client_id, nid)` index) reads one random heap page per token: at 1,000,000
//! clients, 600,000 access and 200,000 refresh tokens, that was 26 ms of every 1,000-client
//! batch, a third of a full scan. A full scan instead reads every client's last use at its
//! start, in one statement grouping the usage tables' rows by client (sequential reads of
//! the tables), into a compact index.
//! A use recorded after that is found by the next usage follow, which starts from the mark
//! the scan took before reading the index.
//!
//! An incremental scan looks up, batch by batch, the last uses of the clients the state
//! does not know yet: those it knows have theirs recorded, and the usage follow after the
//! batches brings what came since.

use super::{merge_uses, HydraSource, USAGE_TABLES};
use crate::normalize::parse_time;
use crate::source::sql::{column_text, ParamType};
use crate::source::SourceError;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Last uses by client, in 16 bytes a client: a keyed 64-bit hash of the client_id and the
/// time in microseconds, sorted. Two clients share a hash with a probability of about
/// n² / 2⁶⁵ (3 in 100,000,000 for a million used clients), and the key is random for each
/// scan, so a registrant cannot choose a collision; one would at worst lend a use to a
/// client that had none.
/// A lookup starts from where the hash's top bits begin ([`Self::starts`]): a binary search of
/// the whole list cost some 20 cache misses per client, 4% of a first scan's time.
pub(super) struct UsageIndex {
    hasher: std::collections::hash_map::RandomState,
    uses: Vec<(u64, i64)>,
    /// `uses[starts[b]..starts[b + 1]]` are the hashes whose top [`TOP_BITS`] bits are `b`.
    starts: Vec<u32>,
}

const TOP_BITS: u32 = 16;

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
        Ok(UsageIndex::new(hasher, uses))
    }

    /// From uses sorted by hash, one per client.
    fn new(hasher: std::collections::hash_map::RandomState, uses: Vec<(u64, i64)>) -> Self {
        let mut starts = Vec::with_capacity((1 << TOP_BITS) + 1);
        let mut i = 0;
        for b in 0..=(1u64 << TOP_BITS) {
            while i < uses.len() && (uses[i].0 >> (64 - TOP_BITS)) < b {
                i += 1;
            }
            // At most u32::MAX uses: a store of four billion clients is not read this way.
            starts.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        UsageIndex {
            hasher,
            uses,
            starts,
        }
    }

    pub(super) fn last_use(&self, client_id: &str) -> Option<DateTime<Utc>> {
        let h = self.hasher.hash_one(client_id);
        let b = (h >> (64 - TOP_BITS)) as usize;
        let (from, to) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        let bucket = self.uses.get(from..to)?;
        let i = bucket.binary_search_by_key(&h, |u| u.0).ok()?;
        DateTime::from_timestamp_micros(bucket[i].1)
    }
}

impl HydraSource {
    /// Last use of each given client, from the token and flow tables.
    pub(super) async fn last_use(
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::RandomState;

    #[test]
    fn every_use_is_found_and_no_other() {
        let hasher = RandomState::new();
        let ids: Vec<String> = (0..20_000).map(|i| format!("client-{i}")).collect();
        // Every other client used, at its own time.
        let mut uses: Vec<(u64, i64)> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(i, id)| (hasher.hash_one(id), 1_700_000_000_000_000 + i as i64))
            .collect();
        uses.sort_unstable();
        let index = UsageIndex::new(hasher, uses);
        for (i, id) in ids.iter().enumerate() {
            let found = index.last_use(id).map(|t| t.timestamp_micros());
            let expected = (i % 2 == 0).then_some(1_700_000_000_000_000 + i as i64);
            assert_eq!(found, expected, "{id}");
        }
        assert_eq!(
            UsageIndex::new(RandomState::new(), Vec::new()).last_use("x"),
            None
        );
    }
}
