//! Pages of rows read as one row: a JSON array built by the database, parsed by serde.
//!
//! sqlx hands each row of a SQLite result from the connection's thread to the caller through
//! a channel, and its `Any` driver converts every value of each row, and the row's list of
//! columns, once more. For the statements that read many narrow rows that costs more than
//! the database's own work: 100,000 rows of seven columns, in pages of 1,000 by client_id,
//! took 0.67–1.1 s through the `Any` driver and 0.43 s through sqlx's SQLite driver, as
//! rows; 0.16 s as one JSON array per page (BENCHMARKS.md, ninth session).

use super::State;
use serde::de::DeserializeOwned;
use sqlx::any::AnyArguments;
use sqlx::{AnyPool, Row};

impl State {
    /// `SELECT {columns} {rest}` as one row and column: a JSON array holding, in `order`, an
    /// array per row. `groups` are the columns, each a comma-separated list: one group, and a
    /// row's array holds its columns' values in order; several, and it holds an array per
    /// group (JSON's null for NULL; `[]` when no row matches). `rest` is the statement from
    /// its `FROM` on, its parameters numbered as usual; `order` names selected columns.
    pub(super) fn json_rows_sql(&self, groups: &[&str], rest: &str, order: &str) -> String {
        self.json_rows_of(
            groups,
            &format!("SELECT {} {rest}", groups.join(", ")),
            order,
        )
    }

    /// [`State::json_rows_sql`] of a whole statement, `select`, whose columns are `groups`.
    pub(super) fn json_rows_of(&self, groups: &[&str], select: &str, order: &str) -> String {
        let array = if self.sqlite {
            "json_array"
        } else {
            "json_build_array"
        };
        let row = match groups {
            [columns] => format!("{array}({columns})"),
            _ => {
                let each: Vec<String> = groups.iter().map(|g| format!("{array}({g})")).collect();
                format!("{array}({})", each.join(", "))
            }
        };
        if self.sqlite {
            format!("SELECT json_group_array({row} ORDER BY {order}) FROM ({select}) AS page")
        } else {
            format!(
                "SELECT COALESCE(json_agg({row} ORDER BY {order})::text, '[]') FROM ({select}) AS page"
            )
        }
    }
}

/// Runs a statement made by [`State::json_rows_sql`] on `pool` and decodes its rows, each as
/// a `T` (a tuple of the columns' types in order, or a struct deriving `Deserialize` with
/// its fields in that order).
pub(super) async fn fetch_json_rows<'q, T: DeserializeOwned>(
    pool: &AnyPool,
    query: sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>,
) -> Result<Vec<T>, sqlx::Error> {
    let row = query.fetch_one(pool).await?;
    let text: &str = row.try_get(0)?;
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::testing;

    /// Values a row of the state can hold (text never holds NUL: normalization refuses or
    /// replaces it), each read back as it was written, in order, through both shapes.
    async fn reads_back_what_was_written(state: &State) {
        let pool = state.pool();
        sqlx::raw_sql("CREATE TABLE json_rows_probe (k TEXT NOT NULL, t TEXT, n BIGINT)")
            .execute(pool)
            .await
            .unwrap();
        let texts: Vec<Option<String>> = vec![
            None,
            Some(String::new()),
            Some("quote \" backslash \\ slash / tab \t newline \n return \r".into()),
            Some("\u{1}\u{1f}\u{7f} controls".into()),
            Some("{\"looks\": [\"like\", \"json\"]}".into()),
            Some("é ü 日本 🦀 \u{202e}override \u{301} \u{feff} \u{2028}".into()),
            Some("x".repeat(100_000)),
        ];
        let numbers = [None, Some(0), Some(-1), Some(i64::MIN), Some(i64::MAX)];
        let mut written = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            for (j, n) in numbers.iter().enumerate() {
                // Written in reverse order of their keys.
                written.push((format!("k{:02}", 99 - i * numbers.len() - j), t.clone(), *n));
            }
        }
        for (k, t, n) in &written {
            sqlx::query("INSERT INTO json_rows_probe (k, t, n) VALUES ($1, $2, $3)")
                .bind(k.as_str())
                .bind(t.as_deref())
                .bind(*n)
                .execute(pool)
                .await
                .unwrap();
        }
        written.sort();

        let sql = state.json_rows_sql(&["k, t, n"], "FROM json_rows_probe", "k");
        let flat: Vec<(String, Option<String>, Option<i64>)> =
            fetch_json_rows(pool, sqlx::query(&sql)).await.unwrap();
        assert_eq!(flat, written);

        let sql = state.json_rows_sql(&["k", "t, n"], "FROM json_rows_probe WHERE k > $1", "k");
        type Grouped = ((String,), (Option<String>, Option<i64>));
        let grouped: Vec<Grouped> = fetch_json_rows(pool, sqlx::query(&sql).bind("k90"))
            .await
            .unwrap();
        let expected: Vec<_> = written
            .iter()
            .filter(|(k, _, _)| k.as_str() > "k90")
            .map(|(k, t, n)| ((k.clone(),), (t.clone(), *n)))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(grouped, expected);

        let sql = state.json_rows_sql(
            &["k, t, n"],
            "FROM json_rows_probe WHERE n > 1 AND n < 0",
            "k",
        );
        let none: Vec<(String, Option<String>, Option<i64>)> =
            fetch_json_rows(pool, sqlx::query(&sql)).await.unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn sqlite_pages_read_back_what_was_written() {
        let (state, _dir) = testing::sqlite().await;
        reads_back_what_was_written(&state).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/test.sh"]
    async fn postgres_pages_read_back_what_was_written() {
        let (_admin, _name, url) = testing::postgres_database("rw_json_rows").await;
        let state = State::connect(&crate::secret::Secret::new(url))
            .await
            .unwrap();
        reads_back_what_was_written(&state).await;
    }
}
