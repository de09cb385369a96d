//! Tests of recording what a scan saw (src/state/registrations.rs).

use super::*;
use crate::state::testing;

fn reg(id: &str, updated: i64, usage: Usage) -> Recorded {
    Recorded {
        registration: Registration {
            client_id: id.into(),
            metadata: ClientMetadata {
                client_name: Some(format!("app {id}")),
                ..Default::default()
            },
            created_at: DateTime::from_timestamp(1_000, 0),
            created_from: Some(CreatedFrom::Store),
            updated_at: DateTime::from_timestamp(updated, 0),
            usage,
            origin: Origin::Dcr,
        },
        warnings: vec![],
    }
}

#[tokio::test]
async fn an_incremental_batch_writes_only_what_changed() {
    let (state, _dir) = testing::sqlite().await;
    let now = Utc::now();
    state.ensure_store("s", "hydra", now).await.unwrap();
    let t = |s| DateTime::from_timestamp(s, 0).unwrap();
    let full = state
        .begin_scan("s", crate::state::ScanKind::Full, now)
        .await
        .unwrap();
    let batch = [
        reg("a", 1, Usage::Never),
        reg("b", 1, Usage::LastUsed(t(50))),
    ];
    state
        .record_batch("s", full, now, &batch, true, None)
        .await
        .unwrap();
    let seen_by = |id: &'static str| {
        let state = state.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT last_seen_scan FROM registrations WHERE client_id = $1",
            )
            .bind(id)
            .fetch_one(state.pool())
            .await
            .unwrap()
        }
    };
    let inc = state
        .begin_scan("s", crate::state::ScanKind::Incremental, now)
        .await
        .unwrap();
    // The same rows again (an incremental scan's overlap): nothing to write.
    let out = state
        .record_batch("s", inc, now, &batch, false, None)
        .await
        .unwrap();
    assert_eq!((out.new.len(), out.changed), (0, 0));
    assert_eq!((seen_by("a").await, seen_by("b").await), (full, full));
    // A use moving forward is a change, and only its row is written.
    let later = [
        reg("a", 1, Usage::Never),
        reg("b", 1, Usage::LastUsed(t(60))),
    ];
    let out = state
        .record_batch("s", inc, now, &later, false, None)
        .await
        .unwrap();
    assert_eq!(out.changed, 1);
    assert_eq!((seen_by("a").await, seen_by("b").await), (full, inc));
}

#[tokio::test]
async fn new_changed_usage_and_gone() {
    let (state, _dir) = testing::sqlite().await;
    let now = Utc::now();
    state.ensure_store("s", "jsonl", now).await.unwrap();
    let t = |s| DateTime::from_timestamp(s, 0).unwrap();

    let scan1 = state
        .begin_scan("s", crate::state::ScanKind::Full, now)
        .await
        .unwrap();
    let out = state
        .record_batch(
            "s",
            scan1,
            now,
            &[
                reg("a", 1, Usage::Never),
                reg("b", 1, Usage::LastUsed(t(50))),
            ],
            true,
            None,
        )
        .await
        .unwrap();
    assert_eq!((out.new, out.changed), (vec![0, 1], 0));

    // Second full scan: a changed, b pruned from token history, c new; nothing gone yet.
    let scan2 = state
        .begin_scan("s", crate::state::ScanKind::Full, now)
        .await
        .unwrap();
    let out = state
        .record_batch(
            "s",
            scan2,
            now,
            &[reg("a", 2, Usage::Never), reg("c", 1, Usage::Unknown)],
            true,
            None,
        )
        .await
        .unwrap();
    assert_eq!((out.new, out.changed), (vec![1], 1));
    assert_eq!(
        state.mark_gone("s", scan2, now).await.unwrap(),
        1,
        "b was not seen by the full scan"
    );

    assert_eq!(
        state
            .apply_usage(
                "s",
                &[
                    ("a".into(), t(60)),
                    ("a".into(), t(70)),
                    ("b".into(), t(10))
                ]
            )
            .await
            .unwrap(),
        1,
        "a moves forward to its latest use; b's earlier use writes nothing"
    );
    assert_eq!(
        state.registration("s", "a").await.unwrap().map(|r| r.usage),
        Some(Usage::LastUsed(t(70)))
    );
    // A later scan that sees no use (history pruned) does not erase the use on record.
    let scan3 = state
        .begin_scan("s", crate::state::ScanKind::Full, now)
        .await
        .unwrap();
    let out = state
        .record_batch(
            "s",
            scan3,
            now,
            &[reg("a", 2, Usage::Never), reg("b", 1, Usage::Never)],
            true,
            None,
        )
        .await
        .unwrap();
    assert_eq!((out.new, out.changed), (vec![], 1), "b came back");
    let b = state.registration("s", "b").await.unwrap().unwrap();
    assert_eq!(b.gone_at, None, "a return clears the gone mark");
    // What the families count: uses on record are kept (both read no use this time).
    assert_eq!(
        out.recorded,
        vec![(0, true, Some(1_000)), (1, true, Some(1_000))]
    );
    assert_eq!(
        state.registration("s", "a").await.unwrap().map(|r| r.usage),
        Some(Usage::LastUsed(t(70)))
    );
    assert_eq!(
        state.registration("s", "b").await.unwrap().map(|r| r.usage),
        Some(Usage::LastUsed(t(50)))
    );
}

