//! `regwarden score`: offline scoring and clustering of RFC 7591 JSON Lines, one verdict per
//! input line (the command-line contract in ARCHITECTURE.md). Two passes over the file: families first, then verdicts,
//! so memory holds the families, not the input.

use crate::model::Registration;
use crate::score::family::FamilyIndex;
use crate::score::Scorer;
use crate::source::jsonl::{parse_line, read_line_capped, MAX_LINE};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use tokio::io::BufReader;

/// Lines scored and lines that could not be.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub scored: u64,
    pub errors: u64,
}

/// One input line: a registration, or why not.
fn read_record(buf: &[u8], too_long: bool, line: u64) -> Result<Registration, String> {
    if too_long {
        return Err(format!("line is longer than {MAX_LINE} bytes"));
    }
    let text = String::from_utf8_lossy(buf);
    if text.trim().is_empty() {
        return Err("empty line".into());
    }
    let rec = parse_line(&text, format!("line {line}")).map_err(|r| r.reason)?;
    rec.into_registration()
        .map(|(r, _)| r)
        .map_err(|e| e.to_string())
}

/// Calls `each` with every line's number and record, in order.
async fn for_each_line(
    path: &Path,
    mut each: impl FnMut(u64, Result<Registration, String>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(tokio::fs::File::open(path).await?);
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        let Some(too_long) = read_line_capped(&mut reader, &mut buf, MAX_LINE).await? else {
            return Ok(());
        };
        line += 1;
        each(line, read_record(&buf, too_long, line))?;
    }
}

pub async fn score_file(
    path: &Path,
    scorer: &Scorer,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> std::io::Result<Tally> {
    let mut families = FamilyIndex::default();
    for_each_line(path, |_, rec| {
        if let Ok(r) = rec {
            scorer.observe(&mut families, &r);
        }
        Ok(())
    })
    .await?;
    families.freeze();

    let mut tally = Tally::default();
    for_each_line(path, |line, rec| {
        let value = match rec {
            Ok(r) => {
                tally.scored += 1;
                let v = scorer.judge(&r, &families, now);
                json!({
                    "client_id": r.client_id,
                    "band": v.band,
                    "score": v.score,
                    "reasons": v.reasons,
                    "cluster": v.family,
                    "software": v.software,
                })
            }
            Err(error) => {
                tally.errors += 1;
                json!({ "line": line, "error": error })
            }
        };
        // Attacker text stays exact for a JSON reader, and inert on a terminal.
        out.write_all(crate::escape::to_json_line(&value)?.as_bytes())?;
        out.write_all(b"\n")
    })
    .await?;
    out.flush()?;
    Ok(tally)
}
