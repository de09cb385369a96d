//! Live registrations streamed row by row, for exports (`report --format csv`).

use super::{q, State, StateError};
use futures_util::{Stream, TryStreamExt};

/// A live registration as exported: times in Unix seconds.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ExportRow {
    pub client_id: String,
    pub client_name: Option<String>,
    pub origin: String,
    pub created_at: Option<i64>,
    pub usage: String,
    pub last_used_at: Option<i64>,
    pub first_seen_at: i64,
    pub band: Option<String>,
}

impl State {
    /// Every live registration of a store by client_id, one row at a time (memory stays
    /// bounded whatever the store's size).
    pub fn export_rows<'a>(
        &'a self,
        store: &'a str,
    ) -> impl Stream<Item = Result<ExportRow, StateError>> + 'a {
        sqlx::query_as(
            "SELECT client_id, client_name, origin, created_at, usage, last_used_at, first_seen_at, band
             FROM registrations WHERE store = $1 AND gone_at IS NULL ORDER BY client_id",
        )
        .bind(store)
        .fetch(self.pool())
        .map_err(|e| q("read registrations")(e))
    }
}
