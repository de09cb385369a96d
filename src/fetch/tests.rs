//! The client against real local https servers and a test resolver ([`super::testkit`]).

use super::cimd::{Cimd, CimdError, MAX_BYTES};
use super::testkit::*;
use super::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test]
async fn fetches_from_an_allowed_address_and_refuses_a_name_that_resolves_to_loopback() {
    let cert = certificate();
    let good = serve(
        "127.0.0.1",
        &cert,
        [("/doc", ok("{}", &[("Cache-Control", "max-age=600")]))].into(),
    )
    .await;
    let evil = serve("127.0.0.2", &cert, [("/doc", ok("{}", &[]))].into()).await;
    let (lookup, _) = resolver(&[
        ("good.test", vec![vec!["127.0.0.1"]]),
        ("evil.test", vec![vec!["127.0.0.2"]]),
    ]);
    let f = fetcher(lookup, &cert, Settings::default());
    let got = f
        .get(
            &format!("https://good.test:{}/doc", good.port),
            "application/json",
            100,
        )
        .await
        .unwrap();
    assert_eq!(got.body, b"{}");
    assert_eq!(got.fresh_for, Some(Duration::from_secs(600)));

    let r = refusal(
        f.get(&format!("https://evil.test:{}/doc", evil.port), "*/*", 100)
            .await,
    );
    assert_eq!(r.rule, Rule::Loopback);
    assert_eq!(
        r.to_string(),
        "evil.test resolves to 127.0.0.2, which is loopback (RFC 1122, RFC 4291) [address.loopback]"
    );
    assert_eq!(
        evil.accepted.load(Ordering::SeqCst),
        0,
        "refused before connecting"
    );
}

#[tokio::test]
async fn a_name_is_checked_each_time_it_is_resolved_for_a_connection() {
    let cert = certificate();
    let server = serve("127.0.0.1", &cert, [("/doc", ok("{}", &[]))].into()).await;
    // First answer allowed, then rebound to metadata, then a mix of allowed and private.
    let (lookup, calls) = resolver(&[
        (
            "rebind.test",
            vec![vec!["127.0.0.1"], vec!["169.254.169.254"]],
        ),
        ("mixed.test", vec![vec!["127.0.0.1", "10.1.2.3"]]),
    ]);
    let f = fetcher(lookup, &cert, Settings::default());
    let url = format!("https://rebind.test:{}/doc", server.port);
    assert!(f.get(&url, "*/*", 100).await.is_ok());
    let r = refusal(f.get(&url, "*/*", 100).await);
    assert_eq!(r.rule, Rule::Metadata, "{r}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "resolved anew for the second fetch"
    );
    let r = refusal(
        f.get(
            &format!("https://mixed.test:{}/doc", server.port),
            "*/*",
            100,
        )
        .await,
    );
    assert_eq!(
        r.rule,
        Rule::Private,
        "one private address refuses the name: {r}"
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redirects_are_not_followed_and_bodies_are_capped() {
    let cert = certificate();
    let target = serve("127.0.0.2", &cert, [("/doc", ok("{}", &[]))].into()).await;
    let big = "x".repeat(600);
    let replies = [
        (
            "/moved",
            Reply {
                status: 302,
                headers: vec![("Location", format!("https://evil.test:{}/doc", target.port))],
                ..Reply::default()
            },
        ),
        ("/big", ok(&big, &[])),
        (
            "/stream",
            Reply {
                no_length: true,
                ..ok(&big, &[])
            },
        ),
        (
            "/small",
            Reply {
                no_length: true,
                ..ok("{}", &[])
            },
        ),
    ];
    let server = serve("127.0.0.1", &cert, replies.into()).await;
    let (lookup, _) = resolver(&[
        ("good.test", vec![vec!["127.0.0.1"]]),
        ("evil.test", vec![vec!["127.0.0.2"]]),
    ]);
    let f = fetcher(lookup, &cert, Settings::default());
    let url = |p: &str| format!("https://good.test:{}{p}", server.port);
    let e = f.get(&url("/moved"), "*/*", 500).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 302, .. }), "{e}");
    assert!(e.to_string().contains("redirects are not followed"), "{e}");
    assert_eq!(target.accepted.load(Ordering::SeqCst), 0);
    for path in ["/big", "/stream"] {
        let e = f.get(&url(path), "*/*", 500).await.unwrap_err();
        assert!(
            matches!(e, FetchError::TooLarge { cap: 500, .. }),
            "{path}: {e}"
        );
    }
    assert_eq!(f.get(&url("/small"), "*/*", 500).await.unwrap().body, b"{}");
    let e = f.get(&url("/nothing"), "*/*", 500).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e}");
}

