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
    flags, judge_store, record, split_sites, stored_family, stored_member, Judgement,
};
use crate::score::family::{Family, FamilyId, FamilyIndex, Member, Recount};
use crate::score::Scorer;
use crate::state::{Contribution, State, StateError, VerdictRow};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Rows per page read.
const PAGE: u32 = 1000;
/// Registrations judged per read.
const TARGETS_PER_READ: usize = 1000;
/// Seconds each side of a creation time that the burst note counts (the rules' window).
const BURST_WINDOW: i64 = 300;

/// Judges what changed since the last judgement, or everything when the scorer changed, no
/// judgement completed yet, or the stored families do not fit the registrations.
pub async fn judge_changes(
    state: &State,
    store: &str,
    scorer: &Scorer,
    now: DateTime<Utc>,
) -> Result<Judgement, StateError> {
    let fingerprint = scorer.fingerprint();
    if state.judged_with(store).await?.as_deref() != Some(fingerprint.as_str()) {
        return judge_store(state, store, scorer, now, None).await;
    }
    if !state.judging_due(store, now).await? {
        return Ok(Judgement {
            families: state.family_stats(store).await?,
            ..Judgement::default()
        });
    }
    match judge_incrementally(state, store, scorer, now).await? {
        Some(judgement) => Ok(judgement),
        None => {
            tracing::warn!(
                store,
                "stored families do not fit the registrations: judging in full"
            );
            judge_store(state, store, scorer, now, None).await
        }
    }
}

/// The stale registrations: what each added to its family at its last judgement, and what
/// it adds now (none when gone).
#[derive(Default)]
struct Stale {
    before: Vec<VerdictRow>,
    fresh: HashMap<String, Member>,
}

