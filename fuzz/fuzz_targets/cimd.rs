//! Client ID Metadata Documents: the client_id URL rules and the document checks, as the
//! daemon and `regwarden cimd` apply them to what an attacker-chosen host serves. The first
//! input line is the client_id, the rest the document's body.
//!
//!   cd fuzz && cargo fuzz run cimd      (see fuzz/README.md)
#![no_main]

#[path = "common.rs"]
mod common;

use common::assert_displayable;
use libfuzzer_sys::fuzz_target;
use regwarden::fetch::cimd::{check_client_id, consistent, read_document};
use regwarden::fetch::CimdError;
use regwarden::model::ClientMetadata;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let id = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();

    let url = match check_client_id(&id) {
        Ok(url) => {
            // What passes is an https URL to a DNS name, with a path and nothing else.
            assert_eq!(url.scheme(), "https", "{id:?}");
            assert!(url.username().is_empty() && url.password().is_none(), "{id:?}");
            assert!(url.query().is_none() && url.fragment().is_none(), "{id:?}");
            assert!(
                matches!(url.host(), Some(url::Host::Domain(_))),
                "{id:?} passed with host {:?}",
                url.host()
            );
            id.into_owned()
        }
        Err(refusal) => {
            assert_displayable("refusal", &refusal.to_string());
            // The document rules still run on what a host could serve under any name.
            id.into_owned()
        }
    };

    match read_document(&url, body) {
        Ok(doc) => {
            assert_eq!(doc.client_id, url, "a document is verified only for its own URL");
            assert!(!doc.redirect_uris.is_empty());
            assert!(!doc
                .token_endpoint_auth_method
                .as_deref()
                .is_some_and(|m| m.starts_with("client_secret_")));
            // A registration holding exactly the document's redirect URIs agrees with it;
            // one adding a URI the document does not list (in any spelling of it: URLs are
            // compared as the URL standard serializes them) never does.
            let same = ClientMetadata {
                redirect_uris: doc.redirect_uris.clone(),
                ..Default::default()
            };
            assert_eq!(consistent(&doc, &same), Ok(()));
            let mut more = same.clone();
            let attacker = "https://attacker.invalid/cb";
            more.redirect_uris.push(attacker.into());
            if !doc
                .redirect_uris
                .iter()
                .any(|u| url::Url::parse(u).is_ok_and(|u| u.as_str() == attacker))
            {
                match consistent(&doc, &more) {
                    Err(CimdError::Mismatch(m)) => assert_displayable("mismatch", &m),
                    other => panic!("an unlisted redirect URI passed: {other:?}"),
                }
            }
        }
        Err(e) => assert_displayable("document error", &e.to_string()),
    }
});
