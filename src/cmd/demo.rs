//! `regwarden demo`: build the store, run one full cycle in dry-run, print the report.

use super::report::report;
use super::run::run;
use super::scan::scan;
use super::{describe_config_error, init_logging};
use crate::config::{self, Config};
use crate::report::Format;
use crate::state::State;
use anyhow::Context;
use chrono::Utc;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The store a demo builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoKind {
    /// Ory Hydra v2.3.0's SQLite schema.
    Hydra,
    /// A Keycloak 26.7 realm's tables, in SQLite.
    Keycloak,
}

pub(super) async fn demo(
    registrations: usize,
    serve: Option<SocketAddr>,
    dir: &Path,
    kind: DemoKind,
) -> anyhow::Result<ExitCode> {
    if registrations == 0 {
        anyhow::bail!("--registrations must be at least 1");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let now = Utc::now();
    let state_path = dir.join("state.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", state_path.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot replace {}", p.display()))?;
        }
    }
    let population = crate::demo::generate(registrations, now);
    let (store_file, built) = match kind {
        DemoKind::Hydra => {
            let path = dir.join("hydra.db");
            crate::demo::write_hydra_store(&path, &population, now)
                .await
                .context("cannot build the demo store")?;
            (
                "hydra.db",
                format!(
                    "Built a Hydra v2.3.0 SQLite store with {registrations} registrations in {}",
                    path.display()
                ),
            )
        }
        DemoKind::Keycloak => {
            let path = dir.join("keycloak.db");
            let limit = crate::demo::write_keycloak_store(&path, &population, now)
                .await
                .context("cannot build the demo store")?;
            (
                "keycloak.db",
                format!(
                    "Built Keycloak 26.7's tables for realm {} in SQLite with {registrations} registrations, \
                     6 built-in clients and a Max Clients limit of {limit}, in {}",
                    crate::demo::KEYCLOAK_REALM,
                    path.display()
                ),
            )
        }
    };
    let config_path = dir.join("regwarden.toml");
    let listen = serve.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9464)));
    std::fs::write(
        &config_path,
        demo_config(listen, kind, store_file, registrations),
    )
    .with_context(|| format!("cannot write {}", config_path.display()))?;
    let cfg = config::load(&config_path).map_err(|e| anyhow::anyhow!(describe_config_error(&e)))?;
    init_logging(&cfg, serve.is_some());

    eprintln!("{built}");
    let exit = scan(&cfg, None, true).await?;
    if exit != ExitCode::SUCCESS {
        return Ok(exit);
    }
    println!();
    report(&cfg, Format::Table, None).await?;
    demo_plan_summary(&cfg).await?;
    println!(
        "Try: regwarden report --config {} --format json",
        config_path.display()
    );
    if let Some(addr) = serve {
        println!("Serving http://{addr}/metrics (Ctrl-C stops)");
        return run(cfg).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The dry-run half of the demo's cycle: what the default policy would do, by rule.
async fn demo_plan_summary(cfg: &Config) -> anyhow::Result<()> {
    let state = State::connect(&cfg.state_url).await?;
    for store in &cfg.stores {
        let plan = crate::act::plan_store(&state, &store.name, &cfg.policy, Utc::now()).await?;
        let mut by_action: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, u64>> =
            std::collections::BTreeMap::new();
        for a in &plan.actions {
            *by_action
                .entry(a.action.as_str())
                .or_default()
                .entry(a.rule.as_str())
                .or_default() += 1;
        }
        let actions: Vec<String> = by_action
            .iter()
            .map(|(action, rules)| {
                let n: u64 = rules.values().sum();
                let rules: Vec<String> = rules.iter().map(|(r, n)| format!("{r} {n}")).collect();
                format!("{action} {n} ({})", rules.join(", "))
            })
            .collect();
        println!(
            "Dry run on {}: the default policy plans {} action(s) over {} registrations: {}.",
            store.name,
            plan.actions.len(),
            plan.live,
            if actions.is_empty() {
                "none".to_owned()
            } else {
                actions.join("; ")
            }
        );
        match cfg.policy.quarantine_grace {
            Some(grace) => println!(
                "  A quarantine {} (restore undoes it); the client is deleted after {} if it stays unused.",
                match store.kind {
                    crate::config::StoreKind::Keycloak { .. } => "disables the client in Keycloak",
                    _ => "makes Hydra refuse the client's new tokens",
                },
                crate::policy::days(grace)
            ),
            None => println!("  Quarantine is off: the rules delete at once."),
        }
        if let Err(refusal) = crate::policy::check_limits(&plan, &cfg.policy.limits) {
            println!("  {refusal}");
        }
        println!(
            "  Nothing was changed: `regwarden plan --config {}` lists them.",
            cfg.source
                .as_deref()
                .unwrap_or(Path::new("regwarden.toml"))
                .display()
        );
    }
    Ok(())
}

fn demo_config(
    listen: SocketAddr,
    kind: DemoKind,
    store_file: &str,
    registrations: usize,
) -> String {
    let store = match kind {
        // Hydra has no cap of its own; the demo sets one (the store about 80% full) so the
        // dashboard's capacity panels have data, as an operator's `capacity` would give.
        DemoKind::Hydra => format!(
            "kind = \"hydra\"\ndatabase_url = \"sqlite://{store_file}\"\ncapacity = {}",
            demo_capacity(registrations)
        ),
        DemoKind::Keycloak => format!(
            "kind = \"keycloak\"\nrealm = \"{}\"\ndatabase_url = \"sqlite://{store_file}\"",
            crate::demo::KEYCLOAK_REALM
        ),
    };
    format!(
        r#"# Written by `regwarden demo`. Paths are relative to this file.
[state]
url = "sqlite://state.db"

[http]
listen = "{listen}"

[[stores]]
name = "demo"
{store}
"#
    )
}

/// A round cap the demo's Hydra store fills to about 80%.
fn demo_capacity(registrations: usize) -> usize {
    (registrations * 5 / 4).div_ceil(100).max(1) * 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_hydra_store_has_a_capacity_it_does_not_fill() {
        assert_eq!(demo_capacity(2500), 3200);
        assert_eq!(demo_capacity(2000), 2500);
        assert_eq!(demo_capacity(1), 100);
        let cfg = demo_config(
            "127.0.0.1:1".parse().unwrap(),
            DemoKind::Hydra,
            "h.db",
            2000,
        );
        assert!(cfg.contains("capacity = 2500"), "{cfg}");
    }
}
