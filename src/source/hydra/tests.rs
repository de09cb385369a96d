use super::record::*;
use super::*;
use crate::model::Origin;
use crate::secret::Secret;
use serde_json::json;

#[test]
fn uuid_v4_check() {
    assert!(is_uuid_v4("2e6dc280-f3c3-4e01-99a7-8181dbd1d23d"));
    assert!(!is_uuid_v4("2e6dc280-f3c3-1e01-99a7-8181dbd1d23d"));
    assert!(!is_uuid_v4("my-app"));
    assert!(!is_uuid_v4("2e6dc280-f3c3-4e01-99a7-8181dbd1d23dx"));
}

#[test]
fn origin_heuristics() {
    let id = "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d";
    assert_eq!(
        origin(id, Some(&json!({})), Some("false"), Some("")),
        Origin::Dcr
    );
    assert_eq!(
        origin(id, Some(&json!({"team": "x"})), None, None),
        Origin::Admin
    );
    assert_eq!(origin(id, None, Some("true"), None), Origin::Admin);
    assert_eq!(origin(id, None, None, Some("jwt")), Origin::Admin);
    assert_eq!(origin("grafana", None, None, None), Origin::Admin);
    assert_eq!(
        origin(
            "https://vscode.dev/oauth/client-metadata.json",
            None,
            None,
            None
        ),
        Origin::Cimd
    );
}

