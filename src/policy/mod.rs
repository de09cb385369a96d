//! Policy: a pure function from a store's live registrations (with verdicts and families),
//! the configured rules and the time to the actions regwarden would take, each with its
//! reason. No I/O here; `crate::act` carries plans out and `regwarden plan` prints them.
//!
//! Order of precedence for one registration: allowlisted → never acted on; a quarantine on
//! record → nothing during its grace, delete after it; denylisted; band action; expiry
//! (never used, inactive); family cap. The first rule that asks for an action gives the reason.
//!
//! With quarantine on (the default, invariant 11), every rule but the grace's quarantines
//! first: the client stops getting tokens and is deleted only once the grace has passed
//! without a use. A use after the quarantine means someone lifted it outside regwarden (a
//! quarantined client cannot get tokens): the quarantine no longer holds, and the rules judge
//! the client afresh, so one still matched is quarantined again.

mod matchers;
#[cfg(test)]
mod tests;
mod vocabulary;

pub use matchers::{glob, Matcher};
pub use vocabulary::{ActionKind, JournalAction, PolicyRule};

use crate::model::{Band, Origin, Usage};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

/// What a rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Keep,
    Delete,
}

/// Dry-run (the default) or enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    DryRun,
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DryRun => "dry-run",
            Mode::Enforce => "enforce",
        }
    }
}

/// How long a quarantined client has to be missed before it is deleted, by default.
pub const DEFAULT_QUARANTINE_GRACE: Duration = Duration::from_secs(7 * 86_400);

/// The rules, checked at load (see `config/regwarden.toml`).
#[derive(Debug, Clone)]
pub struct Policy {
    pub allow: Vec<Matcher>,
    pub deny: Vec<Matcher>,
    pub unused_after: Duration,
    pub inactive_after: Duration,
    pub unused: Verb,
    pub inactive: Verb,
    /// Keep this many most recently used members of a family; 0 = no cap.
    pub family_keep: u32,
    /// Origins expiry and the family cap apply to (deny and band rules apply to all).
    pub expiry_origins: Vec<Origin>,
    pub bands: BTreeMap<Band, Verb>,
    /// Quarantine (block new tokens) first, delete after this grace if the client stayed
    /// unused; None = delete at once.
    pub quarantine_grace: Option<Duration>,
    pub limits: Limits,
}

/// Blast radius of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_actions_per_run: u64,
    /// Of the store's live registrations, 0 < f <= 1.
    pub max_fraction_per_run: f64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            allow: vec![],
            deny: vec![],
            unused_after: Duration::from_secs(7 * 86_400),
            inactive_after: Duration::from_secs(90 * 86_400),
            unused: Verb::Delete,
            inactive: Verb::Delete,
            family_keep: 0,
            expiry_origins: vec![Origin::Dcr, Origin::Cimd],
            bands: BTreeMap::from([
                (Band::Malicious, Verb::Delete),
                (Band::Suspicious, Verb::Keep),
            ]),
            quarantine_grace: Some(DEFAULT_QUARANTINE_GRACE),
            limits: Limits {
                max_actions_per_run: 100,
                max_fraction_per_run: 0.1,
            },
        }
    }
}

/// A live registration as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub client_id: String,
    pub name: Option<String>,
    pub software_id: Option<String>,
    pub redirect_hosts: Vec<String>,
    pub family: Option<String>,
    pub software: Option<String>,
    pub band: Option<Band>,
    pub origin: Origin,
    pub usage: Usage,
    pub created_at: Option<DateTime<Utc>>,
    /// When regwarden quarantined it (from the journal), if it did.
    pub quarantined_at: Option<DateTime<Utc>>,
}

/// One planned action with the rule that asked for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub client_id: String,
    pub client_name: Option<String>,
    pub action: ActionKind,
    pub rule: PolicyRule,
    pub reason: String,
}

/// A store's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub store: String,
    pub generated_at: DateTime<Utc>,
    /// Live registrations considered.
    pub live: u64,
    /// Registrations a rule would act on but the allowlist protects.
    pub protected: u64,
    pub actions: Vec<Planned>,
}

