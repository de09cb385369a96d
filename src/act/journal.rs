//! The action journal in the state database: an intent (with the registration's full
//! snapshot) written before each admin call, its outcome after.

use crate::state::{from_ts, q, ts, State, StateError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

/// Outcomes as journaled.
pub mod outcome {
    /// The call succeeded (a 404 on delete included: the client is gone either way).
    pub const DONE: &str = "done";
    /// The call failed after its retries.
    pub const ERROR: &str = "error";
    /// Found open at start-up: the store shows the call took effect.
    pub const RECONCILED_DONE: &str = "reconciled-done";
    /// Found open at start-up: the store shows the call never took effect; not repeated.
    pub const RECONCILED_NOT_DONE: &str = "reconciled-not-done";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    pub id: i64,
    pub store: String,
    pub client_id: String,
    pub action: String,
    pub mode: String,
    pub reason: String,
    #[serde(skip)]
    pub snapshot: String,
    pub intent_at: DateTime<Utc>,
    pub outcome: Option<String>,
    pub outcome_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub attempts: i64,
}

const COLUMNS: &str = "id, store, client_id, action, mode, reason, snapshot, intent_at, outcome, outcome_at, error, attempts";

fn entry(r: &AnyRow) -> Result<JournalEntry, StateError> {
    let get = |e| q("decode journal entry")(e);
    Ok(JournalEntry {
        id: r.try_get(0).map_err(get)?,
        store: r.try_get(1).map_err(get)?,
        client_id: r.try_get(2).map_err(get)?,
        action: r.try_get(3).map_err(get)?,
        mode: r.try_get(4).map_err(get)?,
        reason: r.try_get(5).map_err(get)?,
        snapshot: r.try_get(6).map_err(get)?,
        intent_at: from_ts(Some(r.try_get(7).map_err(get)?)).unwrap_or_default(),
        outcome: r.try_get(8).map_err(get)?,
        outcome_at: from_ts(r.try_get(9).map_err(get)?),
        error: r.try_get(10).map_err(get)?,
        attempts: r.try_get(11).map_err(get)?,
    })
}

/// One intent to write.
pub struct Intent<'a> {
    pub store: &'a str,
    pub client_id: &'a str,
    pub action: &'a str,
    pub mode: &'a str,
    pub reason: &'a str,
    pub snapshot: &'a str,
}

impl State {
    /// Writes an intent and returns its action id.
    pub async fn journal_intent(
        &self,
        i: &Intent<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StateError> {
        let row = sqlx::query(
            "INSERT INTO actions (store, client_id, action, mode, reason, snapshot, intent_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(i.store)
        .bind(i.client_id)
        .bind(i.action)
        .bind(i.mode)
        .bind(i.reason)
        .bind(i.snapshot)
        .bind(ts(now))
        .fetch_one(self.pool())
        .await
        .map_err(q("journal intent"))?;
        row.try_get(0).map_err(q("decode action id"))
    }

    /// Records the outcome of an intent.
    pub async fn journal_outcome(
        &self,
        id: i64,
        outcome: &str,
        error: Option<&str>,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        sqlx::query(
            "UPDATE actions SET outcome = $2, error = $3, attempts = $4, outcome_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(outcome)
        .bind(error)
        .bind(i64::from(attempts))
        .bind(ts(now))
        .execute(self.pool())
        .await
        .map_err(q("journal outcome"))?;
        Ok(())
    }

    /// Intents of a store with no outcome (a process stopped between the two).
    pub async fn open_intents(&self, store: &str) -> Result<Vec<JournalEntry>, StateError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM actions WHERE store = $1 AND outcome IS NULL ORDER BY id"
        ))
        .bind(store)
        .fetch_all(self.pool())
        .await
        .map_err(q("read open intents"))?;
        rows.iter().map(entry).collect()
    }