#[tokio::test]
async fn slow_servers_time_out_and_concurrency_is_limited() {
    let cert = certificate();
    let slow = Reply {
        delay: Duration::from_millis(150),
        ..ok("{}", &[])
    };
    let stuck = Reply {
        delay: Duration::from_secs(30),
        ..ok("{}", &[])
    };
    let server = serve(
        "127.0.0.1",
        &cert,
        [("/slow", slow), ("/stuck", stuck)].into(),
    )
    .await;
    let (lookup, _) = resolver(&[("good.test", vec![vec!["127.0.0.1"]])]);
    let settings = Settings {
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_millis(600),
        max_concurrent: 1,
    };
    let f = fetcher(lookup, &cert, settings);
    let url = format!("https://good.test:{}/slow", server.port);
    let started = Instant::now();
    let all = futures_util::future::join_all((0..3).map(|_| f.get(&url, "*/*", 100))).await;
    assert!(all.iter().all(Result::is_ok), "{all:?}");
    assert_eq!(
        server.most_at_once.load(Ordering::SeqCst),
        1,
        "one at a time"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let e = f
        .get(
            &format!("https://good.test:{}/stuck", server.port),
            "*/*",
            100,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Timeout { .. }), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    assert_eq!(server.accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn cimd_documents_are_verified_cached_and_counted() {
    let cert = certificate();
    let registry_counter = prometheus::IntCounterVec::new(
        prometheus::Opts::new("cimd_fetches_total", "test"),
        &["outcome"],
    )
    .unwrap();
    let (lookup, _) = resolver(&[
        ("good.test", vec![vec!["127.0.0.1"]]),
        ("evil.test", vec![vec!["10.0.0.1"]]),
    ]);
    let server = serve_with("127.0.0.1", &cert, |port| {
        let doc = |path: &str, extra: &str| {
            format!(
                r#"{{"client_id":"https://good.test:{port}{path}","redirect_uris":["http://127.0.0.1/callback"]{extra}}}"#
            )
        };
        let secret = doc("/secret", r#","token_endpoint_auth_method":"client_secret_post""#);
        let huge = doc("/huge", &format!(r#","client_name":"{}""#, "x".repeat(MAX_BYTES)));
        [
            ("/cached", ok(&doc("/cached", ""), &[("Cache-Control", "max-age=172800")])),
            ("/fresh", ok(&doc("/fresh", ""), &[("Cache-Control", "no-store")])),
            ("/secret", ok(&secret, &[("Cache-Control", "max-age=600")])),
            ("/huge", ok(&huge, &[])),
        ]
        .into()
    })
    .await;
    let base = format!("https://good.test:{}", server.port);
    let cimd = Cimd::new(
        fetcher(lookup, &cert, Settings::default()),
        Some(registry_counter.clone()),
    );
    let count = |o: &str| registry_counter.with_label_values(&[o]).get();

    let reg = crate::model::ClientMetadata {
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        token_endpoint_auth_method: "none".into(),
        ..Default::default()
    };
    let url = format!("{base}/cached");
    assert!(cimd.check(&url, Some(&reg)).await.is_ok());
    assert!(cimd.check(&url, Some(&reg)).await.is_ok());
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        1,
        "the second came from the cache"
    );
    assert_eq!(count("verified"), 1);
    // A registration that redirects elsewhere than its document: a mismatch, from the cache.
    let other = crate::model::ClientMetadata {
        redirect_uris: vec!["https://evil.example/cb".into()],
        ..reg.clone()
    };
    assert!(matches!(
        cimd.check(&url, Some(&other)).await,
        Err(CimdError::Mismatch(_))
    ));

    let fresh = format!("{base}/fresh");
    cimd.check(&fresh, None).await.unwrap();
    cimd.check(&fresh, None).await.unwrap();
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        3,
        "no-store is fetched each time"
    );

    let secret = format!("{base}/secret");
    for _ in 0..2 {
        assert!(matches!(
            cimd.check(&secret, None).await,
            Err(CimdError::Mismatch(_))
        ));
    }
    assert_eq!(
        count("mismatch"),
        2,
        "a document that breaks the rules is never cached"
    );
    let e = cimd.check(&format!("{base}/huge"), None).await.unwrap_err();
    assert!(
        matches!(&e, CimdError::Failed(m) if m.contains("more than 5120 bytes")),
        "{e}"
    );
    let e = cimd.check("https://evil.test/doc", None).await.unwrap_err();
    assert!(
        matches!(&e, CimdError::Refused(r) if r.rule == Rule::Private),
        "{e}"
    );
    let e = cimd.check("https://good.test/", None).await.unwrap_err();
    assert!(
        matches!(&e, CimdError::Refused(r) if r.rule == Rule::BadUrl),
        "{e}"
    );
    assert_eq!(
        (count("verified"), count("failed"), count("refused")),
        (3, 1, 2)
    );
    assert_eq!(cimd.cached_len(), 1);
}
