//! A refresh with fetching on: CIMD clients' documents are fetched from a real local https
//! server before their page is judged, and what they show lands in the stored verdicts.

use crate::fetch::testkit::{fetcher, ok, resolver, serve_with, Reply};
use crate::fetch::{Cimd, Settings};
use crate::model::ScanKind;
use crate::score::Scorer;
use crate::state::{testing, State};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

async fn reasons(state: &State) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut pages = state.live_pages("file");
    while let Some(page) = pages.next().await.unwrap() {
        for j in page {
            out.insert(j.registration.client_id.clone(), j.stored.reasons.clone());
        }
    }
    out
}

#[tokio::test]
async fn a_refresh_judges_cimd_clients_with_their_fetched_documents() {
    let cert = crate::fetch::testkit::certificate();
    let server = serve_with("127.0.0.1", &cert, |port| {
        let doc = |path: &str, redirect: &str| {
            let body = format!(
                r#"{{"client_id":"https://good.test:{port}{path}","client_name":"Example Tools","redirect_uris":["{redirect}"],"token_endpoint_auth_method":"none"}}"#
            );
            ok(&body, &[("Cache-Control", "max-age=3600")])
        };
        [
            ("/tools.json", doc("/tools.json", "http://127.0.0.1/callback")),
            ("/other.json", doc("/other.json", "https://tools.example/cb")),
        ]
        .into()
    })
    .await;
    let (lookup, _) = resolver(&[("good.test", vec![vec!["127.0.0.1"]])]);
    let counter = prometheus::IntCounterVec::new(
        prometheus::Opts::new("cimd_fetches_total", "test"),
        &["outcome"],
    )
    .unwrap();
    let cimd = Cimd::new(
        fetcher(lookup, &cert, Settings::default()),
        Some(counter.clone()),
    );
    let base = format!("https://good.test:{}", server.port);
    let line = |path: &str, redirect: &str| {
        format!(
            r#"{{"client_id":"{base}{path}","client_name":"Example Tools","redirect_uris":["{redirect}"],"token_endpoint_auth_method":"none","grant_types":["authorization_code"]}}"#
        )
    };
    let lines = [
        line("/tools.json", "http://127.0.0.1/callback"),
        // The document lists another redirect than the registration holds.
        line("/other.json", "https://evil.example/cb"),
        // No document there (404): judged as if not fetched.
        line("/missing.json", "http://127.0.0.1/callback"),
        // Not a CIMD client: nothing fetched.
        r#"{"client_id":"plain","client_name":"Plain","redirect_uris":["http://127.0.0.1/cb"]}"#
            .to_owned(),
    ];
    let (_dir, store) = super::tests::jsonl_store(&lines, 100);
    let (state, _db) = testing::sqlite().await;
    let source = crate::source::Source::open(&store).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let scorer = Scorer::with_defaults();
    let scan = super::Scan {
        state: &state,
        store: &store,
        source: &source,
        scorer: &scorer,
        cimd: Some(&cimd),
        cancel: &cancel,
        progress: &super::no_progress,
    };
    super::refresh(&scan, ScanKind::Full, Utc::now())
        .await
        .unwrap();
    let r = reasons(&state).await;
    let has = |id: &str, rule: &str| r[&format!("{base}{id}")].contains(&format!("\"{rule}\""));
    assert!(has("/tools.json", "cimd.verified"), "{r:?}");
    assert!(has("/other.json", "cimd.mismatch"), "{r:?}");
    assert!(has("/missing.json", "cimd.client_id"), "{r:?}");
    assert!(!r["plain"].contains("cimd."), "{r:?}");
    let count = |o: &str| counter.with_label_values(&[o]).get();
    assert_eq!(
        (count("verified"), count("mismatch"), count("failed")),
        (1, 1, 1)
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 3);

    // Again: the two documents come from the cache; the failed fetch was not cached.
    let again = super::refresh(&scan, ScanKind::Full, Utc::now())
        .await
        .unwrap();
    assert_eq!(again.judgement.changed, 0, "{again:?}");
    assert_eq!(server.accepted.load(Ordering::SeqCst), 4);
    assert_eq!(count("failed"), 2);
}

#[tokio::test]
async fn slow_documents_delay_a_page_by_its_budget_at_most() {
    let cert = crate::fetch::testkit::certificate();
    let server = serve_with("127.0.0.1", &cert, |port| {
        (0..4)
            .map(|i| {
                let path: &'static str = ["/0.json", "/1.json", "/2.json", "/3.json"][i];
                let body = format!(
                    r#"{{"client_id":"https://good.test:{port}{path}","redirect_uris":["http://127.0.0.1/cb"]}}"#
                );
                let slow = Reply {
                    delay: std::time::Duration::from_millis(1500),
                    ..ok(&body, &[])
                };
                (path, slow)
            })
            .collect()
    })
    .await;
    let (lookup, _) = resolver(&[("good.test", vec![vec!["127.0.0.1"]])]);
    // One fetch at a time, 2 s each at most: the page may take 4 s, so two of the four
    // documents (1.5 s each) arrive in time and the others are judged as not fetched.
    let settings = Settings {
        connect_timeout: std::time::Duration::from_secs(1),
        timeout: std::time::Duration::from_secs(2),
        max_concurrent: 1,
    };
    let cimd = Cimd::new(fetcher(lookup, &cert, settings), None);
    let regs: Vec<crate::model::Registration> = (0..4)
        .map(|i| crate::model::Registration {
            client_id: format!("https://good.test:{}/{i}.json", server.port),
            metadata: crate::model::ClientMetadata {
                redirect_uris: vec!["http://127.0.0.1/cb".into()],
                token_endpoint_auth_method: "none".into(),
                ..Default::default()
            },
            created_at: None,
            created_from: None,
            updated_at: None,
            usage: crate::model::Usage::Unknown,
            origin: crate::model::Origin::Cimd,
        })
        .collect();
    let started = std::time::Instant::now();
    let evidence = super::judge::cimd_evidence(Some(&cimd), regs.iter()).await;
    let took = started.elapsed();
    assert_eq!(evidence.len(), 2, "{evidence:?}");
    assert!(took >= std::time::Duration::from_secs(4), "{took:?}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
