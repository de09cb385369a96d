//! What the rules and the fingerprint read from one registration, worked out once: the
//! metadata as scored (a verified statement's claims win), the folded name, the parsed
//! redirect URIs.

use super::text::fold_name;
use crate::model::ClientMetadata;
use std::borrow::Cow;
use url::Url;

pub struct Facts<'a> {
    pub meta: Cow<'a, ClientMetadata>,
    /// The folded client_name ([`fold_name`]), if there is a name.
    pub name: Option<String>,
    /// Each redirect URI parsed, in the order of `meta.redirect_uris`.
    pub urls: Vec<Result<Url, url::ParseError>>,
}

impl<'a> Facts<'a> {
    pub fn new(meta: Cow<'a, ClientMetadata>) -> Facts<'a> {
        let name = meta.client_name.as_deref().map(fold_name);
        let urls = meta.redirect_uris.iter().map(|r| Url::parse(r)).collect();
        Facts { meta, name, urls }
    }

    /// Raw and parsed redirect URIs side by side.
    pub fn redirects(&self) -> impl Iterator<Item = (&str, &Result<Url, url::ParseError>)> {
        self.meta
            .redirect_uris
            .iter()
            .map(String::as_str)
            .zip(&self.urls)
    }
}

/// What fetching a CIMD client's metadata document showed, gathered before judging (the
/// scorer itself never fetches). `None` where nothing was fetched: fetching is off, the
/// fetch failed or was refused, or the registration is not a CIMD client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CimdEvidence {
    /// The document at the client_id URL names that URL and agrees with the registration:
    /// whoever controls the URL's host publishes this client.
    Verified,
    /// The document breaks the CIMD rules or contradicts the registration; why.
    Mismatch(String),
}
