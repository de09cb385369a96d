//! Judging a store: after a scan, every live registration is scored against the store's
//! families and its verdict stored; families are recomputed. Two passes over the state
//! database in pages, so memory holds the families, not the registrations.

use crate::score::family::FamilyIndex;
use crate::score::Scorer;
use crate::state::{FamilyRow, FamilyStats, State, StateError, VerdictRow};
use chrono::{DateTime, Utc};

/// What judging a store changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judgement {
    pub judged: u64,
    /// Verdicts that differ from the stored ones.
    pub changed: u64,
    pub families: FamilyStats,
}

pub async fn judge_store(
    state: &State,
    store: &str,
    scorer: &Scorer,
    now: DateTime<Utc>,
) -> Result<Judgement, StateError> {
    let mut families = FamilyIndex::default();
    let mut pages = state.live_pages(store);
    while let Some(page) = pages.next().await? {
        for j in &page {
            scorer.observe(&mut families, &j.registration);
        }
    }
    families.freeze();

    let mut out = Judgement::default();
    let mut pages = state.live_pages(store);
    while let Some(page) = pages.next().await? {
        let mut changed = Vec::new();
        for j in &page {
            let v = scorer.judge(&j.registration, &families, now);
            let row = VerdictRow {
                client_id: j.registration.client_id.clone(),
                band: v.band.as_str(),
                score: i64::from(v.score),
                reasons: serde_json::to_string(&v.reasons).unwrap_or_else(|_| "[]".into()),
                family: v.family.to_string(),
                software: v.software,
            };
            out.judged += 1;
            let same = j.band.as_deref() == Some(row.band)
                && j.score == Some(row.score)
                && j.reasons.as_deref() == Some(row.reasons.as_str())
                && j.family.as_deref() == Some(row.family.as_str())
                && j.software == row.software;
            if !same {
                changed.push(row);
            }
        }
        out.changed += changed.len() as u64;
        state.store_verdicts(store, &changed).await?;
    }

    let rows: Vec<FamilyRow> = families
        .iter()
        .map(|(id, f)| FamilyRow {
            id: id.to_string(),
            software: f.software.clone(),
            size: f.size as i64,
            used: f.used as i64,
            first_created_at: f.first_created,
            last_created_at: f.last_created,
        })
        .collect();
    state.replace_families(store, &rows).await?;
    out.families = state.family_stats(store).await?;
    Ok(out)
}