/// A full rescan writes nothing for what did not change (invariant 12), counts a change the
/// store's update time does not show (a new name), and still tells what is gone; what a
/// failed full scan saw does not count for the next.
async fn a_full_rescan_rewrites_only_what_changed(state: &State) {
    use crate::state::ScanKind::Full;
    let now = Utc::now();
    state.ensure_store("s", "hydra", now).await.unwrap();
    let seen_by = |id: &'static str| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT last_seen_scan FROM registrations WHERE store = 's' AND client_id = $1",
        )
        .bind(id)
        .fetch_one(state.pool())
        .await
        .unwrap()
    };
    let live = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT client_id FROM registrations WHERE store = 's' AND gone_at IS NULL ORDER BY client_id",
        )
        .fetch_all(state.pool())
        .await
        .unwrap()
    };
    let first = state.begin_scan("s", Full, now).await.unwrap();
    let batch = [
        reg("a", 1, Usage::Never),
        reg("b", 1, Usage::Never),
        reg("c", 1, Usage::Never),
    ];
    let out = state
        .record_batch("s", first, now, &batch, true, None)
        .await
        .unwrap();
    assert_eq!(out.new.len(), 3);
    assert_eq!(state.mark_gone("s", first, now).await.unwrap(), 0);

    let second = state.begin_scan("s", Full, now).await.unwrap();
    let mut renamed = reg("b", 1, Usage::Never);
    renamed.registration.metadata.client_name = Some("renamed".into());
    let out = state
        .record_batch(
            "s",
            second,
            now,
            &[reg("a", 1, Usage::Never), renamed],
            true,
            None,
        )
        .await
        .unwrap();
    assert_eq!((out.new.len(), out.changed), (0, 1));
    assert_eq!(state.mark_gone("s", second, now).await.unwrap(), 1);
    assert_eq!(live().await, ["a", "b"]);
    // "a" was not written again; "b" was.
    assert_eq!((seen_by("a").await, seen_by("b").await), (first, second));
    let noted: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scan_seen")
        .fetch_one(state.pool())
        .await
        .unwrap();
    assert_eq!(noted, 0, "a full scan's notes are cleared when it ends");

    // A full scan that fails after seeing "a", then one that sees nothing.
    let failed = state.begin_scan("s", Full, now).await.unwrap();
    state
        .record_batch("s", failed, now, &[reg("a", 1, Usage::Never)], true, None)
        .await
        .unwrap();
    let last = state.begin_scan("s", Full, now).await.unwrap();
    assert_eq!(state.mark_gone("s", last, now).await.unwrap(), 2);
    assert!(live().await.is_empty());
}

#[tokio::test]
async fn sqlite_full_rescan_rewrites_only_what_changed() {
    let (state, _dir) = testing::sqlite().await;
    a_full_rescan_rewrites_only_what_changed(&state).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn postgres_full_rescan_rewrites_only_what_changed() {
    let (_admin, _name, url) = testing::postgres_database("rw_rescan").await;
    let state = State::connect(&crate::secret::Secret::new(url))
        .await
        .unwrap();
    a_full_rescan_rewrites_only_what_changed(&state).await;
}

/// What a scan marks stale: what it writes that a verdict reads (new registrations, changed
/// metadata, a use moving forward, a return, a disappearance), and nothing else.
#[tokio::test]
async fn writes_that_change_what_a_verdict_reads_mark_it_stale() {
    let (state, _dir) = testing::sqlite().await;
    marks(&state).await;
}

/// The same on a PostgreSQL state database.
#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn on_postgres_writes_that_change_what_a_verdict_reads_mark_it_stale() {
    let (_, _, url) = testing::postgres_database("rw_marks").await;
    let state = State::connect(&crate::config::Secret::new(url))
        .await
        .unwrap();
    marks(&state).await;
}

async fn marks(state: &State) {
    let now = Utc::now();
    state.ensure_store("s", "hydra", now).await.unwrap();
    let t = |s| DateTime::from_timestamp(s, 0).unwrap();
    let scan = |kind| {
        let state = state.clone();
        async move { state.begin_scan("s", kind, now).await.unwrap() }
    };
    let full = scan(crate::state::ScanKind::Full).await;
    let first = [
        reg("a", 1, Usage::Never),
        reg("b", 1, Usage::LastUsed(t(50))),
        reg("c", 1, Usage::Unknown),
    ];
    state
        .record_batch("s", full, now, &first, true, None)
        .await
        .unwrap();
    assert_eq!(state.marked_stale("s").await, ["a", "b", "c"], "new ones");
    state.unmark_all_stale("s").await.unwrap();

    let inc = scan(crate::state::ScanKind::Incremental).await;
    let mut renamed = reg("a", 2, Usage::Never);
    renamed.registration.metadata.client_name = Some("another".into());
    // b: a new update time, nothing a verdict reads; c: as it was.
    let second = [
        renamed,
        reg("b", 2, Usage::LastUsed(t(50))),
        first[2].clone(),
    ];
    state
        .record_batch("s", inc, now, &second, false, None)
        .await
        .unwrap();
    assert_eq!(
        state.marked_stale("s").await,
        ["a"],
        "changed metadata only"
    );
    state.unmark_all_stale("s").await.unwrap();

    let uses = [("b".into(), t(40)), ("c".into(), t(60))];
    assert_eq!(state.apply_usage("s", &uses).await.unwrap(), 1);
    assert_eq!(
        state.marked_stale("s").await,
        ["c"],
        "a use moving forward only"
    );
    state.unmark_all_stale("s").await.unwrap();

    let full = scan(crate::state::ScanKind::Full).await;
    state
        .record_batch("s", full, now, &second[..2], true, None)
        .await
        .unwrap();
    assert_eq!(state.mark_gone("s", full, now).await.unwrap(), 1);
    assert_eq!(state.marked_stale("s").await, ["c"], "gone");
    state.unmark_all_stale("s").await.unwrap();

    let full = scan(crate::state::ScanKind::Full).await;
    state
        .record_batch("s", full, now, &second, true, None)
        .await
        .unwrap();
    assert_eq!(state.marked_stale("s").await, ["c"], "back");
}
