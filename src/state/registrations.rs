//! Writing what a scan saw: upserts per batch, usage facts, and deletions after a full scan.

use super::known::{Known, Written};
use super::upsert::{upsert_sql, FULL_UPSERTS, UPSERT_CHUNK};
use super::{from_ts, q, ts, State, StateError, VerdictRow, UPDATE_CHUNK};
use crate::model::{Band, ClientMetadata, CreatedFrom, Origin, Registration, Usage};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::HashMap;

/// A registration as a scan read it, with the warnings its normalization gave.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub registration: Registration,
    pub warnings: Vec<String>,
}

/// What a batch changed in the state database.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Indexes (into the batch) of registrations seen for the first time.
    pub new: Vec<usize>,
    /// Registrations already known whose store record changed, or that came back.
    pub changed: u64,
    /// Every registration recorded (one per client_id, as last read): its index into the
    /// batch, and whether it is used and when it was created once merged with what was
    /// known (a use or a creation time on record is never forgotten).
    pub recorded: Vec<(usize, bool, Option<i64>)>,
}

impl State {
    /// Records one batch, a statement (and transaction) per [`UPSERT_CHUNK`] rows.
    /// `touch_unchanged`: a full scan marks every registration it saw as seen by it (so
    /// that what it did not see can be marked gone); an incremental one writes only what
    /// changed. `verdicts`, one per record, are written with the registrations they judge
    /// where those are new (a first scan's: one write per registration instead of two); a
    /// registration already known keeps its stored verdict, and stays stale if it was.
    pub async fn record_batch(
        &self,
        store: &str,
        scan: i64,
        now: DateTime<Utc>,
        batch: &[Recorded],
        touch_unchanged: bool,
        verdicts: Option<&[VerdictRow]>,
    ) -> Result<BatchOutcome, StateError> {
        let ids: Vec<&str> = batch
            .iter()
            .map(|r| r.registration.client_id.as_str())
            .collect();
        let known = self.known(store, &ids).await?;
        self.write_batch(store, scan, now, batch, touch_unchanged, verdicts, known)
            .await
    }

    /// [`State::record_batch`] for a full scan of registrations the state cannot know yet: a
    /// first scan of a store whose client_ids are unique (its records of them are looked up
    /// for nothing: on PostgreSQL state, 2 s of a 16 s first scan of 100,000).
    pub async fn record_new_batch(
        &self,
        store: &str,
        scan: i64,
        now: DateTime<Utc>,
        batch: &[Recorded],
        verdicts: Option<&[VerdictRow]>,
    ) -> Result<BatchOutcome, StateError> {
        self.write_batch(store, scan, now, batch, true, verdicts, HashMap::new())
            .await
    }

