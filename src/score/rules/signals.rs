//! Name content, grants, usage notes and family notes.

use super::super::text::name_findings;
use super::super::Rule;
use super::hygiene::join;
use super::Reasons;
use crate::escape::{esc, esc_max};
use crate::model::{ClientMetadata, Origin, Registration, Usage};
use crate::score::family::{Family, FamilyIndex, Member, BURST_MIN, BURST_WINDOW};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// Names longer than this are absurd for a display name.
const MAX_NAME: usize = 120;

pub(super) fn name(r: &mut Reasons, m: &ClientMetadata) {
    let Some(n) = m.client_name.as_deref() else {
        r.add(Rule::NameMissing, "no client_name".into());
        return;
    };
    let f = name_findings(n);
    if f.invisible_only {
        r.add(
            Rule::NameInvisible,
            format!("client_name {:?} shows nothing", esc(n)),
        );
    } else if f.hidden > 0 {
        r.add(
            Rule::NameHidden,
            format!(
                "client_name {:?} holds {} hidden character(s)",
                esc_max(n, 80),
                f.hidden
            ),
        );
    }
    if let Some(what) = f.url_or_instruction {
        r.add(
            Rule::NameUrlOrInstruction,
            format!("client_name {:?} holds {what}", esc_max(n, 80)),
        );
    }
    if let Some(word) = f.authority {
        r.add(
            Rule::NameAuthority,
            format!("client_name {:?} claims {word:?}", esc_max(n, 80)),
        );
    }
    if let Some(why) = f.mixed_script {
        r.add(
            Rule::NameMixedScript,
            format!("client_name {:?}: {why}", esc_max(n, 80)),
        );
    }
    if f.length > MAX_NAME {
        r.add(
            Rule::NameLength,
            format!("client_name is {} characters long", f.length),
        );
    }
}

pub(super) fn grants(r: &mut Reasons, m: &ClientMetadata) {
    let implicit_response = m
        .response_types
        .iter()
        .find(|t| t.split_whitespace().any(|w| w == "token"));
    if m.grant_types.iter().any(|g| g == "implicit") || implicit_response.is_some() {
        let what = implicit_response
            .map(|t| format!("response_type {:?}", esc(t)))
            .unwrap_or_else(|| "the implicit grant".into());
        r.add(Rule::GrantImplicit, format!("asks for {what}"));
    }
    if m.grant_types.iter().any(|g| g == "password") {
        r.add(Rule::GrantPassword, "asks for the password grant".into());
    }
    let machine = m
        .grant_types
        .iter()
        .find(|g| matches!(g.as_str(), "client_credentials" | "password"));
    if let (Some(g), "none") = (machine, m.token_endpoint_auth_method.as_str()) {
        r.add(
            Rule::GrantRisky,
            format!(
                "a public client (auth method none) asks for {}: anyone holding its id gets tokens",
                esc(g)
            ),
        );
    }
}

pub(super) fn usage(r: &mut Reasons, reg: &Registration, now: DateTime<Utc>) {
    match reg.usage {
        Usage::LastUsed(t) if now - t <= chrono::Duration::days(30) => {
            // A note: anyone can use their own registration.
            r.add(
                Rule::RecentlyUsed,
                format!("last used {}", t.format("%Y-%m-%d")),
            );
        }
        Usage::Never => {
            if let Some(c) = reg
                .created_at
                .filter(|c| now - *c >= chrono::Duration::days(1))
            {
                r.add(
                    Rule::NeverUsed,
                    format!("never used since it registered on {}", c.format("%Y-%m-%d")),
                );
            }
        }
        _ => {}
    }
    if reg.origin == Origin::Admin {
        r.add(Rule::OriginAdmin, "created through the admin API".into());
    }
}

/// When [`usage`]'s note changes by time alone: a recent use stops being recent 30 days on,
/// an unused registration becomes never used a day after registering.
pub(super) fn usage_due(reg: &Registration, now: DateTime<Utc>) -> Option<i64> {
    match reg.usage {
        Usage::LastUsed(t) if now - t <= chrono::Duration::days(30) => {
            Some((t + chrono::Duration::days(30)).timestamp() + 1)
        }
        Usage::Never => reg
            .created_at
            .filter(|c| now - *c < chrono::Duration::days(1))
            .map(|c| (c + chrono::Duration::days(1)).timestamp()),
        _ => None,
    }
}

