//! A full scan's pages on PostgreSQL, each read by `COPY` one page ahead of the scan: the
//! server makes the next page (its statement takes 5-6 ms of 1,000 rows, one heap page a
//! row) while regwarden makes records of this one. A first scan of 1,000,000 waited on the
//! server for about 8 s of its 17 s of reading. What is read ahead is the page's text, about
//! half a megabyte, not records.

use super::record::COLUMNS;
use super::{client_query, SourceError};
use crate::source::sql::pg_literal;
use crate::source::text_rows::TextRows;
use futures_util::TryStreamExt;
use sqlx::postgres::PgPoolCopyExt;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// The pages of a full scan in id order, from a task of their own (stopped when this is
/// dropped). One page waits read while the next is read; a failure ends the pages.
pub(super) struct CopyPages {
    pages: mpsc::Receiver<Result<TextRows, SourceError>>,
    _reader: AbortOnDropHandle<()>,
}

impl CopyPages {
    pub(super) fn start(copy: PgPool, nid: String, batch_size: u32) -> CopyPages {
        let (tx, pages) = mpsc::channel(1);
        let reader = tokio::spawn(async move {
            let mut after: Option<String> = None;
            // The text as it comes, one page at a time in the same buffer.
            let mut data = Vec::new();
            loop {
                let mut page =
                    read_page(&copy, &nid, batch_size, after.as_deref(), &mut data).await;
                // A short page is the last one.
                let mut last = None;
                if let Ok(rows) = &page {
                    if rows.len() == batch_size as usize {
                        last = rows.get(rows.len() - 1, 0).map(str::to_owned);
                        if last.is_none() {
                            // Never from Hydra's schema (the id is its key); were it, the
                            // scan would end here and take the rest for gone.
                            let e = sqlx::Error::Protocol("a page's last id is NULL".into());
                            page = Err(client_query(e));
                        }
                    }
                }
                // The scan stopped, or the page failed: no more.
                if tx.send(page).await.is_err() || last.is_none() {
                    return;
                }
                after = last;
            }
        });
        CopyPages {
            pages,
            _reader: AbortOnDropHandle::new(reader),
        }
    }

    /// The next page (empty after the last one).
    pub(super) async fn next(&mut self) -> Result<TextRows, SourceError> {
        match self.pages.recv().await {
            Some(page) => page,
            None => Ok(TextRows::new(COLUMNS.len())),
        }
    }
}

/// `COPY` takes no parameters: the values are written in, as literals.
fn page_copy(nid: &str, batch_size: u32, after_id: Option<&str>) -> String {
    let cols: Vec<String> = COLUMNS.iter().map(|c| format!("{c}::text")).collect();
    let after = after_id
        .map(|id| format!("AND id > {}", pg_literal(id)))
        .unwrap_or_default();
    format!(
        "COPY (SELECT {} FROM hydra_client WHERE nid = {}::uuid {after} ORDER BY id LIMIT {batch_size}) TO STDOUT",
        cols.join(", "),
        pg_literal(nid),
    )
}

async fn read_page(
    copy: &PgPool,
    nid: &str,
    batch_size: u32,
    after_id: Option<&str>,
    data: &mut Vec<u8>,
) -> Result<TextRows, SourceError> {
    let sql = page_copy(nid, batch_size, after_id);
    data.clear();
    let mut chunks = copy.copy_out_raw(&sql).await.map_err(client_query)?;
    while let Some(chunk) = chunks.try_next().await.map_err(client_query)? {
        data.extend_from_slice(&chunk);
    }
    let mut rows = TextRows::new(COLUMNS.len());
    rows.push_copy_lines(data)
        .map_err(|e| client_query(sqlx::Error::Protocol(e.to_string())))?;
    Ok(rows)
}