    /// Writes a batch as [`State::record_batch`] says, given what the state knows of it.
    #[allow(clippy::too_many_arguments)]
    async fn write_batch(
        &self,
        store: &str,
        scan: i64,
        now: DateTime<Utc>,
        batch: &[Recorded],
        touch_unchanged: bool,
        verdicts: Option<&[VerdictRow]>,
        known: HashMap<String, Known>,
    ) -> Result<BatchOutcome, StateError> {
        let mut outcome = BatchOutcome::default();
        // A client_id twice in one batch (possible in JSON Lines) is recorded once, as last read:
        // one statement may not touch a row twice.
        let mut last_index: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
        for (i, rec) in batch.iter().enumerate() {
            last_index.insert(rec.registration.client_id.as_str(), i);
        }
        let rows: Vec<usize> = (0..batch.len())
            .filter(|&i| last_index.get(batch[i].registration.client_id.as_str()) == Some(&i))
            .collect();
        // Each row as it would be written, serialized once: compared with what is stored,
        // then bound.
        let written: Vec<Written> = batch
            .iter()
            .map(|rec| Written {
                metadata: serde_json::to_string(&rec.registration.metadata)
                    .unwrap_or_else(|_| "{}".into()),
                warnings: (!rec.warnings.is_empty())
                    .then(|| serde_json::to_string(&rec.warnings).unwrap_or_default()),
            })
            .collect();
        let mut unchanged = vec![false; batch.len()];
        for &i in &rows {
            let r = &batch[i].registration;
            let k = known.get(&r.client_id);
            match k {
                None => outcome.new.push(i),
                Some(k) if k.unchanged_by(r, &written[i]) => unchanged[i] = true,
                Some(_) => outcome.changed += 1,
            }
            let used =
                matches!(r.usage, Usage::LastUsed(_)) || k.is_some_and(|k| k.usage == "used");
            let created = r.created_at.map(ts).or(k.and_then(|k| k.created_at));
            outcome.recorded.push((i, used, created));
        }
        // What did not change is not written again (invariant 12); a full scan notes that it
        // saw it, for telling what is gone.
        let (same, rows): (Vec<usize>, Vec<usize>) = rows.into_iter().partition(|&i| unchanged[i]);
        if touch_unchanged && !same.is_empty() {
            let ids: Vec<&str> = same
                .iter()
                .map(|&i| batch[i].registration.client_id.as_str())
                .collect();
            self.note_seen(store, &ids).await?;
        }
        let (revived, live): (Vec<usize>, Vec<usize>) = rows.into_iter().partition(|&i| {
            known
                .get(&batch[i].registration.client_id)
                .is_some_and(|k| k.gone_at.is_some())
        });
        // Verdicts go with the new registrations only: a known one's row keeps its own.
        let (judged, live): (Vec<usize>, Vec<usize>) = match verdicts {
            Some(_) => {
                let mut new = vec![false; batch.len()];
                for &i in &outcome.new {
                    new[i] = true;
                }
                live.into_iter().partition(|&i| new[i])
            }
            None => (Vec::new(), live),
        };
        // Marked before they are written, those whose verdict the write changes: the new ones
        // written without a verdict, and the known ones whose facts it changes.
        let stale: Vec<&str> = live
            .iter()
            .chain(&revived)
            .filter(|&&i| {
                let r = &batch[i].registration;
                known
                    .get(&r.client_id)
                    .is_none_or(|k| k.stale_by(r, &written[i]))
            })
            .map(|&i| batch[i].registration.client_id.as_str())
            .collect();
        self.mark_stale(store, &stale).await?;
        let chunks = judged
            .chunks(UPSERT_CHUNK)
            .map(|c| (c, false, true))
            .chain(live.chunks(UPSERT_CHUNK).map(|c| (c, false, false)))
            .chain(revived.chunks(UPSERT_CHUNK).map(|c| (c, true, false)));
        for (chunk, revive, with_verdicts) in chunks {
            if let Some(verdicts) = verdicts.filter(|_| with_verdicts) {
                if self
                    .copy_new(store, scan, now, batch, chunk, &written, verdicts)
                    .await?
                {
                    continue;
                }
            }
            let sql: Cow<str> = if chunk.len() == UPSERT_CHUNK && !revive {
                let i = usize::from(self.sqlite) * 2 + usize::from(with_verdicts);
                Cow::Borrowed(FULL_UPSERTS[i].get_or_init(|| {
                    upsert_sql(UPSERT_CHUNK, false, with_verdicts, self.placeholders())
                }))
            } else {
                Cow::Owned(upsert_sql(
                    chunk.len(),
                    revive,
                    with_verdicts,
                    self.placeholders(),
                ))
            };
            // Kept prepared only at full size, as `UPDATE_CHUNK` says.
            let mut query = sqlx::query(&sql).persistent(chunk.len() == UPSERT_CHUNK && !revive);
            for &i in chunk {
                let rec = &batch[i];
                let r = &rec.registration;
                query = query
                    .bind(store)
                    .bind(r.client_id.as_str())
                    .bind(r.metadata.client_name.as_deref())
                    .bind(r.origin.as_str())
                    .bind(r.created_at.map(ts))
                    .bind(r.created_from.map(CreatedFrom::as_str))
                    .bind(r.updated_at.map(ts))
                    .bind(r.usage.as_str())
                    .bind(r.usage.last_used().map(ts))
                    .bind(ts(now))
                    .bind(ts(now))
                    .bind(scan)
                    .bind(written[i].metadata.as_str())
                    .bind(written[i].warnings.as_deref());
                if let Some(v) = verdicts.filter(|_| with_verdicts).map(|v| &v[i]) {
                    query = query
                        .bind(v.band)
                        .bind(v.score as i32)
                        .bind(v.reasons.as_str())
                        .bind(v.family.as_str())
                        .bind(v.software.as_deref())
                        .bind(v.due_at)
                        .bind(v.judged_created_at)
                        .bind(v.judged_sites.as_deref())
                        .bind(v.judged_flags.map(|f| f as i32));
                }
            }
            self.execute_planned(query, "upsert registrations").await?;
        }
        Ok(outcome)
    }