/// Notes on the registration's family: a burst of installs, and other families with the
/// same name on other sites. Neither scores: an attacker can make both happen to anyone. An
/// app an administrator created is the operator's word, so copying its name elsewhere is risk.
/// They depend on the member and the families alone (a full judgement after a first scan
/// re-judges only the registrations that get a note: [`crate::score::Scorer::family_notes`]).
pub(super) fn family(r: &mut Reasons, member: &Member, families: &FamilyIndex) {
    let id = member.family;
    let Some(own) = families.get(&id) else { return };
    if let Some(t) = member.created {
        let near = own.created_near(t, BURST_WINDOW);
        if near >= BURST_MIN {
            r.add(
                Rule::Burst,
                // Not the count itself: it would change with every install around this one.
                format!(
                    "one of a burst of registrations of its family (at least {BURST_MIN} within {} minutes)",
                    2 * BURST_WINDOW / 60
                ),
            );
        }
    }
    // `named`: no catalog entry claims it, and it has a name and URIs on some site.
    if !member.named || families.same_name(&own.name, id).next().is_none() {
        return;
    }
    let mine = &member.sites;
    let elsewhere =
        |other: &Family| !other.sites.is_empty() && !mine.iter().all(|s| other.has_site(s));
    let describe = |other: &Family| {
        let new: Vec<&str> = mine
            .iter()
            .filter(|s| !other.has_site(s))
            .map(String::as_str)
            .take(3)
            .collect();
        let theirs: BTreeSet<String> = other.sites.keys().cloned().collect();
        // Not the other family's size: a verdict would change with every install of it.
        format!(
            "name {:?} is also used by another family, on {}; this one uses {}",
            esc(&own.name),
            esc(&join(&theirs)),
            esc(&new.join(", "))
        )
    };
    if !member.admin {
        if let Some((_, other)) = families
            .same_name(&own.name, id)
            .find(|(_, o)| o.admin > 0 && elsewhere(o))
        {
            r.add(
                Rule::ImpersonationOperatorApp,
                format!("{}, created by an administrator", describe(other)),
            );
            return;
        }
    }
    if let Some((_, other)) = families
        .same_name(&own.name, id)
        .find(|(_, o)| o.software.is_none() && elsewhere(o))
    {
        r.add(
            Rule::NameShared,
            format!(
                "{}: review both, or vouch for one in the catalog",
                describe(other)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Band, ClientMetadata, Origin, Registration, Usage};
    use crate::score::{judge_all, Scorer};
    use chrono::{DateTime, Duration};

    fn app(id: &str, name: &str, host: &str, origin: Origin, days_ago: i64) -> Registration {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        Registration {
            client_id: id.into(),
            metadata: ClientMetadata {
                client_name: Some(name.into()),
                redirect_uris: vec![format!("https://{host}/oauth/callback")],
                grant_types: vec!["authorization_code".into()],
                response_types: vec!["code".into()],
                token_endpoint_auth_method: "client_secret_basic".into(),
                ..Default::default()
            },
            created_at: Some(now - Duration::days(days_ago)),
            created_from: Some(crate::model::CreatedFrom::Store),
            updated_at: None,
            usage: Usage::LastUsed(now - Duration::days(1)),
            origin,
        }
    }

    fn rules(v: &crate::score::Verdict) -> Vec<&str> {
        v.reasons.iter().map(|r| r.rule).collect()
    }

    #[test]
    fn name_collisions_between_unvouched_families_are_noted_on_both_sides_and_score_nothing() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let regs = [
            app("a1", "Team Board", "board.acme.com", Origin::Dcr, 90),
            app("a2", "Team Board", "board.acme.com", Origin::Dcr, 80),
            app("b1", "Team Board", "board.other.example", Origin::Dcr, 3),
        ];
        let (_, v) = judge_all(&Scorer::with_defaults(), &regs, now);
        for x in &v {
            assert!(rules(x).contains(&"family.name_shared"), "{x:?}");
            assert_eq!(x.band, Band::Neutral, "{x:?}");
        }
        assert_eq!(
            v[0].score, v[2].score,
            "neither side wins by arriving first"
        );
    }

    #[test]
    fn copying_an_admin_made_app_on_other_hosts_is_risk() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let regs = [
            app("ops", "Ops Portal", "ops.acme.com", Origin::Admin, 200),
            app(
                "copy",
                "Ops Portal",
                "ops-portal.example.net",
                Origin::Dcr,
                2,
            ),
        ];
        let (_, v) = judge_all(&Scorer::with_defaults(), &regs, now);
        assert!(
            !rules(&v[0]).contains(&"impersonation.operator_app"),
            "{:?}",
            v[0]
        );
        assert!(
            rules(&v[1]).contains(&"impersonation.operator_app"),
            "{:?}",
            v[1]
        );
        assert_eq!(v[1].band, Band::Suspicious, "{:?}", v[1]);
    }
}
