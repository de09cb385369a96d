//! Normalization: any JSON value in, a bounded [`ClientMetadata`] plus readable warnings out.
//!
//! Total by construction: every field is read through a function that accepts any JSON value,
//! applies RFC 7591 defaults, bounds its size and says what it could not use. Only a record
//! without a usable `client_id` is refused, because nothing else identifies it.

use crate::escape::esc;
use crate::model::ClientMetadata;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::Value;

/// Longest string kept for a metadata value, in characters.
pub const MAX_STRING: usize = 2048;
/// Longest software statement kept (a signed JWT), in characters.
pub const MAX_STATEMENT: usize = 16 * 1024;
/// Most entries kept from a list (redirect URIs, grant types, contacts, ...).
pub const MAX_LIST: usize = 64;
/// Longest client_id accepted; longer ones are refused, since they cannot be kept whole.
pub const MAX_CLIENT_ID: usize = 1024;

/// A record that cannot be identified.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("client_id is missing")]
    MissingClientId,
    #[error("client_id must be a non-empty string, found {0}")]
    BadClientId(&'static str),
    #[error("client_id is longer than {MAX_CLIENT_ID} characters")]
    ClientIdTooLong,
    #[error("client_id contains a NUL character")]
    ClientIdNul,
}

/// The result of normalizing one client information object.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub client_id: String,
    pub metadata: ClientMetadata,
    /// What could not be used as registered, one readable line each (values escaped).
    pub warnings: Vec<String>,
}

/// Normalizes one RFC 7591 client information object.
pub fn normalize(doc: &Value) -> Result<Normalized, RecordError> {
    let obj = doc.as_object().ok_or(RecordError::NotAnObject(kind(doc)))?;
    let client_id = match obj.get("client_id") {
        None | Some(Value::Null) => return Err(RecordError::MissingClientId),
        Some(Value::String(s)) if s.is_empty() => {
            return Err(RecordError::BadClientId("an empty string"))
        }
        Some(Value::String(s)) if s.chars().count() > MAX_CLIENT_ID => {
            return Err(RecordError::ClientIdTooLong)
        }
        Some(Value::String(s)) if s.contains('\0') => return Err(RecordError::ClientIdNul),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(RecordError::BadClientId(kind(other))),
    };

    let mut r = Reader {
        obj,
        warnings: Vec::new(),
    };
    let redirect_uris = r.list("redirect_uris");
    for (i, uri) in redirect_uris.iter().enumerate() {
        if let Err(e) = url::Url::parse(uri) {
            r.warn(format!(
                "redirect_uris[{i}]: {} is not a valid URI ({e})",
                esc(uri)
            ));
        }
    }
    let mut grant_types = r.list("grant_types");
    if grant_types.is_empty() {
        grant_types.push("authorization_code".into());
    }
    let mut response_types = r.list("response_types");
    if response_types.is_empty() {
        response_types.push("code".into());
    }
    let metadata = ClientMetadata {
        client_name: r.string("client_name", MAX_STRING),
        redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method: r
            .string("token_endpoint_auth_method", MAX_STRING)
            .unwrap_or_else(|| "client_secret_basic".into()),
        scope: r.string("scope", MAX_STRING),
        client_uri: r.string("client_uri", MAX_STRING),
        logo_uri: r.string("logo_uri", MAX_STRING),
        policy_uri: r.string("policy_uri", MAX_STRING),
        tos_uri: r.string("tos_uri", MAX_STRING),
        jwks_uri: r.string("jwks_uri", MAX_STRING),
        sector_identifier_uri: r.string("sector_identifier_uri", MAX_STRING),
        request_uris: r.list("request_uris"),
        contacts: r.list("contacts"),
        software_id: r.string("software_id", MAX_STRING),
        software_version: r.string("software_version", MAX_STRING),
        software_statement: r.string("software_statement", MAX_STATEMENT),
        application_type: r.string("application_type", MAX_STRING),
    };
    Ok(Normalized {
        client_id,
        metadata,
        warnings: r.warnings,
    })
}

