//! The commands that plan and act: `plan`, `apply`, `restore`.

use super::{action_status as status, select_stores as stores, PlanFormat};
use crate::act::{self, Runner};
use crate::config::Config;
use crate::leader::{Elector, Term};
use crate::model::ScanKind;
use crate::policy::Mode;
use crate::refresh::{no_progress, refresh, Scan};
use crate::source::Source;
use crate::state::State;
use chrono::Utc;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub(super) async fn plan(
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
                crate::escape::to_json_pretty(&serde_json::json!({ "plans": out }))?
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

pub(super) async fn apply(cfg: &Config, yes: bool, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let mode = if yes { Mode::Enforce } else { cfg.mode };
    let state = State::connect(&cfg.state_url).await?;
    if mode == Mode::DryRun {
        return apply_as(cfg, &state, mode, only).await;
    }
    let term = lead(cfg, &state).await?;
    let r = tokio::select! {
        r = apply_as(cfg, &term.state, mode, only) => r,
        // As in the daemon: what is under way stops at once (its intent stays open for
        // whoever leads next to settle).
        _ = term.lost.cancelled() => Err(anyhow::anyhow!(
            "the leader lease was lost (the state database did not answer in time); stopped"
        )),
    };
    term.end().await;
    r
}

/// Leads for one command that acts: on a state database shared by replicas (PostgreSQL), the
/// leader lease is taken for the command's run, so a daemon and the command never act at
/// once; every intent is written under its fence. A lease held by another is watched: renewed
/// (a live leader, which renews every third of it), the command is refused; not renewed (a
/// process that died holding it, such as a killed command), it is waited out.
async fn lead(cfg: &Config, state: &State) -> anyhow::Result<Term> {
    let elector = Elector::new(state, cfg.lease);
    let give_up = Instant::now() + cfg.lease + cfg.lease / 3;
    let mut seen: Option<(String, i64, i64)> = None;
    loop {
        if let Some(term) = elector.lead_now().await? {
            return Ok(term);
        }
        let held = state.lease_row().await?;
        let who = |(holder, epoch, _): &(String, i64, i64)| {
            format!("{} (epoch {epoch})", crate::escape::esc(holder))
        };
        match (&seen, held) {
            (_, None) => {} // Given up or run out just now: try again.
            (None, Some(h)) => {
                eprintln!(
                    "regwarden: the leader lease is held by {}; waiting for it to run out (a daemon \
                     that leads renews it, and then this is refused)",
                    who(&h)
                );
                seen = Some(h);
            }
            (Some(first), Some(h)) if *first != h || Instant::now() > give_up => {
                anyhow::bail!(
                    "another regwarden leads on this state database: {} holds the leader lease, \
                     and only the leader acts; nothing was done. Let the daemon act (mode = \
                     \"enforce\"), or stop it (a stopped daemon gives the lease up) and run this again",
                    who(&h)
                )
            }
            (Some(_), Some(_)) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn apply_as(
    cfg: &Config,
    state: &State,
    mode: Mode,
    only: Option<&str>,
) -> anyhow::Result<ExitCode> {
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
        if let Err(e) = full_refresh(cfg, state, store).await {
            eprintln!("{}: the scan failed; nothing acted on: {e:#}", store.name);
            exit = ExitCode::FAILURE;
            continue;
        }
        let runner = Runner {
            state,
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

/// A complete scan of one store, judged, with a line saying what it found.
async fn full_refresh(
    cfg: &Config,
    state: &crate::state::State,
    store: &crate::config::StoreConfig,
) -> anyhow::Result<()> {
    let source = Source::open(store).await?;
    let cimd = cfg.fetch.cimd(None)?;
    let cancel = tokio_util::sync::CancellationToken::new();
    tokio::spawn(super::run::stop_on_signal(cancel.clone()));
    let scan = Scan {
        state,
        store,
        source: &source,
        scorer: &cfg.scorer,
        cimd: cimd.as_ref(),
        cancel: &cancel,
        progress: &no_progress,
    };
    let r = refresh(&scan, ScanKind::Full, Utc::now()).await?;
    println!("{}", super::scan::summary(&store.name, &r));
    Ok(())
}

pub(super) async fn restore(cfg: &Config, id: i64) -> anyhow::Result<ExitCode> {
    let state = State::connect(&cfg.state_url).await?;
    let term = lead(cfg, &state).await?;
    let restored = tokio::select! {
        r = act::restore(&term.state, &cfg.stores, id) => r,
        _ = term.lost.cancelled() => {
            term.end().await;
            anyhow::bail!("the leader lease was lost (the state database did not answer in time); stopped")
        }
    };
    term.end().await;
    match restored {
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
