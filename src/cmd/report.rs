//! `regwarden report`: what the stores hold, as a table, JSON or CSV.

use crate::config::Config;
use crate::report::{self, Format};
use crate::state::State;
use chrono::Utc;
use std::process::ExitCode;

pub(super) async fn report(
    cfg: &Config,
    format: Format,
    only: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let state = State::connect(&cfg.state_url).await?;
    let known = state.stores().await?;
    let stores: Vec<(String, String)> = known
        .into_iter()
        .filter(|(n, _)| super::selected(only, n))
        .collect();
    if let Some(o) = only {
        if stores.is_empty() {
            anyhow::bail!("the state database has no store named {o}; run `regwarden scan` first");
        }
    }
    let now = Utc::now();
    let mut stdout = std::io::stdout().lock();
    if format == Format::Csv {
        let names: Vec<String> = stores.into_iter().map(|(n, _)| n).collect();
        report::csv(&state, &names, &mut stdout).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut summaries = Vec::new();
    for (name, kind) in &stores {
        summaries.push(state.summary(name, kind, now, cfg.inactive_after).await?);
    }
    report::add_cimd_opportunities(&mut summaries, &cfg.scorer.catalog);
    report::add_vouch_suggestions(&state, &mut summaries, now).await?;
    let mut journal = Vec::new();
    for (name, _) in &stores {
        let recent = state.recent_actions(name, report::journal::RECENT).await?;
        journal.push((name.clone(), recent));
    }
    use std::io::Write;
    match format {
        Format::Json => {
            let actions: serde_json::Map<String, serde_json::Value> = journal
                .iter()
                .map(|(n, e)| (n.clone(), serde_json::json!(e)))
                .collect();
            writeln!(
                stdout,
                "{}",
                crate::escape::to_json_pretty(
                    &serde_json::json!({ "generated_at": now, "stores": summaries, "actions": actions })
                )?
            )?
        }
        _ => {
            write!(stdout, "{}", report::table(&summaries, now))?;
            write!(stdout, "{}", report::journal::table(&journal))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