    /// Records uses found in the store's usage tables since the last scan; returns how many
    /// registrations' usage moved forward (a use already on record writes nothing). A
    /// statement per [`UPDATE_CHUNK`] registrations, each its own transaction: a scan that
    /// stops part way is marked failed and the next one reads the same uses again.
    pub async fn apply_usage(
        &self,
        store: &str,
        uses: &[(String, DateTime<Utc>)],
    ) -> Result<u64, StateError> {
        // One row per registration (a statement may not update a row twice): its latest use.
        let mut latest: HashMap<&str, i64> = HashMap::with_capacity(uses.len());
        for (client_id, at) in uses {
            let t = latest.entry(client_id.as_str()).or_insert(ts(*at));
            *t = (*t).max(ts(*at));
        }
        let mut latest: Vec<(&str, i64)> = latest.into_iter().collect();
        latest.sort_unstable();
        let mut updated = 0;
        // A use moves usage forward where this holds; those registrations are marked stale
        // first.
        let moves = "registrations.usage <> 'used' OR registrations.last_used_at IS NULL
                     OR registrations.last_used_at < v.column2";
        for chunk in latest.chunks(UPDATE_CHUNK) {
            let bound = |sql| {
                let mut query = sqlx::query(sql).persistent(chunk.len() == UPDATE_CHUNK);
                for (client_id, at) in chunk {
                    query = query.bind(*client_id).bind(*at);
                }
                query.bind(store)
            };
            let sql =
                self.update_from_rows(&["last_used_at"], ", usage = 'used'", moves, chunk.len());
            if !self.sqlite {
                // PostgreSQL: the writes and their marks in one statement (the rows are read
                // once, not once for each).
                let sql = format!(
                    "WITH moved AS ({sql} RETURNING registrations.store, registrations.client_id),
                          marked AS (INSERT INTO stale_registrations (store, client_id)
                                     SELECT store, client_id FROM moved ON CONFLICT DO NOTHING)
                     SELECT COUNT(*) FROM moved"
                );
                let moved: i64 = sqlx::Row::try_get(
                    &bound(&sql)
                        .fetch_one(self.pool())
                        .await
                        .map_err(q("record usage"))?,
                    0,
                )
                .map_err(q("record usage"))?;
                updated += moved.unsigned_abs();
                continue;
            }
            let marks = self.mark_stale_from_rows(1, moves, chunk.len());
            bound(&marks)
                .execute(self.pool())
                .await
                .map_err(q("mark used registrations stale"))?;
            updated += bound(&sql)
                .execute(self.pool())
                .await
                .map_err(q("record usage"))?
                .rows_affected();
        }
        Ok(updated)
    }

    /// Whether the state holds no registration of `store` at all, live or gone: a scan of it
    /// finds every registration new.
    pub async fn knows_none(&self, store: &str) -> Result<bool, StateError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM registrations WHERE store = $1 LIMIT 1) AS any_row",
        )
        .bind(store)
        .fetch_one(self.pool())
        .await
        .map_err(q("look for registrations"))?;
        Ok(n == 0)
    }

    /// After a complete full scan: every live registration it did not see is gone.
    pub async fn mark_gone(
        &self,
        store: &str,
        scan: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StateError> {
        // Live, and neither recorded nor noted seen by this scan.
        let unseen = "last_seen_scan <> $2 AND NOT EXISTS (SELECT 1 FROM scan_seen AS s
                          WHERE s.store = $1 AND s.client_id = registrations.client_id)";
        let gone = if self.sqlite {
            // Marked stale first: one pass over the live registrations. The marks then lead
            // the update to them (`+gone_at` keeps the live index from leading it instead,
            // which was a second pass: 0.4-0.8 s at 1,000,000).
            sqlx::query(&format!(
                "INSERT INTO stale_registrations (store, client_id)
                 SELECT store, client_id FROM registrations
                 WHERE store = $1 AND gone_at IS NULL AND {unseen}
                 ON CONFLICT DO NOTHING"
            ))
            .bind(store)
            .bind(scan)
            .execute(self.pool())
            .await
            .map_err(q("mark gone registrations stale"))?;
            sqlx::query(&format!(
                "UPDATE registrations SET gone_at = $3
                 WHERE store = $1
                   AND client_id IN (SELECT client_id FROM stale_registrations WHERE store = $1)
                   AND +gone_at IS NULL AND {unseen}"
            ))
            .bind(store)
            .bind(scan)
            .bind(ts(now))
            .execute(self.pool())
            .await
            .map_err(q("mark gone registrations"))?
            .rows_affected()
        } else {
            // PostgreSQL: the writes and their marks in one statement, one pass.
            let n: i64 = sqlx::query_scalar(&format!(
                "WITH gone AS (UPDATE registrations SET gone_at = $3
                               WHERE store = $1 AND gone_at IS NULL AND {unseen}
                               RETURNING store, client_id),
                      marked AS (INSERT INTO stale_registrations (store, client_id)
                                 SELECT store, client_id FROM gone ON CONFLICT DO NOTHING)
                 SELECT COUNT(*) FROM gone"
            ))
            .bind(store)
            .bind(scan)
            .bind(ts(now))
            .fetch_one(self.pool())
            .await
            .map_err(q("mark gone registrations"))?;
            n.unsigned_abs()
        };
        self.clear_seen(store).await?;
        Ok(gone)
    }

    /// One registration as recorded (for `explain` and tests).
    pub async fn registration(
        &self,
        store: &str,
        client_id: &str,
    ) -> Result<Option<Stored>, StateError> {
        let row: Option<RegistrationRow> = sqlx::query_as(&format!(
            "SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE store = $1 AND client_id = $2"
        ))
        .bind(store)
        .bind(client_id)
        .fetch_optional(self.pool())
        .await
        .map_err(q("read registration"))?;
        Ok(row.map(|r| {
            let registration = r.registration();
            Stored {
                client_id: registration.client_id,
                client_name: r.client_name,
                origin: registration.origin,
                usage: registration.usage,
                created_at: registration.created_at,
                created_from: registration.created_from,
                gone_at: from_ts(r.gone_at),
                metadata: registration.metadata,
                band: r.band.as_deref().and_then(Band::parse),
                score: r.score,
                reasons: r
                    .reasons
                    .and_then(|r| serde_json::from_str(&r).ok())
                    .unwrap_or_default(),
                family: r.family,
                software: r.software,
            }
        }))
    }
}

