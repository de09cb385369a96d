//! RFC 7591 JSON Lines: one client information object per line, with optional `created_at`,
//! `updated_at` and `last_used_at` (RFC 3339). `"last_used_at": null` means known never used;
//! an absent key means usage unknown. Used for offline audits, tests and `score`.

use super::{Batch, Refused, SourceError, SourceRecord};
use crate::escape::esc;
use crate::model::{Origin, Usage};
use crate::normalize::{kind, parse_time};
use serde_json::Value;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Longest line read; longer ones are refused (and skipped) without being held in memory.
pub const MAX_LINE: usize = 1 << 20;

pub struct JsonlSource {
    path: PathBuf,
    batch_size: u32,
}

impl JsonlSource {
    pub fn new(path: PathBuf, batch_size: u32) -> JsonlSource {
        JsonlSource { path, batch_size }
    }

    pub async fn pager(&self) -> Result<JsonlPager, SourceError> {
        let file = tokio::fs::File::open(&self.path)
            .await
            .map_err(|source| SourceError::Io {
                path: self.path.display().to_string(),
                source,
            })?;
        Ok(JsonlPager {
            reader: BufReader::new(file),
            path: self.path.display().to_string(),
            line: 0,
            batch_size: self.batch_size as usize,
            done: false,
        })
    }
}

pub struct JsonlPager {
    reader: BufReader<tokio::fs::File>,
    path: String,
    line: u64,
    batch_size: usize,
    done: bool,
}

impl JsonlPager {
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let mut batch = Batch::default();
        let mut buf = Vec::new();
        while batch.records.len() + batch.refused.len() < self.batch_size {
            buf.clear();
            let Some(too_long) = read_line_capped(&mut self.reader, &mut buf, MAX_LINE)
                .await
                .map_err(|source| SourceError::Io {
                    path: self.path.clone(),
                    source,
                })?
            else {
                self.done = true;
                break;
            };
            self.line += 1;
            let locator = format!("line {}", self.line);
            if too_long {
                batch.refused.push(Refused {
                    locator,
                    reason: format!("longer than {MAX_LINE} bytes"),
                });
                continue;
            }
            let text = String::from_utf8_lossy(&buf);
            if text.trim().is_empty() {
                continue;
            }
            match parse_line(&text, locator) {
                Ok(r) => batch.records.push(r),
                Err(r) => batch.refused.push(r),
            }
        }
        Ok(if batch.records.is_empty() && batch.refused.is_empty() {
            None
        } else {
            Some(batch)
        })
    }
}

/// Reads one line into `buf` (without the newline). Returns None at end of input, and
/// Some(true) when the line was longer than `cap` (the rest is skipped, not kept).
pub async fn read_line_capped<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(read_any.then_some(too_long));
        }
        read_any = true;
        let (part, used, end) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], i + 1, true),
            None => (chunk, chunk.len(), false),
        };
        if buf.len() + part.len() > cap {
            too_long = true;
        } else if !too_long {
            buf.extend_from_slice(part);
        }
        r.consume(used);
        if end {
            return Ok(Some(too_long));
        }
    }
}

/// One line to a record: the JSON object plus the usage and time keys of the format.
pub fn parse_line(text: &str, locator: String) -> Result<SourceRecord, Refused> {
    let doc: Value = serde_json::from_str(text).map_err(|e| Refused {
        locator: locator.clone(),
        reason: format!("not valid JSON: {e}"),
    })?;
    let Some(obj) = doc.as_object() else {
        return Err(Refused {
            locator,
            reason: format!("expected a JSON object, found {}", kind(&doc)),
        });
    };
    let mut warnings = Vec::new();
    let mut time = |key: &str| match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => parse_time(s).or_else(|| {
            warnings.push(format!("{key}: {:?} is not an RFC 3339 time", esc(s)));
            None
        }),
        Some(other) => {
            warnings.push(format!(
                "{key}: expected an RFC 3339 string, found {}",
                kind(other)
            ));
            None
        }
    };
    let created_at = time("created_at");
    let updated_at = time("updated_at");
    let usage = match obj.get("last_used_at") {
        None => Usage::Unknown,
        Some(Value::Null) => Usage::Never,
        Some(_) => time("last_used_at")
            .map(Usage::LastUsed)
            .unwrap_or(Usage::Unknown),
    };
    let origin = match obj.get("client_id").and_then(Value::as_str) {
        Some(id) if id.starts_with("https://") => Origin::Cimd,
        _ => Origin::Unknown,
    };
    Ok(SourceRecord {
        locator,
        doc,
        created_at,
        created_from: Some(crate::model::CreatedFrom::Store),
        updated_at,
        usage,
        origin,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_keys_follow_the_contract() {
        let used = parse_line(
            r#"{"client_id":"a","last_used_at":"2025-01-02T03:04:05Z"}"#,
            "l1".into(),
        )
        .unwrap();
        assert!(matches!(used.usage, Usage::LastUsed(_)));
        let never = parse_line(r#"{"client_id":"a","last_used_at":null}"#, "l2".into()).unwrap();
        assert_eq!(never.usage, Usage::Never);
        let unknown = parse_line(r#"{"client_id":"a"}"#, "l3".into()).unwrap();
        assert_eq!(unknown.usage, Usage::Unknown);
        let bad = parse_line(
            r#"{"client_id":"a","created_at":"tuesday","last_used_at":7}"#,
            "l4".into(),
        )
        .unwrap();
        assert_eq!(bad.warnings.len(), 2);
        assert_eq!(bad.usage, Usage::Unknown);
    }

    #[test]
    fn cimd_ids_are_recognized() {
        let r = parse_line(
            r#"{"client_id":"https://vscode.dev/oauth/client-metadata.json"}"#,
            "l".into(),
        )
        .unwrap();
        assert_eq!(r.origin, Origin::Cimd);
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        assert!(parse_line("{not json", "l".into())
            .unwrap_err()
            .reason
            .starts_with("not valid JSON"));
        assert_eq!(
            parse_line("[1]", "l".into()).unwrap_err().reason,
            "expected a JSON object, found a list"
        );
    }

    #[tokio::test]
    async fn long_lines_are_skipped_without_being_kept() {
        let input = format!("{}\n{{\"client_id\":\"ok\"}}\nlast", "x".repeat(100));
        let mut r = BufReader::with_capacity(16, input.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 50).await.unwrap(),
            Some(true)
        );
        assert!(buf.len() <= 50);
        buf.clear();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 50).await.unwrap(),
            Some(false)
        );
        assert_eq!(buf, br#"{"client_id":"ok"}"#);
        buf.clear();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 50).await.unwrap(),
            Some(false)
        );
        assert_eq!(buf, b"last");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 50).await.unwrap(), None);
    }
}
