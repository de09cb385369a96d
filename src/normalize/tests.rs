use super::*;
use serde_json::json;

#[test]
fn applies_rfc7591_defaults() {
    let n =
        normalize(&json!({"client_id": "a", "redirect_uris": ["https://x.example/cb"]})).unwrap();
    assert_eq!(n.metadata.grant_types, ["authorization_code"]);
    assert_eq!(n.metadata.response_types, ["code"]);
    assert_eq!(n.metadata.token_endpoint_auth_method, "client_secret_basic");
    assert!(n.warnings.is_empty());
}

#[test]
fn refuses_only_unidentifiable_records() {
    assert_eq!(
        normalize(&json!([1, 2])),
        Err(RecordError::NotAnObject("a list"))
    );
    assert_eq!(normalize(&json!({})), Err(RecordError::MissingClientId));
    assert_eq!(
        normalize(&json!({"client_id": 7})),
        Err(RecordError::BadClientId("a number"))
    );
    assert_eq!(
        normalize(&json!({"client_id": ""})),
        Err(RecordError::BadClientId("an empty string"))
    );
    assert_eq!(
        normalize(&json!({"client_id": "x".repeat(5000)})),
        Err(RecordError::ClientIdTooLong)
    );
    assert_eq!(
        normalize(&json!({"client_id": "a\0b"})),
        Err(RecordError::ClientIdNul)
    );
}

#[test]
fn wrong_types_warn_and_go_on() {
    let n = normalize(&json!({
        "client_id": "c1",
        "client_name": {"nested": true},
        "redirect_uris": "http://localhost:1234/callback",
        "grant_types": [1, "refresh_token", null],
        "contacts": 5,
        "logo_uri": "not a uri",
    }))
    .unwrap();
    assert_eq!(n.metadata.client_name, None);
    assert_eq!(n.metadata.redirect_uris, ["http://localhost:1234/callback"]);
    assert_eq!(n.metadata.grant_types, ["refresh_token"]);
    assert!(n.metadata.contacts.is_empty());
    assert_eq!(n.warnings.len(), 5, "{:?}", n.warnings);
    assert!(n
        .warnings
        .iter()
        .any(|w| w.starts_with("client_name: expected a string")));
}

#[test]
fn bounds_huge_values_and_lists() {
    let huge = "é".repeat(MAX_STRING * 3);
    let many: Vec<String> = (0..1000)
        .map(|i| format!("https://h{i}.example/cb"))
        .collect();
    let n =
        normalize(&json!({"client_id": "c", "client_name": huge, "redirect_uris": many})).unwrap();
    assert_eq!(n.metadata.client_name.unwrap().chars().count(), MAX_STRING);
    assert_eq!(n.metadata.redirect_uris.len(), MAX_LIST);
    assert_eq!(n.warnings.len(), 2);
}

#[test]
fn invalid_redirects_are_kept_and_reported_escaped() {
    let n = normalize(&json!({"client_id": "c", "redirect_uris": ["::\u{202e}bad"]})).unwrap();
    assert_eq!(n.metadata.redirect_uris.len(), 1);
    assert!(n.warnings[0].contains("\\u{202e}"), "{}", n.warnings[0]);
}

#[test]
fn nul_is_replaced() {
    let n = normalize(&json!({"client_id": "c", "client_name": "a\0b"})).unwrap();
    assert_eq!(n.metadata.client_name.as_deref(), Some("a\u{FFFD}b"));
}