    pub async fn journal_entry(&self, id: i64) -> Result<Option<JournalEntry>, StateError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM actions WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(q("read journal entry"))?;
        row.as_ref().map(entry).transpose()
    }

    /// The latest `action` on `client_id` that took effect before action `before`.
    pub async fn last_done_before(
        &self,
        store: &str,
        client_id: &str,
        action: &str,
        before: i64,
    ) -> Result<Option<JournalEntry>, StateError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM actions WHERE store = $1 AND client_id = $2 AND action = $3
             AND id < $4 AND outcome IN ('done', 'reconciled-done') ORDER BY id DESC LIMIT 1"
        ))
        .bind(store)
        .bind(client_id)
        .bind(action)
        .bind(before)
        .fetch_optional(self.pool())
        .await
        .map_err(q("read journal entry"))?;
        row.as_ref().map(entry).transpose()
    }

    /// The most recent entries of a store, newest first.
    pub async fn recent_actions(
        &self,
        store: &str,
        limit: u32,
    ) -> Result<Vec<JournalEntry>, StateError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM actions WHERE store = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(store)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(q("read recent actions"))?;
        rows.iter().map(entry).collect()
    }

    /// Clients of a store under a quarantine that took effect, and since when (the latest
    /// quarantine after which no restore was journaled).
    pub async fn quarantined(
        &self,
        store: &str,
    ) -> Result<HashMap<String, DateTime<Utc>>, StateError> {
        let rows = sqlx::query(
            "SELECT client_id, action, outcome_at FROM actions
             WHERE store = $1 AND action IN ('quarantine', 'restore') AND outcome IN ('done', 'reconciled-done')
             ORDER BY id",
        )
        .bind(store)
        .fetch_all(self.pool())
        .await
        .map_err(q("read quarantines"))?;
        let mut out = HashMap::new();
        for r in rows {
            let get = |e| q("decode quarantine")(e);
            let client: String = r.try_get(0).map_err(get)?;
            let action: String = r.try_get(1).map_err(get)?;
            let at = from_ts(r.try_get(2).map_err(get)?);
            match (action.as_str(), at) {
                ("quarantine", Some(at)) => {
                    out.insert(client, at);
                }
                _ => {
                    out.remove(&client);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::testing;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn intent<'a>(client: &'a str, action: &'a str) -> Intent<'a> {
        Intent {
            store: "s",
            client_id: client,
            action,
            mode: "enforce",
            reason: "expiry.unused: test",
            snapshot: "{\"client_id\":\"x\"}",
        }
    }

    #[tokio::test]
    async fn intents_stay_open_until_their_outcome_and_quarantines_end_with_a_restore() {
        let (state, _dir) = testing::sqlite().await;
        state.ensure_store("s", "hydra", at(0)).await.unwrap();
        let q1 = state
            .journal_intent(&intent("a", "quarantine"), at(1))
            .await
            .unwrap();
        let q2 = state
            .journal_intent(&intent("b", "quarantine"), at(2))
            .await
            .unwrap();
        let q3 = state
            .journal_intent(&intent("c", "quarantine"), at(3))
            .await
            .unwrap();
        let open: Vec<i64> = state
            .open_intents("s")
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(open, [q1, q2, q3]);
        state
            .journal_outcome(q1, outcome::DONE, None, 1, at(10))
            .await
            .unwrap();
        state
            .journal_outcome(q2, outcome::ERROR, Some("HTTP 500"), 4, at(11))
            .await
            .unwrap();
        state
            .journal_outcome(q3, outcome::RECONCILED_DONE, None, 1, at(12))
            .await
            .unwrap();
        assert!(state.open_intents("s").await.unwrap().is_empty());
        let e = state.journal_entry(q2).await.unwrap().unwrap();
        assert_eq!(
            (
                e.outcome.as_deref(),
                e.error.as_deref(),
                e.attempts,
                e.outcome_at
            ),
            (Some("error"), Some("HTTP 500"), 4, Some(at(11)))
        );
        // A failed quarantine does not count; a restore lifts one.
        let r = state
            .journal_intent(&intent("c", "restore"), at(20))
            .await
            .unwrap();
        state
            .journal_outcome(r, outcome::DONE, None, 1, at(21))
            .await
            .unwrap();
        let q = state.quarantined("s").await.unwrap();
        assert_eq!(q, HashMap::from([("a".to_owned(), at(10))]));
        let recent: Vec<i64> = state
            .recent_actions("s", 2)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(recent, [r, q3]);
        assert_eq!(state.journal_entry(9999).await.unwrap(), None);
        // The quarantine a later action undoes: done ones only, before it.
        let last = |client, before| {
            let state = &state;
            async move {
                state
                    .last_done_before("s", client, "quarantine", before)
                    .await
                    .unwrap()
                    .map(|e| e.id)
            }
        };
        assert_eq!(last("c", r).await, Some(q3));
        assert_eq!(last("c", q3).await, None);
        assert_eq!(last("b", r).await, None);
    }
}
