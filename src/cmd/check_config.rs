//! `regwarden check-config`: load the configuration, print every problem with its key.

use super::{describe_config_error, EXIT_CONFIG};
use crate::config;
use std::path::Path;
use std::process::ExitCode;

pub(super) async fn check_config(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(cfg) => {
            println!("{}: OK", path.display());
            println!("  state database: {}", cfg.state_url.redacted_url());
            println!("  listen: {}", cfg.listen);
            println!(
                "  scan: {}   reconcile: {}",
                cfg.incremental_scans.expr(),
                cfg.full_scans.expr()
            );
            let p = &cfg.policy;
            println!(
                "  actions: {} on \"{}\", at most {} per run and {} of a store; {} allow and {} deny rule(s)",
                cfg.mode.as_str(),
                cfg.actions_schedule.expr(),
                p.limits.max_actions_per_run,
                p.limits.max_fraction_per_run,
                p.allow.len(),
                p.deny.len()
            );
            let f = &cfg.fetch;
            if f.enabled {
                println!(
                    "  fetch: on: CIMD documents and {} publisher key set(s) by URL; timeouts {:?} to connect, {:?} in all; {} at once",
                    cfg.publisher_keys.len(),
                    f.settings.connect_timeout,
                    f.settings.timeout,
                    f.settings.max_concurrent
                );
            } else {
                println!("  fetch: off (no metadata document or key set is fetched)");
            }
            for s in &cfg.stores {
                let read = if s.kind.api_only() {
                    ", read through its admin API"
                } else {
                    ""
                };
                println!(
                    "  store {} ({}{read}), batches of {}",
                    s.name,
                    s.kind.as_str(),
                    s.batch_size
                );
                if let Some(n) = store_notice(s).await {
                    println!("    note: {n}");
                }
            }
            if cfg.stores.is_empty() {
                println!("  no [[stores]] configured: nothing will be scanned");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {}", path.display(), describe_config_error(&e));
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// What the store itself says an operator should know (Keycloak: whether its events cover
/// the expiry windows; a store read through its API: what it cannot know), or why it could
/// not be asked. Hydra databases and JSON Lines files have nothing to say and are not opened.
async fn store_notice(store: &config::StoreConfig) -> Option<String> {
    if !matches!(store.kind, config::StoreKind::Keycloak { .. }) && !store.kind.api_only() {
        return None;
    }
    let open = crate::source::Source::open(store);
    match tokio::time::timeout(std::time::Duration::from_secs(15), open).await {
        Ok(Ok(source)) => source.notice(),
        Ok(Err(e)) => Some(format!("could not open the store to check it: {e}")),
        Err(_) => Some("could not open the store to check it: no answer in 15 s".into()),
    }
}
