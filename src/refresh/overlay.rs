//! Families as an incremental judgement reads them from the state database, with the stale
//! registrations' new contributions laid over their stored ones.
//!
//! A stale registration's new contribution (what it adds to its family now) is written with
//! its verdict, in one write of its row: written before the judgement, as it was, each
//! such row was rewritten twice (at 1,000,000 clients and 1% changed, 9,000 rows: 0.23 s of
//! SQLite, 0.2-0.5 s of PostgreSQL and their logs). Until then the stored columns of a
//! stale member say what it added at its last judgement. So every read of members here
//! takes the stored rows, takes out what stale ones added then (read with them: their
//! stored verdict rows), and puts in what they add now.

use super::judge::{flags, join_sites};
use crate::score::family::Member;
use crate::state::{MemberRow, State, StateError, VerdictRow};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// What stale registrations added to their families as stored, and add now.
pub(super) struct Overlay<'a> {
    /// Stale registrations that are live members as stored, by family: what they added.
    before: HashMap<&'a str, Vec<&'a VerdictRow>>,
    /// Their client ids.
    before_ids: HashSet<&'a str>,
    /// Live stale registrations, by family: what they add now.
    fresh: HashMap<String, Vec<(&'a str, &'a Member)>>,
    fresh_ids: &'a HashMap<String, Member>,
}

/// Takes one of each of `gone` out of `all` (a multiset difference), keeping the order.
fn take_out<T: Hash + Eq>(all: &mut Vec<T>, gone: impl IntoIterator<Item = T>) {
    let mut count: HashMap<T, usize> = HashMap::new();
    for g in gone {
        *count.entry(g).or_default() += 1;
    }
    if count.is_empty() {
        return;
    }
    all.retain(|x| match count.get_mut(x) {
        Some(n) if *n > 0 => {
            *n -= 1;
            false
        }
        _ => true,
    });
}

fn within(ranges: &[(i64, i64)], t: i64) -> bool {
    ranges.iter().any(|&(lo, hi)| lo <= t && t <= hi)
}

