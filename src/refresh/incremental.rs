//! Judging what changed (invariant 12), with the verdicts a full judgement would give, in
//! work proportional to the change: index ranges and the rows that changed, never a pass
//! over the store.
//!
//! A verdict reads the registration, the time, and families: its own family's creation
//! times near its own (the burst note) and, when its name is no known client's and its URIs
//! are on some site, what other families of the same name show (administrator members, a
//! catalog match, sites). So after a scan, the registrations to score again are:
//!
//! - the stale ones (the scan changed what a verdict reads),
//! - those whose time-dependent note is due,
//! - members of a family that gained or lost a creation time within the burst window of
//!   their own,
//! - members that look at same-name families, where what one of those families shows changed.
//!
//! Families are kept up to date by difference: each stale registration is taken out of the
//! family it was in (what it added then is stored with its verdict) and put into its new
//! one. Family aggregates do not depend on the order of their members, and what a removal
//! cannot undo by itself (the smallest catalog match, the kept sites, the first and last
//! creation) is counted again from the family's members through an index.

use super::judge::{
    cimd_evidence, family_row, judge_store, record, split_sites, stored_family, stored_member,
    Judgement,
};
use super::overlay::Overlay;
use crate::fetch::Cimd;
use crate::score::family::{
    Family, FamilyId, FamilyIndex, Member, Recount, BURST_MIN, BURST_WINDOW,
};
use crate::score::Scorer;
use crate::state::{State, StateError, VerdictRow};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Rows per page read.
const PAGE: u32 = 1000;
/// Registrations judged per read.
const TARGETS_PER_READ: usize = 1000;

/// Judges what changed since the last judgement, or everything when the scorer changed, no
/// judgement completed yet, or the stored families do not fit the registrations.
pub async fn judge_changes(
    state: &State,
    store: &str,
    scorer: &Scorer,
    now: DateTime<Utc>,
    cimd: Option<&Cimd>,
) -> Result<Judgement, StateError> {
    let fingerprint = scorer.fingerprint();
    if state.judged_with(store).await?.as_deref() != Some(fingerprint.as_str()) {
        return judge_store(state, store, scorer, now, None, cimd).await;
    }
    if !state.judging_due(store, now).await? {
        return Ok(Judgement {
            families: state.family_stats(store).await?,
            ..Judgement::default()
        });
    }
    match judge_incrementally(state, store, scorer, now, cimd).await? {
        Some(judgement) => Ok(judgement),
        None => {
            tracing::warn!(
                store,
                "stored families do not fit the registrations: judging in full"
            );
            judge_store(state, store, scorer, now, None, cimd).await
        }
    }
}

/// The stale registrations: what each added to its family at its last judgement, and what
/// it adds now (none when gone).
#[derive(Default)]
struct Stale {
    /// The greatest client_id marked stale when read.
    through: Option<String>,
    before: Vec<VerdictRow>,
    /// Client ids in `before` of registrations that are gone now.
    gone: HashSet<String>,
    fresh: HashMap<String, Member>,
}

impl Stale {
    async fn read(state: &State, store: &str, scorer: &Scorer) -> Result<Stale, StateError> {
        let mut out = Stale {
            through: state.last_marked(store).await?,
            ..Stale::default()
        };
        let mut after = String::new();
        loop {
            let (page, last) = state.stale_page(store, &after, PAGE).await?;
            let Some(last) = last else { break };
            after = last;
            for j in page {
                if j.stored.judged_flags.is_some() {
                    // Only what it added to its family is read again: not the reasons,
                    // which were most of what this held.
                    let reasons = String::new();
                    if j.gone {
                        out.gone.insert(j.stored.client_id.clone());
                    }
                    out.before.push(VerdictRow {
                        reasons,
                        ..j.stored
                    });
                }
                if !j.gone {
                    let m = scorer.member(&j.registration);
                    out.fresh.insert(j.registration.client_id, m);
                }
            }
        }
        Ok(out)
    }
}

/// Intervals `[t - w, t + w]` around `times`, merged where they overlap.
fn windows(mut times: Vec<i64>, w: i64) -> Vec<(i64, i64)> {
    times.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for t in times {
        match out.last_mut() {
            Some((_, hi)) if t - w <= *hi => *hi = t + w,
            _ => out.push((t - w, t + w)),
        }
    }
    out
}

