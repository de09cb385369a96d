//! The refresh: one store taken from the authorization server to judged state. A scan reads
//! the store into the state database ([`scan`]), then every live registration is judged
//! against the store's families and the families are stored ([`judge`]; after a first scan,
//! which judged each registration as it read it, only the verdicts a family note changes are
//! written again). Commands, the
//! daemon, the demo and the tests all refresh through [`refresh`]; planning and acting take
//! its result.

pub mod incremental;
pub mod judge;
mod overlay;
mod recorder;
pub mod scan;

pub use incremental::judge_changes;
pub use judge::{judge_store, Judgement};
pub use scan::{no_progress, Progress, Scan, ScanError, ScanReport};

use crate::model::ScanKind;
use chrono::{DateTime, Utc};

/// What one refresh did: the scan, then the judgement.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub scan: ScanReport,
    pub judgement: Judgement,
}

/// Scans the store (`kind` as requested; an incremental request becomes full where the
/// source needs it) and judges it as of `now`. A scan that fails judges nothing.
pub async fn refresh(
    scan: &Scan<'_>,
    kind: ScanKind,
    now: DateTime<Utc>,
) -> Result<Refreshed, ScanError> {
    // SQLite's log is copied into the file on the other core while this writes.
    let beside = scan.state.checkpoints_beside();
    let scanned = scan.scan(kind, Some(now)).await?;
    let report = scanned.report;
    // A full scan judges everything (it refreshes what depends on the clock alone, such as an
    // expiring software statement); an incremental one what changed (invariant 12).
    let (state, store, scorer, cimd) = (scan.state, &scan.store.name, scan.scorer, scan.cimd);
    let judgement = match (report.kind, scanned.families) {
        (ScanKind::Full, Some(families)) if scanned.prejudged => {
            judge::judge_first(state, store, scorer, now, families, cimd).await?
        }
        (ScanKind::Full, families) => {
            judge_store(state, store, scorer, now, families, cimd).await?
        }
        (ScanKind::Incremental, _) => judge_changes(state, store, scorer, now, cimd).await?,
    };
    if let Some(beside) = beside {
        beside.stop().await;
    }
    // Everything is committed: a checkpoint that fails loses nothing (the log still holds
    // it, and the next one copies it).
    if let Err(e) = state.checkpoint().await {
        tracing::warn!(store, error = %e, "state database not checkpointed after the refresh");
    }
    Ok(Refreshed {
        scan: report,
        judgement,
    })
}

#[cfg(test)]
mod cimd_tests;
#[cfg(test)]
mod first_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod usage_tests;
