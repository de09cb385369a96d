//! The live registrations of a store, page by page in client_id order (keyset pagination):
//! memory holds one page, whatever the store holds.

use super::json_rows::fetch_json_rows;
use super::{q, Contribution, Judged, State, StateError};

/// Rows per page.
pub const PAGE: u32 = 1000;

/// A cursor over a store's live registrations (owning its handle, so a task of its own can
/// read ahead).
pub struct LivePages {
    state: State,
    store: String,
    after: Option<String>,
    done: bool,
}

impl State {
    /// Every live registration of `store`, with its stored verdict, a page at a time.
    pub fn live_pages(&self, store: &str) -> LivePages {
        LivePages {
            state: self.clone(),
            store: store.to_owned(),
            after: None,
            done: false,
        }
    }
}

impl LivePages {
    /// The next page, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<Judged>>, StateError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .state
            .live_page(&self.store, self.after.as_deref(), PAGE)
            .await?;
        match page.last() {
            Some(last) => {
                self.after = Some(last.registration.client_id.clone());
                Ok(Some(page))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

/// What [`State::contribution_page`] reads of a row, in column order: client_id, family,
/// software, judged_created_at, judged_sites, judged_flags, reasons.
type ContributionColumns = (
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// A live registration as a full judgement after a first scan reads it.
#[derive(Debug, Clone)]
pub struct ContributionRow {
    pub client_id: String,
    /// What it adds to its family as last judged (`None` where it was not judged).
    pub contribution: Option<Contribution>,
    /// The reasons stored with its verdict, as JSON.
    pub reasons: String,
}

impl State {
    /// Up to `limit` live registrations after `after` (by client_id), each with what it
    /// adds to its family and its verdict's reasons: the narrow page a full judgement after a
    /// first scan reads.
    pub async fn contribution_page(
        &self,
        store: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<ContributionRow>, StateError> {
        let sql = self.json_rows_sql(
            &["client_id, family, software, judged_created_at, judged_sites, judged_flags, reasons"],
            "FROM registrations WHERE store = $1 AND gone_at IS NULL AND client_id > $2 ORDER BY client_id LIMIT $3",
            "client_id",
        );
        let query = sqlx::query(&sql)
            .bind(store)
            .bind(after)
            .bind(i64::from(limit));
        let rows: Vec<ContributionColumns> = fetch_json_rows(self.read_pool(), query)
            .await
            .map_err(q("read what registrations add to their families"))?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    client_id,
                    family,
                    software,
                    judged_created_at,
                    judged_sites,
                    judged_flags,
                    reasons,
                )| {
                    ContributionRow {
                        contribution: match (family, judged_flags) {
                            (Some(family), Some(judged_flags)) => Some(Contribution {
                                client_id: client_id.clone(),
                                family,
                                software,
                                judged_created_at,
                                judged_sites,
                                judged_flags,
                            }),
                            _ => None,
                        },
                        client_id,
                        reasons: reasons.unwrap_or_default(),
                    }
                },
            )
            .collect())
    }
}
