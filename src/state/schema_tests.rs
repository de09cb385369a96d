//! The two migration sets define the same tables with the same columns: SQLite's as the
//! database reports them once migrated, PostgreSQL's as read from its migration files (so no
//! server is needed).

use super::{testing, State, POSTGRES_MIGRATIONS};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// Table name to column names.
pub(super) type Schema = BTreeMap<String, BTreeSet<String>>;

/// The tables and columns of a migrated SQLite state database (sqlx's own table left out).
pub(super) async fn sqlite_schema(state: &State) -> Schema {
    let tables = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(state.pool())
    .await
    .unwrap();
    let mut schema = Schema::new();
    for t in tables {
        let table: String = t.try_get("name").unwrap();
        let columns = sqlx::query("SELECT name FROM pragma_table_info($1)")
            .bind(table.as_str())
            .fetch_all(state.pool())
            .await
            .unwrap()
            .iter()
            .map(|c| c.try_get("name").unwrap())
            .collect();
        schema.insert(table, columns);
    }
    schema
}

/// The schema PostgreSQL migration scripts leave, read statement by statement. Only the
/// statements our migrations use are understood; any other statement is an error rather than
/// skipped, so the reading stays honest as migrations are added.
pub(super) fn postgres_schema<'a>(
    scripts: impl IntoIterator<Item = &'a str>,
) -> Result<Schema, String> {
    let mut schema = Schema::new();
    for script in scripts {
        let text: String = script
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for statement in text.split(';').map(str::trim) {
            if !statement.is_empty() {
                apply(&mut schema, statement)
                    .map_err(|e| format!("{e}, in migration statement: {statement}"))?;
            }
        }
    }
    Ok(schema)
}

fn ident(s: &str) -> String {
    s.trim_matches('"').to_lowercase()
}

fn apply(schema: &mut Schema, statement: &str) -> Result<(), String> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_uppercase()).collect();
    let kw: Vec<&str> = upper.iter().map(String::as_str).collect();
    // Forms that would shift the words read below (IF [NOT] EXISTS, ONLY, several
    // alterations in one statement) are refused, not misread.
    let several = kw[0] == "ALTER" && split_top_level(statement).len() > 1;
    // Statements that change no table's columns, whatever their form.
    if matches!(
        kw.as_slice(),
        ["DROP", "INDEX", ..] | ["INSERT", "INTO", ..]
    ) {
        return Ok(());
    }
    if kw.contains(&"IF") || kw.contains(&"ONLY") || several {
        return Err("unsupported form".into());
    }
    match kw.as_slice() {
        ["CREATE", "TABLE", ..] | ["CREATE", "UNLOGGED", "TABLE", ..] => {
            // PostgreSQL's unlogged tables hold the same columns as SQLite's plain ones.
            let at = if kw[1] == "UNLOGGED" { 3 } else { 2 };
            let (open, close) = statement
                .find('(')
                .zip(statement.rfind(')'))
                .ok_or("a table without columns")?;
            let name = ident(words[at].split('(').next().unwrap_or_default());
            let columns = split_top_level(&statement[open + 1..close])
                .into_iter()
                .filter_map(|element| {
                    let first = element.split_whitespace().next()?;
                    let is_constraint = ["PRIMARY", "CONSTRAINT", "UNIQUE", "FOREIGN", "CHECK"]
                        .contains(&first.to_uppercase().as_str());
                    (!is_constraint).then(|| ident(first))
                })
                .collect();
            if schema.insert(name.clone(), columns).is_some() {
                return Err(format!("table {name} created twice"));
            }
        }
        ["DROP", "TABLE", _] => {
            let name = ident(words[2]);
            schema
                .remove(&name)
                .ok_or(format!("no table {name} to drop"))?;
        }
        ["ALTER", "TABLE", _, rest @ ..] => {
            let table = ident(words[2]);
            let columns = schema
                .get_mut(&table)
                .ok_or(format!("no table {table} to alter"))?;
            let done = match rest {
                ["ADD", "COLUMN", _, ..] => columns.insert(ident(words[5])),
                ["DROP", "COLUMN", _, ..] => columns.remove(&ident(words[5])),
                ["RENAME", "COLUMN", _, "TO", _] => {
                    columns.remove(&ident(words[5])) && columns.insert(ident(words[7]))
                }
                ["RENAME", "TO", _] => {
                    let columns = schema.remove(&table).unwrap_or_default();
                    schema.insert(ident(words[5]), columns).is_none()
                }
                ["ADD", "CONSTRAINT", ..]
                | ["DROP", "CONSTRAINT", ..]
                | ["VALIDATE", "CONSTRAINT", ..]
                | ["ALTER", "COLUMN", ..]
                | ["SET", ..] => true,
                _ => return Err("unsupported alteration".into()),
            };
            if !done {
                return Err(format!(
                    "a column or table of {table} clashes or is missing"
                ));
            }
        }
        ["CREATE", "INDEX", ..] | ["CREATE", "UNIQUE", "INDEX", ..] => {}
        _ => return Err("unsupported statement".into()),
    }
    Ok(())
}

