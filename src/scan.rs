//! One scan of one store: read in batches, normalize, record, follow usage, and (after a
//! complete full scan only) mark what was not seen as gone.

use crate::config::StoreConfig;
use crate::escape::esc;
use crate::model::Registration;
use crate::normalize::normalize;
use crate::source::{Source, SourceError};
use crate::state::{Recorded, ScanCounts, ScanKind, State, StateError, StoreCursor};
use chrono::Utc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Per-record warnings logged at `warn` per scan; the rest go to `debug` (all are counted).
const LOGGED_WARNINGS: u64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("scan stopped by shutdown")]
    Cancelled,
}

/// What a completed scan did.
#[derive(Debug, Clone)]
pub struct ScanReport {
    pub kind: ScanKind,
    pub counts: ScanCounts,
    pub duration: Duration,
}

/// Called after every batch with the records seen so far (for progress bars).
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Scans a store. An `Incremental` request becomes a full scan when the source cannot follow
/// changes or no full scan has completed yet.
pub async fn scan_store(
    state: &State,
    store: &StoreConfig,
    source: &Source,
    requested: ScanKind,
    cancel: &CancellationToken,
    progress: Progress<'_>,
) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    state
        .ensure_store(&store.name, store.kind.as_str(), Utc::now())
        .await?;
    let cursor = state.store_cursor(&store.name).await?;
    let kind = if !source.incremental() || cursor.last_full_scan_at.is_none() {
        ScanKind::Full
    } else {
        requested
    };
    let scan = state.begin_scan(&store.name, kind, Utc::now()).await?;
    let mut counts = ScanCounts::default();
    match run(
        state,
        store,
        source,
        kind,
        &cursor,
        scan,
        cancel,
        progress,
        &mut counts,
    )
    .await
    {
        Ok(()) => {
            let duration = started.elapsed();
            tracing::info!(
                store = %store.name, kind = kind.as_str(), seen = counts.seen, new = counts.new, changed = counts.changed,
                gone = counts.gone, warnings = counts.warnings, refused = counts.refused, seconds = duration.as_secs_f64(),
                "scan complete"
            );
            Ok(ScanReport {
                kind,
                counts,
                duration,
            })
        }
        Err(e) => {
            let note = if matches!(e, ScanError::Cancelled) {
                "interrupted by shutdown".to_owned()
            } else {
                e.to_string()
            };
            if let Err(se) = state.fail_scan(scan, counts, &note, Utc::now()).await {
                tracing::error!(store = %store.name, error = %se, "could not record the failed scan");
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: &State,
    store: &StoreConfig,
    source: &Source,
    kind: ScanKind,
    cursor: &StoreCursor,
    scan: i64,
    cancel: &CancellationToken,
    progress: Progress<'_>,
    counts: &mut ScanCounts,
) -> Result<(), ScanError> {
    // A full scan re-reads usage for every client; incremental usage follows on from here.
    let usage_mark = if kind == ScanKind::Full {
        source.usage_mark().await?
    } else {
        None
    };
    let mut pager = source.pager(kind, cursor).await?;
    while let Some(batch) = pager.next_batch().await? {
        if cancel.is_cancelled() {
            return Err(ScanError::Cancelled);
        }
        for refused in &batch.refused {
            counts.refused += 1;
            tracing::warn!(store = %store.name, at = %refused.locator, reason = %refused.reason, "record refused");
        }
        let mut recorded = Vec::with_capacity(batch.records.len());
        for rec in batch.records {
            match normalize(&rec.doc) {
                Ok(n) => {
                    let mut warnings = rec.warnings;
                    warnings.extend(n.warnings);
                    for w in &warnings {
                        counts.warnings += 1;
                        if counts.warnings <= LOGGED_WARNINGS {
                            tracing::warn!(store = %store.name, client_id = %esc(&n.client_id), warning = %w, "registration read with a warning");
                        } else {
                            tracing::debug!(store = %store.name, client_id = %esc(&n.client_id), warning = %w, "registration read with a warning");
                        }
                    }
                    let registration = Registration {
                        client_id: n.client_id,
                        metadata: n.metadata,
                        created_at: rec.created_at,
                        updated_at: rec.updated_at,
                        usage: rec.usage,
                        origin: rec.origin,
                    };
                    recorded.push(Recorded {
                        registration,
                        warnings,
                    });
                }
                Err(e) => {
                    counts.refused += 1;
                    tracing::warn!(store = %store.name, at = %rec.locator, reason = %e, "record refused");
                }
            }
        }
        let outcome = state
            .record_batch(&store.name, scan, Utc::now(), &recorded)
            .await?;
        counts.seen += recorded.len() as u64;
        counts.new += outcome.new.len() as u64;
        counts.changed += outcome.changed;
        progress(counts.seen + counts.refused);
    }
    let (updated_at, id) = pager.position();
    drop(pager);
    let mut next = StoreCursor {
        updated_at: updated_at.or_else(|| cursor.updated_at.clone()),
        id: id.or_else(|| cursor.id.clone()),
        usage: usage_mark.or_else(|| cursor.usage.clone()),
        ..Default::default()
    };
    match kind {
        ScanKind::Full => counts.gone = state.mark_gone(&store.name, scan, Utc::now()).await?,
        ScanKind::Incremental => {
            let (uses, mark) = source.usage_since(cursor.usage.as_deref()).await?;
            state.apply_usage(&store.name, &uses).await?;
            next.usage = mark.or(next.usage);
        }
    }
    if cancel.is_cancelled() {
        return Err(ScanError::Cancelled);
    }
    state
        .finish_scan(&store.name, scan, kind, *counts, &next, Utc::now())
        .await?;
    Ok(())
}
