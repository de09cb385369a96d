//! Judging what changed (invariant 12), with the verdicts a full judgement would give.
//!
//! A verdict reads the registration, the time, and its family index: its own family's
//! creation times near its own (the burst note) and, when its name is no known client's and
//! its URIs are on some site, what other families of the same name show (administrator
//! members, a catalog match, sites). So after a scan, the registrations to score again are:
//!
//! - the stale ones (the scan changed what a verdict reads),
//! - those whose time-dependent note is due,
//! - members of a family that gained or lost a creation time within the burst window of
//!   their own (every member, when the family keeps more times than it holds),
//! - members that look at same-name families, where what those families show changed.
//!
//! Families are folded again from what every registration added to its family, stored with
//! its verdict (a narrow read: no metadata is parsed), in the order a full judgement adds
//! them, so they come out the same. A judgement that finds the stored families inconsistent
//! with the registrations judges in full instead.

use super::judge::{family_row, judge_store, record, Judgement};
use crate::score::family::{Family, FamilyId, FamilyIndex, Member};
use crate::score::Scorer;
use crate::state::{FamilyRow, FoldRow, State, StateError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Rows per page read.
const PAGE: u32 = 2000;
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
        return judge_store(state, store, scorer, now).await;
    }
    if !state.judging_due(store, now).await? {
        return Ok(Judgement {
            families: state.family_stats(store).await?,
            ..Judgement::default()
        });
    }
    match judge_incrementally(state, store, scorer, now).await? {
        Some(judgement) => Ok(judgement),
        None => judge_store(state, store, scorer, now).await,
    }
}

/// What the stale registrations change: their new contributions, the families they leave
/// or join, and the creation times that come and go per family.
#[derive(Default)]
struct Changes {
    fresh: HashMap<String, Member>,
    touched: HashSet<FamilyId>,
    times: HashMap<FamilyId, Vec<i64>>,
    arrivals: HashMap<FamilyId, u64>,
}

impl Changes {
    async fn read(state: &State, store: &str, scorer: &Scorer) -> Result<Changes, StateError> {
        let mut c = Changes::default();
        let mut after = String::new();
        loop {
            let page = state.stale_page(store, &after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.registration.client_id.clone();
            for j in page {
                let s = &j.stored;
                // A member of a family at the last judgement: what it added then.
                let old = s
                    .judged_named
                    .and(s.family.parse::<FamilyId>().ok())
                    .map(|f| (f, s.judged_created_at));
                let new = (!j.gone).then(|| scorer.member(&j.registration));
                if let Some((f, _)) = old {
                    c.touched.insert(f);
                }
                if let Some(m) = &new {
                    c.touched.insert(m.family);
                    *c.arrivals.entry(m.family).or_default() += 1;
                }
                let new_place = new.as_ref().map(|m| (m.family, m.created));
                if old != new_place {
                    for (f, t) in old.into_iter().chain(new_place) {
                        if let Some(t) = t {
                            c.times.entry(f).or_default().push(t);
                        }
                    }
                }
                if let Some(m) = new {
                    c.fresh.insert(j.registration.client_id, m);
                }
            }
        }
        for t in c.times.values_mut() {
            t.sort_unstable();
        }
        Ok(c)
    }

    /// Whether a creation time came or went within the burst window of `t` in family `f`.
    fn near(&self, f: &FamilyId, t: Option<i64>) -> bool {
        let (Some(times), Some(t)) = (self.times.get(f), t) else {
            return false;
        };
        let i = times.partition_point(|&x| x < t - BURST_WINDOW);
        times.get(i).is_some_and(|&x| x <= t + BURST_WINDOW)
    }
}

/// What a member of a same-name family reads of the families of one name.
type NameView<'a> = BTreeMap<FamilyId, (bool, bool, &'a str)>;

