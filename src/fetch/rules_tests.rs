//! The URL, freshness and document rules, without any network.

use super::cimd::{check_client_id, read_document, CimdError};
use super::*;
use std::time::Duration;

#[test]
fn urls_are_refused_before_any_request_naming_the_rule() {
    let rule = |u: &str| {
        check_url(u)
            .map(|_| ())
            .map_err(|r| (r.rule, r.to_string()))
    };
    let (r, text) = rule("http://example.com/doc").unwrap_err();
    assert_eq!(r, Rule::NotHttps, "{text}");
    assert_eq!(
        rule("https://user:pw@example.com/doc").unwrap_err().0,
        Rule::Userinfo
    );
    assert_eq!(
        rule("https://user@example.com/doc").unwrap_err().0,
        Rule::Userinfo
    );
    // Literals in every notation a browser reads, canonicalized, then judged.
    for (u, ip, r) in [
        ("https://127.0.0.1/doc", "127.0.0.1", Rule::Loopback),
        ("https://2130706433/doc", "127.0.0.1", Rule::Loopback),
        ("https://0x7f.1/doc", "127.0.0.1", Rule::Loopback),
        ("https://017700000001/doc", "127.0.0.1", Rule::Loopback),
        ("https://0x7f000001/doc", "127.0.0.1", Rule::Loopback),
        ("https://127.1/doc", "127.0.0.1", Rule::Loopback),
        (
            "https://0251.0376.0251.0376/doc",
            "169.254.169.254",
            Rule::Metadata,
        ),
        ("https://0xa9fea9fe/doc", "169.254.169.254", Rule::Metadata),
        ("https://10.0.0.1:8443/doc", "10.0.0.1", Rule::Private),
        ("https://[::1]/doc", "::1", Rule::Loopback),
        (
            "https://[::ffff:7f00:1]/doc",
            "::ffff:127.0.0.1",
            Rule::Ipv4Embedded,
        ),
        (
            "https://[::ffff:169.254.169.254]/doc",
            "::ffff:169.254.169.254",
            Rule::Ipv4Embedded,
        ),
        (
            "https://[64:ff9b::a9fe:a9fe]/doc",
            "64:ff9b::a9fe:a9fe",
            Rule::Nat64,
        ),
        (
            "https://[fd00:ec2::254]/doc",
            "fd00:ec2::254",
            Rule::Metadata,
        ),
        ("https://0.0.0.0/doc", "0.0.0.0", Rule::Unspecified),
        ("https://0/doc", "0.0.0.0", Rule::Unspecified),
        ("https://8.8.8.8/doc", "8.8.8.8", Rule::IpLiteral),
        ("https://134744072/doc", "8.8.8.8", Rule::IpLiteral),
    ] {
        let (got, text) = rule(u).unwrap_err();
        assert_eq!(got, r, "{u}: {text}");
        assert!(text.contains(ip), "{u}: {text}");
    }
    let (_, text) = rule("https://0x7f.1/doc").unwrap_err();
    assert_eq!(
        text,
        "host 0x7f.1 is 127.0.0.1, which is loopback (RFC 1122, RFC 4291) [address.loopback]"
    );
    assert!(rule("https://example.com/doc").is_ok());
    assert_eq!(rule("not a url").unwrap_err().0, Rule::BadUrl);
}

#[test]
fn caching_headers_give_freshness() {
    use reqwest::header::{HeaderMap, HeaderValue};
    let h = |pairs: &[(&'static str, &'static str)]| {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        freshness(&m)
    };
    assert_eq!(
        h(&[("cache-control", "public, max-age=300")]),
        Some(Duration::from_secs(300))
    );
    assert_eq!(h(&[("cache-control", "no-store, max-age=300")]), None);
    assert_eq!(h(&[("cache-control", "no-cache")]), None);
    assert_eq!(
        h(&[("cache-control", "max-age=300"), ("age", "100")]),
        Some(Duration::from_secs(200))
    );
    assert_eq!(h(&[("cache-control", "max-age=300"), ("age", "400")]), None);
    assert_eq!(h(&[("cache-control", "max-age=0")]), None);
    assert_eq!(h(&[("cache-control", "max-age=abc")]), None);
    assert_eq!(h(&[]), None);
    assert_eq!(
        h(&[
            ("date", "Wed, 21 Oct 2026 07:28:00 GMT"),
            ("expires", "Wed, 21 Oct 2026 08:28:00 GMT")
        ]),
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        h(&[("date", "Wed, 21 Oct 2026 07:28:00 GMT"), ("expires", "0")]),
        None
    );
}

