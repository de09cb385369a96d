//! Redirect URIs: parsing, where a host points, loopback look-alikes, sites, ambiguous hosts,
//! embedded URLs, family templates, and the redirect rules as the scorer runs them (on a
//! registration that claims a catalog client's name). Each input line is one redirect URI.
//!
//!   cd fuzz && cargo fuzz run redirect_uri      (see fuzz/README.md)
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use regwarden::model::{ClientMetadata, Origin, Registration, Usage};
use regwarden::score::family::{redirect_template, FamilyIndex};
use regwarden::score::uri::{
    ambiguous_host, dangerous_scheme, embedded_url, host_kind, loopback_lookalike, site, HostKind,
};
use regwarden::score::Scorer;
use std::sync::OnceLock;
use url::Url;

fn scorer() -> &'static Scorer {
    static SCORER: OnceLock<Scorer> = OnceLock::new();
    SCORER.get_or_init(Scorer::with_defaults)
}

fn classify(raw: &str) {
    let template = redirect_template(raw);
    let Ok(url) = Url::parse(raw) else {
        assert_eq!(template, raw, "an unparsable URI is its own template");
        return;
    };
    let _ = dangerous_scheme(url.scheme());
    if let Some(why) = ambiguous_host(raw, &url) {
        common::assert_displayable("an ambiguous-host finding", &why);
    }
    let _ = embedded_url(&url);
    if let (Some(host), Some(host_str)) = (url.host(), url.host_str()) {
        let kind = host_kind(&host);
        if kind == HostKind::Loopback {
            assert!(template.starts_with(&format!("{}://loopback:*", url.scheme())));
        }
        let _ = loopback_lookalike(host_str);
        let s = site(host_str);
        let h = host_str.trim_end_matches('.').to_ascii_lowercase();
        assert!(h.ends_with(&s), "site {s:?} of host {h:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let uris: Vec<String> = text.lines().take(8).map(str::to_owned).collect();
    for raw in &uris {
        classify(raw);
    }
    let reg = Registration {
        client_id: "fuzz".into(),
        metadata: ClientMetadata {
            client_name: Some("Claude Code".into()),
            redirect_uris: uris,
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: "none".into(),
            ..ClientMetadata::default()
        },
        created_at: None,
        created_from: None,
        updated_at: None,
        usage: Usage::Unknown,
        origin: Origin::Dcr,
    };
    let mut families = FamilyIndex::default();
    scorer().observe(&mut families, &reg);
    families.freeze();
    let v = scorer().judge(&reg, &families, chrono::Utc::now());
    assert_eq!(v.score, v.reasons.iter().map(|x| x.points).sum::<i32>());
    for reason in &v.reasons {
        common::assert_displayable("a reason's detail", &reason.detail);
    }
});
