//! `[expiry]`, `[actions]`, `[[allow]]` and `[[deny]]`: their shape and their validation into
//! [`Policy`]. Every default is explained in config/regwarden.toml.

use super::raw::{parse_duration, RawExpiry};
use super::{problem, CronSchedule, Problem};
use crate::escape::esc;
use crate::model::{Band, Origin};
use crate::policy::{Limits, Matcher, Mode, Policy, Verb};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActions {
    pub mode: Option<String>,
    pub schedule: Option<String>,
    pub max_actions_per_run: Option<i64>,
    pub max_fraction_per_run: Option<f64>,
    pub quarantine: Option<bool>,
    pub quarantine_grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatcher {
    pub client_id: Option<String>,
    pub software_id: Option<String>,
    pub name: Option<String>,
    pub redirect_host: Option<String>,
    pub family: Option<String>,
    pub software: Option<String>,
    pub note: Option<String>,
}

/// The default `[actions] schedule`: hourly, half-way between the default reconcile scans.
pub const DEFAULT_SCHEDULE: &str = "30 * * * *";

fn verb(key: &str, raw: Option<&str>, default: Verb, problems: &mut Vec<Problem>) -> Verb {
    match raw {
        None => default,
        Some("delete") => Verb::Delete,
        Some("keep") => Verb::Keep,
        Some(other) => {
            problems.push(problem(
                key,
                format!("{:?} is not one of keep, delete", esc(other)),
            ));
            default
        }
    }
}

fn matchers(section: &str, raw: &[RawMatcher], problems: &mut Vec<Problem>) -> Vec<Matcher> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            let m = Matcher {
                client_id: r.client_id.clone(),
                software_id: r.software_id.clone(),
                name: r.name.as_ref().map(|n| n.to_lowercase()),
                redirect_host: r.redirect_host.as_ref().map(|h| h.to_ascii_lowercase()),
                family: r.family.clone(),
                software: r.software.clone(),
                note: r.note.clone(),
            };
            if m.is_empty() {
                problems.push(problem(
                    format!("{section}[{i}]"),
                    "needs at least one of client_id, software_id, name, redirect_host, family, software",
                ));
            }
            if section == "deny" && m.matches_anything() {
                problems.push(problem(
                    format!("deny[{i}].name"),
                    "matches every registration; a deny rule must single some out",
                ));
            }
            m
        })
        .collect()
}

/// Builds the policy; problems are collected with their keys.
pub fn build(
    expiry: &RawExpiry,
    actions: &RawActions,
    allow: &[RawMatcher],
    deny: &[RawMatcher],
    (unused_after, inactive_after): (Duration, Duration),
    problems: &mut Vec<Problem>,
) -> (Policy, Mode, CronSchedule) {
    let d = Policy::default();
    let allow = matchers("allow", allow, problems);
    let deny = matchers("deny", deny, problems);
    for (i, a) in allow.iter().enumerate() {
        for (j, dn) in deny.iter().enumerate() {
            if !a.is_empty() && a.same_conditions(dn) {
                problems.push(problem(
                    format!("deny[{j}]"),
                    format!("contradicts allow[{i}]: both match exactly {a}"),
                ));
            }
        }
    }
    let family_keep = match expiry.family_keep {
        None => d.family_keep,
        Some(n @ 0..=100_000) => n as u32,
        Some(n) => {
            problems.push(problem(
                "expiry.family_keep",
                format!("{n} is outside 0..=100000"),
            ));
            d.family_keep
        }
    };
    let expiry_origins = match &expiry.origins {
        None => d.expiry_origins.clone(),
        Some(list) => list
            .iter()
            .filter_map(
                |o| match Origin::ALL.into_iter().find(|x| x.as_str() == o) {
                    Some(x) => Some(x),
                    None => {
                        problems.push(problem(
                            "expiry.origins",
                            format!("{:?} is not one of dcr, cimd, admin, unknown", esc(o)),
                        ));
                        None
                    }
                },
            )
            .collect(),
    };
    let mut bands = d.bands.clone();
    for (name, v) in expiry.bands.iter().flatten() {
        let key = format!("expiry.bands.{name}");
        match Band::parse(name) {
            Some(Band::Trusted) if v == "delete" => {
                problems.push(problem(key, "trusted registrations are never deleted"))
            }
            Some(b) => {
                let verb = verb(&key, Some(v), Verb::Keep, problems);
                bands.insert(b, verb);
            }
            None => problems.push(problem(
                key,
                "is not a band (trusted, neutral, suspicious, malicious)",
            )),
        }
    }
    if bands.get(&Band::Neutral) == Some(&Verb::Delete) {
        problems.push(problem(
            "expiry.bands.neutral",
            "would delete every ordinary registration; use the expiry rules instead",
        ));
    }
    let mode = match actions.mode.as_deref() {
        None | Some("dry-run") => Mode::DryRun,
        Some("enforce") => Mode::Enforce,
        Some(other) => {
            problems.push(problem(
                "actions.mode",
                format!("{:?} is not one of dry-run, enforce", esc(other)),
            ));
            Mode::DryRun
        }
    };
    let schedule = CronSchedule::parse(actions.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE))
        .unwrap_or_else(|e| {
            problems.push(problem("actions.schedule", e));
            CronSchedule::parse(DEFAULT_SCHEDULE).expect("the default schedule parses")
        });
    let max_actions_per_run = match actions.max_actions_per_run {
        None => d.limits.max_actions_per_run,
        Some(n @ 1..=1_000_000) => n as u64,
        Some(n) => {
            problems.push(problem(
                "actions.max_actions_per_run",
                format!("{n} is outside 1..=1000000"),
            ));
            d.limits.max_actions_per_run
        }
    };
    let max_fraction_per_run = match actions.max_fraction_per_run {
        None => d.limits.max_fraction_per_run,
        Some(f) if f > 0.0 && f <= 1.0 => f,
        Some(f) => {
            problems.push(problem(
                "actions.max_fraction_per_run",
                format!("{f} must be above 0 and at most 1"),
            ));
            d.limits.max_fraction_per_run
        }
    };
    let grace = parse_duration(
        "actions.quarantine_grace",
        &actions.quarantine_grace,
        "7d",
        problems,
    );
    let policy = Policy {
        allow,
        deny,
        unused_after,
        inactive_after,
        unused: verb(
            "expiry.unused",
            expiry.unused.as_deref(),
            d.unused,
            problems,
        ),
        inactive: verb(
            "expiry.inactive",
            expiry.inactive.as_deref(),
            d.inactive,
            problems,
        ),
        family_keep,
        expiry_origins,
        bands,
        // Invariant 11: reversible first unless the operator turns it off.
        quarantine_grace: actions.quarantine.unwrap_or(true).then_some(grace),
        limits: Limits {
            max_actions_per_run,
            max_fraction_per_run,
        },
    };
    (policy, mode, schedule)
}

