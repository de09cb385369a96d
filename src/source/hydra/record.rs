//! One `hydra_client` row to a client document: the columns read, the metadata they hold,
//! and the origin Hydra does not record but its rows betray.

use super::super::SourceRecord;
use crate::escape::esc;
use crate::model::{Origin, Usage};
use crate::normalize::parse_time;
use serde_json::{Map, Value};

/// The columns read from `hydra_client`, in order.
pub(super) const COLUMNS: [&str; 21] = [
    "id",
    "client_name",
    "redirect_uris",
    "grant_types",
    "response_types",
    "scope",
    "token_endpoint_auth_method",
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "jwks_uri",
    "contacts",
    "owner",
    "metadata",
    "created_at",
    "updated_at",
    "skip_consent",
    "access_token_strategy",
    "sector_identifier_uri",
    "request_uris",
];

/// Positions in [`COLUMNS`] that are client metadata (the rest: id, times, origin hints).
fn is_metadata_column(i: usize) -> bool {
    (1..15).contains(&i) || i >= 19
}

/// Builds the client document from one row read as text (column order of [`COLUMNS`]).
pub(super) fn record_from_row<'a>(text: &dyn Fn(usize) -> Option<&'a str>) -> SourceRecord {
    let client_id = text(0).unwrap_or_default().to_owned();
    let mut warnings = Vec::new();
    let mut doc = Map::new();
    doc.insert("client_id".into(), Value::String(client_id.clone()));
    for (i, key) in COLUMNS.iter().enumerate() {
        if !is_metadata_column(i) {
            continue;
        }
        let Some(v) = text(i) else { continue };
        let value = match *key {
            "redirect_uris" | "grant_types" | "response_types" | "contacts" | "metadata"
            | "request_uris" => match serde_json::from_str::<Value>(v) {
                Ok(j) => j,
                Err(e) => {
                    warnings.push(format!("{key}: column is not valid JSON ({e})"));
                    continue;
                }
            },
            _ => Value::String(v.to_owned()),
        };
        doc.insert((*key).to_owned(), value);
    }
    let mut time = |i: usize, key: &str| {
        let raw = text(i)?;
        parse_time(raw).or_else(|| {
            warnings.push(format!("{key}: {:?} is not a timestamp", esc(raw)));
            None
        })
    };
    let created_at = time(15, "created_at");
    let updated_at = time(16, "updated_at");
    // A client regwarden quarantined is judged as it was registered, not as the quarantine
    // left it (blocked grants, no redirect URIs); its tag says nothing about its origin.
    let Value::Object(mut doc) = crate::quarantine::as_before(Value::Object(doc)) else {
        unreachable!("as_before keeps an object an object")
    };
    let origin = origin(&client_id, doc.get("metadata"), text(17), text(18));
    // `metadata` is admin-only, not client metadata: it served the origin guess.
    doc.remove("metadata");
    doc.remove("owner");
    SourceRecord {
        locator: format!("hydra_client {}", esc(&client_id)),
        doc: Value::Object(doc),
        created_at,
        created_from: Some(crate::model::CreatedFrom::Store),
        updated_at,
        usage: Usage::Never,
        origin,
        warnings,
    }
}

/// Hydra records no origin. DCR requests cannot set `metadata`, `skip_consent` or
/// `access_token_strategy`, nor choose their client_id (Hydra generates a UUIDv4); any of
/// those marks an admin-created client. Otherwise the client is taken as registered
/// through DCR.
pub(super) fn origin(
    client_id: &str,
    metadata: Option<&Value>,
    skip_consent: Option<&str>,
    strategy: Option<&str>,
) -> Origin {
    if client_id.starts_with("https://") {
        return Origin::Cimd;
    }
    let has_metadata = match metadata {
        None | Some(Value::Null) => false,
        Some(Value::Object(m)) => m.keys().any(|k| k != crate::quarantine::KEY),
        Some(_) => true,
    };
    let skip = matches!(skip_consent.map(str::trim), Some("true" | "t" | "1"));
    let strategy = strategy.is_some_and(|s| !s.trim().is_empty());
    if has_metadata || skip || strategy || !is_uuid_v4(client_id) {
        Origin::Admin
    } else {
        Origin::Dcr
    }
}

/// True for the canonical text form of a version-4 UUID.
pub fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
        && b[14] == b'4'
        && matches!(b[19].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')
}
