//! `[fetch]` and publishers by `jwks_uri`: checked at load, keys fetched from a real local
//! https server before judging.

use super::{load_str, Config, ConfigError};
use crate::fetch::testkit::{certificate, fetcher, ok, resolver, serve_with};
use crate::fetch::Settings;
use crate::score::Attestation;
use std::path::Path;
use std::time::Duration;

fn load(text: &str) -> Result<Config, ConfigError> {
    load_str(text, Some(Path::new("/etc/regwarden/regwarden.toml")), &[])
}

fn problems(r: Result<Config, ConfigError>) -> Vec<String> {
    match r {
        Err(ConfigError::Invalid { problems }) => problems.into_iter().map(|p| p.key).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn fetching_is_off_unless_enabled_and_its_limits_are_checked() {
    let c = load("").unwrap();
    assert!(!c.fetch.enabled);
    assert_eq!(c.fetch.settings, Settings::default());
    let c = load(
        "[fetch]\nenabled = true\ntimeout = \"5s\"\nconnect_timeout = \"1s\"\nmax_concurrent = 2\n",
    )
    .unwrap();
    assert!(c.fetch.enabled);
    assert_eq!(c.fetch.settings.timeout, Duration::from_secs(5));
    assert_eq!(c.fetch.settings.max_concurrent, 2);
    assert_eq!(problems(load("[fetch]\nproxy = \"p\"\n")), ["fetch.proxy"]);
    assert_eq!(
        problems(load(
            "[fetch]\ntimeout = \"2m\"\nconnect_timeout = \"x\"\nmax_concurrent = 0\n"
        )),
        [
            "fetch.connect_timeout",
            "fetch.timeout",
            "fetch.max_concurrent"
        ]
    );
}

#[test]
fn publishers_by_url_need_fetching_and_a_url_the_client_accepts() {
    let publisher = |uri: &str| {
        format!("[[publishers]]\nissuer = \"https://p.example\"\njwks_uri = \"{uri}\"\n")
    };
    let on = "[fetch]\nenabled = true\n";
    let c = load(&format!("{on}{}", publisher("https://p.example/jwks.json"))).unwrap();
    assert_eq!(
        c.publisher_keys,
        [(
            "https://p.example".to_owned(),
            "https://p.example/jwks.json".to_owned()
        )]
    );
    for bad in [
        publisher("https://p.example/jwks.json"),
        format!("{on}{}", publisher("http://p.example/jwks.json")),
        format!("{on}{}", publisher("https://169.254.169.254/jwks")),
        format!(
            "{on}{}jwks = '{{\"keys\":[]}}'\n",
            publisher("https://p.example/j")
        ),
    ] {
        assert_eq!(problems(load(&bad)), ["publishers[0].jwks_uri"], "{bad}");
    }
    let err = load(&format!("{on}{}", publisher("https://0x7f.1/jwks"))).unwrap_err();
    assert!(err.to_string().contains("[address.loopback]"), "{err}");
}

/// An Ed25519 key pair made with `openssl genpkey -algorithm ed25519` (the integration
/// tests' publisher), and its public half as a JWKS.
const PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIF0dkEDqVM8VqP+CVwlR/JqSLGTjCjx6RUQc8d8GnnO6\n-----END PRIVATE KEY-----\n";
const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","alg":"EdDSA","x":"vFlwWNOtiTm_DbxNfniJPBSzInmkUUYWv3MpczlWElE"}]}"#;

#[tokio::test]
async fn a_publishers_keys_are_fetched_from_its_jwks_uri_before_judging() {
    let cert = certificate();
    let server = serve_with("127.0.0.1", &cert, |_| {
        [
            ("/jwks.json", ok(JWKS, &[])),
            ("/empty.json", ok(r#"{"keys":[]}"#, &[])),
        ]
        .into()
    })
    .await;
    let (lookup, _) = resolver(&[("good.test", vec![vec!["127.0.0.1"]])]);
    let f = fetcher(lookup, &cert, Settings::default());
    let config = |path: &str| {
        format!(
            "[fetch]\nenabled = true\n[[publishers]]\nissuer = \"https://publisher.example\"\njwks_uri = \"https://good.test:{}{path}\"\n",
            server.port
        )
    };
    let statement = {
        use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some("k1".into());
        let claims = serde_json::json!({"iss": "https://publisher.example", "software_id": "acme"});
        let key = EncodingKey::from_ed_pem(PRIVATE_PEM.as_bytes()).unwrap();
        encode(&h, &claims, &key).unwrap()
    };

    let mut c = load(&config("/jwks.json")).unwrap();
    let before = c.scorer.fingerprint();
    assert!(matches!(
        c.scorer.publishers.check(&statement),
        Attestation::Unverifiable { .. }
    ));
    c.fetch_publisher_keys(&f).await.unwrap();
    assert!(matches!(
        c.scorer.publishers.check(&statement),
        Attestation::Verified { .. }
    ));
    assert_ne!(
        c.scorer.fingerprint(),
        before,
        "new keys judge the store again"
    );

    for (path, says) in [("/missing.json", "HTTP 404"), ("/empty.json", "no keys")] {
        let mut c = load(&config(path)).unwrap();
        let e = c.fetch_publisher_keys(&f).await.unwrap_err().to_string();
        assert!(
            e.starts_with("publishers[0].jwks_uri (https://publisher.example): "),
            "{e}"
        );
        assert!(e.contains(says), "{e}");
    }
}