impl Stale {
    async fn read(state: &State, store: &str, scorer: &Scorer) -> Result<Stale, StateError> {
        let mut out = Stale::default();
        let mut after = String::new();
        loop {
            let page = state.stale_page(store, &after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.registration.client_id.clone();
            for j in page {
                if j.stored.judged_flags.is_some() {
                    out.before.push(j.stored);
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

async fn judge_incrementally(
    state: &State,
    store: &str,
    scorer: &Scorer,
    now: DateTime<Utc>,
) -> Result<Option<Judgement>, StateError> {
    state.set_judged_with(store, None).await?;
    let started = std::time::Instant::now();
    let mut phases: Vec<(&str, std::time::Duration)> = Vec::new();
    let mut phase = |name: &'static str| phases.push((name, started.elapsed()));
    let stale = Stale::read(state, store, scorer).await?;
    phase("stale read");

    // The families the stale registrations leave or join, as stored.
    let touched: BTreeSet<String> = stale
        .before
        .iter()
        .map(|v| v.family.clone())
        .chain(stale.fresh.values().map(|m| m.family.to_string()))
        .collect();
    let ids: Vec<&str> = touched.iter().map(String::as_str).collect();
    let mut index = FamilyIndex::default();
    let mut before: HashMap<FamilyId, Family> = HashMap::new();
    for row in state.families_by_id(store, &ids).await? {
        let Some((id, family)) = stored_family(&row) else {
            return Ok(None);
        };
        before.insert(id, family.clone());
        index.insert(id, family);
    }

    // Out of the old families, into the new ones; creation times that came or went.
    let mut recounts: HashMap<FamilyId, Recount> = HashMap::new();
    let mut moved: HashMap<FamilyId, Vec<i64>> = HashMap::new();
    // Registrations that add the same as before (a later use of a used one) leave their
    // families as they were.
    let mut unchanged: HashSet<&str> = HashSet::new();
    let mut was_member: HashMap<&str, (FamilyId, Option<i64>)> = HashMap::new();
    for v in &stale.before {
        let name = v.family.parse().ok().and_then(|id| before.get(&id));
        let Some(old) = name.and_then(|f| stored_member(v, f.name.clone())) else {
            return Ok(None);
        };
        let now_there = stale.fresh.get(&v.client_id);
        if now_there == Some(&old) {
            unchanged.insert(v.client_id.as_str());
            continue;
        }
        was_member.insert(v.client_id.as_str(), (old.family, old.created));
        if now_there.map(|m| (m.family, m.created)) != Some((old.family, old.created)) {
            moved.entry(old.family).or_default().extend(old.created);
        }
        let r = index.remove(&old);
        let e = recounts.entry(old.family).or_default();
        e.software |= r.software;
        e.sites |= r.sites;
        e.bounds |= r.bounds;
    }
    let mut contributions = Vec::with_capacity(stale.fresh.len());
    for (client_id, m) in &stale.fresh {
        if unchanged.contains(client_id.as_str()) {
            continue;
        }
        index.add(m);
        if was_member.get(client_id.as_str()) != Some(&(m.family, m.created)) {
            moved.entry(m.family).or_default().extend(m.created);
        }
        contributions.push(Contribution {
            client_id: client_id.clone(),
            family: m.family.to_string(),
            software: m.software.clone(),
            judged_created_at: m.created,
            judged_sites: super::judge::join_sites(m.sites.iter()),
            judged_flags: flags(m),
        });
    }
    // From here on the stored columns of every live member say what it adds now.
    state.write_contributions(store, &contributions).await?;
    for (id, r) in recounts {
        let key = id.to_string();
        let Some(f) = index.get_mut(&id) else {
            continue;
        };
        if r.software {
            let matches = state.family_software(store, &key).await?;
            f.recount_software(matches.iter().map(String::as_str));
        }
        if r.sites {
            let sets: Vec<BTreeSet<String>> = state
                .family_sites(store, &key)
                .await?
                .iter()
                .map(|s| split_sites(Some(s)))
                .collect();
            f.recount_sites(sets.iter());
        }
        if r.bounds {
            (f.first_created, f.last_created) = state.family_bounds(store, &key).await?;
        }
    }

    phase("families kept");
    // Whom to judge again.
    let mut targets: BTreeSet<String> = stale.fresh.keys().cloned().collect();
    targets.extend(state.due(store, now.timestamp()).await?);
    for (id, times) in moved {
        if index.get(&id).is_none() {
            continue;
        }
        let ranges = windows(times, BURST_WINDOW);
        let near = state
            .family_created_in(store, &id.to_string(), &ranges)
            .await?;
        targets.extend(near.into_iter().map(|(client_id, _)| client_id));
    }
    fn shown(f: Option<&Family>) -> Option<(bool, bool, Vec<&str>)> {
        f.map(Family::seen_by_namesakes)
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for key in &touched {
        let Ok(id) = key.parse::<FamilyId>() else {
            continue;
        };
        let (old, new) = (before.get(&id), index.get(&id));
        if shown(old) != shown(new) {
            names.extend(
                old.or(new)
                    .map(|f| f.name.clone())
                    .filter(|n| !n.is_empty()),
            );
        }
    }
    if !names.is_empty() {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        // Families with members that look (touched ones as they are now: their stored rows
        // are not written yet).
        let mut looked_at: BTreeSet<String> = BTreeSet::new();
        for row in state.families_named(store, &names).await? {
            if row.named > 0 && !touched.contains(&row.id) {
                looked_at.insert(row.id);
            }
        }
        looked_at.extend(
            index
                .iter()
                .filter(|(_, f)| f.named > 0 && names.contains(&f.name.as_str()))
                .map(|(id, _)| id.to_string()),
        );
        let looked_at: Vec<&str> = looked_at.iter().map(String::as_str).collect();
        targets.extend(state.name_lookers(store, &looked_at).await?);
    }

    phase("targets found");
    // The families the targets read: their own (creation times around theirs) and, for
    // those that look at namesakes, every family of their name.
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let mut around: HashMap<String, Vec<i64>> = HashMap::new();
    let mut need: BTreeSet<String> = BTreeSet::new();
    let mut their_names: BTreeSet<String> = BTreeSet::new();
    for chunk in targets.chunks(TARGETS_PER_READ) {
        for m in state.members_of(store, chunk).await? {
            if let Some(t) = m.judged_created_at {
                around.entry(m.family.clone()).or_default().push(t);
            }
            if m.judged_flags & 1 != 0 {
                their_names.insert(m.family.clone());
            }
            need.insert(m.family);
        }
    }
    phase("targets' members read");
    let missing: Vec<&str> = need
        .iter()
        .map(String::as_str)
        .filter(|k| !touched.contains(*k))
        .collect();
    for row in state.families_by_id(store, &missing).await? {
        let Some((id, family)) = stored_family(&row) else {
            return Ok(None);
        };
        index.insert(id, family);
    }
    let names: BTreeSet<String> = their_names
        .iter()
        .filter_map(|k| k.parse().ok().and_then(|id| index.get(&id)))
        .map(|f| f.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for row in state.families_named(store, &names).await? {
        let Some((id, family)) = stored_family(&row) else {
            return Ok(None);
        };
        // A touched family is as the index has it; one it no longer has lost its members.
        if !touched.contains(&row.id) {
            index.insert(id, family);
        }
    }
    phase("namesakes read");
    for (key, times) in around {
        let Ok(id) = key.parse::<FamilyId>() else {
            continue;
        };
        let ranges = windows(times, BURST_WINDOW);
        let near = state.family_created_in(store, &key, &ranges).await?;
        if let Some(f) = index.get_mut(&id) {
            f.created = near.into_iter().map(|(_, t)| t).collect();
        }
    }
    index.freeze();
    phase("families read");

    let mut out = Judgement::default();
    for chunk in targets.chunks(TARGETS_PER_READ) {
        let mut rows = Vec::new();
        for j in state.live_by_id(store, chunk).await? {
            let v = scorer.judge(&j.registration, &index, now);
            record(&mut out, &mut rows, &j, &v);
        }
        state.store_verdicts(store, &rows).await?;
    }
    state.settle_gone(store).await?;
    phase("judged");

    let (mut changed, mut removed) = (Vec::new(), Vec::new());
    for key in &touched {
        let Ok(id) = key.parse::<FamilyId>() else {
            continue;
        };
        match index.get(&id) {
            Some(f) => {
                let row = super::judge::family_row(&id, f);
                let old = before.get(&id).map(|b| super::judge::family_row(&id, b));
                if old.as_ref() != Some(&row) {
                    changed.push(row);
                }
            }
            None if before.contains_key(&id) => removed.push(key.as_str()),
            None => {}
        }
    }
    state.update_families(store, &changed, &removed).await?;
    state
        .set_judged_with(store, Some(&scorer.fingerprint()))
        .await?;
    out.families = state.family_stats(store).await?;
    phase("families stored");
    tracing::debug!(store, judged = out.judged, ?phases, "incremental judgement");
    Ok(Some(out))
}
