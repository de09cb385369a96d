//! `regwarden scan`: refresh the configured stores once, with progress on a terminal.

use super::run::stop_on_signal;
use crate::config::Config;
use crate::refresh::{refresh, Refreshed, Scan};
use crate::source::Source;
use crate::state::{ScanKind, State};
use chrono::Utc;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub(super) async fn scan(cfg: &Config, only: Option<&str>, full: bool) -> anyhow::Result<ExitCode> {
    let stores = super::select_stores(cfg, only).map_err(|_| {
        anyhow::anyhow!(
            "no store to scan{}",
            only.map(|o| format!(" named {o}")).unwrap_or_default()
        )
    })?;
    let state = State::connect(&cfg.state_url).await?;
    let cimd = cfg.fetch.cimd(None)?;
    let cancel = CancellationToken::new();
    tokio::spawn(stop_on_signal(cancel.clone()));
    let mut failed = false;
    for store in stores {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg}: {human_pos} records in {elapsed}",
            )
            .expect("valid template"),
        );
        bar.set_message(format!("scanning {}", store.name));
        let outcome = async {
            let source = Source::open(store).await?;
            let kind = if full {
                ScanKind::Full
            } else {
                ScanKind::Incremental
            };
            let progress = |n| bar.set_position(n);
            let scan = Scan {
                state: &state,
                store,
                source: &source,
                scorer: &cfg.scorer,
                cimd: cimd.as_ref(),
                cancel: &cancel,
                progress: &progress,
            };
            Ok::<_, anyhow::Error>(refresh(&scan, kind, Utc::now()).await?)
        }
        .await;
        bar.finish_and_clear();
        match outcome {
            Ok(r) => println!("{}", summary(&store.name, &r)),
            Err(e) => {
                failed = true;
                eprintln!("{}: scan failed: {e:#}", store.name);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What a refresh did, in two lines: the scan, then the judgement.
pub(super) fn summary(store: &str, r: &Refreshed) -> String {
    let (c, j) = (&r.scan.counts, &r.judgement);
    format!(
        "{store}: {} scan, {} seen, {} new, {} changed, {} gone, {} warnings, {} refused in {:.2}s\n\
         {store}: {} registrations judged ({} verdicts changed), {} families, {} duplicates",
        r.scan.kind.as_str(),
        c.seen,
        c.new,
        c.changed,
        c.gone,
        c.warnings,
        c.refused,
        r.scan.duration.as_secs_f64(),
        j.judged,
        j.changed,
        j.families.families,
        j.families.duplicates
    )
}
