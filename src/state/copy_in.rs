//! Registrations new to a PostgreSQL state database, with their verdicts, written by
//! `COPY … FROM STDIN`: a first scan's. The multi-row upsert that records them elsewhere
//! sends 23,000 parameters a statement, each bound, planned against the primary key for a
//! conflict and inserted: at 1,000,000 clients the recording stage was busy 19.9 s of a
//! 27 s scan, where PostgreSQL copies the same rows in 7.9 s. The `Any` driver cannot
//! issue a `COPY`: a pool of its own holds one connection, opened on the first copy.

use super::known::Written;
use super::{q, ts, Recorded, State, StateError, VerdictRow};
use crate::model::CreatedFrom;
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolCopyExt, PgPoolOptions};
use std::fmt::Write;
use std::time::Duration;

/// The columns copied, in the order [`State::copy_new`] writes them (`gone_at` is left
/// NULL: a new registration is live).
const COPY_NEW: &str = "COPY registrations (store, client_id, client_name, origin, created_at, \
     created_from, updated_at, usage, last_used_at, first_seen_at, last_seen_at, \
     last_seen_scan, metadata, warnings, band, score, reasons, family, software, due_at, \
     judged_created_at, judged_sites, judged_flags) FROM STDIN";

/// Rows in `COPY`'s text format: a line each, columns separated by tabs, `\N` for NULL,
/// and backslash, tab, newline and carriage return escaped in text.
struct CopyText {
    buf: String,
    /// No column written yet on the current line.
    at_start: bool,
}

impl CopyText {
    fn with_capacity(bytes: usize) -> CopyText {
        CopyText {
            buf: String::with_capacity(bytes),
            at_start: true,
        }
    }

    fn separate(&mut self) {
        if !std::mem::replace(&mut self.at_start, false) {
            self.buf.push('\t');
        }
    }

    fn text(&mut self, v: Option<&str>) -> &mut Self {
        self.separate();
        let Some(s) = v else {
            self.buf.push_str("\\N");
            return self;
        };
        let mut plain = 0;
        for (i, b) in s.bytes().enumerate() {
            let escaped = match b {
                b'\\' => "\\\\",
                b'\t' => "\\t",
                b'\n' => "\\n",
                b'\r' => "\\r",
                _ => continue,
            };
            // ASCII bytes: `i` is a character boundary.
            self.buf.push_str(&s[plain..i]);
            self.buf.push_str(escaped);
            plain = i + 1;
        }
        self.buf.push_str(&s[plain..]);
        self
    }

    fn int(&mut self, v: Option<i64>) -> &mut Self {
        self.separate();
        match v {
            Some(n) => {
                let _ = write!(self.buf, "{n}");
            }
            None => self.buf.push_str("\\N"),
        }
        self
    }

    fn end_row(&mut self) {
        self.buf.push('\n');
        self.at_start = true;
    }

    fn as_str(&self) -> &str {
        &self.buf
    }
}

/// The connection for `COPY` to a PostgreSQL state database at `url`, opened when first
/// used.
pub(super) fn pool(url: &Secret) -> Result<PgPool, StateError> {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy(url.expose())
        .map_err(|source| StateError::Connect {
            url: url.redacted_url(),
            source,
        })
}

