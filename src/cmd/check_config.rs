//! `regwarden check-config`: load the configuration, print every problem with its key.

use super::{describe_config_error, EXIT_CONFIG};
use crate::config;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn check_config(path: &Path) -> ExitCode {
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
            for s in &cfg.stores {
                println!(
                    "  store {} ({}), batches of {}",
                    s.name,
                    s.kind.as_str(),
                    s.batch_size
                );
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
