//! Stale marks (invariant 12): the registrations whose facts changed since their verdict,
//! in `stale_registrations`. A mark is written before the write it marks, and taken away
//! after the verdict that answers it: a mark whose write never came costs one judgement
//! that changes nothing, whereas a write without its mark would leave a verdict unchanged
//! that should change.

use super::{q, State, StateError};

impl State {
    /// Marks these registrations stale (those already marked stay so).
    pub(crate) async fn mark_stale(&self, store: &str, ids: &[&str]) -> Result<(), StateError> {
        self.insert_ids(
            "stale_registrations",
            store,
            ids,
            "mark registrations stale",
        )
        .await
    }

    /// Marks stale those of `rows` (client_id, then `columns` more values each, as
    /// [`State::update_from_rows`] lays them out) that `when` holds for, the condition that
    /// statement is then given: so its rows are marked before it writes them.
    pub(super) fn mark_stale_from_rows(&self, columns: usize, when: &str, rows: usize) -> String {
        let (values, store) = self.values_rows(columns + 1, rows);
        format!(
            "INSERT INTO stale_registrations (store, client_id)
             SELECT registrations.store, registrations.client_id
             FROM (VALUES {values}) AS v
             JOIN registrations ON registrations.store = {store} AND registrations.client_id = v.column1
             WHERE {when}
             ON CONFLICT DO NOTHING"
        )
    }

    /// The greatest client_id marked stale (`None`: none is).
    pub async fn last_marked(&self, store: &str) -> Result<Option<String>, StateError> {
        sqlx::query_scalar("SELECT MAX(client_id) FROM stale_registrations WHERE store = $1")
            .bind(store)
            .fetch_one(self.pool())
            .await
            .map_err(q("read stale marks"))
    }

    /// Takes away the marks up to `last` ([`State::last_marked`] before the judgement that
    /// answered them), marks of registrations never written included. A range, not a list
    /// of ids: PostgreSQL planned `client_id = ANY(...)` here by statistics of the table
    /// taken while it filled, as a sequential scan comparing each mark with each id (a
    /// 1%-changed rescan of 1,000,000: 50 s in one run of four, 0.1 s in the others).
    pub async fn unmark_stale_through(&self, store: &str, last: &str) -> Result<(), StateError> {
        sqlx::query("DELETE FROM stale_registrations WHERE store = $1 AND client_id <= $2")
            .bind(store)
            .bind(last)
            .execute(self.pool())
            .await
            .map_err(q("clear stale marks"))?;
        Ok(())
    }

    /// Takes every mark of the store away: a full judgement judged all it had.
    pub async fn unmark_all_stale(&self, store: &str) -> Result<(), StateError> {
        sqlx::query("DELETE FROM stale_registrations WHERE store = $1")
            .bind(store)
            .execute(self.pool())
            .await
            .map_err(q("clear stale marks"))?;
        Ok(())
    }

    /// The store's stale registrations, by client_id.
    #[cfg(test)]
    pub(crate) async fn marked_stale(&self, store: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT client_id FROM stale_registrations WHERE store = $1 ORDER BY client_id",
        )
        .bind(store)
        .fetch_all(self.pool())
        .await
        .unwrap()
    }
}
