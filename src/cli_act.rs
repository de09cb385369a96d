//! The commands that plan and act: `plan`, `apply`, `restore`.

use crate::act::{self, ActionError, Runner};
use crate::cli::{scan, PlanFormat, EXIT_CONFIG};
use crate::config::{Config, StoreConfig};
use crate::policy::Mode;
use crate::state::State;
use chrono::Utc;
use std::process::ExitCode;

fn stores<'a>(cfg: &'a Config, only: Option<&str>) -> anyhow::Result<Vec<&'a StoreConfig>> {
    let s: Vec<_> = cfg
        .stores
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.name))
        .collect();
    if s.is_empty() {
        anyhow::bail!(
            "no store{} in the configuration",
            only.map(|o| format!(" named {o}")).unwrap_or_default()
        );
    }
    Ok(s)
}

/// Exit status for an error: bad rules are a configuration problem (2), the rest runtime (1).
fn status(e: &ActionError) -> ExitCode {
    match e {
        ActionError::Plan(_) | ActionError::NoAdminApi { .. } => ExitCode::from(EXIT_CONFIG),
        _ => ExitCode::FAILURE,
    }
}

pub async fn plan(
    cfg: &Config,
    format: PlanFormat,
    only: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let state = State::connect(&cfg.state_url).await?;
    let now = Utc::now();
    let mut plans = Vec::new();
    let mut exit = ExitCode::SUCCESS;
    for store in stores(cfg, only)? {
        let cursor = state.store_cursor(&store.name).await?;
        if cursor.last_full_scan_at.is_none() {
            eprintln!(
                "{}: no complete scan recorded yet; run `regwarden scan --full` first",
                store.name
            );
            exit = ExitCode::FAILURE;
            continue;
        }
        match act::plan_store(&state, &store.name, &cfg.policy, now).await {
            Ok(p) => {
                let limits = crate::policy::check_limits(&p, &cfg.policy.limits).err();
                plans.push((p, limits));
            }
            Err(e) => {
                eprintln!("{}: {e}", store.name);
                exit = status(&e);
            }
        }
    }
    match format {
        PlanFormat::Json => {
            let out: Vec<_> = plans
                .iter()
                .map(|(p, refusal)| {
                    serde_json::json!({
                        "store": p.store, "generated_at": p.generated_at, "mode": cfg.mode.as_str(),
                        "live": p.live, "protected": p.protected,
                        "refused": refusal.as_ref().map(|r| r.to_string()),
                        "actions": p.actions,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "plans": out }))?
            );
        }
        PlanFormat::Table => {
            for (p, refusal) in &plans {
                print!("{p}");
                if let Some(r) = refusal {
                    println!("  REFUSED: {r}");
                }
            }
            println!(
                "mode: {}{}",
                cfg.mode.as_str(),
                if cfg.mode == Mode::DryRun {
                    " (nothing is changed; `regwarden apply --yes` acts once)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(exit)
}

pub async fn apply(cfg: &Config, yes: bool, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let mode = if yes { Mode::Enforce } else { cfg.mode };
    let state = State::connect(&cfg.state_url).await?;
    let mut exit = ExitCode::SUCCESS;
    for store in stores(cfg, only)? {
        if mode == Mode::Enforce {
            // Before a scan, so a misconfigured store costs nothing.
            if let Err(e) = act::admin_api(store) {
                eprintln!("{}: {e}", store.name);
                exit = status(&e);
                continue;
            }
        }
        // Only the result of a complete scan is ever acted on.
        if scan(cfg, Some(&store.name), true).await? != ExitCode::SUCCESS {
            eprintln!("{}: the scan failed; nothing acted on", store.name);
            exit = ExitCode::FAILURE;
            continue;
        }
        let runner = Runner {
            state: &state,
            store,
            policy: &cfg.policy,
            mode,
            metrics: None,
        };
        match runner.run(Utc::now()).await {
            Ok((plan, s)) => {
                print!("{plan}");
                match mode {
                    Mode::DryRun => println!(
                        "{}: dry-run: {} action(s) would be taken; nothing changed (use --yes, or mode = \"enforce\")",
                        store.name, s.simulated
                    ),
                    Mode::Enforce => println!(
                        "{}: {} done, {} already gone, {} failed, {} retries (see `regwarden report` for the journal)",
                        store.name, s.done, s.already_gone, s.errors, s.retries
                    ),
                }
                if s.errors > 0 {
                    exit = ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", store.name);
                exit = status(&e);
            }
        }
    }
    Ok(exit)
}

pub async fn restore(cfg: &Config, id: i64) -> anyhow::Result<ExitCode> {
    let state = State::connect(&cfg.state_url).await?;
    match act::restore(&state, &cfg.stores, id).await {
        Ok(r) => {
            let what = match r.undone {
                crate::policy::ActionKind::Quarantine => "lifted the quarantine of",
                _ => "re-created",
            };
            println!(
                "{what} client {} in store {} (journal action {})",
                crate::escape::esc(&r.client_id),
                r.store,
                r.action_id
            );
            println!("{}", r.note);
            println!(
                "If a deny, band or family rule still matches it, the next enforcing run quarantines it again: allowlist it ([[allow]] client_id) if it must stay."
            );
            if let Some(secret) = r.new_secret {
                // On stdout for the operator only: never logged.
                println!(
                    "This is a confidential client: its old secret cannot come back. Its NEW secret, shown once:\n{secret}\nGive it to the client's owner; until they update it, the client's token requests fail."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("regwarden: {e}");
            Ok(status(&e))
        }
    }
}
