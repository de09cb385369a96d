//! One scan of one store: read in batches, normalize, score, record, follow usage, and
//! (after a complete full scan only) mark what was not seen as gone. Verdicts and families
//! are recomputed afterwards by [`super::judge`]; a first scan stores each registration's
//! verdict as given with no families, which the judgement after it completes.

use super::judge::{cimd_evidence, verdict_row};
use super::recorder::{Normalized, Recorder};
use crate::config::StoreConfig;
use crate::escape::esc;
use crate::score::family::FamilyIndex;
use crate::score::{CimdEvidence, Scorer};
use crate::source::{Pager, Source, SourceError, SourceRecord};
use crate::state::{Recorded, ScanCounts, ScanKind, State, StateError, StoreCursor};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Per-record warnings logged at `warn` per scan; the rest go to `debug` (all are counted).
const LOGGED_WARNINGS: u64 = 20;

/// Registrations a stage of a scan takes at a time: a quarter of a default batch, so what is
/// in flight between the stages stays small whatever the batch size (about 5 MB in batches
/// of 1,000 with a part waiting between stages, by `heaptrack`). The recording stage gathers
/// a batch's worth again before it writes (one statement a batch).
const STAGE_ROWS: usize = 250;

/// Parts that may wait between two stages. The stages' times vary from part to part (a
/// batch written, a page of the store read): with one place, each stage waited for the next
/// more often. 1,000,000 clients into SQLite state, alternated: the reading 15.0 s with
/// four places against 16.0 s with one (peak RSS 60 MB against 57).
const STAGE_PLACES: usize = 4;

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
    /// New registrations by catalog software (`other` for the rest).
    pub new_by_software: BTreeMap<String, u64>,
}

/// Called after every batch with the records read so far, refused ones included (for progress bars).
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Everything one scan works with.
pub struct Scan<'a> {
    pub state: &'a State,
    pub store: &'a StoreConfig,
    pub source: &'a Source,
    pub scorer: &'a Scorer,
    /// Fetches CIMD clients' metadata documents for the judgement (`[fetch] enabled`).
    pub cimd: Option<&'a crate::fetch::Cimd>,
    pub cancel: &'a CancellationToken,
    pub progress: Progress<'a>,
}

/// How long to wait after reading `read` rows in `elapsed` so as to stay at `limit` rows a
/// second on average.
fn pace(read: u64, limit: u32, elapsed: Duration) -> Duration {
    Duration::from_secs_f64(read as f64 / f64::from(limit)).saturating_sub(elapsed)
}

/// Progress callback that does nothing.
pub fn no_progress(_: u64) {}

/// What a scan did, and what it leaves the judgement.
pub(super) struct Scanned {
    pub report: ScanReport,
    /// The store's families, after a complete full scan.
    pub families: Option<FamilyIndex>,
    /// Every live registration's verdict is stored as given with no families (a first scan
    /// with families built: see [`super::judge::judge_first`]).
    pub prejudged: bool,
}

