//! The recording stage of a scan: each batch written to the state database and, in a full
//! scan, added to the store's families.

use crate::metrics::SOFTWARE_OTHER;
use crate::score::family::{FamilyIndex, Member};
use crate::score::Scorer;
use crate::state::{Recorded, ScanCounts, ScanKind, State, StateError, VerdictRow};
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A batch as the recorder takes it.
pub(super) struct Normalized {
    pub(super) recorded: Vec<Recorded>,
    /// What each registration adds to its family, for a full scan; its use and creation
    /// are those read, to be merged with what the state knows.
    pub(super) members: Option<Vec<Member>>,
    /// Each registration's verdict as given with no families, for a first scan.
    pub(super) verdicts: Option<Vec<VerdictRow>>,
}

impl Normalized {
    /// `part` after these. Parts of one scan come alike; were one without members or
    /// verdicts, the whole would go without (its registrations judged as any other).
    fn append(&mut self, part: Normalized) {
        self.recorded.extend(part.recorded);
        match (&mut self.members, part.members) {
            (Some(m), Some(more)) => m.extend(more),
            (m, _) => *m = None,
        }
        match (&mut self.verdicts, part.verdicts) {
            (Some(v), Some(more)) => v.extend(more),
            (v, _) => *v = None,
        }
    }
}

/// The writing half of a scan, on a task of its own: records each batch in the state
/// database and, in a full scan, adds what it recorded to the store's families.
pub(super) struct Recorder {
    pub(super) state: State,
    pub(super) scorer: Scorer,
    pub(super) store: String,
    pub(super) kind: ScanKind,
    pub(super) scan: i64,
    pub(super) families: Option<FamilyIndex>,
    /// Registrations added to `families`.
    pub(super) members: u64,
    /// Every registration it receives is new to the state.
    pub(super) all_new: bool,
    /// Seen, new and changed (the reading half counts the rest).
    pub(super) counts: ScanCounts,
    /// New registrations by catalog software (`other` for the rest).
    pub(super) new_by_software: BTreeMap<String, u64>,
    /// Time spent recording.
    pub(super) recording: Duration,
    /// Registrations gathered before a write (the store's batch size).
    pub(super) write_rows: usize,
}

impl Recorder {
    /// Records what it receives until the channel closes or a write fails; returns itself
    /// (what it counted so far) either way.
    pub(super) async fn run(
        mut self,
        mut batches: mpsc::Receiver<Normalized>,
    ) -> (Self, Result<(), StateError>) {
        let mut gathered: Option<Normalized> = None;
        loop {
            let part = batches.recv().await;
            let ready = match (&mut gathered, part) {
                (Some(g), Some(part)) => {
                    g.append(part);
                    g.recorded.len() >= self.write_rows
                }
                (None, Some(part)) => {
                    let full = part.recorded.len() >= self.write_rows;
                    gathered = Some(part);
                    full
                }
                (_, None) => true,
            };
            if !ready {
                continue;
            }
            let Some(batch) = gathered.take() else {
                return (self, Ok(()));
            };
            let started = Instant::now();
            let recorded = self.record(batch).await;
            self.recording += started.elapsed();
            if recorded.is_err() {
                return (self, recorded);
            }
        }
    }

    async fn record(&mut self, batch: Normalized) -> Result<(), StateError> {
        let Normalized {
            recorded,
            mut members,
            verdicts,
        } = batch;
        let (state, store, scan, now) = (&self.state, &self.store, self.scan, Utc::now());
        let verdicts = verdicts.as_deref();
        let outcome = if self.all_new {
            state
                .record_new_batch(store, scan, now, &recorded, verdicts)
                .await?
        } else {
            let touch = self.kind == ScanKind::Full;
            state
                .record_batch(store, scan, now, &recorded, touch, verdicts)
                .await?
        };
        self.counts.seen += recorded.len() as u64;
        self.counts.new += outcome.new.len() as u64;
        self.counts.changed += outcome.changed;
        let mut software_of_new = HashMap::new();
        if let (Some(families), Some(members)) = (&mut self.families, &mut members) {
            for &(i, used, created) in &outcome.recorded {
                // As the state now holds it: uses and creation times on record kept.
                let m = &mut members[i];
                (m.used, m.created) = (used, created);
                families.add(m);
                self.members += 1;
                software_of_new.insert(i, m.software.take());
            }
        }
        for &i in &outcome.new {
            let software = match software_of_new.remove(&i) {
                Some(s) => s,
                None => self.scorer.classify(&recorded[i].registration).1,
            };
            *self
                .new_by_software
                .entry(software.unwrap_or_else(|| SOFTWARE_OTHER.to_owned()))
                .or_default() += 1;
        }
        Ok(())
    }
}
