//! Statements over a list of values (client ids, family ids): a parameter each on SQLite,
//! one array on PostgreSQL, where a statement of a hundred parameters took longer to plan
//! than to run.

use super::{q, State, StateError};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// Values per statement on PostgreSQL (one parameter however many).
const ARRAY_CHUNK: usize = 1000;

/// Rows inserted per statement by [`State::insert_ids`] (two parameters each).
const IDS_CHUNK: usize = 1000;

impl State {
    /// How many values one statement takes: `sqlite` on SQLite (a parameter each).
    pub(super) fn list_chunk(&self, sqlite: usize) -> usize {
        if self.sqlite {
            sqlite
        } else {
            ARRAY_CHUNK
        }
    }

    /// The condition that `column` is one of `n` values, with placeholders from `p`: bind
    /// them with [`State::bind_list`], in that place among the statement's parameters.
    pub(super) fn in_list(&self, column: &str, n: usize, p: &mut impl FnMut() -> String) -> String {
        if self.sqlite {
            let params: Vec<String> = (0..n).map(|_| p()).collect();
            format!("{column} IN ({})", params.join(","))
        } else {
            format!("{column} = ANY({}::text[])", p())
        }
    }

    /// Binds the values of an [`State::in_list`] condition.
    pub(super) fn bind_list<'q>(&self, query: AnyQuery<'q>, values: &[&'q str]) -> AnyQuery<'q> {
        if self.sqlite {
            values.iter().fold(query, |q, v| q.bind(*v))
        } else {
            query.bind(text_array(values))
        }
    }
}

/// A PostgreSQL array literal of `values`: each quoted, with `"` and `\` escaped, so that no
/// value (a comma, a brace, `NULL`, a quote) reads as anything but itself.
fn text_array(values: &[&str]) -> String {
    let mut out = String::with_capacity(2 + values.iter().map(|v| v.len() + 3).sum::<usize>());
    out.push('{');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in v.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

impl State {
    /// Inserts a row (store, client_id) into `table` for each of `ids`, those already there
    /// left as they are; `what` names the statement in an error.
    pub(super) async fn insert_ids(
        &self,
        table: &str,
        store: &str,
        ids: &[&str],
        what: &'static str,
    ) -> Result<(), StateError> {
        for chunk in ids.chunks(IDS_CHUNK) {
            let mut p = self.placeholders();
            let rows: Vec<String> = chunk
                .iter()
                .map(|_| format!("({}, {})", p(), p()))
                .collect();
            let sql = format!(
                "INSERT INTO {table} (store, client_id) VALUES {} ON CONFLICT DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql).persistent(chunk.len() == IDS_CHUNK);
            for id in chunk {
                query = query.bind(store).bind(*id);
            }
            query.execute(self.pool()).await.map_err(q(what))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::text_array;
    use sqlx::AnyPool;

    #[test]
    fn array_literal_quotes_every_value() {
        assert_eq!(text_array(&[]), "{}");
        assert_eq!(
            text_array(&["a", "NULL", "b,c", "{d}", "e\"f", "g\\h", ""]),
            r#"{"a","NULL","b,c","{d}","e\"f","g\\h",""}"#
        );
    }

    /// PostgreSQL reads every value back as it was, whatever it holds.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/test.sh"]
    async fn postgres_reads_the_array_back_as_given() {
        let url = std::env::var("REGWARDEN_TEST_PG_URL").expect(
            "REGWARDEN_TEST_PG_URL is not set: scripts/test.sh sets it (services.sh start)",
        );
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(&url).await.unwrap();
        let values = [
            "plain",
            "NULL",
            "null",
            "",
            " leading and trailing ",
            "a,b",
            "{braces}",
            "quote\"inside",
            "back\\slash",
            "\\\"",
            "new\nline\ttab",
            "\u{202e}bidi\u{2066}",
            "caf\u{e9} \u{1f600}",
            "'); DROP TABLE registrations; --",
        ];
        let json: String = sqlx::query_scalar(
            "SELECT COALESCE(json_agg(v ORDER BY o), '[]')::text
             FROM unnest($1::text[]) WITH ORDINALITY AS t (v, o)",
        )
        .bind(text_array(&values))
        .fetch_one(&pool)
        .await
        .unwrap();
        let back: Vec<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, values);
    }
}