#[test]
fn client_ids_follow_the_drafts_url_rules() {
    assert!(check_client_id("https://claude.ai/oauth/claude-code-client-metadata").is_ok());
    for bad in [
        "https://example.com",
        "https://example.com/",
        "https://example.com/doc#x",
        "https://example.com/doc?x=1",
        "https://example.com/a/../doc",
        "https://example.com/a/%2e%2e/doc",
        "http://example.com/doc",
        "https://u@example.com/doc",
        "https://127.0.0.1/doc",
    ] {
        assert!(check_client_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn documents_are_checked_against_their_url() {
    let url = "https://app.example/client.json";
    let doc = |extra: &str| {
        format!(r#"{{"client_id":"{url}","redirect_uris":["http://127.0.0.1/cb"]{extra}}}"#)
    };
    let d = read_document(url, doc(r#","client_name":"App""#).as_bytes()).unwrap();
    assert_eq!(d.client_name.as_deref(), Some("App"));
    let mismatch = |body: String| {
        matches!(
            read_document(url, body.as_bytes()),
            Err(CimdError::Mismatch(_))
        )
    };
    assert!(mismatch(doc(
        r#","token_endpoint_auth_method":"client_secret_basic""#
    )));
    assert!(mismatch(doc(r#","client_secret":"s""#)));
    assert!(mismatch(
        r#"{"client_id":"https://other.example/client.json","redirect_uris":["x"]}"#.into()
    ));
    assert!(mismatch(format!(r#"{{"client_id":"{url}"}}"#)));
    assert!(matches!(
        read_document(url, b"<html>"),
        Err(CimdError::Failed(_))
    ));
    assert!(matches!(
        read_document(url, b"[]"),
        Err(CimdError::Failed(_))
    ));
}

#[test]
fn a_registration_agrees_with_its_document_when_its_redirects_are_listed() {
    use super::cimd::consistent;
    let doc = read_document(
        "https://app.example/c.json",
        br#"{"client_id":"https://app.example/c.json","redirect_uris":["HTTPS://App.Example/cb","http://127.0.0.1/callback"]}"#,
    )
    .unwrap();
    let reg = |uris: &[&str], method: &str| crate::model::ClientMetadata {
        redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
        token_endpoint_auth_method: method.into(),
        ..Default::default()
    };
    assert!(consistent(&doc, &reg(&["https://app.example/cb"], "none")).is_ok());
    // A store's default auth method is not the client's claim.
    assert!(consistent(
        &doc,
        &reg(&["http://127.0.0.1/callback"], "client_secret_basic")
    )
    .is_ok());
    assert!(consistent(&doc, &reg(&[], "none")).is_ok());
    let e = consistent(
        &doc,
        &reg(
            &["https://app.example/cb", "https://evil.example/cb"],
            "none",
        ),
    )
    .unwrap_err();
    assert!(e.to_string().contains("https://evil.example/cb"), "{e}");
    // Other spellings of one URL (found by the `cimd` fuzz target: an empty port) are the
    // URL listed; a different port is not.
    let doc = read_document(
        "https://app.example/c.json",
        br#"{"client_id":"https://app.example/c.json","redirect_uris":["https://evil.example:/cb","https://app.example:443/x/../cb"]}"#,
    )
    .unwrap();
    for same in ["https://evil.example/cb", "https://app.example/cb"] {
        assert!(consistent(&doc, &reg(&[same], "none")).is_ok(), "{same}");
    }
    assert!(consistent(&doc, &reg(&["https://app.example:8443/cb"], "none")).is_err());
}
