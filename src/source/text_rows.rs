//! A page of rows read as text, kept in one buffer whatever the driver: PostgreSQL's `COPY …
//! TO STDOUT` text format, or rows of the `Any` driver. A page of 1,000 clients read through
//! the `Any` driver made some 50,000 allocations (each value, and each row's list of column
//! names, converted again); read with `COPY`, it is one buffer and its field bounds.

use super::sql::column_text;
use sqlx::any::AnyRow;
use std::ops::Range;

pub struct TextRows {
    width: usize,
    text: String,
    /// `width` fields a row; `None` for SQL NULL.
    fields: Vec<Option<Range<usize>>>,
}

/// A row of `COPY` text output that does not have the columns asked for.
#[derive(Debug, thiserror::Error)]
#[error("a COPY row has {found} fields where {expected} were asked for")]
pub struct BadCopyRow {
    pub found: usize,
    pub expected: usize,
}

impl TextRows {
    pub fn new(width: usize) -> TextRows {
        TextRows {
            width,
            text: String::new(),
            fields: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.fields.len() / self.width.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Column `col` of row `row`; `None` for NULL (or out of range).
    pub fn get(&self, row: usize, col: usize) -> Option<&str> {
        if col >= self.width {
            return None;
        }
        let range = self.fields.get(row * self.width + col)?.clone()?;
        self.text.get(range)
    }

    /// Rows of the `Any` driver, every column read as text.
    pub fn push_any(&mut self, rows: &[AnyRow]) {
        for row in rows {
            for col in 0..self.width {
                let field = column_text(row, col).map(|v| self.push_str(&v));
                self.fields.push(field);
            }
        }
    }

    /// Whole lines of `COPY … TO STDOUT` in text format (the default): fields separated by
    /// tabs, `\N` for NULL, backslash escapes for the backslash and control characters.
    /// Bytes that are not UTF-8 are replaced (a PostgreSQL server sends its text in the
    /// client encoding, UTF-8, so only an escape could produce them).
    pub fn push_copy_lines(&mut self, data: &[u8]) -> Result<(), BadCopyRow> {
        // Sized once: a page is half a megabyte, and growing it by doubling left the
        // allocator blocks of every size between.
        let lines = data.iter().filter(|&&b| b == b'\n').count();
        self.text.reserve(data.len());
        self.fields.reserve(lines * self.width);
        let mut scratch = Vec::new();
        for line in data.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue; // After the last newline.
            }
            let before = self.fields.len();
            for raw in line.split(|&b| b == b'\t') {
                let field = if raw == b"\\N" {
                    None
                } else if !raw.contains(&b'\\') {
                    Some(self.push_str(&String::from_utf8_lossy(raw)))
                } else {
                    scratch.clear();
                    unescape(raw, &mut scratch);
                    Some(self.push_str(&String::from_utf8_lossy(&scratch)))
                };
                self.fields.push(field);
            }
            let found = self.fields.len() - before;
            if found != self.width {
                self.fields.truncate(before);
                return Err(BadCopyRow {
                    found,
                    expected: self.width,
                });
            }
        }
        Ok(())
    }

    fn push_str(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }
}

/// Decodes the backslash escapes of `COPY`'s text format: `\b \f \n \r \t \v`, `\` followed
/// by one to three octal digits or by `x` and one or two hex digits; any other character
/// after a backslash stands for itself.
fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        if b != b'\\' || i == raw.len() {
            out.push(b);
            continue;
        }
        let c = raw[i];
        i += 1;
        let decoded = match c {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                (v & 0xff) as u8
            }
            b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v = 0u8;
                for _ in 0..2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d as u8;
                            i += 1;
                        }
                        None => break,
                    }
                }
                v
            }
            other => other,
        };
        out.push(decoded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_lines_are_decoded() {
        let mut rows = TextRows::new(3);
        rows.push_copy_lines(b"a\t\\N\tx\\ty\nb\\\\c\t\t\\x41\\101\\n\\q\n")
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.get(0, 0), Some("a"));
        assert_eq!(rows.get(0, 1), None);
        assert_eq!(rows.get(0, 2), Some("x\ty"));
        assert_eq!(rows.get(1, 0), Some("b\\c"));
        assert_eq!(rows.get(1, 1), Some(""));
        assert_eq!(rows.get(1, 2), Some("AA\nq"));
        assert_eq!(rows.get(1, 3), None);
        assert_eq!(rows.get(2, 0), None);
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused_and_the_rest_kept() {
        let mut rows = TextRows::new(2);
        rows.push_copy_lines(b"a\tb\n").unwrap();
        let err = rows.push_copy_lines(b"c\n").unwrap_err();
        assert_eq!((err.found, err.expected), (1, 2));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.get(0, 1), Some("b"));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced() {
        let mut rows = TextRows::new(2);
        rows.push_copy_lines(b"\xff\t\\377\n").unwrap();
        assert_eq!(rows.get(0, 0), Some("\u{fffd}"));
        assert_eq!(rows.get(0, 1), Some("\u{fffd}"));
        // A trailing backslash is kept as it is.
        let mut rows = TextRows::new(1);
        rows.push_copy_lines(b"a\\").unwrap();
        assert_eq!(rows.get(0, 0), Some("a\\"));
    }

    /// Values written as `pg_literal` constants come back through `COPY` and [`TextRows`]
    /// exactly, whichever way the server reads backslashes in plain strings.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/test.sh"]
    async fn copy_of_literals_reads_back_every_value() {
        use super::super::sql::pg_literal;
        use futures_util::TryStreamExt;
        use sqlx::postgres::PgPoolCopyExt;
        let url = std::env::var("REGWARDEN_TEST_PG_URL").expect(
            "REGWARDEN_TEST_PG_URL is not set: `eval \"$(scripts/services.sh start)\"` sets it",
        );
        let values = [
            "plain",
            "it's",
            "back\\slash\\",
            "' OR 1=1 --",
            "\\'; DROP TABLE x; --",
            "tab\there\nnew line\r\u{b}\u{c}\u{8}",
            "\\N",
            "ünï\u{202e}cödé",
            "",
        ];
        for conforming in ["on", "off"] {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        use sqlx::Executor;
                        let set = format!("SET standard_conforming_strings = {conforming}");
                        conn.execute(set.as_str()).await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
                .unwrap();
            let cols: Vec<String> = values.iter().map(|v| pg_literal(v)).collect();
            let sql = format!("COPY (SELECT {}, NULL) TO STDOUT", cols.join(", "));
            let mut data = Vec::new();
            let mut chunks = pool.copy_out_raw(&sql).await.unwrap();
            while let Some(chunk) = chunks.try_next().await.unwrap() {
                data.extend_from_slice(&chunk);
            }
            let mut rows = TextRows::new(values.len() + 1);
            rows.push_copy_lines(&data).unwrap();
            assert_eq!(rows.len(), 1);
            for (i, v) in values.iter().enumerate() {
                assert_eq!(
                    rows.get(0, i),
                    Some(*v),
                    "standard_conforming_strings {conforming}"
                );
            }
            assert_eq!(rows.get(0, values.len()), None);
        }
    }
}
