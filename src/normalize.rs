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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_rfc7591_defaults() {
        let n = normalize(&json!({"client_id": "a", "redirect_uris": ["https://x.example/cb"]}))
            .unwrap();
        assert_eq!(n.metadata.grant_types, ["authorization_code"]);
        assert_eq!(n.metadata.response_types, ["code"]);
        assert_eq!(n.metadata.token_endpoint_auth_method, "client_secret_basic");
        assert!(n.warnings.is_empty());
    }

    #[test]
    fn refuses_only_unidentifiable_records() {
        assert_eq!(
            normalize(&json!([1, 2])),
            Err(RecordError::NotAnObject("a list"))
        );
        assert_eq!(normalize(&json!({})), Err(RecordError::MissingClientId));
        assert_eq!(
            normalize(&json!({"client_id": 7})),
            Err(RecordError::BadClientId("a number"))
        );
        assert_eq!(
            normalize(&json!({"client_id": ""})),
            Err(RecordError::BadClientId("an empty string"))
        );
        assert_eq!(
            normalize(&json!({"client_id": "x".repeat(5000)})),
            Err(RecordError::ClientIdTooLong)
        );
        assert_eq!(
            normalize(&json!({"client_id": "a\0b"})),
            Err(RecordError::ClientIdNul)
        );
    }

    #[test]
    fn wrong_types_warn_and_go_on() {
        let n = normalize(&json!({
            "client_id": "c1",
            "client_name": {"nested": true},
            "redirect_uris": "http://localhost:1234/callback",
            "grant_types": [1, "refresh_token", null],
            "contacts": 5,
            "logo_uri": "not a uri",
        }))
        .unwrap();
        assert_eq!(n.metadata.client_name, None);
        assert_eq!(n.metadata.redirect_uris, ["http://localhost:1234/callback"]);
        assert_eq!(n.metadata.grant_types, ["refresh_token"]);
        assert!(n.metadata.contacts.is_empty());
        assert_eq!(n.warnings.len(), 5, "{:?}", n.warnings);
        assert!(n
            .warnings
            .iter()
            .any(|w| w.starts_with("client_name: expected a string")));
    }

    #[test]
    fn bounds_huge_values_and_lists() {
        let huge = "é".repeat(MAX_STRING * 3);
        let many: Vec<String> = (0..1000)
            .map(|i| format!("https://h{i}.example/cb"))
            .collect();
        let n = normalize(&json!({"client_id": "c", "client_name": huge, "redirect_uris": many}))
            .unwrap();
        assert_eq!(n.metadata.client_name.unwrap().chars().count(), MAX_STRING);
        assert_eq!(n.metadata.redirect_uris.len(), MAX_LIST);
        assert_eq!(n.warnings.len(), 2);
    }

    #[test]
    fn invalid_redirects_are_kept_and_reported_escaped() {
        let n = normalize(&json!({"client_id": "c", "redirect_uris": ["::\u{202e}bad"]})).unwrap();
        assert_eq!(n.metadata.redirect_uris.len(), 1);
        assert!(n.warnings[0].contains("\\u{202e}"), "{}", n.warnings[0]);
    }

    #[test]
    fn nul_is_replaced() {
        let n = normalize(&json!({"client_id": "c", "client_name": "a\0b"})).unwrap();
        assert_eq!(n.metadata.client_name.as_deref(), Some("a\u{FFFD}b"));
    }

    #[test]
    fn parses_database_timestamps() {
        let want = DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456Z").unwrap();
        for s in [
            "2025-03-04T05:06:07.123456Z",
            "2025-03-04 05:06:07.123456",
            "2025-03-04 05:06:07.123456+00:00",
            "2025-03-04 06:06:07.123456+01:00",
            "2025-03-04T05:06:07.123456",
        ] {
            assert_eq!(parse_time(s), Some(want.with_timezone(&Utc)), "{s}");
        }
        for s in [
            "2025-03-04 05:06:07.123456789+00",
            "2025-03-04T05:06:07.123456789+0000",
        ] {
            assert_eq!(
                parse_time(s),
                Some(
                    DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456789Z")
                        .unwrap()
                        .with_timezone(&Utc)
                ),
                "{s}"
            );
        }
        assert_eq!(
            parse_time("2025-03-04 05:06:07"),
            DateTime::from_timestamp(1741064767, 0)
        );
        for bad in [
            "2025-13-04 05:06:07",
            "2025-03-04 25:06:07",
            "2025-03-04 05:06:07.",
            "2025-03-04 05:06:07+1",
            "2025-03-04 05:06:07 UTC+",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }

    /// Random documents over the keys normalization reads: it never panics and every value
    /// it keeps is bounded.
    #[test]
    fn random_documents_normalize_within_bounds() {
        const KEYS: &[&str] = &[
            "client_id",
            "client_name",
            "redirect_uris",
            "grant_types",
            "response_types",
            "scope",
            "token_endpoint_auth_method",
            "client_uri",
            "logo_uri",
            "contacts",
            "software_id",
            "software_statement",
            "jwks_uri",
            "application_type",
            "extra",
        ];
        let mut seed = 0x1234_5678_u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        fn value(next: &mut dyn FnMut() -> usize, depth: usize) -> Value {
            const PIECES: &[&str] = &[
                "a",
                "é",
                "\u{202e}",
                "\0",
                "http://localhost:1/cb",
                "javascript:x",
                " ",
                "ｆ",
                "\n",
                "💥",
            ];
            match next() % if depth > 2 { 5 } else { 7 } {
                0 => Value::Null,
                1 => Value::Bool(next() % 2 == 0),
                2 => json!(next() as f64 / 7.0),
                3 | 4 => {
                    let len = [0, 1, 5, 700][next() % 4];
                    Value::String((0..len).map(|_| PIECES[next() % PIECES.len()]).collect())
                }
                5 => Value::Array(
                    (0..[0, 2, 70][next() % 3])
                        .map(|_| value(next, depth + 1))
                        .collect(),
                ),
                _ => Value::Object(
                    (0..next() % 4)
                        .map(|_| (KEYS[next() % KEYS.len()].to_owned(), value(next, depth + 1)))
                        .collect(),
                ),
            }
        }
        for _ in 0..1000 {
            let mut doc: serde_json::Map<String, Value> = (0..next() % 10)
                .map(|_| (KEYS[next() % KEYS.len()].to_owned(), value(&mut next, 0)))
                .collect();
            if next() % 4 != 0 {
                doc.insert("client_id".into(), json!(format!("c{}", next())));
            }
            let Ok(n) = normalize(&Value::Object(doc)) else {
                continue;
            };
            let m = &n.metadata;
            for list in [
                &m.redirect_uris,
                &m.grant_types,
                &m.response_types,
                &m.contacts,
            ] {
                assert!(list.len() <= MAX_LIST);
                assert!(list
                    .iter()
                    .all(|v| v.chars().count() <= MAX_STRING && !v.contains('\0')));
            }
            for v in [
                &m.client_name,
                &m.scope,
                &m.client_uri,
                &m.logo_uri,
                &m.software_id,
            ]
            .into_iter()
            .flatten()
            {
                assert!(v.chars().count() <= MAX_STRING && !v.contains('\0'));
            }
        }
    }

    #[test]
    fn never_panics_on_odd_json() {
        for doc in [
            json!(null),
            json!(1.5e308),
            json!("s"),
            json!({"client_id": "x", "redirect_uris": [[[]]]}),
        ] {
            let _ = normalize(&doc);
        }
    }
}
