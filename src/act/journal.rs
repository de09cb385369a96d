//! The action journal in the state database: an intent (with the registration's full
//! snapshot) written before each admin call, its outcome after. Its statements are in
//! `state::journal`; here are its outcomes, its entries and what they add up to.

use crate::state::{from_ts, ActionRow, State, StateError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

pub use crate::state::{Intent, Outcome};

/// Outcomes as journaled.

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

impl From<ActionRow> for JournalEntry {
    fn from(r: ActionRow) -> JournalEntry {
        JournalEntry {
            id: r.id,
            store: r.store,
            client_id: r.client_id,
            action: r.action,
            mode: r.mode,
            reason: r.reason,
            snapshot: r.snapshot,
            intent_at: from_ts(Some(r.intent_at)).unwrap_or_default(),
            outcome: r.outcome,
            outcome_at: from_ts(r.outcome_at),
            error: r.error,
            attempts: r.attempts,
        }
    }
}

impl State {
    /// Writes an intent and returns its action id.
    pub async fn journal_intent(
        &self,
        i: &Intent<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StateError> {
        self.insert_intent(i, now).await
    }

    /// Records the outcome of an intent.
    pub async fn journal_outcome(
        &self,
        id: i64,
        outcome: Outcome,
        error: Option<&str>,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.set_action_outcome(id, outcome.as_str(), error, attempts, now)
            .await
    }

    /// Intents of a store with no outcome (a process stopped between the two).
    pub async fn open_intents(&self, store: &str) -> Result<Vec<JournalEntry>, StateError> {
        Ok(entries(self.open_action_rows(store).await?))
    }

    pub async fn journal_entry(&self, id: i64) -> Result<Option<JournalEntry>, StateError> {
        Ok(self.action_row(id).await?.map(JournalEntry::from))
    }

    /// The latest `action` on `client_id` that took effect before action `before`.
    pub async fn last_done_before(
        &self,
        store: &str,
        client_id: &str,
        action: &str,
        before: i64,
    ) -> Result<Option<JournalEntry>, StateError> {
        Ok(self
            .last_effective_action_before(store, client_id, action, before)
            .await?
            .map(JournalEntry::from))
    }

    /// The most recent entries of a store, newest first.
    pub async fn recent_actions(
        &self,
        store: &str,
        limit: u32,
    ) -> Result<Vec<JournalEntry>, StateError> {
        Ok(entries(self.recent_action_rows(store, limit).await?))
    }

    /// Clients of a store under a quarantine that took effect, and since when (the latest
    /// quarantine after which no restore was journaled).
    pub async fn quarantined(
        &self,
        store: &str,
    ) -> Result<HashMap<String, DateTime<Utc>>, StateError> {
        let mut out = HashMap::new();
        for e in self.quarantine_events(store).await? {
            match (e.action.as_str(), from_ts(e.outcome_at)) {
                ("quarantine", Some(at)) => {
                    out.insert(e.client_id, at);
                }
                _ => {
                    out.remove(&e.client_id);
                }
            }
        }
        Ok(out)
    }
}

fn entries(rows: Vec<ActionRow>) -> Vec<JournalEntry> {
    rows.into_iter().map(JournalEntry::from).collect()
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
            .journal_outcome(q1, Outcome::Done, None, 1, at(10))
            .await
            .unwrap();
        state
            .journal_outcome(q2, Outcome::Error, Some("HTTP 500"), 4, at(11))
            .await
            .unwrap();
        state
            .journal_outcome(q3, Outcome::ReconciledDone, None, 1, at(12))
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
            .journal_outcome(r, Outcome::Done, None, 1, at(21))
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
