//! `regwarden score`: offline scoring of RFC 7591 JSON Lines (the command-line contract in ARCHITECTURE.md).

use crate::config::Config;
use anyhow::Context;
use chrono::Utc;
use std::path::Path;
use std::process::ExitCode;

pub(super) async fn score(
    cfg: &Config,
    input: &Path,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::new(stdout);
    let tally = crate::offline::score_file(input, &cfg.scorer, now, &mut out)
        .await
        .with_context(|| format!("cannot score {}", input.display()))?;
    if tally.errors > 0 {
        eprintln!(
            "regwarden: {} line(s) could not be scored; see their error objects",
            tally.errors
        );
    }
    Ok(ExitCode::SUCCESS)
}
