//! Judging a store in full: every live registration is scored against the store's families
//! and its verdict stored; families are recomputed. Two passes over the state database in
//! pages, so memory holds the families, not the registrations. A full scan judges in full,
//! and so does any judgement after the scorer changed (or one that never finished); other
//! judgements re-score only what changed ([`super::incremental`]).

use super::scan::finished;
use crate::fetch::{Cimd, CimdError};
use crate::model::{Band, Origin, Registration};
use crate::score::family::{Family, FamilyId, FamilyIndex, Member};
use crate::score::{CimdEvidence, Scorer, Verdict};
use crate::state::{
    Contribution, FamilyRow, FamilyStats, Judged, State, StateError, StoredReason, VerdictRow,
    VerdictWrite, PAGE,
};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio::sync::mpsc;

/// What judging a store changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Registrations scored.
    pub judged: u64,
    /// Verdicts that differ from the stored ones.
    pub changed: u64,
    /// Whether every live registration was scored (not only what changed).
    pub full: bool,
    pub families: FamilyStats,
}

/// Judges every live registration. `families`, when a complete full scan built them from
/// what it recorded, spare the first pass. With `cimd`, CIMD clients' metadata documents are
/// fetched (or taken from its cache) before their page is judged.
pub async fn judge_store(
    state: &State,
    store: &str,
    scorer: &Scorer,
    now: DateTime<Utc>,
    families: Option<FamilyIndex>,
    cimd: Option<&Cimd>,
) -> Result<Judgement, StateError> {
    begun(state, store, scorer).await?;
    let started = std::time::Instant::now();
    let families = match families {
        Some(f) => f,
        None => {
            let mut families = FamilyIndex::default();
            let mut pages = state.live_pages(store);
            while let Some(page) = pages.next().await? {
                for j in &page {
                    scorer.observe(&mut families, &j.registration);
                }
            }
            families.freeze();
            families
        }
    };
    let folded = started.elapsed();

    let mut out = Judgement {
        full: true,
        ..Judgement::default()
    };
    // Pages are read ahead and verdicts written behind by tasks of their own, so that this
    // one scores while the state database reads and writes (a page in flight each way).
    let (pages_tx, mut pages_rx) = mpsc::channel(1);
    let reader = tokio::spawn({
        let mut pages = state.live_pages(store);
        async move {
            while let Some(page) = pages.next().await? {
                if pages_tx.send(page).await.is_err() {
                    break;
                }
            }
            Ok(())
        }
    });
    let (rows_tx, writer) = write_behind(state, store);
    while let Some(page) = pages_rx.recv().await {
        let mut rows = Vec::new();
        let evidence = cimd_evidence(cimd, page.iter().map(|j| &j.registration)).await;
        for j in &page {
            let r = &j.registration;
            let v = scorer.judge_with(r, &families, now, evidence.get(&r.client_id));
            record(&mut out, &mut rows, j, &v, true);
        }
        // A writer that failed has stopped receiving: its error is returned below.
        if rows_tx.send(rows).await.is_err() {
            break;
        }
    }
    drop((pages_rx, rows_tx));
    finished(reader).await?;
    finished(writer).await?;
    state.settle_gone(store).await?;
    let judged = started.elapsed();

    let rows: Vec<FamilyRow> = families.iter().map(|(id, f)| family_row(id, f)).collect();
    state.replace_families(store, &rows).await?;
    let stored = started.elapsed();
    state.build_judging_indexes().await?;
    tracing::debug!(
        store,
        families = ?folded,
        verdicts = ?(judged - folded),
        stored = ?(stored - judged),
        indexed = ?(started.elapsed() - stored),
        "full judgement"
    );
    concluded(state, store, scorer, out).await
}

