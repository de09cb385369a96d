//! What the SQL readers share: a read-only connection pool to PostgreSQL, MySQL/MariaDB or
//! SQLite, and the dialect differences of reading every column as text.

use super::SourceError;
use crate::secret::Secret;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    pub fn of(url: &str) -> Dialect {
        if url.starts_with("postgres") {
            Dialect::Postgres
        } else if url.starts_with("mysql") || url.starts_with("mariadb") {
            Dialect::MySql
        } else {
            Dialect::Sqlite
        }
    }

    /// A column read as text.
    pub fn text(self, col: &str) -> String {
        match self {
            Dialect::Postgres => format!("{col}::text"),
            Dialect::MySql => format!("CONVERT({col}, CHAR CHARACTER SET utf8mb4)"),
            Dialect::Sqlite => format!("CAST({col} AS TEXT)"),
        }
    }

    /// Parameter `n` (1-based) standing for a value of the column's own type, given as text.
    pub fn param(self, n: usize, ty: ParamType) -> String {
        match (self, ty) {
            (Dialect::Postgres, ParamType::Text) => format!("${n}"),
            (Dialect::Postgres, ParamType::Uuid) => format!("${n}::uuid"),
            (Dialect::Postgres, ParamType::Timestamp) => format!("${n}::timestamp"),
            (Dialect::MySql, ParamType::Timestamp) => "CAST(? AS DATETIME(6))".into(),
            (Dialect::MySql, _) => "?".into(),
            // Positional: SQLite resolves numbered parameters by a linear search per bind,
            // which is quadratic on the long IN lists of a batch.
            (Dialect::Sqlite, _) => "?".into(),
        }
    }
}

#[derive(Clone, Copy)]
pub enum ParamType {
    Text,
    Uuid,
    Timestamp,
}

/// A pool of at most two connections whose sessions refuse writes.
pub async fn connect_read_only(url: &Secret) -> Result<(AnyPool, Dialect), SourceError> {
    sqlx::any::install_default_drivers();
    let shown = url.redacted_url();
    let dialect = Dialect::of(url.expose());
    let mut connect_url = url.expose().replacen("mariadb://", "mysql://", 1);
    if dialect == Dialect::Sqlite && !connect_url.contains("mode=") {
        connect_url.push_str(if connect_url.contains('?') {
            "&mode=ro"
        } else {
            "?mode=ro"
        });
    }
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // Belt and braces: the session itself refuses writes.
                match dialect {
                    Dialect::Postgres => {
                        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                            .await?;
                    }
                    Dialect::MySql => {
                        conn.execute("SET SESSION TRANSACTION READ ONLY").await?;
                        conn.execute("SET time_zone = '+00:00'").await?;
                    }
                    Dialect::Sqlite => {}
                }
                Ok(())
            })
        })
        .connect(&connect_url)
        .await
        .map_err(|source| SourceError::Connect {
            url: shown.clone(),
            source,
        })?;
    Ok((pool, dialect))
}

/// A PostgreSQL pool of one connection for `COPY … TO STDOUT`, which the `Any` driver cannot
/// issue; its session refuses writes too.
pub async fn connect_copy(url: &Secret) -> Result<sqlx::PgPool, SourceError> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                    .await?;
                Ok(())
            })
        })
        .connect(url.expose())
        .await
        .map_err(|source| SourceError::Connect {
            url: url.redacted_url(),
            source,
        })
}

/// A PostgreSQL string constant holding `s`, for a statement that takes no parameters
/// (`COPY`). The escape-string form reads backslashes the same way whatever
/// `standard_conforming_strings` says.
pub fn pg_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            '\0' => {} // PostgreSQL text cannot hold NUL; no stored id has one.
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A column as text. Drivers report some text types as bytes (MySQL's TEXT with a binary
/// collation); those are read as UTF-8, replacing what is not.
pub fn column_text(row: &AnyRow, i: usize) -> Option<String> {
    match row.try_get::<Option<String>, _>(i) {
        Ok(v) => v,
        Err(_) => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    }
}
