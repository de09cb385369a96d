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
