//! `regwarden report`: the state database summarized as a table, JSON, or CSV rows.

pub mod journal;

use crate::escape::{esc, esc_built, esc_max};
use crate::score::text::shown_name;
use crate::score::Catalog;
use crate::state::{CimdOpportunity, State, StateError, Summary};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use std::fmt::Write as _;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

fn day(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".into())
}

fn moment(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "never".into())
}

/// Renders summaries as the readable table.
pub fn table(summaries: &[Summary], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if summaries.is_empty() {
        out.push_str("No store has been scanned yet. Run `regwarden scan` first.\n");
    }
    for s in summaries {
        let _ = writeln!(
            out,
            "Store {} ({}): {} live registrations, {} gone",
            s.store, s.kind, s.live, s.gone
        );
        let _ = writeln!(
            out,
            "  last successful scan: {}   last full scan: {}",
            moment(s.last_success_at),
            moment(s.last_full_scan_at)
        );
        if let Some(scan) = &s.last_scan {
            let _ = writeln!(
                out,
                "  last scan #{} ({}, {}): {} seen, {} new, {} gone, {} warnings, {} refused{}",
                scan.id,
                scan.kind,
                scan.outcome,
                scan.seen,
                scan.new,
                scan.gone,
                scan.warnings,
                scan.refused,
                scan.error
                    .as_deref()
                    .map(|e| format!("; error: {}", esc_max(e, 200)))
                    .unwrap_or_default()
            );
        }
        let pct = |n: u64| {
            if s.live == 0 {
                0.0
            } else {
                n as f64 * 100.0 / s.live as f64
            }
        };
        out.push_str("\n  By origin\n");
        for (origin, n) in &s.by_origin {
            let _ = writeln!(out, "    {origin:<10} {n:>9}  {:>5.1}%", pct(*n));
        }
        out.push_str("\n  By usage\n");
        for (label, key) in [
            ("used", "used"),
            ("never used", "never"),
            ("unknown", "unknown"),
        ] {
            let n = s.by_usage.get(key).copied().unwrap_or(0);
            let _ = writeln!(out, "    {label:<10} {n:>9}  {:>5.1}%", pct(n));
        }
        let _ = writeln!(
            out,
            "    inactive   {:>9}  {:>5.1}%  (older than {} days, no use within them)",
            s.inactive,
            pct(s.inactive),
            s.inactive_after_days
        );
        out.push_str("\n  By trust band\n");
        for band in ["trusted", "neutral", "suspicious", "malicious"] {
            let n = s.by_band.get(band).copied().unwrap_or(0);
            let _ = writeln!(out, "    {band:<10} {n:>9}  {:>5.1}%", pct(n));
        }
        if !s.risky.is_empty() {
            out.push_str("\n  Suspicious and malicious, worst first (regwarden explain CLIENT_ID for every reason)\n");
            for r in &s.risky {
                let _ = writeln!(
                    out,
                    "    {:>4} {:<10} {:<38} {}",
                    r.score,
                    r.band,
                    esc_max(&r.client_id, 38).to_string(),
                    shown_name(r.client_name.as_deref().unwrap_or("-"), 40)
                );
                if let Some(reason) = &r.top_reason {
                    let _ = writeln!(
                        out,
                        "         {}: {}",
                        reason.rule,
                        esc_built(&reason.detail, 110)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "\n  Families: {} ({} registrations beyond the first of each; largest {})",
            s.families.families, s.families.duplicates, s.families.largest
        );
        if !s.biggest_families.is_empty() {
            out.push_str("    family            software        registrations   in use  name\n");
        }
        for f in &s.biggest_families {
            let _ = writeln!(
                out,
                "    {:<17} {:<15} {:>13} {:>8}  {}",
                f.id,
                f.software.as_deref().unwrap_or("-"),
                f.size,
                f.used,
                shown_name(f.name.as_deref().unwrap_or("-"), 36)
            );
        }
        if !s.cimd_replaceable.is_empty() {
            out.push_str("\n  With Client ID Metadata Documents these clients need no registrations at all\n");
            for c in &s.cimd_replaceable {
                let _ = writeln!(
                    out,
                    "    {:<15} {:>7} registrations in {} famil{} would retire ({})",
                    c.software,
                    c.registrations,
                    c.families,
                    if c.families == 1 { "y" } else { "ies" },
                    c.cimd_client_id
                );
            }
        }
        if !s.vouch.is_empty() {
            out.push_str(
                "\n  Big, long-used families no catalog entry vouches for. If one is your own app,\n  \
                 vouch for it in a file named by [score] extra_catalog; registrations that copy\n  \
                 its name with other redirects are then impostors:\n",
            );
            for v in &s.vouch {
                let _ = writeln!(
                    out,
                    "\n    # family {}: {} registrations, {} in use, since {}",
                    v.family,
                    v.size,
                    v.used,
                    day(v.since)
                );
                for line in v.entry.lines() {
                    let _ = writeln!(out, "    {}", esc(line));
                }
            }
        }
        out.push_str("\n  By age (since registration)\n");
        for (label, n) in &s.by_age {
            let _ = writeln!(out, "    {label:<13} {n:>6}");
        }
        out.push_str("\n  Biggest name groups              registrations  never used\n");
        for g in &s.name_groups {
            let _ = writeln!(
                out,
                "    {:<30} {:>13} {:>11}",
                shown_name(&g.name, 30),
                g.registrations,
                g.never_used
            );
        }
        out.push_str("\n  Oldest never-used registrations\n");
        if s.oldest_unused.is_empty() {
            out.push_str("    (none)\n");
        }
        for u in &s.oldest_unused {
            let age = u
                .created_at
                .map(|c| format!("{}d", (now - c).num_days()))
                .unwrap_or_else(|| "?".into());
            let _ = writeln!(
                out,
                "    {}  {:>5}  {:<8} {:<38} {}",
                day(u.created_at),
                age,
                u.origin,
                esc_max(&u.client_id, 38).to_string(),
                shown_name(u.client_name.as_deref().unwrap_or("-"), 40)
            );
        }
        out.push('\n');
    }
    out
}

/// Fills each summary's CIMD opportunities from the catalog: families of clients that
/// publish a Client ID Metadata Document.
pub fn add_cimd_opportunities(summaries: &mut [Summary], catalog: &Catalog) {
    for s in summaries {
        s.cimd_replaceable = s
            .families_by_software
            .iter()
            .filter_map(|(software, families, registrations)| {
                let cimd = catalog.by_id(software)?.cimd_client_id.clone()?;
                Some(CimdOpportunity {
                    software: software.clone(),
                    cimd_client_id: cimd,
                    families: *families,
                    registrations: *registrations,
                })
            })
            .collect();
        s.cimd_replaceable
            .sort_by_key(|c| std::cmp::Reverse(c.registrations));
    }
}

/// Fills each summary's vouching suggestions from the state database.
pub async fn add_vouch_suggestions(
    state: &State,
    summaries: &mut [Summary],
    now: DateTime<Utc>,
) -> Result<(), ReportError> {
    use crate::score::vouch::{catalog_entry, VouchSuggestion, MIN_AGE_DAYS, MIN_SIZE, MIN_USED};
    for s in summaries {
        let since = now - chrono::Duration::days(MIN_AGE_DAYS);
        for (f, snapshot) in state
            .vouch_candidates(&s.store, MIN_SIZE, MIN_USED, since)
            .await?
        {
            let Ok(meta) = serde_json::from_str::<crate::model::ClientMetadata>(&snapshot) else {
                continue;
            };
            let name = f.name.clone().unwrap_or_default();
            s.vouch.push(VouchSuggestion {
                entry: catalog_entry(&name, &meta),
                family: f.id,
                name,
                size: f.size,
                used: f.used,
                since: f.first_created_at,
            });
        }
    }
    Ok(())
}

/// One CSV cell from attacker-controlled text: hidden characters (newlines, ANSI escapes,
/// bidi controls) escaped as in logs, so a cell never spans lines or reorders its row; a
/// spreadsheet formula defused with a leading `'` (OWASP: a cell starting, after any spaces,
/// with `=`, `+`, `-`, `@`, tab or carriage return); quoted when it holds `,` or `"`.
fn csv_field(s: &str) -> String {
    let shown = esc_max(s, usize::MAX).to_string();
    let s = if shown
        .trim_start_matches(' ')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        format!("'{shown}")
    } else {
        shown
    };
    if s.contains([',', '"', ';', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Writes every live registration as a CSV row, streaming from the state database.
pub async fn csv(state: &State, stores: &[String], out: &mut dyn Write) -> Result<(), ReportError> {
    writeln!(
        out,
        "store,client_id,client_name,origin,created_at,usage,last_used_at,first_seen_at,band"
    )?;
    let time = |t: Option<i64>| {
        t.and_then(|s| DateTime::from_timestamp(s, 0))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    for store in stores {
        let mut rows = std::pin::pin!(state.export_rows(store));
        while let Some(r) = rows.try_next().await? {
            let fields = [
                store.clone(),
                r.client_id,
                r.client_name.unwrap_or_default(),
                r.origin,
                time(r.created_at),
                r.usage,
                time(r.last_used_at),
                time(Some(r.first_seen_at)),
                r.band.unwrap_or_default(),
            ];
            writeln!(
                out,
                "{}",
                fields
                    .iter()
                    .map(|f| csv_field(f))
                    .collect::<Vec<_>>()
                    .join(",")
            )?;
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot write the report: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("a;b"), "\"a;b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("  =1+1"), "'  =1+1");
        assert_eq!(csv_field("Claude Code (ünïcode)"), "Claude Code (ünïcode)");
    }

    #[test]
    fn csv_cells_cannot_forge_rows_or_hide_text() {
        // A newline would start a forged row for any line-based reader (grep, wc, a log
        // shipper) even when quoted; ANSI and bidi controls would repaint or reorder it.
        let cell = csv_field("x\nprod,evil-client,Claude Code,dcr,,used,,,trusted");
        assert!(!cell.contains('\n'), "{cell}");
        assert_eq!(
            cell,
            "\"x\\u{a}prod,evil-client,Claude Code,dcr,,used,,,trusted\""
        );
        let cell = csv_field("\u{1b}[2K\rtrusted\u{202e}");
        assert_eq!(cell, "\\u{1b}[2K\\u{d}trusted\\u{202e}");
        assert!(!cell.chars().any(crate::escape::is_hidden));
        // A tab or carriage return first becomes an escape; nothing starts a formula.
        assert_eq!(csv_field("\t=1"), "\\u{9}=1");
        assert_eq!(csv_field("\r=1"), "\\u{d}=1");
    }
}
