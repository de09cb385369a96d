//! The `actions` table: the statements behind the action journal (`act::journal` holds its
//! vocabulary and what the entries mean).

use super::{q, ts, State, StateError};
use chrono::{DateTime, Utc};

/// One intent to write.
pub struct Intent<'a> {
    pub store: &'a str,
    pub client_id: &'a str,
    pub action: &'a str,
    pub mode: &'a str,
    pub reason: &'a str,
    pub snapshot: &'a str,
}

/// A row of the journal as stored: times in Unix seconds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActionRow {
    pub id: i64,
    pub store: String,
    pub client_id: String,
    pub action: String,
    pub mode: String,
    pub reason: String,
    pub snapshot: String,
    pub intent_at: i64,
    pub outcome: Option<String>,
    pub outcome_at: Option<i64>,
    pub error: Option<String>,
    pub attempts: i64,
}

/// A quarantine or restore of a client that took effect.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuarantineEvent {
    pub client_id: String,
    pub action: String,
    pub outcome_at: Option<i64>,
}

/// How an action ended, as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded (a 404 on delete included: the client is gone either way).
    Done,
    /// The call failed after its retries.
    Error,
    /// Found open at start-up: the store shows the call took effect.
    ReconciledDone,
    /// Found open at start-up: the store shows the call never took effect; not repeated.
    ReconciledNotDone,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Done,
        Outcome::Error,
        Outcome::ReconciledDone,
        Outcome::ReconciledNotDone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Error => "error",
            Outcome::ReconciledDone => "reconciled-done",
            Outcome::ReconciledNotDone => "reconciled-not-done",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the admin call took effect.
    pub fn took_effect(self) -> bool {
        matches!(self, Outcome::Done | Outcome::ReconciledDone)
    }
}

const COLUMNS: &str = "id, store, client_id, action, mode, reason, snapshot, intent_at, outcome, outcome_at, error, attempts";

/// Outcomes that mean the admin call took effect ([`Outcome::took_effect`], as SQL).
const TOOK_EFFECT: &str = "('done', 'reconciled-done')";

impl State {
    /// Writes an intent and returns its action id.
    pub(crate) async fn insert_intent(
        &self,
        i: &Intent<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StateError> {
        let mut tx = self.pool().begin().await.map_err(q("journal intent"))?;
        if let Some(fence) = &self.fence {
            self.check_fence(fence, true, &mut tx).await?;
        }
        let id = sqlx::query_scalar(
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
        .fetch_one(&mut *tx)
        .await
        .map_err(q("journal intent"))?;
        crate::crash::point("intent-uncommitted");
        tx.commit().await.map_err(q("journal intent"))?;
        Ok(id)
    }

    /// Records the outcome of an intent.
    pub(crate) async fn set_action_outcome(
        &self,
        id: i64,
        outcome: &str,
        error: Option<&str>,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let mut tx = self.pool().begin().await.map_err(q("journal outcome"))?;
        if let Some(fence) = &self.fence {
            self.check_fence(fence, false, &mut tx).await?;
        }
        sqlx::query(
            "UPDATE actions SET outcome = $2, error = $3, attempts = $4, outcome_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(outcome)
        .bind(error)
        .bind(i64::from(attempts))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(q("journal outcome"))?;
        crate::crash::point("outcome-uncommitted");
        tx.commit().await.map_err(q("journal outcome"))?;
        Ok(())
    }

    /// Rows of a store with no outcome, oldest first.
    pub(crate) async fn open_action_rows(&self, store: &str) -> Result<Vec<ActionRow>, StateError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM actions WHERE store = $1 AND outcome IS NULL ORDER BY id"
        ))
        .bind(store)
        .fetch_all(self.pool())
        .await
        .map_err(q("read open intents"))
    }

    pub(crate) async fn action_row(&self, id: i64) -> Result<Option<ActionRow>, StateError> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM actions WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(q("read journal entry"))
    }

    /// The latest `action` on `client_id` that took effect before action `before`.
    pub(crate) async fn last_effective_action_before(
        &self,
        store: &str,
        client_id: &str,
        action: &str,
        before: i64,
    ) -> Result<Option<ActionRow>, StateError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM actions WHERE store = $1 AND client_id = $2 AND action = $3
             AND id < $4 AND outcome IN {TOOK_EFFECT} ORDER BY id DESC LIMIT 1"
        ))
        .bind(store)
        .bind(client_id)
        .bind(action)
        .bind(before)
        .fetch_optional(self.pool())
        .await
        .map_err(q("read journal entry"))
    }

    /// The most recent rows of a store, newest first.
    pub(crate) async fn recent_action_rows(
        &self,
        store: &str,
        limit: u32,
    ) -> Result<Vec<ActionRow>, StateError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM actions WHERE store = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(store)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(q("read recent actions"))
    }

    /// Quarantines and restores of a store that took effect, in journal order.
    pub(crate) async fn quarantine_events(
        &self,
        store: &str,
    ) -> Result<Vec<QuarantineEvent>, StateError> {
        sqlx::query_as(&format!(
            "SELECT client_id, action, outcome_at FROM actions
             WHERE store = $1 AND action IN ('quarantine', 'restore') AND outcome IN {TOOK_EFFECT}
             ORDER BY id"
        ))
        .bind(store)
        .fetch_all(self.pool())
        .await
        .map_err(q("read quarantines"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_list_of_outcomes_that_took_effect_is_the_enum_s() {
        let listed: Vec<String> = Outcome::ALL
            .into_iter()
            .filter(|o| o.took_effect())
            .map(|o| format!("'{}'", o.as_str()))
            .collect();
        assert_eq!(TOOK_EFFECT, format!("({})", listed.join(", ")));
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }
}