/// The columns of a [`RegistrationRow`], for `SELECT`.
pub(super) const REGISTRATION_COLUMNS: &str =
    "client_id, client_name, origin, created_at, created_from, updated_at, usage, last_used_at, gone_at,
     metadata, band, score, reasons, family, software";

/// A row of `registrations` as stored: times in Unix seconds, JSON as text. Its fields are
/// in the order of [`REGISTRATION_COLUMNS`] (a JSON row of them reads as one).
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub(super) struct RegistrationRow {
    pub client_id: String,
    pub client_name: Option<String>,
    pub origin: String,
    pub created_at: Option<i64>,
    pub created_from: Option<String>,
    pub updated_at: Option<i64>,
    pub usage: String,
    pub last_used_at: Option<i64>,
    pub gone_at: Option<i64>,
    pub metadata: String,
    pub band: Option<String>,
    pub score: Option<i64>,
    pub reasons: Option<String>,
    pub family: Option<String>,
    pub software: Option<String>,
}

impl RegistrationRow {
    /// The registration as a scan read it (a metadata snapshot that no longer parses reads as
    /// empty metadata).
    pub fn registration(&self) -> Registration {
        Registration {
            client_id: self.client_id.clone(),
            metadata: serde_json::from_str(&self.metadata).unwrap_or_default(),
            created_at: from_ts(self.created_at),
            created_from: self.created_from.as_deref().and_then(CreatedFrom::parse),
            updated_at: from_ts(self.updated_at),
            usage: match (self.usage.as_str(), from_ts(self.last_used_at)) {
                ("used", Some(t)) => Usage::LastUsed(t),
                ("never", _) => Usage::Never,
                _ => Usage::Unknown,
            },
            origin: Origin::parse(&self.origin),
        }
    }
}

/// A registration as the state database holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub client_id: String,
    pub client_name: Option<String>,
    pub origin: Origin,
    pub usage: Usage,
    pub created_at: Option<DateTime<Utc>>,
    /// Where `created_at` comes from (None: unknown, the first sighting stands in).
    pub created_from: Option<CreatedFrom>,
    pub gone_at: Option<DateTime<Utc>>,
    pub metadata: ClientMetadata,
    /// The verdict of the last judgement (none before the first).
    pub band: Option<Band>,
    pub score: Option<i64>,
    pub reasons: Vec<StoredReason>,
    pub family: Option<String>,
    pub software: Option<String>,
}

/// A reason as stored with a verdict.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct StoredReason {
    pub rule: String,
    pub points: i64,
    pub detail: String,
}

#[cfg(test)]
#[path = "registrations_tests.rs"]
mod tests;
