//! Helpers for tests of the state database and of what uses it.

use super::*;

/// A fresh SQLite state database in a temporary folder.
pub async fn sqlite() -> (State, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    (State::connect(&Secret::new(url)).await.unwrap(), dir)
}

/// A new, empty PostgreSQL database named after `prefix`: the server's pool, its name
/// and its URL.
pub async fn postgres_database(prefix: &str) -> (AnyPool, String, String) {
    let base = std::env::var("REGWARDEN_TEST_PG_URL").expect(
        "REGWARDEN_TEST_PG_URL is not set: `eval \"$(scripts/services.sh start)\"` sets it, \
         scripts/test.sh runs everything",
    );
    sqlx::any::install_default_drivers();
    let admin = AnyPool::connect(&base).await.unwrap();
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    (admin, name, url.to_string())
}

/// The state database's indexes on registrations, each as name and definition with its
/// whitespace folded: what a test compares before and after a full judgement.
pub async fn registration_indexes(state: &State) -> Vec<String> {
    let sql = if state.sqlite {
        "SELECT name || ': ' || sql AS d FROM sqlite_master
         WHERE type = 'index' AND tbl_name = 'registrations' AND sql IS NOT NULL ORDER BY name"
    } else {
        "SELECT indexname || ': ' || indexdef AS d FROM pg_indexes
         WHERE tablename = 'registrations' ORDER BY indexname"
    };
    let rows: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(state.pool())
        .await
        .unwrap();
    rows.iter()
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}