/// In enforce mode every Hydra and Keycloak store needs its admin API: regwarden acts through
/// nothing else.
/// (JSON Lines stores are only ever planned.)
pub fn check_stores(mode: Mode, stores: &[super::StoreConfig], problems: &mut Vec<Problem>) {
    if mode != Mode::Enforce {
        return;
    }
    for s in stores {
        if !matches!(s.kind, super::StoreKind::Jsonl { .. }) && !s.kind.has_admin_api() {
            problems.push(problem(
                format!("stores.{}.admin_url", s.name),
                "is required with actions.mode = \"enforce\": regwarden acts only through the admin API",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, ConfigError};
    use crate::policy::{Mode, Verb};

    fn keys(text: &str) -> Vec<String> {
        match load_str(text, None, &[]) {
            Err(ConfigError::Invalid { problems }) => problems.into_iter().map(|p| p.key).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_dry_run_and_conservative() {
        let c = load_str("", None, &[]).unwrap();
        assert_eq!(c.mode, Mode::DryRun);
        assert_eq!(c.policy.family_keep, 0);
        // Quarantine first, delete after 7 days unused (invariant 11).
        assert_eq!(
            c.policy.quarantine_grace,
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        assert_eq!(c.policy.limits.max_actions_per_run, 100);
        assert_eq!(c.policy.unused, Verb::Delete);
        assert!(c.policy.allow.is_empty() && c.policy.deny.is_empty());
    }

    #[test]
    fn bad_policies_are_reported_by_key() {
        let text = r#"
            [expiry]
            unused = "purge"
            family_keep = -1
            origins = ["dcr", "martian"]
            [expiry.bands]
            neutral = "delete"
            trusted = "delete"
            [actions]
            mode = "yolo"
            max_fraction_per_run = 1.5
            [[allow]]
            client_id = "a"
            [[deny]]
            client_id = "a"
            [[deny]]
            name = "**"
            [[deny]]
            note = "nothing to match"
        "#;
        let mut got = keys(text);
        got.sort();
        let mut want = vec![
            "expiry.unused",
            "expiry.family_keep",
            "expiry.origins",
            "expiry.bands.neutral",
            "expiry.bands.trusted",
            "actions.mode",
            "actions.max_fraction_per_run",
            "deny[0]",
            "deny[1].name",
            "deny[2]",
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn enforce_is_opt_in_and_quarantine_opt_out() {
        let c = load_str(
            "[actions]\nmode = \"enforce\"\nquarantine_grace = \"1d\"\n",
            None,
            &[],
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Enforce);
        let no_admin = "[actions]\nmode = \"enforce\"\n[[stores]]\nname = \"h\"\nkind = \"hydra\"\ndatabase_url = \"sqlite://x\"\n";
        assert_eq!(keys(no_admin), ["stores.h.admin_url"]);
        assert_eq!(
            c.policy.quarantine_grace,
            Some(std::time::Duration::from_secs(86_400))
        );
        let off = load_str("[actions]\nquarantine = false\n", None, &[]).unwrap();
        assert_eq!(off.policy.quarantine_grace, None);
        assert_eq!(
            keys("[actions]\nquarantine_grace = \"0s\"\n"),
            ["actions.quarantine_grace"]
        );
    }
}
