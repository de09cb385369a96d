//! One row of Keycloak's `client` table, with its redirect URIs, web origins and attributes,
//! to an RFC 7591 client document: the metadata Keycloak's registration endpoint stored,
//! the grant types its flow booleans stand for, and the origin its columns betray.

use super::super::SourceRecord;
use crate::escape::esc;
use crate::model::{CreatedFrom, Origin, Usage};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The columns read from `client`, in order (flags read as '1'/'0').
pub(super) const COLUMNS: [Column; 15] = [
    Column::Text("id"),
    Column::Text("client_id"),
    Column::Text("name"),
    Column::Flag("public_client"),
    Column::Flag("consent_required"),
    Column::Flag("standard_flow_enabled"),
    Column::Flag("implicit_flow_enabled"),
    Column::Flag("direct_access_grants_enabled"),
    Column::Flag("service_accounts_enabled"),
    Column::Text("client_authenticator_type"),
    Column::Text("protocol"),
    Column::Text("root_url"),
    Column::Text("base_url"),
    // Whether a registration access token exists; the token itself is never read.
    Column::IsSet("registration_token"),
    // Keycloak 26.7+; NULL before (and for clients created before an upgrade to it).
    Column::Text("created_timestamp"),
];

#[derive(Clone, Copy)]
pub(super) enum Column {
    Text(&'static str),
    Flag(&'static str),
    IsSet(&'static str),
}

/// The attributes read from `client_attributes` and the RFC 7591 field each stands for
/// (None: read for another purpose).
pub(super) const ATTRIBUTES: [(&str, Option<&str>); 9] = [
    ("logoUri", Some("logo_uri")),
    ("policyUri", Some("policy_uri")),
    ("tosUri", Some("tos_uri")),
    ("jwks.url", Some("jwks_uri")),
    (
        "post.logout.redirect.uris",
        Some("post_logout_redirect_uris"),
    ),
    ("software_id", Some("software_id")),
    ("software_version", Some("software_version")),
    (SECRET_CREATED, None),
    (SECRET_METHOD, None),
];

/// The secret authentication method a registration asked for (`client_secret_post` or
/// `client_secret_basic`); absent when it named none.
pub(super) const SECRET_METHOD: &str = "client.secret.authentication.allowed.method";

/// When the client's secret was generated (epoch seconds).
pub(super) const SECRET_CREATED: &str = "client.secret.creation.time";

/// Everything read about one client.
#[derive(Debug, Default)]
pub(super) struct ClientRow {
    pub id: String,
    pub client_id: String,
    pub name: Option<String>,
    pub public_client: bool,
    pub consent_required: bool,
    pub standard_flow: bool,
    pub implicit_flow: bool,
    pub direct_access_grants: bool,
    pub service_accounts: bool,
    pub authenticator: Option<String>,
    pub protocol: Option<String>,
    pub root_url: Option<String>,
    pub base_url: Option<String>,
    pub has_registration_token: bool,
    pub created_timestamp: Option<String>,
    pub redirect_uris: Vec<String>,
    pub web_origins: Vec<String>,
    pub attributes: Vec<(String, String)>,
}

impl ClientRow {
    pub fn from_text(text: &dyn Fn(usize) -> Option<String>) -> ClientRow {
        let flag = |i: usize| text(i).as_deref() == Some("1");
        ClientRow {
            id: text(0).unwrap_or_default(),
            client_id: text(1).unwrap_or_default(),
            name: text(2),
            public_client: flag(3),
            consent_required: flag(4),
            standard_flow: flag(5),
            implicit_flow: flag(6),
            direct_access_grants: flag(7),
            service_accounts: flag(8),
            authenticator: text(9),
            protocol: text(10),
            root_url: text(11),
            base_url: text(12),
            has_registration_token: flag(13),
            created_timestamp: text(14),
            ..ClientRow::default()
        }
    }

    /// A client Keycloak creates with the realm: known name, no registration token.
    pub fn is_built_in(&self, realm: &str) -> bool {
        !self.has_registration_token && crate::act::keycloak::is_built_in(realm, &self.client_id)
    }

    /// Who created it, as far as the row tells: the registration endpoint gives a client its
    /// internal id as client id and a registration access token (an admin can ask for a
    /// token too, rarely; a client re-created by a restore keeps its id but not its token);
    /// a Client ID Metadata Document client's id is its document's https URL.
    pub fn origin(&self) -> Origin {
        let registered =
            self.has_registration_token || (!self.id.is_empty() && self.client_id == self.id);
        if self.client_id.starts_with("https://") && !registered {
            Origin::Cimd
        } else if registered {
            Origin::Dcr
        } else {
            Origin::Admin
        }
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The grant types the flow booleans allow, in RFC 7591's terms.
    fn grant_types(&self) -> Vec<&'static str> {
        let mut g = Vec::new();
        if self.standard_flow {
            g.push("authorization_code");
            g.push("refresh_token");
        }
        if self.implicit_flow {
            g.push("implicit");
        }
        if self.direct_access_grants {
            g.push("password");
        }
        if self.service_accounts {
            g.push("client_credentials");
        }
        g
    }

    fn response_types(&self) -> Vec<&'static str> {
        let mut r = Vec::new();
        if self.standard_flow {
            r.push("code");
        }
        if self.implicit_flow {
            r.push("token");
        }
        r
    }

    /// RFC 7591's `token_endpoint_auth_method` for Keycloak's authenticator.
    fn auth_method(&self) -> Option<String> {
        if self.public_client {
            return Some("none".into());
        }
        match self.authenticator.as_deref() {
            // Keycloak's "client-secret" accepts both unless the registration named one.
            Some("client-secret") => Some(
                self.attribute(SECRET_METHOD)
                    .filter(|m| matches!(*m, "client_secret_post" | "client_secret_basic"))
                    .unwrap_or("client_secret_basic")
                    .into(),
            ),
            Some("client-jwt") => Some("private_key_jwt".into()),
            Some("client-secret-jwt") => Some("client_secret_jwt".into()),
            Some("client-x509") => Some("tls_client_auth".into()),
            Some(other) => Some(other.into()),
            None => None,
        }
    }

    /// The client document and where its creation time comes from: Keycloak 26.7's column,
    /// else the `CLIENT_REGISTER` event, else when the secret was issued, else unknown.
    pub fn into_record(self, registered: Option<DateTime<Utc>>, usage: Usage) -> SourceRecord {
        let mut warnings = Vec::new();
        let mut doc = Map::new();
        doc.insert("client_id".into(), Value::String(self.client_id.clone()));
        if let Some(n) = &self.name {
            doc.insert("client_name".into(), Value::String(n.clone()));
        }
        doc.insert("redirect_uris".into(), strings(&self.redirect_uris));
        doc.insert("grant_types".into(), strings(&self.grant_types()));
        doc.insert("response_types".into(), strings(&self.response_types()));
        if let Some(m) = self.auth_method() {
            doc.insert("token_endpoint_auth_method".into(), Value::String(m));
        }
        // Keycloak's registration endpoint keeps client_uri as the base URL.
        if let Some(u) = self.base_url.as_ref().or(self.root_url.as_ref()) {
            doc.insert("client_uri".into(), Value::String(u.clone()));
        }
        for (attr, field) in ATTRIBUTES {
            let (Some(field), Some(v)) = (field, self.attribute(attr)) else {
                continue;
            };
            if v.is_empty() {
                continue;
            }
            let value = if field == "post_logout_redirect_uris" {
                Value::Array(v.split("##").map(|s| Value::String(s.into())).collect())
            } else {
                Value::String(v.into())
            };
            doc.insert(field.into(), value);
        }
        if self
            .protocol
            .as_deref()
            .is_some_and(|p| p != "openid-connect")
        {
            warnings.push(format!(
                "protocol {} is not OpenID Connect; read as one",
                esc(self.protocol.as_deref().unwrap_or_default())
            ));
        }
        let millis = |t: &str, what: &str, warnings: &mut Vec<String>| match t.parse::<i64>() {
            Ok(ms) => DateTime::from_timestamp_millis(ms),
            Err(_) => {
                warnings.push(format!("{what}: {:?} is not a time", esc(t)));
                None
            }
        };
        let column = self
            .created_timestamp
            .as_deref()
            .and_then(|t| millis(t, "created_timestamp", &mut warnings));
        let secret = self
            .attribute(SECRET_CREATED)
            .and_then(|t| match t.parse::<i64>() {
                Ok(s) => DateTime::from_timestamp(s, 0),
                Err(_) => {
                    warnings.push(format!("{SECRET_CREATED}: {:?} is not a time", esc(t)));
                    None
                }
            });
        let (created_at, created_from) = match (column, registered, secret) {
            (Some(t), _, _) => (Some(t), Some(CreatedFrom::Store)),
            (None, Some(t), _) => (Some(t), Some(CreatedFrom::RegisterEvent)),
            (None, None, Some(t)) => (Some(t), Some(CreatedFrom::SecretIssued)),
            _ => (None, None),
        };
        let origin = self.origin();
        SourceRecord {
            locator: format!("client row {}", esc(&self.id)),
            doc: Value::Object(doc),
            created_at,
            created_from,
            updated_at: None,
            usage,
            origin,
            warnings,
        }
    }
}

fn strings<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|s| Value::String(s.as_ref().to_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dcr_public() -> ClientRow {
        ClientRow {
            id: "9b1d…".into(),
            client_id: "5f0c4f5e-8a3e-4a57-9a51-0c3c2b1c8d11".into(),
            name: Some("Claude Code (my-server)".into()),
            public_client: true,
            consent_required: true,
            standard_flow: true,
            authenticator: Some("client-secret".into()),
            protocol: Some("openid-connect".into()),
            has_registration_token: true,
            redirect_uris: vec!["http://localhost:51234/callback".into()],
            ..ClientRow::default()
        }
    }

    #[test]
    fn a_public_dcr_client_reads_as_its_registration() {
        let r = dcr_public().into_record(None, Usage::Never);
        assert_eq!(r.origin, Origin::Dcr);
        assert_eq!(r.doc["token_endpoint_auth_method"], "none");
        assert_eq!(
            r.doc["grant_types"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(r.doc["response_types"], serde_json::json!(["code"]));
        assert_eq!((r.created_at, r.created_from), (None, None));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn creation_time_comes_from_the_best_evidence_there_is() {
        let event = DateTime::from_timestamp(1_700_000_000, 0);
        let mut row = dcr_public();
        row.attributes = vec![(SECRET_CREATED.into(), "1600000000".into())];
        let r = row.into_record(event, Usage::Unknown);
        assert_eq!(
            (r.created_at, r.created_from),
            (event, Some(CreatedFrom::RegisterEvent))
        );
        let mut row = dcr_public();
        row.attributes = vec![(SECRET_CREATED.into(), "1600000000".into())];
        let r = row.into_record(None, Usage::Unknown);
        assert_eq!(r.created_from, Some(CreatedFrom::SecretIssued));
        let mut row = dcr_public();
        row.created_timestamp = Some("1650000000000".into());
        let r = row.into_record(event, Usage::Unknown);
        assert_eq!(
            (r.created_at, r.created_from),
            (
                DateTime::from_timestamp(1_650_000_000, 0),
                Some(CreatedFrom::Store)
            )
        );
        let mut row = dcr_public();
        row.created_timestamp = Some("soon".into());
        let r = row.into_record(None, Usage::Unknown);
        assert_eq!(r.created_at, None);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    }

    #[test]
    fn origins_and_built_ins() {
        let mut admin = dcr_public();
        admin.has_registration_token = false;
        assert_eq!(admin.origin(), Origin::Admin);
        admin.client_id = "https://app.example/client.json".into();
        assert_eq!(admin.origin(), Origin::Cimd);
        admin.client_id = "account-console".into();
        assert!(admin.is_built_in("mcp"));
        admin.client_id = "mcp-realm".into();
        assert!(admin.is_built_in("master") && !admin.is_built_in("mcp"));
        let mut squatter = dcr_public();
        squatter.client_id = "broker".into();
        assert!(
            !squatter.is_built_in("mcp"),
            "a registered client is never built in"
        );
    }
}