impl Scan<'_> {
    /// Runs the scan. An `Incremental` request becomes a full scan when the source cannot
    /// follow changes or no full scan has completed yet. A complete full scan also returns
    /// the store's families, built from what it recorded (the full judgement then need not
    /// read the store again for them).
    pub async fn run(
        &self,
        requested: ScanKind,
    ) -> Result<(ScanReport, Option<FamilyIndex>), ScanError> {
        let scanned = self.scan(requested, None).await?;
        Ok((scanned.report, scanned.families))
    }

    /// As [`Scan::run`]. With `judge_at`, a first scan (the state knows none of the
    /// store's registrations) judges each one as of then, as if it had no family, and
    /// stores the verdict with the registration: one write each, and the full judgement
    /// after it re-judges only those a family note speaks of.
    pub(super) async fn scan(
        &self,
        requested: ScanKind,
        judge_at: Option<DateTime<Utc>>,
    ) -> Result<Scanned, ScanError> {
        let started = Instant::now();
        let name = self.store.name.as_str();
        self.state
            .ensure_store(name, self.store.kind.as_str(), Utc::now())
            .await?;
        let cursor = self.state.store_cursor(name).await?;
        let kind = if !self.source.incremental() || cursor.last_full_scan_at.is_none() {
            ScanKind::Full
        } else {
            requested
        };
        let scan = self.state.begin_scan(name, kind, Utc::now()).await?;
        let mut report = ScanReport {
            kind,
            counts: ScanCounts::default(),
            duration: Duration::ZERO,
            new_by_software: BTreeMap::new(),
        };
        match self.read(kind, &cursor, scan, judge_at, &mut report).await {
            Ok((families, prejudged)) => {
                report.duration = started.elapsed();
                let c = report.counts;
                tracing::info!(
                    store = %name, kind = kind.as_str(), seen = c.seen, new = c.new, changed = c.changed, gone = c.gone,
                    warnings = c.warnings, refused = c.refused, seconds = report.duration.as_secs_f64(), "scan complete"
                );
                Ok(Scanned {
                    report,
                    families,
                    prejudged,
                })
            }
            Err(e) => {
                let note = if matches!(e, ScanError::Cancelled) {
                    "interrupted by shutdown".to_owned()
                } else {
                    e.to_string()
                };
                if let Err(se) = self
                    .state
                    .fail_scan(scan, report.counts, &note, Utc::now())
                    .await
                {
                    tracing::error!(store = %name, error = %se, "could not record the failed scan");
                }
                Err(e)
            }
        }
    }

    async fn read(
        &self,
        kind: ScanKind,
        cursor: &StoreCursor,
        scan: i64,
        judge_at: Option<DateTime<Utc>>,
        report: &mut ScanReport,
    ) -> Result<(Option<FamilyIndex>, bool), ScanError> {
        let (state, name) = (self.state, self.store.name.as_str());
        let prejudge = match judge_at {
            Some(now) if kind == ScanKind::Full && state.knows_none(name).await? => {
                // Until the judgement after this scan completes, no verdict stands (nor do
                // the indexes only incremental judgements read: they are built after).
                state.set_judged_with(name, None).await?;
                state.drop_judging_indexes().await?;
                Some(now)
            }
            _ => None,
        };
        // A full scan re-reads usage for every client; incremental usage follows on from here.
        let usage_mark = if kind == ScanKind::Full {
            self.source.usage_mark().await?
        } else {
            None
        };
        let mut pager = self.source.pager(kind, cursor).await?;
        let reading = Instant::now();
        // Three stages, each a task: this one reads and normalizes, the next scores (what
        // each registration adds to its family, or its verdict) and the last records. The
        // authorization server's database, the state database and both cores work at once (a
        // few parts in flight between stages: memory stays flat).
        let (batches, read) = mpsc::channel(STAGE_PLACES);
        let (scored, received) = mpsc::channel(STAGE_PLACES);
        let full = kind == ScanKind::Full;
        let scorer = tokio::spawn(score_batches(
            self.scorer.clone(),
            full,
            prejudge,
            read,
            scored,
        ));
        let recorder = tokio::spawn(
            Recorder {
                state: state.clone(),
                scorer: self.scorer.clone(),
                store: name.to_owned(),
                kind,
                scan,
                // A full scan records every live registration once: their families come with it.
                families: full.then(FamilyIndex::default),
                // A first scan of a source that reads each client_id once knows none of them.
                all_new: prejudge.is_some() && self.source.unique_ids(),
                members: 0,
                counts: ScanCounts::default(),
                new_by_software: BTreeMap::new(),
                recording: Duration::ZERO,
                write_rows: self.store.batch_size as usize,
            }
            .run(received),
        );
        // An incremental scan follows usage on from where the last one stopped: its uses are
        // read first and recorded beside the batches (the writer has room between theirs).
        // Those of registrations this scan finds new change nothing (an update finds no row,
        // or an upsert that never moves usage back): their last uses are looked up when
        // their batch is read, after this.
        let uses = match kind {
            ScanKind::Incremental => Some(self.source.usage_since(cursor.usage.as_deref()).await?),
            ScanKind::Full => None,
        };
        let uses_read = reading.elapsed();
        let follow = async {
            let Some((uses, mark)) = uses else {
                return Ok(None);
            };
            // A use moving forward is a change of the registration's facts.
            let moved = state.apply_usage(name, &uses).await?;
            Ok::<_, StateError>(Some((moved, mark, reading.elapsed())))
        };
        let (fed, followed) = tokio::join!(
            self.feed(&mut pager, &batches, prejudge.is_some(), &mut report.counts),
            follow
        );
        drop(batches);
        finished(scorer).await;
        let (recorder, recorded) = finished(recorder).await;
        let Recorder {
            mut families,
            members,
            counts: written,
            new_by_software,
            recording,
            ..
        } = recorder;
        // Counted even when the scan fails part way: its record says how far it got.
        report.new_by_software = new_by_software;
        let counts = &mut report.counts;
        counts.seen += written.seen;
        counts.new += written.new;
        counts.changed += written.changed;
        recorded?;
        let read = fed?;
        let followed = followed?;
        let (updated_at, id) = pager.position();
        drop(pager);
        // Cumulative times, logged at debug: where an incremental scan spends its time.
        let mut phases: Vec<(&str, Duration)> =
            vec![("recording", recording), ("read", reading.elapsed())];
        let mut reached = StoreCursor {
            updated_at: updated_at.or_else(|| cursor.updated_at.clone()),
            id: id.or_else(|| cursor.id.clone()),
            usage: usage_mark.or_else(|| cursor.usage.clone()),
            ..Default::default()
        };
        match kind {
            ScanKind::Full => {
                counts.gone = state.mark_gone(name, scan, Utc::now()).await?;
                phases.push(("gone marked", reading.elapsed()));
                // A client_id read in two batches (JSON Lines allows it) would count twice:
                // then the judgement builds the families itself.
                if state.live_count(name).await? != members {
                    families = None;
                }
            }
            ScanKind::Incremental => {
                if let Some((moved, mark, recorded_at)) = followed {
                    phases.extend([("usage read", uses_read), ("usage recorded", recorded_at)]);
                    counts.changed += moved;
                    reached.usage = mark.or(reached.usage);
                }
            }
        }
        if self.cancel.is_cancelled() {
            return Err(ScanError::Cancelled);
        }
        state
            .finish_scan(name, scan, kind, *counts, &reached, Utc::now())
            .await?;
        phases.push(("finished", reading.elapsed()));
        tracing::debug!(store = %name, kind = kind.as_str(), read, ?phases, "scan phases");
        if let Some(f) = &mut families {
            f.freeze();
        }
        let prejudged = prejudge.is_some() && families.is_some();
        Ok((families, prejudged))
    }

    /// Reads the store batch by batch, normalizes each and hands it on to be scored; with
    /// `evidence`, fetches CIMD clients' metadata documents for their verdicts first. Counts
    /// what was refused and warned about. Returns the records read (refused included). Stops
    /// early, without error, when the next stage has stopped (the recorder's error is the
    /// scan's).
    async fn feed(
        &self,
        pager: &mut Pager<'_>,
        batches: &mpsc::Sender<Read>,
        evidence: bool,
        counts: &mut ScanCounts,
    ) -> Result<u64, ScanError> {
        let name = self.store.name.as_str();
        let reading = Instant::now();
        let mut read = 0u64;
        while let Some(mut batch) = pager.next_batch().await? {
            if self.cancel.is_cancelled() {
                return Err(ScanError::Cancelled);
            }
            // Usage the state has is not looked up again: the usage follow brings what came
            // since. (A client deleted and created again with its client_id keeps what its
            // state row has until the next full scan.)
            if batch.uses_pending {
                let ids: Vec<&str> = batch.records.iter().filter_map(|r| r.client_id()).collect();
                let known = self.state.known_among(name, &ids).await?;
                pager.look_up_uses(&mut batch, &known).await?;
            }
            read += (batch.records.len() + batch.refused.len()) as u64;
            if let Some(limit) = self.store.rows_per_second {
                tokio::time::sleep(pace(read, limit, reading.elapsed())).await;
            }
            for refused in &batch.refused {
                counts.refused += 1;
                tracing::warn!(store = %name, at = %refused.locator, reason = %refused.reason, "record refused");
            }
            // On in parts of `STAGE_ROWS`, each made only when the next stage has a place
            // for it: no stage holds a part it cannot pass on, and what is in flight stays
            // small however far the reading runs ahead.
            let mut records = batch.records.into_iter();
            loop {
                let part: Vec<SourceRecord> = records.by_ref().take(STAGE_ROWS).collect();
                if part.is_empty() {
                    break;
                }
                let Ok(place) = batches.reserve().await else {
                    return Ok(read);
                };
                let recorded = normalized(name, part, counts);
                let evidence = match evidence {
                    true => {
                        cimd_evidence(self.cimd, recorded.iter().map(|r| &r.registration)).await
                    }
                    false => HashMap::new(),
                };
                place.send(Read { recorded, evidence });
            }
            (self.progress)(read);
        }
        Ok(read)
    }
}