impl<'a> Overlay<'a> {
    /// `before`: the stored verdict rows of the stale registrations that are live and
    /// members as stored; `fresh`: what each live stale registration adds now.
    pub(super) fn new(
        before: impl Iterator<Item = &'a VerdictRow>,
        fresh: &'a HashMap<String, Member>,
    ) -> Overlay<'a> {
        let mut o = Overlay {
            before: HashMap::new(),
            before_ids: HashSet::new(),
            fresh: HashMap::new(),
            fresh_ids: fresh,
        };
        for v in before {
            o.before.entry(v.family.as_str()).or_default().push(v);
            o.before_ids.insert(v.client_id.as_str());
        }
        for (id, m) in fresh {
            o.fresh
                .entry(m.family.to_string())
                .or_default()
                .push((id.as_str(), m));
        }
        o
    }

    fn before_in(&self, family: &str) -> impl Iterator<Item = &'a VerdictRow> + '_ {
        self.before.get(family).into_iter().flatten().copied()
    }

    fn fresh_in(&self, family: &str) -> impl Iterator<Item = (&'a str, &'a Member)> + '_ {
        self.fresh.get(family).into_iter().flatten().copied()
    }

    /// [`State::family_software`], as the members add now.
    pub(super) async fn software(
        &self,
        state: &State,
        store: &str,
        family: &str,
    ) -> Result<Vec<String>, StateError> {
        let mut all = state.family_software(store, family).await?;
        take_out(
            &mut all,
            self.before_in(family).filter_map(|v| v.software.clone()),
        );
        all.extend(
            self.fresh_in(family)
                .filter_map(|(_, m)| m.software.clone()),
        );
        Ok(all)
    }

    /// [`State::family_sites`], as the members add now.
    pub(super) async fn sites(
        &self,
        state: &State,
        store: &str,
        family: &str,
    ) -> Result<Vec<String>, StateError> {
        let mut all = state.family_sites(store, family).await?;
        take_out(
            &mut all,
            self.before_in(family)
                .filter_map(|v| v.judged_sites.clone()),
        );
        all.extend(
            self.fresh_in(family)
                .filter_map(|(_, m)| join_sites(m.sites.iter())),
        );
        Ok(all)
    }

    /// A family's first and last creation times, as the members add now: the stored ones
    /// at each end, as many more as stale members could take away.
    pub(super) async fn bounds(
        &self,
        state: &State,
        store: &str,
        family: &str,
    ) -> Result<(Option<i64>, Option<i64>), StateError> {
        let old: Vec<i64> = self
            .before_in(family)
            .filter_map(|v| v.judged_created_at)
            .collect();
        let (mut first, mut last) = state.family_edges(store, family, old.len() + 1).await?;
        take_out(&mut first, old.iter().copied());
        take_out(&mut last, old.iter().copied());
        let now: Vec<i64> = self
            .fresh_in(family)
            .filter_map(|(_, m)| m.created)
            .collect();
        let first = first.iter().chain(&now).min().copied();
        let last = last.iter().chain(&now).max().copied();
        Ok((first, last))
    }

    /// [`State::family_created_in`], as the members add now (in no order).
    pub(super) async fn created_in(
        &self,
        state: &State,
        store: &str,
        family: &str,
        ranges: &[(i64, i64)],
    ) -> Result<Vec<(String, i64)>, StateError> {
        let mut all = state.family_created_in(store, family, ranges).await?;
        all.retain(|(id, _)| !self.before_ids.contains(id.as_str()));
        all.extend(self.fresh_in(family).filter_map(|(id, m)| {
            m.created
                .filter(|&t| within(ranges, t))
                .map(|t| (id.to_owned(), t))
        }));
        Ok(all)
    }

    /// [`State::family_times_in`], as the members add now, in order.
    pub(super) async fn times_in(
        &self,
        state: &State,
        store: &str,
        family: &str,
        ranges: &[(i64, i64)],
    ) -> Result<Vec<i64>, StateError> {
        let mut all = state.family_times_in(store, family, ranges).await?;
        let inside = |t: &i64| within(ranges, *t);
        take_out(
            &mut all,
            self.before_in(family)
                .filter_map(|v| v.judged_created_at)
                .filter(inside),
        );
        all.extend(
            self.fresh_in(family)
                .filter_map(|(_, m)| m.created)
                .filter(inside),
        );
        all.sort_unstable();
        Ok(all)
    }

    /// [`State::name_lookers`], as the members add now.
    pub(super) async fn name_lookers(
        &self,
        state: &State,
        store: &str,
        families: &[&str],
    ) -> Result<Vec<String>, StateError> {
        let mut all = state.name_lookers(store, families).await?;
        all.retain(|id| !self.before_ids.contains(id.as_str()));
        for family in families {
            all.extend(
                self.fresh_in(family)
                    .filter(|(_, m)| m.named)
                    .map(|(id, _)| id.to_owned()),
            );
        }
        Ok(all)
    }

    /// [`State::members_of`], as the members add now: a live stale one's from what it adds.
    pub(super) async fn members_of(
        &self,
        state: &State,
        store: &str,
        ids: &[&str],
    ) -> Result<Vec<MemberRow>, StateError> {
        let (fresh, stored): (Vec<&str>, Vec<&str>) =
            ids.iter().partition(|id| self.fresh_ids.contains_key(**id));
        // A stale one that is gone is no member, and the stored columns say so.
        let mut all = state.members_of(store, &stored).await?;
        all.extend(fresh.into_iter().map(|id| {
            let m = &self.fresh_ids[id];
            MemberRow {
                client_id: id.to_owned(),
                family: m.family.to_string(),
                judged_created_at: m.created,
                judged_flags: flags(m),
            }
        }));
        Ok(all)
    }
}