#[test]
fn parses_database_timestamps() {
    let want = DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456Z").unwrap();
    for s in [
        "2025-03-04T05:06:07.123456Z",
        "2025-03-04 05:06:07.123456",
        "2025-03-04 05:06:07.123456+00:00",
        "2025-03-04 06:06:07.123456+01:00",
        "2025-03-04T05:06:07.123456",
    ] {
        assert_eq!(parse_time(s), Some(want.with_timezone(&Utc)), "{s}");
    }
    for s in [
        "2025-03-04 05:06:07.123456789+00",
        "2025-03-04T05:06:07.123456789+0000",
    ] {
        assert_eq!(
            parse_time(s),
            Some(
                DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456789Z")
                    .unwrap()
                    .with_timezone(&Utc)
            ),
            "{s}"
        );
    }
    assert_eq!(
        parse_time("2025-03-04 05:06:07"),
        DateTime::from_timestamp(1741064767, 0)
    );
    for bad in [
        "2025-13-04 05:06:07",
        "2025-03-04 25:06:07",
        "2025-03-04 05:06:07.",
        "2025-03-04 05:06:07+1",
        "2025-03-04 05:06:07 UTC+",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
    assert_eq!(parse_time("yesterday"), None);
    assert_eq!(parse_time(""), None);
}

/// Random documents over the keys normalization reads: every one with a usable client_id is
/// kept under that id, every value kept is bounded and free of NUL, the RFC 7591 defaults are
/// always applied, and every warning names a field of the document, with its values escaped.
#[test]
fn random_documents_normalize_within_bounds() {
    const KEYS: &[&str] = &[
        "client_id",
        "client_name",
        "redirect_uris",
        "grant_types",
        "response_types",
        "scope",
        "token_endpoint_auth_method",
        "client_uri",
        "logo_uri",
        "contacts",
        "software_id",
        "software_statement",
        "jwks_uri",
        "application_type",
        "policy_uri",
        "tos_uri",
        "sector_identifier_uri",
        "request_uris",
        "software_version",
        "extra",
    ];
    let mut seed = 0x1234_5678_u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    fn value(next: &mut dyn FnMut() -> usize, depth: usize) -> Value {
        const PIECES: &[&str] = &[
            "a",
            "é",
            "\u{202e}",
            "\0",
            "http://localhost:1/cb",
            "javascript:x",
            " ",
            "ｆ",
            "\n",
            "💥",
        ];
        match next() % if depth > 2 { 5 } else { 7 } {
            0 => Value::Null,
            1 => Value::Bool(next() % 2 == 0),
            2 => json!(next() as f64 / 7.0),
            3 | 4 => {
                let len = [0, 1, 5, 700][next() % 4];
                Value::String((0..len).map(|_| PIECES[next() % PIECES.len()]).collect())
            }
            5 => Value::Array(
                (0..[0, 2, 70][next() % 3])
                    .map(|_| value(next, depth + 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..next() % 4)
                    .map(|_| (KEYS[next() % KEYS.len()].to_owned(), value(next, depth + 1)))
                    .collect(),
            ),
        }
    }
    for _ in 0..1000 {
        let mut doc: serde_json::Map<String, Value> = (0..next() % 10)
            .map(|_| (KEYS[next() % KEYS.len()].to_owned(), value(&mut next, 0)))
            .collect();
        if next() % 4 != 0 {
            doc.insert("client_id".into(), json!(format!("c{}", next())));
        }
        let id = doc.get("client_id").cloned();
        let n = match normalize(&Value::Object(doc.clone())) {
            Ok(n) => n,
            Err(e) => {
                let usable = matches!(&id, Some(Value::String(s))
                    if !s.is_empty() && s.chars().count() <= MAX_CLIENT_ID && !s.contains('\0'));
                assert!(!usable, "{e} for {id:?}");
                continue;
            }
        };
        assert_eq!(Some(Value::String(n.client_id.clone())), id);
        let m = &n.metadata;
        assert!(!m.grant_types.is_empty() && !m.response_types.is_empty());
        assert!(!m.token_endpoint_auth_method.is_empty());
        for w in &n.warnings {
            let named = doc
                .keys()
                .filter(|k| *k != "extra" && *k != "client_id")
                .any(|k| {
                    w.strip_prefix(k.as_str())
                        .is_some_and(|r| r.starts_with([':', '[']))
                });
            assert!(named, "{w:?} names no field of {doc:?}");
            assert!(!w.chars().any(crate::escape::is_hidden), "{w:?}");
            assert!(w.chars().count() <= MAX_STRING, "{w:?}");
        }
        for list in [
            &m.redirect_uris,
            &m.grant_types,
            &m.response_types,
            &m.contacts,
            &m.request_uris,
        ] {
            assert!(list.len() <= MAX_LIST);
            assert!(list
                .iter()
                .all(|v| v.chars().count() <= MAX_STRING && !v.contains('\0')));
        }
        for v in [
            &m.client_name,
            &m.scope,
            &m.client_uri,
            &m.logo_uri,
            &m.policy_uri,
            &m.tos_uri,
            &m.jwks_uri,
            &m.sector_identifier_uri,
            &m.software_id,
            &m.software_version,
            &m.application_type,
        ]
        .into_iter()
        .flatten()
        {
            assert!(v.chars().count() <= MAX_STRING && !v.contains('\0'));
        }
        if let Some(jwt) = &m.software_statement {
            assert!(jwt.chars().count() <= MAX_STATEMENT && !jwt.contains('\0'));
        }
    }
}

/// Odd JSON gets a definite answer, not just no panic: a document of the wrong kind is
/// refused naming what it is; inside an object, whatever has the wrong shape is dropped with a
/// warning naming its field, and RFC 7591's defaults fill the gaps.
#[test]
fn odd_json_is_refused_or_kept_with_defaults_and_named_warnings() {
    for (doc, found) in [
        (json!(null), "null"),
        (json!(true), "a boolean"),
        (json!(1.5e308), "a number"),
        (json!("s"), "a string"),
        (json!([{"client_id": "x"}]), "a list"),
    ] {
        assert_eq!(
            normalize(&doc),
            Err(RecordError::NotAnObject(found)),
            "{doc}"
        );
    }

    let defaults = ClientMetadata {
        grant_types: vec!["authorization_code".into()],
        response_types: vec!["code".into()],
        token_endpoint_auth_method: "client_secret_basic".into(),
        ..ClientMetadata::default()
    };
    for (doc, warnings) in [
        (
            json!({"client_id": "x", "redirect_uris": [[[]]]}),
            vec!["redirect_uris[0]: expected a string, found a list"],
        ),
        (
            json!({"client_id": "x", "redirect_uris": [""], "contacts": {"a": 1}}),
            vec![
                "redirect_uris[0]: empty string dropped",
                "contacts: expected a list of strings, found an object",
            ],
        ),
        (
            json!({"client_id": "x", "grant_types": [], "response_types": null,
                   "token_endpoint_auth_method": 3, "client_name": "", "scope": null}),
            vec!["token_endpoint_auth_method: expected a string, found a number"],
        ),
        (
            json!({"client_id": "x", "grant_types": [null, 1.5], "software_id": ["a"],
                   "unknown": {"deep": [[[[]]]]}}),
            vec![
                "grant_types[0]: expected a string, found null",
                "grant_types[1]: expected a string, found a number",
                "software_id: expected a string, found a list",
            ],
        ),
    ] {
        let n = normalize(&doc).unwrap();
        assert_eq!(n.client_id, "x");
        assert_eq!(n.metadata, defaults, "{doc}");
        assert_eq!(n.warnings, warnings, "{doc}");
    }
}

#[test]
fn software_statements_have_their_own_bound() {
    let jwt = "e".repeat(MAX_STATEMENT + 10);
    let n = normalize(&json!({"client_id": "c", "software_statement": jwt})).unwrap();
    let kept = n.metadata.software_statement.unwrap();
    assert_eq!(kept.chars().count(), MAX_STATEMENT);
    assert_eq!(
        n.warnings,
        [format!(
            "software_statement: longer than {MAX_STATEMENT} characters, cut"
        )]
    );
}
