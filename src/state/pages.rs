//! The live registrations of a store, page by page in client_id order (keyset pagination):
//! memory holds one page, whatever the store holds.

use super::{Judged, State, StateError};

/// Rows per page.
const PAGE: u32 = 1000;

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
