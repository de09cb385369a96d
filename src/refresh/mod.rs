//! The refresh: one store taken from the authorization server to judged state. A scan reads
//! the store into the state database ([`scan`]), then every live registration is judged
//! against the store's families and the families are stored ([`judge`]). Commands, the
//! daemon, the demo and the tests all refresh through [`refresh`]; planning and acting take
//! its result.

pub mod judge;
pub mod scan;

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
    let report = scan.run(kind).await?;
    let c = report.counts;
    // An incremental scan that changed nothing leaves every verdict as it was (invariant 12):
    // judging needs new facts. (Full scans always judge: the verdicts' time-dependent notes
    // refresh then, and a store without modification times cannot say what changed.)
    let unchanged = report.kind == ScanKind::Incremental && c.new + c.changed + c.gone == 0;
    let judgement = if unchanged {
        Judgement {
            families: scan.state.family_stats(&scan.store.name).await?,
            ..Judgement::default()
        }
    } else {
        judge_store(scan.state, &scan.store.name, scan.scorer, now).await?
    };
    Ok(Refreshed {
        scan: report,
        judgement,
    })
}
