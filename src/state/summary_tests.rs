use super::*;
use crate::model::{ClientMetadata, Registration, Usage};
use crate::state::{testing, Recorded, ScanKind};

#[tokio::test]
async fn rate_ratio_compares_the_last_hour_with_the_week_before() {
    let (state, _dir) = testing::sqlite().await;
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    state.ensure_store("s", "jsonl", now).await.unwrap();
    let scan = state.begin_scan("s", ScanKind::Full, now).await.unwrap();
    let reg = |i: i64, created: DateTime<Utc>| Recorded {
        registration: Registration {
            client_id: format!("c{i}"),
            metadata: ClientMetadata::default(),
            created_at: Some(created),
            created_from: Some(crate::model::CreatedFrom::Store),
            updated_at: None,
            usage: Usage::Never,
            origin: Origin::Dcr,
        },
        warnings: vec![],
    };
    assert_eq!(state.registration_rate_ratio("s", now).await.unwrap(), 0.0);
    // Quiet store: one registration in the last hour is no spike.
    state
        .record_batch(
            "s",
            scan,
            now,
            &[reg(0, now - Duration::minutes(5))],
            true,
            None,
        )
        .await
        .unwrap();
    assert_eq!(state.registration_rate_ratio("s", now).await.unwrap(), 1.0);
    // Two an hour for the week before, then 30 in the last hour: 15 times the baseline.
    let week: Vec<Recorded> = (0..336)
        .map(|i| reg(100 + i, now - Duration::minutes(75 + 30 * i)))
        .collect();
    state
        .record_batch("s", scan, now, &week, true, None)
        .await
        .unwrap();
    let burst: Vec<Recorded> = (0..29)
        .map(|i| reg(1000 + i, now - Duration::minutes(i)))
        .collect();
    state
        .record_batch("s", scan, now, &burst, true, None)
        .await
        .unwrap();
    assert_eq!(state.registration_rate_ratio("s", now).await.unwrap(), 15.0);
}

#[test]
fn name_groups_fold_install_suffixes_and_unicode() {
    assert_eq!(name_group_key("Claude Code (my-server)"), "claude code");
    assert_eq!(name_group_key("  CLAUDE   code  "), "claude code");
    assert_eq!(name_group_key("Ｃｕｒｓｏｒ"), "cursor");
    assert_eq!(name_group_key("(only)"), "(only)");
    assert_eq!(name_group_key("MCP CLI Proxy v0.1.29"), "mcp cli proxy");
}
