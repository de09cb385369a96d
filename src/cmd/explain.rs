//! `regwarden explain CLIENT_ID`: one registration's verdict with every reason, its family,
//! its catalog match, as the last judgement stored them.

use crate::config::Config;
use crate::escape::{esc, esc_max};
use crate::model::Usage;
use crate::state::State;
use std::fmt::Write as _;
use std::process::ExitCode;

pub(super) async fn explain(
    cfg: &Config,
    client_id: &str,
    only: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let state = State::connect(&cfg.state_url).await?;
    let stores: Vec<String> = state
        .stores_with(client_id)
        .await?
        .into_iter()
        .filter(|s| super::selected(only, s))
        .collect();
    if stores.is_empty() {
        anyhow::bail!(
            "no registration with client_id {:?} in the state database (has `regwarden scan` run?)",
            esc(client_id)
        );
    }
    let mut out = String::new();
    for store in stores {
        let Some(r) = state.registration(&store, client_id).await? else {
            continue;
        };
        let _ = writeln!(out, "Registration {} in store {store}", esc(client_id));
        let _ = writeln!(
            out,
            "  name:     {}",
            r.client_name
                .as_deref()
                .map(|n| format!("\"{}\"", crate::score::text::shown_name(n, 200)))
                .unwrap_or_else(|| "(none)".into())
        );
        let _ = writeln!(out, "  origin:   {}", r.origin);
        let created = match (r.created_at, r.created_from) {
            (Some(t), Some(from)) => format!("{} (from {})", t.to_rfc3339(), from.describe()),
            (Some(t), None) => t.to_rfc3339(),
            (None, _) => {
                "unknown (the store keeps no evidence; regwarden's first sighting stands in)".into()
            }
        };
        let _ = writeln!(out, "  created:  {created}");
        let usage = match r.usage {
            Usage::LastUsed(t) => format!("last used {}", t.to_rfc3339()),
            Usage::Never => "never used".into(),
            Usage::Unknown => "unknown".into(),
        };
        let _ = writeln!(out, "  usage:    {usage}");
        if let Some(g) = r.gone_at {
            let _ = writeln!(
                out,
                "  status:   gone (not seen by the full scan of {})",
                g.to_rfc3339()
            );
        }
        for uri in &r.metadata.redirect_uris {
            let _ = writeln!(out, "  redirect: {}", esc_max(uri, 160));
        }
        match (r.band, r.score) {
            (Some(band), Some(score)) => {
                let _ = writeln!(out, "\n  Verdict: {} (score {score})", band.as_str());
                let mut reasons = r.reasons.clone();
                reasons.sort_by_key(|r| std::cmp::Reverse(r.points));
                for reason in &reasons {
                    // The tier says what the evidence can do (config/regwarden.toml [score]).
                    let tier =
                        crate::score::Rule::parse(&reason.rule).map_or("", |r| r.tier().as_str());
                    let _ = writeln!(
                        out,
                        "    {:>+4}  {:<7} {:<32} {}",
                        reason.points,
                        tier,
                        reason.rule,
                        crate::escape::esc_built(&reason.detail, usize::MAX)
                    );
                }
                if reasons.is_empty() {
                    let _ = writeln!(out, "    no rule found anything to weigh either way");
                }
            }
            _ => {
                let _ = writeln!(out, "\n  Verdict: not judged yet (run `regwarden scan`)");
            }
        }
        let catalog = &cfg.scorer.catalog;
        match r.software.as_deref().and_then(|s| catalog.by_id(s)) {
            Some(known) => {
                let _ = writeln!(
                    out,
                    "\n  Catalog: {} ({}); known redirects: {}",
                    known.name,
                    known.id,
                    known.redirects.join(", ")
                );
            }
            None => {
                let _ = writeln!(out, "\n  Catalog: matches no known client");
            }
        }
        if let Some(family) = r.family.as_deref() {
            match state.family(&store, family).await? {
                Some(f) => {
                    let _ = writeln!(
                        out,
                        "  Family {}: {} registration(s), {} with a use on record, first {}, last {}",
                        f.id,
                        f.size,
                        f.used,
                        f.first_created_at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "?".into()),
                        f.last_created_at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "?".into()),
                    );
                    if let Some(cimd) = f
                        .software
                        .as_deref()
                        .and_then(|s| catalog.by_id(s))
                        .and_then(|k| k.cimd_client_id.clone())
                    {
                        let _ = writeln!(
                            out,
                            "    its client publishes a Client ID Metadata Document ({cimd}); with CIMD these {} registrations need not exist",
                            f.size
                        );
                    }
                }
                None => {
                    let _ = writeln!(out, "  Family {family}");
                }
            }
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