async fn judge_incrementally(
    state: &State,
    store: &str,
    scorer: &Scorer,
    now: DateTime<Utc>,
) -> Result<Option<Judgement>, StateError> {
    state.set_judged_with(store, None).await?;
    let mut old: HashMap<FamilyId, FamilyRow> = HashMap::new();
    for f in state.families(store).await? {
        let Ok(id) = f.id.parse() else {
            return Ok(None);
        };
        old.insert(id, f);
    }
    let changes = Changes::read(state, store, scorer).await?;

    // Families whose every member is judged again: they keep only some creation times.
    let whole: HashSet<FamilyId> = changes
        .touched
        .iter()
        .filter(|f| {
            let before = old.get(f).map_or(0, |r| r.size.max(0) as u64);
            let bound = before + changes.arrivals.get(f).copied().unwrap_or(0);
            Family::oversized_at(before) || Family::oversized_at(bound)
        })
        .copied()
        .collect();
    // Names whose families may show their namesakes something else now.
    let names: HashSet<&str> = changes
        .touched
        .iter()
        .filter_map(|f| old.get(f).map(|r| r.name.as_str()))
        .chain(changes.fresh.values().map(|m| m.name.as_str()))
        .filter(|n| !n.is_empty())
        .collect();

    // The fold, in client_id order as a full judgement adds members.
    let now_s = now.timestamp();
    let mut index = FamilyIndex::default();
    let mut targets: BTreeSet<String> = BTreeSet::new();
    let mut lookers: Vec<(String, String)> = Vec::new();
    let mut after = String::new();
    loop {
        let page = state.fold_page(store, &after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.client_id.clone();
        for row in page {
            let member = if row.stale != 0 {
                match changes.fresh.get(&row.client_id) {
                    Some(m) => m.clone(),
                    // Stale since the changes were read: judge everything instead.
                    None => return Ok(None),
                }
            } else {
                match stored_member(&row, &old) {
                    Some(m) => m,
                    None => return Ok(None),
                }
            };
            index.add(&member);
            let f = member.family;
            if row.stale != 0
                || row.due_at.is_some_and(|d| d <= now_s)
                || whole.contains(&f)
                || changes.near(&f, member.created)
            {
                targets.insert(row.client_id);
            } else if member.named && names.contains(member.name.as_str()) {
                lookers.push((row.client_id, member.name));
            }
        }
    }
    index.freeze();

    // Names whose families show something else: their lookers are judged again.
    let mut moved_names = HashSet::new();
    for name in &names {
        let before: NameView = old
            .iter()
            .filter(|(_, r)| r.name == *name)
            .map(|(id, r)| {
                let sites = r.sites.as_deref().unwrap_or("");
                (*id, (r.admin > 0, r.software.is_none(), sites))
            })
            .collect();
        let sites: Vec<(FamilyId, String)> = index
            .with_name(name)
            .map(|(id, f)| {
                (
                    id,
                    super::judge::join_sites(f.sites.iter()).unwrap_or_default(),
                )
            })
            .collect();
        let after: NameView = index
            .with_name(name)
            .zip(&sites)
            .map(|((id, f), (_, s))| (id, (f.admin > 0, f.software.is_none(), s.as_str())))
            .collect();
        if before != after {
            moved_names.insert(*name);
        }
    }
    targets.extend(
        lookers
            .into_iter()
            .filter(|(_, name)| moved_names.contains(name.as_str()))
            .map(|(id, _)| id),
    );

    let mut out = Judgement::default();
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    for chunk in targets.chunks(TARGETS_PER_READ) {
        let mut rows = Vec::new();
        for j in state.live_by_id(store, chunk).await? {
            let v = scorer.judge(&j.registration, &index, now);
            record(&mut out, &mut rows, &j, &v);
        }
        state.store_verdicts(store, &rows).await?;
    }
    state.settle_gone(store).await?;

    let mut changed = Vec::new();
    for (id, f) in index.iter() {
        let row = family_row(id, f);
        if old.remove(id).as_ref() != Some(&row) {
            changed.push(row);
        }
    }
    let removed: Vec<&str> = old.values().map(|r| r.id.as_str()).collect();
    state.update_families(store, &changed, &removed).await?;
    state
        .set_judged_with(store, Some(&scorer.fingerprint()))
        .await?;
    out.families = state.family_stats(store).await?;
    Ok(Some(out))
}

/// What a registration not stale added to its family, from its stored columns; `None` when
/// they do not fit the stored families.
fn stored_member(row: &FoldRow, families: &HashMap<FamilyId, FamilyRow>) -> Option<Member> {
    let family: FamilyId = row.family.as_deref()?.parse().ok()?;
    let named = row.judged_named?;
    Some(Member {
        family,
        name: families.get(&family)?.name.clone(),
        software: row.software.clone(),
        used: row.usage == "used",
        admin: row.origin == crate::model::Origin::Admin.as_str(),
        created: row.created_at,
        sites: row
            .judged_sites
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        named: named != 0,
    })
}