/// Records as registrations, each with the warnings its normalization gave; those the
/// normalization refused are counted and logged, and left out.
fn normalized(name: &str, records: Vec<SourceRecord>, counts: &mut ScanCounts) -> Vec<Recorded> {
    let mut recorded = Vec::with_capacity(records.len());
    for rec in records {
        let locator = rec.locator.clone();
        match rec.into_registration() {
            Ok((registration, warnings)) => {
                for w in &warnings {
                    counts.warnings += 1;
                    let id = esc(&registration.client_id);
                    if counts.warnings <= LOGGED_WARNINGS {
                        tracing::warn!(store = %name, client_id = %id, warning = %w, "registration read with a warning");
                    } else {
                        tracing::debug!(store = %name, client_id = %id, warning = %w, "registration read with a warning");
                    }
                }
                recorded.push(Recorded {
                    registration,
                    warnings,
                });
            }
            Err(e) => {
                counts.refused += 1;
                tracing::warn!(store = %name, at = %locator, reason = %e, "record refused");
            }
        }
    }
    recorded
}

/// A batch as read and normalized.
struct Read {
    recorded: Vec<Recorded>,
    /// What fetching CIMD clients' metadata documents showed, by client_id, for a first scan.
    evidence: HashMap<String, CimdEvidence>,
}

