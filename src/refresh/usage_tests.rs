//! Usage an incremental scan of Hydra's database records: the last uses of the clients it
//! finds new, looked up in the token tables, and nothing looked up for the others.

use crate::model::{ScanKind, Usage};
use crate::secret::Secret;

/// A client an incremental scan finds new gets the uses it had before the scan's usage
/// cursor (which the usage follow does not read again); one the state knows keeps its own,
/// and one used since the last scan gets that use from the usage follow.
#[tokio::test]
async fn an_incremental_scan_records_the_earlier_uses_of_a_new_client() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let path = dir.path().join("hydra.db");
    let clients = crate::demo::generate(40, now);
    crate::demo::write_hydra_store(&path, &clients, now)
        .await
        .unwrap();
    let url = format!("sqlite://{}", path.display());
    let store = crate::config::StoreConfig {
        name: "hydra".into(),
        kind: crate::config::StoreKind::Hydra {
            database_url: Some(Secret::new(url.clone())),
            admin_url: None,
        },
        batch_size: 7,
        capacity: None,
        rows_per_second: None,
        usage_window: std::time::Duration::from_secs(86400),
    };
    let (state, _state_dir) = crate::state::testing::sqlite().await;
    let scan = |kind| {
        let (state, store) = (&state, &store);
        async move {
            let source = crate::source::Source::open(store).await.unwrap();
            let scorer = crate::score::Scorer::with_defaults();
            let cancel = tokio_util::sync::CancellationToken::new();
            super::Scan {
                state,
                store,
                source: &source,
                scorer: &scorer,
                cimd: None,
                cancel: &cancel,
                progress: &super::no_progress,
            }
            .run(kind)
            .await
            .unwrap()
            .0
        }
    };
    assert_eq!(scan(ScanKind::Full).await.kind, ScanKind::Full);
    let mut used_ones = clients.iter().filter(|c| !c.uses.is_empty());
    let (used, used_again) = (used_ones.next().unwrap(), used_ones.next().unwrap());
    let before = state.registration("hydra", &used.client_id).await.unwrap();
    let before = before.unwrap().usage;
    assert!(matches!(before, Usage::LastUsed(_)), "{before:?}");

    // A client committed late, with a use a month old, and an edit of a known one.
    // One connection: the temporary table is its own.
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    for sql in [
        "CREATE TEMP TABLE late AS SELECT * FROM hydra_client WHERE id = ?",
        "UPDATE late SET id = 'late-client', registration_access_token_signature = 'late-rat',
             pk_deprecated = 9999",
        "INSERT INTO hydra_client SELECT * FROM late",
    ] {
        sqlx::query(sql)
            .bind(&clients[0].client_id)
            .execute(&mut db)
            .await
            .unwrap();
    }
    let month_ago = now - chrono::Duration::days(30);
    sqlx::query(
        "INSERT INTO hydra_oauth2_access (signature, request_id, requested_at, client_id, scope,
             granted_scope, form_data, session_data, nid)
         SELECT 'late-sig', 'late-req', ?, 'late-client', 'openid', 'openid', '', '', nid
         FROM hydra_client WHERE id = 'late-client'",
    )
    .bind(crate::demo::hydra_time(month_ago))
    .execute(&mut db)
    .await
    .unwrap();
    let hour_later = now + chrono::Duration::hours(1);
    sqlx::query(
        "INSERT INTO hydra_oauth2_refresh (signature, request_id, requested_at, client_id, scope,
             granted_scope, form_data, session_data, nid)
         SELECT 'again-sig', 'again-req', ?, id, 'openid', 'openid', '', '', nid
         FROM hydra_client WHERE id = ?",
    )
    .bind(crate::demo::hydra_time(hour_later))
    .bind(&used_again.client_id)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("UPDATE hydra_client SET updated_at = '2030-01-01 00:00:00', client_name = 'edited' WHERE id IN ('late-client', ?)")
        .bind(&used.client_id)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::Connection::close(db).await.unwrap();

    let report = scan(ScanKind::Incremental).await;
    assert_eq!((report.kind, report.counts.new), (ScanKind::Incremental, 1));
    let late = state.registration("hydra", "late-client").await.unwrap();
    assert_eq!(
        // The state keeps whole seconds.
        late.unwrap().usage.last_used().map(|t| t.timestamp()),
        Some(month_ago.timestamp())
    );
    let after = state.registration("hydra", &used.client_id).await.unwrap();
    let after = after.unwrap();
    assert_eq!(after.client_name.as_deref(), Some("edited"));
    assert_eq!(after.usage, before);
    let again = state.registration("hydra", &used_again.client_id).await;
    assert_eq!(
        again
            .unwrap()
            .unwrap()
            .usage
            .last_used()
            .map(|t| t.timestamp()),
        Some(hour_later.timestamp())
    );
}
