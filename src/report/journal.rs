//! The journal's part of `regwarden report`: the most recent actions with their outcomes.

use crate::act::JournalEntry;
use crate::escape::{esc_built, esc_max};
use std::fmt::Write;

/// How many recent actions the report shows per store.
pub const RECENT: u32 = 20;

/// Renders each store's recent actions (newest first) for people.
pub fn table(stores: &[(String, Vec<JournalEntry>)]) -> String {
    let mut out = String::new();
    for (store, entries) in stores {
        if entries.is_empty() {
            let _ = writeln!(out, "Actions in {store}: none journaled");
            continue;
        }
        let _ = writeln!(out, "Recent actions in {store} (newest first; restore a delete with `regwarden restore ID`):");
        let _ = writeln!(
            out,
            "  {:>6} {:<20} {:<10} {:<8} {:<38} {:<20} reason",
            "id", "intent (UTC)", "action", "mode", "client_id", "outcome"
        );
        for e in entries {
            let outcome = match (&e.outcome, &e.error) {
                (None, _) => "PENDING".to_owned(),
                (Some(o), Some(err)) => format!("{o}: {}", esc_max(err, 60)),
                (Some(o), None) => o.clone(),
            };
            let _ = writeln!(
                out,
                "  {:>6} {:<20} {:<10} {:<8} {:<38} {:<20} {}",
                e.id,
                e.intent_at.format("%Y-%m-%d %H:%M:%S"),
                esc_max(&e.action, 10),
                esc_max(&e.mode, 8),
                esc_max(&e.client_id, 38),
                outcome,
                esc_built(&e.reason, 80)
            );
        }
    }
    out
}
