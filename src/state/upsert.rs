//! The statement that records a batch of registrations: one multi-row upsert.

use std::sync::OnceLock;

/// Rows per upsert statement: 14 parameters each (23 with verdicts), 23,000 at most, below
/// every backend's limit (SQLite 32,766, PostgreSQL 65,535). One statement per batch of the default size,
/// on its own: SQLite keeps a statement journal (a temporary file: half of a full scan's
/// writes) for a statement writing many rows inside a larger transaction, not for one that
/// is a transaction of its own. Kept prepared only at this size, as `UPDATE_CHUNK` says.
pub(super) const UPSERT_CHUNK: usize = 1000;

/// The full-size upserts, by backend and whether they carry verdicts: built once (building
/// one per batch was a tenth of a first scan's recording).
pub(super) static FULL_UPSERTS: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];

/// A multi-row upsert of `rows` registrations, fourteen parameters per row in column order.
/// The rows it changes anything of that a verdict reads are marked stale first
/// ([`super::known::Known::stale_by`]).
/// On conflict, usage only ever moves forward: a use on record is never forgotten because
/// the store pruned its token history (Hydra's janitor does). A creation time, once known,
/// stays known when the evidence for it expires (Keycloak purges old events).
/// `verdicts`: each row carries its verdict as well (nine more parameters: band, score,
/// reasons, family, software, due_at and the judged columns), and needs no mark; only a
/// first scan's, whose rows are all new (see [`State::record_batch`]).
/// `revive`: the rows include registrations that were gone, whose `gone_at` is cleared.
/// Other rows leave it out of the statement: SQLite rewrites the entries of every index a
/// set column is in or filters on, and three indexes read `gone_at` (four pages written per
/// registration instead of one).
pub(super) fn upsert_sql(
    rows: usize,
    revive: bool,
    verdicts: bool,
    mut p: impl FnMut() -> String,
) -> String {
    let values: Vec<String> = (0..rows)
        .map(|_| {
            let row: Vec<String> = (0..14).map(|_| p()).collect();
            let judged = if verdicts {
                let v: Vec<String> = (0..9).map(|_| p()).collect();
                v.join(", ")
            } else {
                "'neutral'".to_owned()
            };
            format!(
                "({}, NULL, {}, {}, {judged})",
                row[..12].join(", "),
                row[12],
                row[13]
            )
        })
        .collect();
    let judged_columns = if verdicts {
        "band, score, reasons, family, software, due_at, judged_created_at, judged_sites, judged_flags"
    } else {
        "band"
    };
    format!(
        "INSERT INTO registrations (store, client_id, client_name, origin, created_at, created_from, updated_at, usage,
                                    last_used_at, first_seen_at, last_seen_at, last_seen_scan, gone_at, metadata, warnings,
                                    {judged_columns})
         VALUES {}
         ON CONFLICT (store, client_id) DO UPDATE SET
             client_name = excluded.client_name,
             origin = excluded.origin,
             created_from = CASE WHEN excluded.created_at IS NULL THEN registrations.created_from
                                 ELSE excluded.created_from END,
             created_at = COALESCE(excluded.created_at, registrations.created_at),
             updated_at = excluded.updated_at,
             usage = CASE WHEN excluded.usage = 'used' OR registrations.usage = 'used' THEN 'used'
                          WHEN excluded.usage = 'never' OR registrations.usage = 'never' THEN 'never'
                          ELSE 'unknown' END,
             last_used_at = CASE WHEN excluded.last_used_at IS NULL THEN registrations.last_used_at
                                 WHEN registrations.last_used_at IS NULL OR excluded.last_used_at > registrations.last_used_at
                                 THEN excluded.last_used_at ELSE registrations.last_used_at END,
             last_seen_at = excluded.last_seen_at,
             last_seen_scan = excluded.last_seen_scan,{}
             metadata = excluded.metadata,
             warnings = excluded.warnings",
        values.join(",\n"),
        if revive { "\n             gone_at = NULL," } else { "" }
    )
}