/// The families an incremental judgement works with: the touched ones (those stale
/// registrations leave or join) as stored and as they are now, and any other it reads.
struct Families {
    index: FamilyIndex,
    before: HashMap<FamilyId, Family>,
    touched: BTreeSet<String>,
    /// Creation times that came (`true`) or went (`false`), per family.
    moved: HashMap<FamilyId, Vec<(i64, bool)>>,
}

async fn judge_incrementally(
    state: &State,
    store: &str,
    scorer: &Scorer,
    now: DateTime<Utc>,
    cimd: Option<&Cimd>,
) -> Result<Option<Judgement>, StateError> {
    state.set_judged_with(store, None).await?;
    let started = std::time::Instant::now();
    let mut phases: Vec<(&str, std::time::Duration)> = Vec::new();
    let mut phase = |name: &'static str| phases.push((name, started.elapsed()));
    let stale = Stale::read(state, store, scorer).await?;
    let overlay = Overlay::new(
        stale
            .before
            .iter()
            .filter(|v| !stale.gone.contains(&v.client_id)),
        &stale.fresh,
    );
    phase("stale read");
    let Some(mut families) = keep_families(state, store, &stale, &overlay).await? else {
        return Ok(None);
    };
    phase("families kept");
    let targets = find_targets(state, store, now, &stale, &families, &overlay).await?;
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    phase("targets found");
    if !read_families(state, store, &targets, &mut families, &overlay).await? {
        return Ok(None);
    }
    phase("families read");

    let mut out = Judgement::default();
    // Each read beside the writing of the verdicts before it (on SQLite, its read
    // connection): they are other registrations' rows.
    let mut chunks = targets.chunks(TARGETS_PER_READ);
    let mut page = match chunks.next() {
        Some(chunk) => state.live_by_id(store, chunk).await?,
        None => Vec::new(),
    };
    loop {
        let mut rows = Vec::new();
        let evidence = cimd_evidence(cimd, page.iter().map(|j| &j.registration)).await;
        for j in &page {
            let r = &j.registration;
            let v = scorer.judge_with(r, &families.index, now, evidence.get(&r.client_id));
            record(&mut out, &mut rows, j, &v, false);
        }
        let next = chunks.next();
        let read_next = async {
            match next {
                Some(chunk) => state.live_by_id(store, chunk).await.map(Some),
                None => Ok(None),
            }
        };
        match tokio::try_join!(state.store_verdicts(store, &rows), read_next)? {
            ((), Some(next)) => page = next,
            ((), None) => break,
        }
    }
    let gone: Vec<&str> = stale.gone.iter().map(String::as_str).collect();
    state.settle_gone_of(store, &gone).await?;
    // Every stale registration is judged: the marks read go.
    if let Some(last) = &stale.through {
        state.unmark_stale_through(store, last).await?;
    }
    phase("judged");

    store_families(state, store, &families).await?;
    state
        .set_judged_with(store, Some(&scorer.fingerprint()))
        .await?;
    out.families = state.family_stats(store).await?;
    phase("families stored");
    tracing::debug!(store, judged = out.judged, ?phases, "incremental judgement");
    Ok(Some(out))
}