/// Why no plan can be made: the rules themselves are wrong for this store.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("allow[{allow}] ({allow_rule}) and deny[{deny}] ({deny_rule}) both match client {client_id}: contradictory rules, nothing planned; make them disjoint")]
    Contradiction {
        client_id: String,
        allow: usize,
        allow_rule: String,
        deny: usize,
        deny_rule: String,
    },
    #[error("deny[{index}] ({rule}) matches every one of the {live} registrations of store {store}: nothing planned; narrow the rule")]
    DenyMatchesEverything {
        store: String,
        index: usize,
        rule: String,
        live: u64,
    },
    #[error("the policy would act on every one of the {live} registrations of store {store}: nothing planned; check the [expiry] and [actions] rules")]
    PlanMatchesEverything { store: String, live: u64 },
}

/// A plan beyond the blast-radius limits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plan for store {store} refused whole: {actions} actions exceed {limit}; nothing was done (raise the limit or review with `regwarden plan`)")]
pub struct Refusal {
    pub store: String,
    pub actions: u64,
    pub limit: String,
}

/// A limit as operators write it: "7 days", "36 hours", else humantime's form.
pub fn days(d: Duration) -> String {
    let s = d.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match s {
        0 => "0 seconds".into(),
        s if s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s => humantime::format_duration(Duration::from_secs(s)).to_string(),
    }
}

fn older_than(t: Option<DateTime<Utc>>, age: Duration, now: DateTime<Utc>) -> bool {
    let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    t.is_some_and(|t| now.signed_duration_since(t) >= age)
}

/// The plan for one store. Pure: same input, same plan.
pub fn plan(
    store: &str,
    candidates: &[Candidate],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Plan, PlanError> {
    let live = candidates.len() as u64;
    for (index, d) in policy.deny.iter().enumerate() {
        if live >= 2 && candidates.iter().all(|c| d.matches(c)) {
            return Err(PlanError::DenyMatchesEverything {
                store: store.into(),
                index,
                rule: d.to_string(),
                live,
            });
        }
    }
    let capped = family_cap(candidates, policy, now);
    let mut out = Plan {
        store: store.into(),
        generated_at: now,
        live,
        protected: 0,
        actions: vec![],
    };
    for c in candidates {
        let allowed = policy.allow.iter().position(|a| a.matches(c));
        let denied = policy.deny.iter().position(|d| d.matches(c));
        if let (Some(a), Some(d)) = (allowed, denied) {
            return Err(PlanError::Contradiction {
                client_id: crate::escape::esc(&c.client_id).to_string(),
                allow: a,
                allow_rule: policy.allow[a].to_string(),
                deny: d,
                deny_rule: policy.deny[d].to_string(),
            });
        }
        let wanted = decide(c, denied, capped.get(c.client_id.as_str()), policy, now);
        let Some((rule, reason)) = wanted else {
            continue;
        };
        if allowed.is_some() {
            out.protected += 1;
            continue;
        }
        let action = match policy.quarantine_grace {
            Some(_) if rule != PolicyRule::QuarantineGrace => ActionKind::Quarantine,
            _ => ActionKind::Delete,
        };
        out.actions.push(Planned {
            client_id: c.client_id.clone(),
            client_name: c.name.clone(),
            action,
            rule,
            reason,
        });
    }
    if live >= 2 && out.actions.len() as u64 == live {
        return Err(PlanError::PlanMatchesEverything {
            store: store.into(),
            live,
        });
    }
    Ok(out)
}

/// The rule that asks for an action on `c`, if any (allowlist not yet considered).
fn decide(
    c: &Candidate,
    denied: Option<usize>,
    capped: Option<&String>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<(PolicyRule, String)> {
    if let (Some(grace), Some(q)) = (policy.quarantine_grace, c.quarantined_at) {
        let used_since = c.usage.last_used().is_some_and(|u| u > q);
        if !used_since {
            if older_than(Some(q), grace, now) {
                return Some((
                    PolicyRule::QuarantineGrace,
                    format!("quarantined {} ago and not used since", days(grace)),
                ));
            }
            // In its grace period: the quarantine decides, nothing else.
            return None;
        }
        // Used since: the quarantine was lifted outside regwarden; judged afresh below.
    }
    if let Some(i) = denied {
        let note = policy.deny[i]
            .note
            .as_deref()
            .map(|n| format!(": {}", crate::escape::esc(n)))
            .unwrap_or_default();
        return Some((
            PolicyRule::Deny,
            format!("matches deny[{i}] ({}){note}", policy.deny[i]),
        ));
    }
    if let Some(band) = c.band {
        if policy.bands.get(&band) == Some(&Verb::Delete) {
            return Some((PolicyRule::Band(band), format!("scored {}", band.as_str())));
        }
    }
    if !policy.expiry_origins.contains(&c.origin) {
        return None;
    }
    match c.usage {
        Usage::Never
            if policy.unused == Verb::Delete
                && older_than(c.created_at, policy.unused_after, now) =>
        {
            return Some((
                PolicyRule::ExpiryUnused,
                format!(
                    "never used in the {} since it was registered",
                    days(policy.unused_after)
                ),
            ))
        }
        Usage::LastUsed(t)
            if policy.inactive == Verb::Delete
                && older_than(Some(t), policy.inactive_after, now) =>
        {
            return Some((
                PolicyRule::ExpiryInactive,
                format!("not used for {}", days(policy.inactive_after)),
            ))
        }
        _ => {}
    }
    capped.map(|why| (PolicyRule::FamilyKeep, why.clone()))
}

/// Members beyond the `family_keep` most recently used of their family whose last activity
/// (use, or registration if never used) is older than `unused_after`. Usage unknown: kept.
fn family_cap<'a>(
    candidates: &'a [Candidate],
    policy: &Policy,
    now: DateTime<Utc>,
) -> HashMap<&'a str, String> {
    let mut out = HashMap::new();
    if policy.family_keep == 0 {
        return out;
    }
    let mut families: HashMap<&str, Vec<&Candidate>> = HashMap::new();
    for c in candidates {
        if let (Some(f), true) = (
            c.family.as_deref(),
            policy.expiry_origins.contains(&c.origin),
        ) {
            families.entry(f).or_default().push(c);
        }
    }
    for (family, mut members) in families {
        if members.len() <= policy.family_keep as usize {
            continue;
        }
        // Most recently used first, never-used after them (newest registration first).
        let key = |c: &Candidate| (c.usage.last_used(), c.created_at);
        members.sort_by(|a, b| key(b).cmp(&key(a)).then(a.client_id.cmp(&b.client_id)));
        for c in &members[policy.family_keep as usize..] {
            let last = match c.usage {
                Usage::LastUsed(t) => Some(t),
                Usage::Never => c.created_at,
                Usage::Unknown => None,
            };
            if older_than(last, policy.unused_after, now) {
                out.insert(
                    c.client_id.as_str(),
                    format!(
                        "family {family} has {} members; beyond the {} most recently used and idle for {}",
                        members.len(),
                        policy.family_keep,
                        days(policy.unused_after)
                    ),
                );
            }
        }
    }
    out
}