/// Judges every live registration after a first scan that stored each one's verdict as
/// given with no families ([`super::scan::Scanned::prejudged`]), and built `families`. A
/// verdict given with the families differs from that only by its family notes, which depend
/// on what the registration adds to its family alone ([`Scorer::family_notes`]), and follows
/// from it ([`Scorer::with_family`]): so this pass reads those narrow columns and the stored
/// reasons, and rewrites only the verdicts a note speaks of. A row that does not read back
/// is judged again whole, as [`judge_store`] would. The same verdicts as [`judge_store`]'s,
/// for a fraction of the reads and writes.
pub(super) async fn judge_first(
    state: &State,
    store: &str,
    scorer: &Scorer,
    now: DateTime<Utc>,
    families: FamilyIndex,
    cimd: Option<&Cimd>,
) -> Result<Judgement, StateError> {
    begun(state, store, scorer).await?;
    let started = std::time::Instant::now();
    let mut out = Judgement {
        full: true,
        ..Judgement::default()
    };
    // Pages read ahead and verdicts written behind, as in `judge_store`.
    let (pages_tx, mut pages_rx) = mpsc::channel(1);
    let reader = tokio::spawn({
        let (state, store) = (state.clone(), store.to_owned());
        async move {
            let mut after = String::new();
            loop {
                let page = state.contribution_page(&store, &after, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.client_id.clone();
                if pages_tx.send(page).await.is_err() {
                    break;
                }
            }
            Ok(())
        }
    });
    let (rows_tx, writer) = write_behind(state, store);
    let (mut noted, mut whole) = (0u64, 0u64);
    while let Some(page) = pages_rx.recv().await {
        // Every verdict is new: the scan found every registration new.
        out.judged += page.len() as u64;
        out.changed += page.len() as u64;
        let mut rows = Vec::new();
        let mut again = Vec::new();
        for row in &page {
            let Some((c, member)) = row
                .contribution
                .as_ref()
                .and_then(|c| Some((c, contributed(c)?)))
            else {
                again.push(row.client_id.as_str());
                continue;
            };
            if !scorer.family_notes(&member, &families) {
                continue;
            }
            noted += 1;
            match with_family(scorer, &row.reasons, &member, &families) {
                Some((score, band, reasons)) => rows.push(VerdictWrite {
                    row: VerdictRow {
                        client_id: row.client_id.clone(),
                        band: band.as_str(),
                        score: i64::from(score),
                        reasons,
                        family: c.family.clone(),
                        software: c.software.clone(),
                        due_at: None,
                        judged_created_at: c.judged_created_at,
                        judged_sites: c.judged_sites.clone(),
                        judged_flags: Some(c.judged_flags),
                    },
                    // Neither differs from what the scan stored: not written.
                    due: false,
                    contribution: false,
                }),
                None => again.push(row.client_id.as_str()),
            }
        }
        if !again.is_empty() {
            whole += again.len() as u64;
            let regs = state.live_by_id(store, &again).await?;
            let evidence = cimd_evidence(cimd, regs.iter().map(|j| &j.registration)).await;
            rows.extend(regs.iter().map(|j| {
                let r = &j.registration;
                let v = scorer.judge_with(r, &families, now, evidence.get(&r.client_id));
                VerdictWrite::whole(verdict_row(&r.client_id, &v))
            }));
        }
        // A writer that failed has stopped receiving: its error is returned below.
        if rows_tx.send(rows).await.is_err() {
            break;
        }
    }
    drop((pages_rx, rows_tx));
    finished(reader).await?;
    finished(writer).await?;
    let judged = started.elapsed();
    let rows: Vec<FamilyRow> = families.iter().map(|(id, f)| family_row(id, f)).collect();
    state.replace_families(store, &rows).await?;
    state.build_judging_indexes().await?;
    tracing::debug!(
        store,
        judged = out.judged,
        noted,
        whole,
        verdicts = ?judged,
        stored = ?(started.elapsed() - judged),
        "full judgement after a first scan"
    );
    concluded(state, store, scorer, out).await
}

/// [`Scorer::with_family`] over reasons stored as JSON, as they are stored again; `None`
/// when they do not read back.
fn with_family(
    scorer: &Scorer,
    stored: &str,
    member: &Member,
    families: &FamilyIndex,
) -> Option<(i32, Band, String)> {
    let stored: Vec<StoredReason> = serde_json::from_str(stored).ok()?;
    let alone = stored
        .iter()
        .map(|x| {
            Some((
                x.rule.as_str(),
                i32::try_from(x.points).ok()?,
                x.detail.as_str(),
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    let (score, band, reasons) = scorer.with_family(&alone, member, families)?;
    Some((score, band, serde_json::to_string(&reasons).ok()?))
}

/// What a registration added to its family, from its stored contribution; `None` when the
/// columns do not read back.
fn contributed(c: &Contribution) -> Option<Member> {
    Some(Member {
        family: c.family.parse().ok()?,
        name: String::new(),
        software: c.software.clone(),
        used: c.judged_flags & 2 != 0,
        admin: c.judged_flags & 4 != 0,
        created: c.judged_created_at,
        sites: split_sites(c.judged_sites.as_deref()),
        named: c.judged_flags & 1 != 0,
    })
}

/// A full judgement's start: no verdict of the store stands until [`concluded`], and the
/// table has statistics. A first scan just filled it, and autovacuum may not have analyzed
/// it yet: without them, PostgreSQL planned the page reads and verdict writes badly (at
/// 100,000: 12–16 s and 12–15 s, against 1.2 s and 5 s after an ANALYZE of 1 s). Where
/// verdicts may change wholesale (another scorer gave them, or none stands), the indexes
/// only incremental judgements read are dropped, to be built at the end. On SQLite, after a
/// complete judgement by this scorer few verdicts change (a reconcile), and building them
/// again cost more than keeping them (1,000,000 clients: 4.3–5.9 s). PostgreSQL's are built
/// again as before: a reconcile's scan has just written every row anew, and indexes built
/// afresh hold none of the old versions (keeping them there was not measured to gain).
async fn begun(state: &State, store: &str, scorer: &Scorer) -> Result<(), StateError> {
    let same = state.judged_with(store).await?.as_deref() == Some(scorer.fingerprint().as_str());
    state.set_judged_with(store, None).await?;
    if !(same && state.is_sqlite()) {
        state.drop_judging_indexes().await?;
    }
    state.refresh_statistics().await
}

/// A full judgement's end: no registration marked stale, the store marked judged by
/// `scorer`, the table vacuumed with fresh planner statistics, and the family figures in
/// `out`.
async fn concluded(
    state: &State,
    store: &str,
    scorer: &Scorer,
    mut out: Judgement,
) -> Result<Judgement, StateError> {
    // Every registration was judged: what was stale is no longer.
    state.unmark_all_stale(store).await?;
    state
        .set_judged_with(store, Some(&scorer.fingerprint()))
        .await?;
    state.vacuum_after_judgement().await?;
    out.families = state.family_stats(store).await?;
    Ok(out)
}

/// A task that stores the verdicts sent to it, a batch at a time (one in flight), until
/// the sender is dropped or a write fails (then it stops receiving and returns the error).
fn write_behind(
    state: &State,
    store: &str,
) -> (
    mpsc::Sender<Vec<VerdictWrite>>,
    tokio::task::JoinHandle<Result<(), StateError>>,
) {
    let (rows_tx, mut rows_rx) = mpsc::channel::<Vec<VerdictWrite>>(1);
    let (state, store) = (state.clone(), store.to_owned());
    let writer = tokio::spawn(async move {
        while let Some(rows) = rows_rx.recv().await {
            state.store_verdicts(&store, &rows).await?;
        }
        Ok(())
    });
    (rows_tx, writer)
}

/// What fetching the metadata documents of the CIMD clients among `regs` showed, by
/// client_id (fetched concurrently, as many at once as the client allows). A refused or
/// failed fetch is no evidence either way: the registration is judged as if not fetched, and
/// so is one not done within the page's budget ([`Cimd::page_budget`]).
pub(super) async fn cimd_evidence<'a>(
    cimd: Option<&Cimd>,
    regs: impl Iterator<Item = &'a Registration>,
) -> HashMap<String, CimdEvidence> {
    let Some(cimd) = cimd else {
        return HashMap::new();
    };
    let deadline = tokio::time::Instant::now() + cimd.page_budget();
    let checks = regs
        .filter(|r| r.origin == Origin::Cimd && r.client_id.starts_with("https://"))
        .map(|r| async move {
            let check = cimd.check(&r.client_id, Some(&r.metadata));
            (r, tokio::time::timeout_at(deadline, check).await)
        });
    let mut out = HashMap::new();
    for (r, checked) in futures_util::future::join_all(checks).await {
        let evidence = match checked {
            Ok(Ok(_)) => CimdEvidence::Verified,
            Ok(Err(CimdError::Mismatch(why))) => CimdEvidence::Mismatch(why),
            Err(_) => {
                tracing::debug!(client_id = %crate::escape::esc(&r.client_id), "CIMD fetch not done within the page's budget");
                continue;
            }
            Ok(Err(e)) => {
                tracing::debug!(client_id = %crate::escape::esc(&r.client_id), error = %e, "no CIMD evidence");
                continue;
            }
        };
        out.insert(r.client_id.clone(), evidence);
    }
    out
}

/// Counts a verdict and queues its row when it or the registration's contribution differs
/// from what is stored (a stale mark is taken away apart). `whole`: the row is written
/// whole (a full judgement, which drops the indexes a narrower write spares, and writes
/// pages in key order), not only what differs.
pub(super) fn record(
    out: &mut Judgement,
    rows: &mut Vec<VerdictWrite>,
    j: &Judged,
    v: &Verdict,
    whole: bool,
) {
    let row = verdict_row(&j.registration.client_id, v);
    out.judged += 1;
    let s = &j.stored;
    let verdict_same = s.band == row.band
        && s.score == row.score
        && s.reasons == row.reasons
        && s.family == row.family
        && s.software == row.software;
    out.changed += u64::from(!verdict_same);
    if row != *s {
        rows.push(if whole {
            VerdictWrite::whole(row)
        } else {
            VerdictWrite::over(row, s)
        });
    }
}

pub(super) fn verdict_row(client_id: &str, v: &Verdict) -> VerdictRow {
    let m = &v.member;
    VerdictRow {
        client_id: client_id.to_owned(),
        band: v.band.as_str(),
        score: i64::from(v.score),
        reasons: serde_json::to_string(&v.reasons).unwrap_or_else(|_| "[]".into()),
        family: v.family.to_string(),
        software: v.software.clone(),
        due_at: v.due,
        judged_created_at: m.created,
        judged_sites: join_sites(m.sites.iter()),
        judged_flags: Some(flags(m)),
    }
}

/// A member's flags as stored in `registrations.judged_flags`.
pub(super) fn flags(m: &Member) -> i64 {
    i64::from(m.named) | i64::from(m.used) << 1 | i64::from(m.admin) << 2
}

/// What a registration added to its family when last judged, from its stored columns; `None`
/// when it was no member (never judged, or gone) or the columns do not read back.
pub(super) fn stored_member(stored: &VerdictRow, name: String) -> Option<Member> {
    let flags = stored.judged_flags?;
    Some(Member {
        family: stored.family.parse().ok()?,
        name,
        software: stored.software.clone(),
        used: flags & 2 != 0,
        admin: flags & 4 != 0,
        created: stored.judged_created_at,
        sites: split_sites(stored.judged_sites.as_deref()),
        named: flags & 1 != 0,
    })
}

pub(super) fn split_sites(s: Option<&str>) -> BTreeSet<String> {
    s.unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Sites as stored: space-separated (a host holds no space), none as NULL.
pub(super) fn join_sites<'a>(sites: impl Iterator<Item = &'a String>) -> Option<String> {
    let joined = sites.map(String::as_str).collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then_some(joined)
}

pub(super) fn family_row(id: &FamilyId, f: &Family) -> FamilyRow {
    let sites: Vec<String> = f.sites.iter().map(|(s, n)| format!("{s}={n}")).collect();
    FamilyRow {
        id: id.to_string(),
        name: f.name.clone(),
        software: f.software.clone(),
        software_members: f.software_members as i64,
        size: f.size as i64,
        used: f.used as i64,
        admin: f.admin as i64,
        named: f.named as i64,
        first_created_at: f.first_created,
        last_created_at: f.last_created,
        sites: (!sites.is_empty()).then(|| sites.join(" ")),
        sites_overflow: f.sites_overflow,
    }
}

/// A family as stored (no creation times: those are read where needed); `None` when the row
/// does not read back.
pub(super) fn stored_family(r: &FamilyRow) -> Option<(FamilyId, Family)> {
    let count = |n: i64| u64::try_from(n).ok();
    let mut sites = BTreeMap::new();
    for pair in r
        .sites
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
    {
        let (site, n) = pair.rsplit_once('=')?;
        sites.insert(site.to_owned(), n.parse().ok()?);
    }
    let family = Family {
        name: r.name.clone(),
        software: r.software.clone(),
        software_members: count(r.software_members)?,
        size: count(r.size)?,
        used: count(r.used)?,
        admin: count(r.admin)?,
        named: count(r.named)?,
        first_created: r.first_created_at,
        last_created: r.last_created_at,
        sites,
        sites_overflow: r.sites_overflow,
        created: Vec::new(),
    };
    Some((r.id.parse().ok()?, family))
}