/// Takes each stale registration out of the family it was in and puts it into its new one,
/// records what it adds now, and counts again what removals could not undo. `None` when the
/// stored families do not fit the registrations.
async fn keep_families(
    state: &State,
    store: &str,
    stale: &Stale,
    overlay: &Overlay<'_>,
) -> Result<Option<Families>, StateError> {
    let touched: BTreeSet<String> = stale
        .before
        .iter()
        .map(|v| v.family.clone())
        .chain(stale.fresh.values().map(|m| m.family.to_string()))
        .collect();
    let rows = {
        let ids: Vec<&str> = touched.iter().map(String::as_str).collect();
        state.families_by_id(store, &ids).await?
    };
    let mut f = Families {
        index: FamilyIndex::default(),
        before: HashMap::new(),
        touched,
        moved: HashMap::new(),
    };
    for row in rows {
        let Some((id, family)) = stored_family(&row) else {
            return Ok(None);
        };
        f.before.insert(id, family.clone());
        f.index.insert(id, family);
    }

    let mut recounts: HashMap<FamilyId, Recount> = HashMap::new();
    // Registrations that add the same as before (a later use of a used one) leave their
    // families as they were.
    let mut unchanged: HashSet<&str> = HashSet::new();
    let mut was_member: HashMap<&str, (FamilyId, Option<i64>)> = HashMap::new();
    for v in &stale.before {
        let name = v.family.parse().ok().and_then(|id| f.before.get(&id));
        let Some(old) = name.and_then(|fam| stored_member(v, fam.name.clone())) else {
            return Ok(None);
        };
        let now_there = stale.fresh.get(&v.client_id);
        if now_there == Some(&old) {
            unchanged.insert(v.client_id.as_str());
            continue;
        }
        was_member.insert(v.client_id.as_str(), (old.family, old.created));
        if now_there.map(|m| (m.family, m.created)) != Some((old.family, old.created)) {
            let went = old.created.map(|t| (t, false));
            f.moved.entry(old.family).or_default().extend(went);
        }
        let r = f.index.remove(&old);
        let e = recounts.entry(old.family).or_default();
        e.software |= r.software;
        e.sites |= r.sites;
        e.bounds |= r.bounds;
    }
    for (client_id, m) in &stale.fresh {
        if unchanged.contains(client_id.as_str()) {
            continue;
        }
        f.index.add(m);
        if was_member.get(client_id.as_str()) != Some(&(m.family, m.created)) {
            let came = m.created.map(|t| (t, true));
            f.moved.entry(m.family).or_default().extend(came);
        }
    }
    // What stale members add now is written with their verdicts: until then, members are
    // read through `overlay`.
    for (id, r) in recounts {
        let key = id.to_string();
        let Some(fam) = f.index.get_mut(&id) else {
            continue;
        };
        if r.software {
            let matches = overlay.software(state, store, &key).await?;
            fam.recount_software(matches.iter().map(String::as_str));
        }
        if r.sites {
            let sets: Vec<BTreeSet<String>> = overlay
                .sites(state, store, &key)
                .await?
                .iter()
                .map(|s| split_sites(Some(s)))
                .collect();
            fam.recount_sites(sets.iter());
        }
        if r.bounds {
            (fam.first_created, fam.last_created) = overlay.bounds(state, store, &key).await?;
        }
    }
    Ok(Some(f))
}

/// Whom to judge again: the stale, the due, burst neighbours of creation times that came or
/// went, and members that look at namesakes where what one of them shows changed.
async fn find_targets(
    state: &State,
    store: &str,
    now: DateTime<Utc>,
    stale: &Stale,
    f: &Families,
    overlay: &Overlay<'_>,
) -> Result<BTreeSet<String>, StateError> {
    let mut targets: BTreeSet<String> = stale.fresh.keys().cloned().collect();
    targets.extend(state.due(store, now.timestamp()).await?);
    for (id, moved) in &f.moved {
        if f.index.get(id).is_none() {
            continue;
        }
        targets.extend(burst_crossings(state, store, id, moved, overlay).await?);
    }
    fn shown(f: Option<&Family>) -> Option<(bool, bool, Vec<&str>)> {
        f.map(Family::seen_by_namesakes)
    }
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for key in &f.touched {
        let Ok(id) = key.parse::<FamilyId>() else {
            continue;
        };
        let (old, new) = (f.before.get(&id), f.index.get(&id));
        if shown(old) != shown(new) {
            names.extend(
                old.or(new)
                    .map(|f| f.name.as_str())
                    .filter(|n| !n.is_empty()),
            );
        }
    }
    if names.is_empty() {
        return Ok(targets);
    }
    let names: Vec<&str> = names.into_iter().collect();
    // Families with members that look (touched ones as they are now: their stored rows are
    // not written yet).
    let mut looked_at: BTreeSet<String> = BTreeSet::new();
    for row in state.families_named(store, &names).await? {
        if row.named > 0 && !f.touched.contains(&row.id) {
            looked_at.insert(row.id);
        }
    }
    looked_at.extend(
        f.index
            .iter()
            .filter(|(_, fam)| fam.named > 0 && names.contains(&fam.name.as_str()))
            .map(|(id, _)| id.to_string()),
    );
    let looked_at: Vec<&str> = looked_at.iter().map(String::as_str).collect();
    targets.extend(overlay.name_lookers(state, store, &looked_at).await?);
    Ok(targets)
}

