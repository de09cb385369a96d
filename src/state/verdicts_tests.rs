//! Tests of writing verdicts (src/state/verdicts.rs).

use super::*;
use crate::model::{Band, ClientMetadata, Origin, Usage};
use crate::state::{testing, Recorded, ScanKind};

#[tokio::test]
async fn verdicts_land_on_their_own_registrations() {
    let (state, _dir) = testing::sqlite().await;
    let now = chrono::Utc::now();
    state.ensure_store("s", "jsonl", now).await.unwrap();
    let scan = state.begin_scan("s", ScanKind::Full, now).await.unwrap();
    let regs: Vec<Recorded> = (0..250)
        .map(|i| Recorded {
            registration: Registration {
                client_id: format!("c{i:03}"),
                metadata: ClientMetadata::default(),
                created_at: None,
                created_from: None,
                updated_at: None,
                usage: Usage::Unknown,
                origin: Origin::Dcr,
            },
            warnings: vec![],
        })
        .collect();
    state
        .record_batch("s", scan, now, &regs, true, None)
        .await
        .unwrap();
    // More rows than one statement takes, every other registration.
    let rows: Vec<VerdictRow> = (0..250)
        .step_by(2)
        .map(|i| VerdictRow {
            client_id: format!("c{i:03}"),
            band: if i % 4 == 0 { "malicious" } else { "trusted" },
            score: i,
            reasons: "[]".into(),
            family: format!("f{i}"),
            software: (i % 4 == 0).then(|| "cursor".to_owned()),
            due_at: None,
            judged_created_at: None,
            judged_sites: None,
            judged_flags: Some(0),
        })
        .collect();
    let writes: Vec<VerdictWrite> = rows
        .iter()
        .map(|row| {
            VerdictWrite::over(
                row.clone(),
                &VerdictRow {
                    family: String::new(),
                    ..row.clone()
                },
            )
        })
        .collect();
    assert!(writes.iter().all(|w| w.contribution && !w.due));
    state.store_verdicts("s", &writes).await.unwrap();
    for i in [0_i64, 2, 4, 248] {
        let r = state
            .registration("s", &format!("c{i:03}"))
            .await
            .unwrap()
            .unwrap();
        let band = if i % 4 == 0 {
            Band::Malicious
        } else {
            Band::Trusted
        };
        assert_eq!(
            (r.band, r.score, r.family.as_deref()),
            (Some(band), Some(i), Some(format!("f{i}").as_str()))
        );
        assert_eq!(r.software.is_some(), i % 4 == 0);
    }
    let untouched = state.registration("s", "c001").await.unwrap().unwrap();
    assert_eq!(
        (untouched.band, untouched.family),
        (Some(Band::Neutral), None)
    );

    // A write of the verdict alone (family and due time as stored) leaves them; one
    // with a due time that differs writes it.
    let stored = rows[1].clone();
    let moved = VerdictRow {
        band: "suspicious",
        due_at: Some(99),
        family: "elsewhere".into(),
        ..stored.clone()
    };
    let alone = VerdictWrite {
        contribution: false,
        ..VerdictWrite::over(moved, &stored)
    };
    assert!(alone.due);
    state.store_verdicts("s", &[alone]).await.unwrap();
    let r = state.registration("s", "c002").await.unwrap().unwrap();
    assert_eq!(
        (r.band, r.family.as_deref()),
        (Some(Band::Suspicious), Some("f2"))
    );
    let due: Option<i64> =
        sqlx::query_scalar("SELECT due_at FROM registrations WHERE client_id = 'c002'")
            .fetch_one(state.pool())
            .await
            .unwrap();
    assert_eq!(due, Some(99));
}
