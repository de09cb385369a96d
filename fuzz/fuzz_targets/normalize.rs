//! Normalization: any JSON value (or, for bytes that are not JSON, the text placed in every
//! string field of a client object) to bounded RFC 7591 metadata, plus name folding and
//! look-alike skeletons. Total: never a panic; sizes stay within the documented bounds;
//! warnings are safe to display.
//!
//!   cd fuzz && cargo fuzz run normalize      (see fuzz/README.md)
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use regwarden::normalize::{normalize, MAX_LIST, MAX_STATEMENT, MAX_STRING};
use regwarden::score::text::{fold_name, name_findings, skeleton};
use serde_json::{json, Value};

fn check(doc: &Value) {
    let Ok(n) = normalize(doc) else {
        return;
    };
    for w in &n.warnings {
        common::assert_displayable("a normalization warning", w);
    }
    let m = &n.metadata;
    let strings = [
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
    ];
    for s in strings.into_iter().flatten() {
        assert!(s.chars().count() <= MAX_STRING && !s.contains('\0'));
    }
    assert!(m.token_endpoint_auth_method.chars().count() <= MAX_STRING);
    if let Some(s) = &m.software_statement {
        assert!(s.chars().count() <= MAX_STATEMENT);
    }
    for list in [
        &m.redirect_uris,
        &m.grant_types,
        &m.response_types,
        &m.request_uris,
        &m.contacts,
    ] {
        assert!(list.len() <= MAX_LIST);
        assert!(list
            .iter()
            .all(|s| s.chars().count() <= MAX_STRING && !s.is_empty()));
    }
    assert!(!m.grant_types.is_empty() && !m.response_types.is_empty());
    if let Some(name) = &m.client_name {
        let folded = fold_name(name);
        assert!(!folded.chars().any(regwarden::escape::is_hidden));
        let _ = skeleton(name);
        let f = name_findings(name);
        if let Some(why) = &f.mixed_script {
            common::assert_displayable("a mixed-script finding", why);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<Value>(data) {
        Ok(doc) => check(&doc),
        Err(_) => {
            let text = String::from_utf8_lossy(data);
            let s = text.as_ref();
            check(&json!({
                "client_id": s, "client_name": s, "redirect_uris": [s, s], "grant_types": s,
                "response_types": [s], "token_endpoint_auth_method": s, "scope": s,
                "client_uri": s, "logo_uri": s, "jwks_uri": s, "contacts": [s],
                "software_id": s, "software_version": s, "software_statement": s,
                "application_type": s,
            }));
        }
    }
});