/// Splits a column list at the commas outside parentheses.
fn split_top_level(body: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0_i32, 0, Vec::new());
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&body[start..]);
    out
}

fn postgres_migrations() -> Schema {
    postgres_schema(POSTGRES_MIGRATIONS.iter().map(|m| m.sql.as_ref())).unwrap()
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_define_the_same_tables_and_columns() {
    let (state, _dir) = testing::sqlite().await;
    let sqlite = sqlite_schema(&state).await;
    let postgres = postgres_migrations();
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        [
            "actions",
            "families",
            "leader_lease",
            "registrations",
            "scan_seen",
            "scans",
            "stale_registrations",
            "stores"
        ],
        "the state tables"
    );
    for table in sqlite.keys().chain(postgres.keys()) {
        assert_eq!(
            sqlite.get(table),
            postgres.get(table),
            "table {table}: SQLite (left) and PostgreSQL (right) migrations differ"
        );
    }
}

#[test]
fn the_migration_reader_follows_columns_through_alterations() {
    let schema = postgres_schema([
        "-- a comment; with a semicolon
         CREATE TABLE t (
             id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
             kind TEXT NOT NULL CHECK (kind IN ('a', 'b')), -- trailing comment
             n NUMERIC(10, 2),
             CONSTRAINT t_pair UNIQUE (kind, n),
             PRIMARY KEY (id)
         );
         CREATE INDEX t_by_kind ON t (kind);",
        "ALTER TABLE t ADD COLUMN extra TEXT;
         ALTER TABLE t RENAME COLUMN n TO amount;
         ALTER TABLE t DROP COLUMN kind;
         ALTER TABLE t ADD CONSTRAINT t_extra_check CHECK (extra <> '');
         ALTER TABLE t ALTER COLUMN extra SET NOT NULL;
         CREATE TABLE gone (x TEXT); DROP TABLE gone;
         INSERT INTO t (extra) SELECT 'x' WHERE false;
         DROP INDEX IF EXISTS t_by_kind;
         ALTER TABLE t SET (fillfactor = 85);
         ALTER TABLE t RENAME TO u;",
    ])
    .unwrap();
    let columns = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        schema,
        Schema::from([("u".to_owned(), columns(&["id", "amount", "extra"]))])
    );
}

#[test]
fn the_migration_reader_refuses_what_it_does_not_understand() {
    for statement in [
        // PostgreSQL's ADD without COLUMN adds a column too.
        "ALTER TABLE t ADD y TEXT",
        "ALTER TABLE t ADD COLUMN y TEXT, ADD COLUMN z TEXT",
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS y TEXT",
        "ALTER TABLE t ADD COLUMN x TEXT",
        "CREATE TABLE IF NOT EXISTS u (y TEXT)",
        "CREATE VIEW v AS SELECT x FROM t",
    ] {
        let read = postgres_schema(["CREATE TABLE t (x TEXT);", statement]);
        assert!(read.is_err(), "read without complaint: {statement}");
    }
}