impl State {
    /// Copies the registrations `rows` of `batch` (none known to the state) with their
    /// verdicts, as the upsert with verdicts writes them. `Ok(false)`, with nothing
    /// written, when one is known after all (a writer elsewhere): the caller upserts them.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn copy_new(
        &self,
        store: &str,
        scan: i64,
        now: DateTime<Utc>,
        batch: &[Recorded],
        rows: &[usize],
        written: &[Written],
        verdicts: &[VerdictRow],
    ) -> Result<bool, StateError> {
        let Some(pool) = &self.copy else {
            return Ok(false);
        };
        let mut text = CopyText::with_capacity(rows.len() * 1024);
        for &i in rows {
            let r = &batch[i].registration;
            let v = &verdicts[i];
            text.text(Some(store))
                .text(Some(&r.client_id))
                .text(r.metadata.client_name.as_deref())
                .text(Some(r.origin.as_str()))
                .int(r.created_at.map(ts))
                .text(r.created_from.map(CreatedFrom::as_str))
                .int(r.updated_at.map(ts))
                .text(Some(r.usage.as_str()))
                .int(r.usage.last_used().map(ts))
                .int(Some(ts(now)))
                .int(Some(ts(now)))
                .int(Some(scan))
                .text(Some(&written[i].metadata))
                .text(written[i].warnings.as_deref())
                .text(Some(v.band))
                .int(Some(v.score))
                .text(Some(&v.reasons))
                .text(Some(&v.family))
                .text(v.software.as_deref())
                .int(v.due_at)
                .int(v.judged_created_at)
                .text(v.judged_sites.as_deref())
                .int(v.judged_flags);
            text.end_row();
        }
        let mut copy = pool
            .copy_in_raw(COPY_NEW)
            .await
            .map_err(q("copy new registrations"))?;
        if let Err(e) = copy.send(text.as_str().as_bytes()).await {
            // The copy is over either way; its own error says why.
            let _ = copy.abort("regwarden could not send the rows").await;
            return Err(q("copy new registrations")(e));
        }
        match copy.finish().await {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(q("copy new registrations")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CopyText;
    use crate::model::{ClientMetadata, CreatedFrom, Origin, Registration, Usage};
    use crate::secret::Secret;
    use crate::state::{testing, Recorded, ScanKind, State, VerdictRow};
    use chrono::{DateTime, Utc};

    /// Text `COPY` must escape, or that PostgreSQL reads in a way of its own.
    const HOSTILE: [&str; 8] = [
        "tab\there",
        "line\nbreak\r\n",
        "back\\slash \\N \\. \\t",
        "\\N",
        "quote' \"dq\" {braces} , ;",
        "NULL",
        "\u{202e}bidi \u{1b}[31m ü 💥",
        "",
    ];

    fn batch(now: DateTime<Utc>) -> (Vec<Recorded>, Vec<VerdictRow>) {
        let t = |s| DateTime::from_timestamp(s, 0);
        HOSTILE
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let id = format!("c{i} {h}");
                let recorded = Recorded {
                    registration: Registration {
                        client_id: id.clone(),
                        metadata: ClientMetadata {
                            client_name: (i % 3 != 0).then(|| h.to_string()),
                            redirect_uris: vec![format!("https://x.example/{h}")],
                            ..Default::default()
                        },
                        created_at: t(1_000 + i as i64),
                        created_from: (i % 2 == 0).then_some(CreatedFrom::Store),
                        updated_at: t(2_000),
                        usage: match i % 3 {
                            0 => Usage::Unknown,
                            1 => Usage::Never,
                            _ => Usage::LastUsed(now),
                        },
                        origin: Origin::Dcr,
                    },
                    warnings: (i % 2 == 1).then(|| h.to_string()).into_iter().collect(),
                };
                let verdict = VerdictRow {
                    client_id: id,
                    band: "neutral",
                    score: -(i as i64),
                    reasons: format!("[{{\"detail\":{:?}}}]", h),
                    family: format!("f {h}"),
                    software: (i % 2 == 0).then(|| h.to_string()),
                    due_at: (i % 3 == 0).then_some(5_000),
                    judged_created_at: t(1_000 + i as i64).map(|t| t.timestamp()),
                    judged_sites: (i % 2 == 1).then(|| h.to_string()),
                    judged_flags: Some(i as i64 % 8),
                };
                (recorded, verdict)
            })
            .unzip()
    }

    /// Every row of a store as read back, in client_id order (as Rust sorts: the two
    /// backends collate differently).
    async fn read_back(state: &State) -> Vec<String> {
        let mut rows = Vec::new();
        let mut pages = state.live_pages("s");
        while let Some(page) = pages.next().await.unwrap() {
            for j in page {
                let warnings: Option<String> = sqlx::query_scalar(
                    "SELECT warnings FROM registrations WHERE store = 's' AND client_id = $1",
                )
                .bind(&j.registration.client_id)
                .fetch_one(state.pool())
                .await
                .unwrap();
                rows.push(format!("{j:?} {warnings:?}"));
            }
        }
        rows.sort();
        rows
    }

    async fn record(state: &State, now: DateTime<Utc>) {
        let (recorded, verdicts) = batch(now);
        state.ensure_store("s", "hydra", now).await.unwrap();
        let scan = state.begin_scan("s", ScanKind::Full, now).await.unwrap();
        state
            .record_new_batch("s", scan, now, &recorded, Some(&verdicts))
            .await
            .unwrap();
    }

    /// Copied to PostgreSQL, rows read back as the upsert stores them in SQLite; one known
    /// already is not copied again, and the batch is upserted instead.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/test.sh"]
    async fn on_postgres_copied_registrations_read_back_as_upserted_ones() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let (_, _, url) = testing::postgres_database("rw_copy").await;
        let pg = State::connect(&Secret::new(url)).await.unwrap();
        let (lite, _dir) = testing::sqlite().await;
        record(&pg, now).await;
        record(&lite, now).await;
        let copied = read_back(&pg).await;
        assert_eq!(copied.len(), HOSTILE.len());
        assert_eq!(copied, read_back(&lite).await);

        let (recorded, verdicts) = batch(now);
        let rows: Vec<usize> = (0..recorded.len()).collect();
        let written: Vec<_> = recorded
            .iter()
            .map(|r| super::Written {
                metadata: serde_json::to_string(&r.registration.metadata).unwrap(),
                warnings: None,
            })
            .collect();
        let copy = pg.copy_new("s", 1, now, &recorded, &rows, &written, &verdicts);
        assert!(!copy.await.unwrap(), "copied over known registrations");
        assert_eq!(read_back(&pg).await, copied);
        record(&pg, now).await;
        assert_eq!(read_back(&pg).await.len(), HOSTILE.len());
    }

    #[test]
    fn text_is_escaped_and_null_is_marked() {
        let mut t = CopyText::with_capacity(0);
        t.text(Some("a\tb\nc\rd\\e\\N\\.ü\u{202e}"))
            .text(None)
            .text(Some(""))
            .int(Some(-42))
            .int(None);
        t.end_row();
        t.text(Some("x"));
        t.end_row();
        assert_eq!(
            t.as_str(),
            "a\\tb\\nc\\rd\\\\e\\\\N\\\\.ü\u{202e}\t\\N\t\t-42\t\\N\nx\n"
        );
    }
}