/// Refuses a plan beyond the blast radius, whole.
pub fn check_limits(plan: &Plan, limits: &Limits) -> Result<(), Refusal> {
    let n = plan.actions.len() as u64;
    if n > limits.max_actions_per_run {
        return Err(Refusal {
            store: plan.store.clone(),
            actions: n,
            limit: format!("max_actions_per_run = {}", limits.max_actions_per_run),
        });
    }
    let allowed = (limits.max_fraction_per_run * plan.live as f64).floor() as u64;
    if n > allowed {
        return Err(Refusal {
            store: plan.store.clone(),
            actions: n,
            limit: format!(
                "max_fraction_per_run = {} of {} registrations ({allowed})",
                limits.max_fraction_per_run, plan.live
            ),
        });
    }
    Ok(())
}

impl fmt::Display for Plan {
    /// The plan as a table for people; names escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "store {}: {} action(s) planned over {} live registrations ({} protected by the allowlist)",
            self.store,
            self.actions.len(),
            self.live,
            self.protected
        )?;
        if self.actions.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "  {:<10} {:<38} {:<28} {:<16} reason",
            "action", "client_id", "client_name", "rule"
        )?;
        for a in &self.actions {
            let name = a
                .client_name
                .as_deref()
                .map(|n| crate::score::text::shown_name(n, 28))
                .unwrap_or_else(|| "-".into());
            writeln!(
                f,
                "  {:<10} {:<38} {:<28} {:<16} {}",
                a.action.as_str(),
                crate::escape::esc_max(&a.client_id, 38),
                name,
                a.rule,
                crate::escape::esc_built(&a.reason, usize::MAX)
            )?;
        }
        Ok(())
    }
}