/// Members of a family whose burst note a creation time that came or went turns on or off:
/// those within the window of one, whose count of members around them crosses the
/// threshold. Reads the family's creation times within two windows of each.
async fn burst_crossings(
    state: &State,
    store: &str,
    family: &FamilyId,
    moved: &[(i64, bool)],
    overlay: &Overlay<'_>,
) -> Result<Vec<String>, StateError> {
    let ranges = windows(moved.iter().map(|(t, _)| *t).collect(), 2 * BURST_WINDOW);
    let members = overlay
        .created_in(state, store, &family.to_string(), &ranges)
        .await?;
    let mut times: Vec<i64> = members.iter().map(|(_, t)| *t).collect();
    times.sort_unstable();
    let mut moved = moved.to_vec();
    moved.sort_unstable();
    let within = |sorted: &[i64], t: i64| {
        sorted.partition_point(|&x| x <= t + BURST_WINDOW)
            - sorted.partition_point(|&x| x < t - BURST_WINDOW)
    };
    let came: Vec<i64> = moved.iter().filter(|m| m.1).map(|m| m.0).collect();
    let went: Vec<i64> = moved.iter().filter(|m| !m.1).map(|m| m.0).collect();
    Ok(members
        .into_iter()
        .filter(|&(_, t)| {
            let (c, w) = (within(&came, t), within(&went, t));
            if c + w == 0 {
                return false;
            }
            let after = within(&times, t);
            let before = after + w - c;
            (before >= BURST_MIN) != (after >= BURST_MIN)
        })
        .map(|(client_id, _)| client_id)
        .collect())
}

/// Reads what the targets' verdicts read of families: their own (with the creation times
/// around theirs) and, for those that look at namesakes, every family of their name. False
/// when a stored family does not read back.
async fn read_families(
    state: &State,
    store: &str,
    targets: &[&str],
    f: &mut Families,
    overlay: &Overlay<'_>,
) -> Result<bool, StateError> {
    let mut around: HashMap<String, Vec<i64>> = HashMap::new();
    let mut need: BTreeSet<String> = BTreeSet::new();
    let mut looking: BTreeSet<String> = BTreeSet::new();
    for chunk in targets.chunks(TARGETS_PER_READ) {
        for m in overlay.members_of(state, store, chunk).await? {
            if let Some(t) = m.judged_created_at {
                around.entry(m.family.clone()).or_default().push(t);
            }
            if m.judged_flags & 1 != 0 {
                looking.insert(m.family.clone());
            }
            need.insert(m.family);
        }
    }
    // A touched family is as the index has it; one it no longer has lost its members.
    let missing: Vec<&str> = need
        .iter()
        .map(String::as_str)
        .filter(|k| !f.touched.contains(*k))
        .collect();
    let mut rows = state.families_by_id(store, &missing).await?;
    let names: BTreeSet<String> = looking
        .iter()
        .filter_map(|k| k.parse().ok())
        .filter_map(|id| f.index.get(&id).map(|fam| fam.name.clone()))
        .chain(
            rows.iter()
                .filter(|r| looking.contains(&r.id))
                .map(|r| r.name.clone()),
        )
        .filter(|n| !n.is_empty())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    rows.extend(state.families_named(store, &names).await?);
    for row in rows {
        let Some((id, family)) = stored_family(&row) else {
            return Ok(false);
        };
        if !f.touched.contains(&row.id) {
            f.index.insert(id, family);
        }
    }
    for (key, times) in around {
        let Ok(id) = key.parse::<FamilyId>() else {
            continue;
        };
        let ranges = windows(times, BURST_WINDOW);
        if let Some(fam) = f.index.get_mut(&id) {
            fam.created = overlay.times_in(state, store, &key, &ranges).await?;
        }
    }
    f.index.freeze();
    Ok(true)
}

/// Writes the touched families that changed, and removes those left without members.
async fn store_families(state: &State, store: &str, f: &Families) -> Result<(), StateError> {
    let (mut changed, mut removed) = (Vec::new(), Vec::new());
    for key in &f.touched {
        let Ok(id) = key.parse::<FamilyId>() else {
            continue;
        };
        match f.index.get(&id) {
            Some(fam) => {
                let row = family_row(&id, fam);
                if f.before.get(&id).map(|b| family_row(&id, b)).as_ref() != Some(&row) {
                    changed.push(row);
                }
            }
            None if f.before.contains_key(&id) => removed.push(key.as_str()),
            None => {}
        }
    }
    state.update_families(store, &changed, &removed).await
}