struct Reader<'a> {
    obj: &'a serde_json::Map<String, Value>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    /// A string field; `null`, absent or empty reads as absent, other types warn.
    fn string(&mut self, key: &str, max: usize) -> Option<String> {
        match self.obj.get(key)? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(self.bounded(key, s, max)),
            other => {
                self.warn(format!("{key}: expected a string, found {}", kind(other)));
                None
            }
        }
    }

    /// A list of strings; a lone string is taken as a one-element list (a common mistake),
    /// non-string entries are dropped with a warning, the list is cut at [`MAX_LIST`].
    fn list(&mut self, key: &str) -> Vec<String> {
        let items: &[Value] = match self.obj.get(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(v @ Value::String(_)) => {
                self.warn(format!("{key}: expected a list, found a string"));
                std::slice::from_ref(v)
            }
            Some(other) => {
                self.warn(format!(
                    "{key}: expected a list of strings, found {}",
                    kind(other)
                ));
                return Vec::new();
            }
        };
        if items.len() > MAX_LIST {
            self.warn(format!(
                "{key}: {} entries, kept the first {MAX_LIST}",
                items.len()
            ));
        }
        let mut out = Vec::with_capacity(items.len().min(MAX_LIST));
        for (i, item) in items.iter().take(MAX_LIST).enumerate() {
            match item {
                Value::String(s) if s.is_empty() => {
                    self.warn(format!("{key}[{i}]: empty string dropped"))
                }
                Value::String(s) => {
                    let v = self.bounded(key, s, MAX_STRING);
                    out.push(v);
                }
                other => self.warn(format!(
                    "{key}[{i}]: expected a string, found {}",
                    kind(other)
                )),
            }
        }
        out
    }

    /// Cuts a value to `max` characters and replaces NUL (which PostgreSQL text cannot hold).
    fn bounded(&mut self, key: &str, s: &str, max: usize) -> String {
        let mut v: String = match s.char_indices().nth(max) {
            Some((cut, _)) => {
                self.warn(format!("{key}: longer than {max} characters, cut"));
                s[..cut].to_owned()
            }
            None => s.to_owned(),
        };
        if v.contains('\0') {
            self.warn(format!("{key}: NUL characters replaced"));
            v = v.replace('\0', "\u{FFFD}");
        }
        v
    }
}

/// The JSON type of a value, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses a timestamp as databases and JSON write them: RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f]`
/// with an optional offset; a value without offset is UTC (Hydra writes UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(t) = parse_time_fast(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f %z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// The form every backend writes, parsed without format strings (it runs per row):
/// `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|±HH|±HH:MM|±HHMM]`.
fn parse_time_fast(b: &[u8]) -> Option<DateTime<Utc>> {
    let num = |at: std::ops::Range<usize>| -> Option<u32> {
        b.get(at)?.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let mut i = 19;
    let mut nanos = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        for k in 0..9 {
            nanos = nanos * 10
                + b.get(start + k)
                    .filter(|_| start + k < i)
                    .map_or(0, |c| u32::from(c - b'0'));
        }
    }
    let time = NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    let offset = match &b[i..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let digits: Vec<u8> = rest.iter().copied().filter(|c| *c != b':').collect();
            if rest.len() != digits.len() && rest.len() != 5 {
                return None;
            }
            let (h, m) = match digits.len() {
                2 => (digits.as_slice(), &b"00"[..]),
                4 => digits.split_at(2),
                _ => return None,
            };
            let part = |d: &[u8]| {
                d.iter().try_fold(0i64, |acc, &c| {
                    c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
                })
            };
            let secs = part(h)? * 3600 + part(m)? * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    Some(date.and_time(time).and_utc() - chrono::Duration::seconds(offset))
}

#[cfg(test)]
mod tests;