#[test]
fn rows_become_documents_and_bad_columns_warn() {
    let cols: Vec<Option<&str>> = vec![
        Some("2e6dc280-f3c3-4e01-99a7-8181dbd1d23d"),
        Some("Claude Code (x)"),
        Some(r#"["http://localhost:1234/callback"]"#),
        Some("[not json"),
        None,
        Some("openid"),
        Some("none"),
        None,
        None,
        None,
        None,
        None,
        Some("[]"),
        Some(""),
        Some("{}"),
        Some("2025-01-02 03:04:05.123456"),
        Some("garbage"),
        Some("false"),
        None,
        Some("https://10.0.0.1/sector.json"),
        Some("[\"https://app.example.com/req\"]"),
    ];
    let r = record_from_row(&|i| cols[i]);
    assert_eq!(
        r.doc["sector_identifier_uri"],
        "https://10.0.0.1/sector.json"
    );
    assert_eq!(
        r.doc["request_uris"],
        json!(["https://app.example.com/req"])
    );
    assert_eq!(
        r.doc["redirect_uris"],
        json!(["http://localhost:1234/callback"])
    );
    assert!(r.doc.get("grant_types").is_none());
    assert!(r.doc.get("metadata").is_none());
    assert_eq!(r.origin, Origin::Dcr);
    assert!(r.created_at.is_some());
    assert_eq!(r.updated_at, None);
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
}

#[test]
fn a_quarantined_client_is_read_as_it_was_registered() {
    let tag = json!({ "regwarden_quarantine": { "action_id": 3, "was": {
        "redirect_uris": ["http://localhost:1234/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"] } } })
    .to_string();
    let blocked = json!([crate::quarantine::BLOCKED]).to_string();
    let mut cols: Vec<Option<String>> = vec![None; COLUMNS.len()];
    cols[0] = Some("2e6dc280-f3c3-4e01-99a7-8181dbd1d23d".into());
    cols[2] = Some("[]".into());
    cols[3] = Some(blocked.clone());
    cols[4] = Some(blocked);
    cols[14] = Some(tag);
    let r = record_from_row(&|i| cols[i].as_deref());
    assert_eq!(
        r.doc["redirect_uris"],
        json!(["http://localhost:1234/callback"])
    );
    assert_eq!(
        r.doc["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(r.doc["response_types"], json!(["code"]));
    assert_eq!(
        r.origin,
        Origin::Dcr,
        "our own tag is not an admin's metadata"
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn rewind_goes_back_a_minute_in_a_comparable_form() {
    assert_eq!(
        rewind("2026-11-26 09:32:21.276323+00:00"),
        "2026-11-26 09:31:21.276323"
    );
    assert_eq!(rewind("2026-11-26 09:32:21"), "2026-11-26 09:31:21.000000");
    // Against SQLite's stored text, a row at the rewound instant or later sorts after it.
    assert!("2026-11-26 09:31:22+00:00" > rewind("2026-11-26 09:32:21.5+00:00").as_str());
    assert_eq!(rewind("garbage"), "garbage");
}

#[test]
fn later_compares_parsed_times() {
    assert_eq!(
        later(
            Some("2025-01-02 00:00:00".into()),
            Some("2025-01-01 00:00:00".into())
        )
        .as_deref(),
        Some("2025-01-02 00:00:00")
    );
    assert_eq!(later(None, Some("x".into())).as_deref(), Some("x"));
}

/// A store with the tables and columns of Hydra's that `open` and the scans read, no more: `n` clients
/// updated in runs of seven sharing one time (ties across the windows' edges).
async fn tied_store(pool: &sqlx::AnyPool, n: usize) -> Vec<String> {
    let cols: Vec<String> = COLUMNS
        .iter()
        .map(|c| match *c {
            "created_at" | "updated_at" => format!("{c} TIMESTAMP NOT NULL"),
            "id" => "id VARCHAR(64) NOT NULL".into(),
            _ => format!("{c} TEXT"),
        })
        .collect();
    for ddl in [
        "CREATE TABLE networks (id UUID NOT NULL, created_at TIMESTAMP NOT NULL)".into(),
        format!(
            "CREATE TABLE hydra_client (nid UUID NOT NULL, {}, PRIMARY KEY (id, nid))",
            cols.join(", ")
        ),
        "CREATE TABLE hydra_oauth2_access (nid UUID, client_id VARCHAR(64), requested_at TIMESTAMP)".into(),
        "CREATE TABLE hydra_oauth2_refresh (nid UUID, client_id VARCHAR(64), requested_at TIMESTAMP)".into(),
        "CREATE TABLE hydra_oauth2_flow (nid UUID, client_id VARCHAR(64), requested_at TIMESTAMP)".into(),
        "INSERT INTO networks VALUES ('6ebc0170-ee49-421f-9138-a0aea6d11e0f', '2026-01-01 00:00:00')"
            .into(),
    ] {
        sqlx::raw_sql(&ddl).execute(pool).await.unwrap();
    }
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("c{i:03}");
        let at = format!("2026-11-20 10:00:{:02}", i / 7);
        sqlx::raw_sql(&format!(
            "INSERT INTO hydra_client (nid, id, created_at, updated_at, redirect_uris) VALUES \
             ('6ebc0170-ee49-421f-9138-a0aea6d11e0f', '{id}', '{at}', '{at}', '[]')"
        ))
        .execute(pool)
        .await
        .unwrap();
        ids.push(id);
    }
    ids
}

/// Every client an incremental scan reads, in order.
async fn changed_ids(url: &str) -> Vec<String> {
    let src = HydraSource::open(&Secret::new(url.to_owned()), 2)
        .await
        .unwrap();
    // Windows of 40 keys (batches of 2): 100 clients take three, each edge inside a tie.
    assert_eq!(src.window_size(), 40);
    let cursor = StoreCursor {
        updated_at: Some("2026-11-20 09:00:00".into()),
        ..StoreCursor::default()
    };
    read_ids(&src, ScanKind::Incremental, &cursor).await
}

/// Every client a scan of `kind` from `cursor` reads, in order.
async fn read_ids(src: &HydraSource, kind: ScanKind, cursor: &StoreCursor) -> Vec<String> {
    let mut pager = src.pager(kind, cursor).await.unwrap();
    let mut ids = Vec::new();
    while let Some(batch) = pager.next_batch().await.unwrap() {
        assert!(batch.records.len() <= src.batch_size as usize);
        ids.extend(
            batch
                .records
                .iter()
                .map(|r| r.doc["client_id"].to_string().replace('"', "")),
        );
    }
    ids
}

#[tokio::test]
async fn windows_whose_edges_fall_in_tied_update_times_read_every_change_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hydra.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    let all = tied_store(&pool, 100).await;
    assert_eq!(changed_ids(&url).await, all);
}

/// The same on PostgreSQL, whose window statement is a row comparison of its own.
#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn on_postgres_windows_whose_edges_fall_in_tied_update_times_read_every_change_once() {
    let (_, _, url) = crate::state::testing::postgres_database("rw_hydra_ties").await;
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let all = tied_store(&pool, 100).await;
    assert_eq!(changed_ids(&url).await, all);
}

/// Every client a full scan reads, in order, in batches of `batch_size`.
async fn all_ids(url: &str, batch_size: u32) -> Vec<String> {
    let src = HydraSource::open(&Secret::new(url.to_owned()), batch_size)
        .await
        .unwrap();
    read_ids(&src, ScanKind::Full, &StoreCursor::default()).await
}

/// PostgreSQL's pages come by `COPY`, one read ahead: every client once and in order, when
/// the last page is full (an empty one follows) and when it is short; a pager dropped part
/// way is dropped without waiting on the page it was reading.
#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn on_postgres_full_scan_pages_read_ahead_every_client_once() {
    let (admin, name, url) = crate::state::testing::postgres_database("rw_hydra_pages").await;
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let all = tied_store(&pool, 100).await;
    for batch_size in [1, 4, 7, 100, 1000] {
        assert_eq!(
            all_ids(&url, batch_size).await,
            all,
            "batches of {batch_size}"
        );
    }
    let src = HydraSource::open(&Secret::new(url.clone()), 3)
        .await
        .unwrap();
    let mut pager = src
        .pager(ScanKind::Full, &StoreCursor::default())
        .await
        .unwrap();
    assert!(pager.next_batch().await.unwrap().is_some());
    drop(pager);
    drop(src);
    pool.close().await;
    sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}

/// A SQLite store of `tied_store`'s ten clients (c000 to c009, updated at 10:00:00 and
/// 10:00:01), its source read in batches of 2, and a pool to change it while it is read.
async fn ten_clients(dir: &std::path::Path) -> (HydraSource, sqlx::AnyPool) {
    let url = format!("sqlite://{}", dir.join("hydra.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    tied_store(&pool, 10).await;
    (HydraSource::open(&Secret::new(url), 2).await.unwrap(), pool)
}

async fn edit(pool: &sqlx::AnyPool, id: &str, at: &str) {
    sqlx::raw_sql(&format!(
        "UPDATE hydra_client SET client_name = 'edited', updated_at = '{at}' WHERE id = '{id}'"
    ))
    .execute(pool)
    .await
    .unwrap();
}

fn cursor_at(position: (Option<String>, Option<String>)) -> StoreCursor {
    StoreCursor {
        updated_at: position.0,
        id: position.1,
        ..StoreCursor::default()
    }
}

/// Reads the rest of `pager`, whose position must be `ten_clients`' last update (as the store
/// stood before anything was edited), then every client the next incremental scan reads:
/// in time order, after the minute before that position, which is read again.
async fn read_on(mut pager: HydraPager<'_>, src: &HydraSource) -> Vec<String> {
    while pager.next_batch().await.unwrap().is_some() {}
    let position = pager.position();
    drop(pager);
    assert_eq!(
        position.0.as_deref().and_then(parse_time),
        parse_time("2026-11-20 10:00:01")
    );
    read_ids(src, ScanKind::Incremental, &cursor_at(position)).await
}

/// A full scan hands on where the store's changes stood at its start: a client edited
/// during the scan in a page already read is read by the next incremental scan, though a
/// client edited after it was read in a later page.
#[tokio::test]
async fn a_client_edited_during_a_full_scan_is_read_by_the_next_incremental_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (src, pool) = ten_clients(dir.path()).await;
    let mut pager = src
        .pager(ScanKind::Full, &StoreCursor::default())
        .await
        .unwrap();
    let first = pager.next_batch().await.unwrap().unwrap();
    assert_eq!(first.records[0].client_id(), Some("c000"));
    edit(&pool, "c000", "2026-11-20 11:00:00").await;
    edit(&pool, "c009", "2026-11-20 12:00:00").await;
    let next = read_on(pager, &src).await;
    assert_eq!(next.len(), 10);
    assert_eq!(next[8..], ["c000", "c009"]);
}

/// An incremental scan hands on the last key of its windows, not the latest update of the
/// rows it read by id: a client edited between its key's window and its read has a later
/// time than a client added meanwhile, which no window held and the next scan must read.
#[tokio::test]
async fn a_client_added_during_an_incremental_scan_is_read_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let (src, pool) = ten_clients(dir.path()).await;
    let from = cursor_at((Some("2026-11-20 09:00:00".into()), None));
    let mut pager = src.pager(ScanKind::Incremental, &from).await.unwrap();
    assert!(pager.next_batch().await.unwrap().is_some());
    // All ten keys are in the window read; c005 is read by id after its edit.
    sqlx::raw_sql(
        "INSERT INTO hydra_client (nid, id, created_at, updated_at, redirect_uris) VALUES \
         ('6ebc0170-ee49-421f-9138-a0aea6d11e0f', 'c010', '2026-11-20 11:00:00', '2026-11-20 11:00:00', '[]')",
    )
    .execute(&pool)
    .await
    .unwrap();
    edit(&pool, "c005", "2026-11-20 12:00:00").await;
    let next = read_on(pager, &src).await;
    assert_eq!(next.len(), 11);
    assert_eq!(next[9..], ["c010", "c005"]);
}
