//! Migrating a state database that already holds rows: the CHECK constraints of
//! `0003_enum_checks` (on SQLite a rebuild of every table) keep every row, keep ids counting
//! on, and refuse values outside the vocabulary the code writes; the stale marks of
//! `0010_stale_marks` are the rows stale before.

use super::schema_tests::{postgres_schema, Schema};
use super::{Intent, Outcome};
use super::{ScanKind, State, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use crate::config::{Secret, StoreKind};
use crate::model::{Band, CreatedFrom, Origin, Usage};
use crate::policy::{JournalAction, Mode};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;

/// The last migration before the constraints.
const BEFORE_CHECKS: i64 = 2;

/// Rows of the schema before the constraints, with every value the vocabulary allows, NULLs
/// where allowed, and a deleted last action (its id must not be given again).
const OLD_ROWS: &str = r#"
INSERT INTO stores (name, kind, cursor_updated_at, cursor_id, usage_cursor, last_full_scan_at, last_success_at, created_at)
VALUES ('h', 'hydra', '2026-01-01 00:00:00', 'c9', '2026-01-02 00:00:00', 100, 200, 1),
       ('j', 'jsonl', NULL, NULL, NULL, NULL, NULL, 2);
INSERT INTO scans (store, kind, started_at, finished_at, outcome, seen, new_count, changed, gone, warnings, refused, error)
VALUES ('h', 'full', 10, 11, 'ok', 3, 3, 0, 0, 1, 0, NULL),
       ('h', 'incremental', 20, 21, 'failed', 1, 0, 0, 0, 0, 0, 'timeout'),
       ('j', 'full', 30, 31, 'interrupted', 0, 0, 0, 0, 0, 0, NULL),
       ('j', 'incremental', 40, NULL, 'running', 0, 0, 0, 0, 0, 0, NULL);
INSERT INTO registrations (store, client_id, client_name, origin, created_at, updated_at, usage, last_used_at,
                           first_seen_at, last_seen_at, last_seen_scan, gone_at, metadata, warnings, band, score,
                           reasons, family, software)
VALUES ('h', 'a', 'Cursor', 'dcr', 1, 2, 'used', 5, 10, 20, 1, NULL, '{"client_name":"Cursor"}', '["w"]', 'trusted', -10, '[]', 'f1', 'cursor'),
       ('h', 'b', NULL, 'cimd', NULL, NULL, 'never', NULL, 10, 20, 1, NULL, '{}', NULL, 'neutral', 0, '[]', 'f1', 'cursor'),
       ('h', 'c', 'Cl', 'admin', 3, 3, 'unknown', NULL, 10, 20, 1, NULL, '{}', NULL, 'suspicious', 40, '[]', 'f2', NULL),
       ('j', 'd', 'D', 'unknown', 4, 4, 'used', 9, 30, 40, 3, NULL, '{}', NULL, 'malicious', 90, '[]', 'f3', NULL),
       ('j', 'e', 'E', 'dcr', 5, 5, 'never', NULL, 30, 30, 3, 40, '{}', NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO families (store, id, software, size, used, first_created_at, last_created_at)
VALUES ('h', 'f1', 'cursor', 2, 1, 1, 5),
       ('h', 'f2', NULL, 1, 0, 3, 3);
INSERT INTO actions (store, client_id, action, mode, reason, snapshot, intent_at, outcome, outcome_at, error, attempts)
VALUES ('h', 'a', 'quarantine', 'enforce', 'r', '{}', 1, 'done', 2, NULL, 1),
       ('h', 'a', 'restore', 'enforce', 'r', '{}', 3, 'error', 4, 'HTTP 500', 4),
       ('h', 'b', 'delete', 'dry-run', 'r', '{}', 5, 'reconciled-done', 6, NULL, 0),
       ('h', 'c', 'delete', 'enforce', 'r', '{}', 7, 'reconciled-not-done', 8, NULL, 0),
       ('j', 'd', 'quarantine', 'enforce', 'r', '{}', 9, NULL, NULL, NULL, 0),
       ('j', 'd', 'delete', 'enforce', 'r', '{}', 9, NULL, NULL, NULL, 0);
DELETE FROM actions WHERE id = 6;
"#;

/// Every enumerated column with the values the code writes, from the code's own enums.
fn vocabulary() -> Vec<(&'static str, &'static str, Vec<&'static str>, bool)> {
    let hydra = StoreKind::Hydra {
        database_url: None,
        admin_url: None,
    };
    let keycloak = StoreKind::Keycloak {
        realm: String::new(),
        database_url: None,
        admin: None,
    };
    let jsonl = StoreKind::Jsonl {
        path: Default::default(),
    };
    let used = Usage::LastUsed(chrono::Utc::now());
    // (table, column, values, nullable)
    vec![
        (
            "stores",
            "kind",
            vec![hydra.as_str(), keycloak.as_str(), jsonl.as_str()],
            false,
        ),
        (
            "scans",
            "kind",
            vec![ScanKind::Full.as_str(), ScanKind::Incremental.as_str()],
            false,
        ),
        // As written by begin_scan, finish_scan, fail_scan and close_interrupted_scans.
        (
            "scans",
            "outcome",
            vec!["running", "ok", "failed", "interrupted"],
            false,
        ),
        (
            "registrations",
            "origin",
            Origin::ALL.map(Origin::as_str).to_vec(),
            false,
        ),
        (
            "registrations",
            "created_from",
            CreatedFrom::ALL.map(CreatedFrom::as_str).to_vec(),
            true,
        ),
        (
            "registrations",
            "usage",
            [Usage::Unknown, Usage::Never, used]
                .map(Usage::as_str)
                .to_vec(),
            false,
        ),
        (
            "registrations",
            "band",
            Band::ALL.map(Band::as_str).to_vec(),
            true,
        ),
        (
            "actions",
            "action",
            [
                JournalAction::Quarantine,
                JournalAction::Delete,
                JournalAction::Restore,
            ]
            .map(JournalAction::as_str)
            .to_vec(),
            false,
        ),
        (
            "actions",
            "mode",
            [Mode::DryRun, Mode::Enforce].map(Mode::as_str).to_vec(),
            false,
        ),
        (
            "actions",
            "outcome",
            Outcome::ALL.map(Outcome::as_str).to_vec(),
            true,
        ),
    ]
}

/// Applies the migrations up to [`BEFORE_CHECKS`], as an older regwarden would have.
async fn migrate_old(all: &Migrator, pool: &AnyPool) {
    migrate_to(all, pool, BEFORE_CHECKS).await;
}

/// Applies the migrations up to version `last`.
async fn migrate_to(all: &Migrator, pool: &AnyPool, last: i64) {
    let dir = tempfile::tempdir().unwrap();
    for m in all.iter().filter(|m| m.version <= last) {
        let file = format!("{:04}_{}.sql", m.version, m.description.replace(' ', "_"));
        std::fs::write(dir.path().join(file), m.sql.as_bytes()).unwrap();
    }
    let old = Migrator::new(dir.path()).await.unwrap();
    assert_eq!(old.iter().last().map(|m| m.version), Some(last));
    old.run(pool).await.unwrap();
}

/// Registrations stale under the column of 0005 are the marked ones after 0010, and only
/// they; a judgement that stopped part way had dropped the stale index, which the
/// migration does not need.
async fn stale_registrations_stay_stale(url: &str, all: &Migrator) {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.unwrap();
    migrate_to(all, &pool, 9).await;
    sqlx::raw_sql(
        "INSERT INTO stores (name, kind, created_at) VALUES ('h', 'hydra', 1), ('j', 'jsonl', 1);
         INSERT INTO registrations (store, client_id, origin, usage, first_seen_at, last_seen_at,
                                    last_seen_scan, metadata, stale)
         VALUES ('h', 'a', 'dcr', 'never', 1, 1, 1, '{}', 1),
                ('h', 'b', 'dcr', 'never', 1, 1, 1, '{}', 0),
                ('j', 'a', 'dcr', 'never', 1, 1, 1, '{}', 0),
                ('j', 'c', 'dcr', 'never', 1, 1, 1, '{}', 1);
         DROP INDEX registrations_stale;",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let state = State::connect(&Secret::new(url.to_owned())).await.unwrap();
    assert_eq!(state.marked_stale("h").await, ["a"]);
    assert_eq!(state.marked_stale("j").await, ["c"]);
    assert!(state.registration("h", "b").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_stale_registrations_stay_stale() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("state.db").display()
    );
    stale_registrations_stay_stale(&url, &SQLITE_MIGRATIONS).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn postgres_stale_registrations_stay_stale() {
    let (admin, name, url) = super::testing::postgres_database("rw_state_marks").await;
    stale_registrations_stay_stale(&url, &POSTGRES_MIGRATIONS).await;
    let _ = sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
}

/// The tables and columns of the schema before the constraints.
fn old_tables() -> Schema {
    postgres_schema(
        POSTGRES_MIGRATIONS
            .iter()
            .filter(|m| m.version <= BEFORE_CHECKS)
            .map(|m| m.sql.as_ref()),
    )
    .unwrap()
}

/// Every row of every table, each value of the old schema's columns as text.
async fn dump(pool: &AnyPool) -> BTreeMap<String, Vec<Vec<Option<String>>>> {
    let mut out = BTreeMap::new();
    for (table, columns) in old_tables() {
        let select: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({c} AS TEXT) AS {c}"))
            .collect();
        let order: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY {}",
            select.join(", "),
            order.join(", ")
        );
        let rows = sqlx::query(&sql).fetch_all(pool).await.unwrap();
        let rows = rows
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .map(|c| r.try_get(c.as_str()).unwrap())
                    .collect()
            })
            .collect();
        out.insert(table, rows);
    }
    out
}

/// Fills a database at `url` under the old schema, migrates it through [`State::connect`],
/// and checks what survived and what is refused.
async fn old_rows_survive_and_unknown_values_are_refused(url: &str, old: &Migrator) {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.unwrap();
    migrate_old(old, &pool).await;
    sqlx::raw_sql(OLD_ROWS).execute(&pool).await.unwrap();
    let before = dump(&pool).await;
    assert_eq!(before["registrations"].len(), 5);
    pool.close().await;

    let state = State::connect(&Secret::new(url.to_owned())).await.unwrap();
    assert_eq!(
        dump(state.pool()).await,
        before,
        "rows changed in migration"
    );
    // Read back by name through the state's own queries.
    let a = state.registration("h", "a").await.unwrap().unwrap();
    assert_eq!((a.band, a.score), (Some(Band::Trusted), Some(-10)));
    let open: Vec<i64> = state
        .open_intents("j")
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(open, [5]);
    // Ids go on from where they were, past the deleted one.
    let intent = Intent {
        store: "h",
        client_id: "a",
        action: "delete",
        mode: "enforce",
        reason: "r",
        snapshot: "{}",
    };
    let now = chrono::Utc::now();
    assert_eq!(state.journal_intent(&intent, now).await.unwrap(), 7);
    assert_eq!(state.begin_scan("h", ScanKind::Full, now).await.unwrap(), 5);
    // Foreign keys still hold after the rebuild.
    let orphan =
        "INSERT INTO scans (store, kind, started_at, outcome) VALUES ('nowhere', 'full', 1, 'ok')";
    assert!(sqlx::query(orphan).execute(state.pool()).await.is_err());

    let bad = Intent {
        action: "disable",
        ..intent
    };
    let err = state.journal_intent(&bad, now).await.unwrap_err();
    assert!(
        err.to_string().contains("actions_action_check"),
        "unexpected error: {err}"
    );
    for (table, column, values, nullable) in vocabulary() {
        let sql = format!("UPDATE {table} SET {column} = $1");
        let set = |v: Option<&str>| {
            sqlx::query(&sql)
                .bind(v.map(str::to_owned))
                .execute(state.pool())
        };
        for v in values {
            set(Some(v))
                .await
                .unwrap_or_else(|e| panic!("{table}.{column} refused {v}: {e}"));
        }
        let err = match set(Some("bogus")).await {
            Ok(_) => panic!("{table}.{column} = 'bogus' was accepted"),
            Err(e) => e.to_string(),
        };
        let constraint = format!("{table}_{column}_check");
        assert!(
            err.contains(&constraint),
            "{table}.{column} = 'bogus': expected a violation of {constraint}, got {err}"
        );
        assert_eq!(set(None).await.is_ok(), nullable, "{table}.{column} = NULL");
    }
}

#[tokio::test]
async fn sqlite_migration_keeps_rows_and_refuses_unknown_values() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("state.db").display()
    );
    old_rows_survive_and_unknown_values_are_refused(&url, &SQLITE_MIGRATIONS).await;

    // The rebuilt tables keep their indexes and a consistent set of references.
    let state = State::connect(&Secret::new(url)).await.unwrap();
    let names = |sql: &'static str| {
        let state = &state;
        async move {
            sqlx::query(sql)
                .fetch_all(state.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String, _>("name").unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        .await,
        [
            "actions_by_client",
            "actions_open",
            "families_by_name",
            "registrations_due",
            "registrations_live",
            "registrations_members",
            "scans_by_store"
        ]
    );
    assert!(
        names("SELECT \"table\" AS name FROM pragma_foreign_key_check")
            .await
            .is_empty()
    );
    assert!(
        names("SELECT name FROM sqlite_master WHERE sql LIKE '%\\_new%' ESCAPE '\\'")
            .await
            .is_empty(),
        "a reference to a rebuilt table's temporary name is left"
    );
}

/// The same against PostgreSQL (`scripts/services.sh` provides it; scripts/test.sh runs it).
#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn postgres_migration_keeps_rows_and_refuses_unknown_values() {
    let (admin, name, url) = super::testing::postgres_database("rw_state_checks").await;
    old_rows_survive_and_unknown_values_are_refused(&url, &POSTGRES_MIGRATIONS).await;
    let _ = sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
}