/// The scoring stage of a scan: for a full scan, what each registration adds to its
/// family; with `prejudge` (a first scan), its verdict as given with no families, as of then.
/// Stops when either neighbour does.
async fn score_batches(
    scorer: Scorer,
    members: bool,
    prejudge: Option<DateTime<Utc>>,
    mut read: mpsc::Receiver<Read>,
    scored: mpsc::Sender<Normalized>,
) {
    let no_families = FamilyIndex::default();
    loop {
        // As the reading stage does: a place for the result before taking a batch.
        let Ok(place) = scored.reserve().await else {
            break;
        };
        let Some(Read { recorded, evidence }) = read.recv().await else {
            break;
        };
        let (members, verdicts) = match prejudge {
            Some(now) => {
                let (members, verdicts) = recorded
                    .iter()
                    .map(|r| {
                        let r = &r.registration;
                        let v = scorer.judge_with(r, &no_families, now, evidence.get(&r.client_id));
                        (v.member.clone(), verdict_row(&r.client_id, &v))
                    })
                    .unzip();
                (Some(members), Some(verdicts))
            }
            None => {
                let member = |r: &Recorded| scorer.member(&r.registration);
                (members.then(|| recorded.iter().map(member).collect()), None)
            }
        };
        let batch = Normalized {
            recorded,
            members,
            verdicts,
        };
        place.send(batch);
    }
}

/// What a task of the refresh returned (its panic goes on).
pub(super) async fn finished<T>(task: JoinHandle<T>) -> T {
    match task.await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::pace;
    use std::time::Duration;

    #[test]
    fn reads_are_paced_to_the_limit() {
        // 1,000 rows at 500 a second take two seconds: one second in, wait one more.
        assert_eq!(
            pace(1000, 500, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        // Already slower than the limit: no wait.
        assert_eq!(pace(1000, 500, Duration::from_secs(3)), Duration::ZERO);
    }
}
