//! The demo's Hydra store read back by the Hydra reader: incremental windows, last uses.

use crate::model::{ScanKind, StoreCursor, Usage};
use crate::normalize::parse_time;
use crate::secret::Secret;
use crate::source::hydra::{HydraPager, HydraSource};
use std::collections::HashSet;

/// A Hydra SQLite store of `n` demo clients, the last `changed` of them updated in 2030.
async fn store_with_changes(dir: &std::path::Path, n: usize, changed: usize) -> Secret {
    let now = chrono::Utc::now();
    let path = dir.join("hydra.db");
    super::write_hydra_store(&path, &super::generate(n, now), now)
        .await
        .unwrap();
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM hydra_client ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    for (i, id) in ids.iter().rev().take(changed).enumerate() {
        // Some share a time, so the id breaks the tie across windows.
        sqlx::query("UPDATE hydra_client SET updated_at = ? WHERE id = ?")
            .bind(format!("2030-01-01 00:00:{:02}.000000", i / 3))
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    Secret::new(url)
}

async fn read_all(pager: &mut HydraPager<'_>, batch_size: usize) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(batch) = pager.next_batch().await.unwrap() {
        assert!(batch.records.len() <= batch_size, "{}", batch.records.len());
        ids.extend(batch.records.iter().map(|r| r.doc["client_id"].to_string()));
    }
    ids
}

#[tokio::test]
async fn incremental_reads_go_window_by_window_and_miss_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = store_with_changes(dir.path(), 60, 45).await;
    // Batches of 2, so windows of 40 keys: the 45 changed clients take two windows.
    let src = HydraSource::open(&url, 2).await.unwrap();

    // From a cursor: exactly the clients changed after it (less the overlap), each once.
    let cursor = StoreCursor {
        updated_at: Some("2029-12-31 00:00:00".into()),
        ..Default::default()
    };
    let mut pager = src.pager(ScanKind::Incremental, &cursor).await.unwrap();
    let ids = read_all(&mut pager, 2).await;
    assert_eq!(ids.len(), 45, "{ids:?}");
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 45);
    let (updated, _) = pager.position();
    assert_eq!(
        updated.as_deref().and_then(parse_time),
        parse_time("2030-01-01 00:00:14")
    );

    // Without a cursor: every client, each once.
    let mut pager = src
        .pager(ScanKind::Incremental, &StoreCursor::default())
        .await
        .unwrap();
    let all = read_all(&mut pager, 2).await;
    let unique: std::collections::HashSet<&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (60, 60));

    // Nothing after the cursor: nothing read.
    let later = StoreCursor {
        updated_at: Some("2030-01-02 00:00:00".into()),
        ..Default::default()
    };
    let mut pager = src.pager(ScanKind::Incremental, &later).await.unwrap();
    assert!(read_all(&mut pager, 2).await.is_empty());
}

#[tokio::test]
async fn full_scans_take_every_last_use_from_the_usage_index() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let clients = super::generate(300, now);
    let path = dir.path().join("hydra.db");
    super::write_hydra_store(&path, &clients, now)
        .await
        .unwrap();
    let src = HydraSource::open(&Secret::new(format!("sqlite://{}", path.display())), 7)
        .await
        .unwrap();
    let mut pager = src
        .pager(ScanKind::Full, &StoreCursor::default())
        .await
        .unwrap();
    let mut read = std::collections::HashMap::new();
    while let Some(batch) = pager.next_batch().await.unwrap() {
        for r in batch.records {
            read.insert(r.doc["client_id"].as_str().unwrap().to_owned(), r.usage);
        }
    }
    assert_eq!(read.len(), clients.len());
    let mut used = 0;
    for c in &clients {
        // The store keeps whole microseconds.
        let expected = c.uses.iter().max().map(|t| t.timestamp_micros());
        let got = match read[&c.client_id] {
            crate::model::Usage::LastUsed(t) => Some(t.timestamp_micros()),
            crate::model::Usage::Never => None,
            crate::model::Usage::Unknown => panic!("{} read without usage", c.client_id),
        };
        assert_eq!(got, expected, "{}", c.client_id);
        used += usize::from(got.is_some());
    }
    assert!(used > 50 && used < clients.len(), "{used} used");
}

/// Incremental batches leave usage to be looked up: then only the clients the state does
/// not know get their last use read, the same one a full scan gives them.
#[tokio::test]
async fn incremental_batches_look_up_the_last_uses_of_clients_not_known() {
    let dir = tempfile::tempdir().unwrap();
    let url = store_with_changes(dir.path(), 300, 300).await;
    let src = HydraSource::open(&url, 50).await.unwrap();
    let mut full = std::collections::HashMap::new();
    let mut pager = src
        .pager(ScanKind::Full, &StoreCursor::default())
        .await
        .unwrap();
    while let Some(batch) = pager.next_batch().await.unwrap() {
        for r in batch.records {
            full.insert(r.client_id().unwrap().to_owned(), r.usage);
        }
    }

    let mut pager = crate::source::Pager::Hydra(
        src.pager(ScanKind::Incremental, &StoreCursor::default())
            .await
            .unwrap(),
    );
    let (mut looked_up, mut used, mut known_in_all) = (0, 0, 0);
    while let Some(mut batch) = pager.next_batch().await.unwrap() {
        assert!(batch.uses_pending);
        assert!(batch.records.iter().all(|r| r.usage == Usage::Unknown));
        // Every third client is known.
        let known: HashSet<String> = batch
            .records
            .iter()
            .step_by(3)
            .map(|r| r.client_id().unwrap().to_owned())
            .collect();
        known_in_all += known.len();
        pager.look_up_uses(&mut batch, &known).await.unwrap();
        assert!(!batch.uses_pending);
        for r in &batch.records {
            let id = r.client_id().unwrap();
            if known.contains(id) {
                assert_eq!(r.usage, Usage::Unknown, "{id} is known: not looked up");
            } else {
                assert_eq!(r.usage, full[id], "{id}");
                looked_up += 1;
                used += usize::from(matches!(r.usage, Usage::LastUsed(_)));
            }
        }
    }
    assert_eq!(looked_up + known_in_all, 300);
    assert!(used > 20 && used < looked_up, "{used} used");
}
