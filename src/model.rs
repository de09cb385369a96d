//! The plain data every stage shares: a normalized registration and its facts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a registration came to be. Self-hosted stores rarely say; sources infer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Created through the public Dynamic Client Registration endpoint (RFC 7591).
    Dcr,
    /// A Client ID Metadata Document client: the client_id is an https URL.
    Cimd,
    /// Created by an administrator through the admin API or console.
    Admin,
    /// The store holds no evidence either way.
    Unknown,
}

impl Origin {
    pub const ALL: [Origin; 4] = [Origin::Dcr, Origin::Cimd, Origin::Admin, Origin::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Dcr => "dcr",
            Origin::Cimd => "cimd",
            Origin::Admin => "admin",
            Origin::Unknown => "unknown",
        }
    }

    /// Parses the stored form; anything unexpected reads as `Unknown`.
    pub fn parse(s: &str) -> Origin {
        Origin::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .unwrap_or(Origin::Unknown)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a registration's creation time comes from. Keycloak before 26.7 keeps none, so its
/// reader falls back on evidence of lesser weight; `explain` says which one stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreatedFrom {
    /// The store's own creation column (Hydra's `created_at`, Keycloak 26.7's
    /// `created_timestamp`, a JSON Lines record's `created_at`).
    Store,
    /// Keycloak's `CLIENT_REGISTER` event.
    RegisterEvent,
    /// The time Keycloak issued the client's secret (`client.secret.creation.time`): the
    /// creation time unless the secret was rotated since.
    SecretIssued,
}

impl CreatedFrom {
    pub const ALL: [CreatedFrom; 3] = [
        CreatedFrom::Store,
        CreatedFrom::RegisterEvent,
        CreatedFrom::SecretIssued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CreatedFrom::Store => "store",
            CreatedFrom::RegisterEvent => "register-event",
            CreatedFrom::SecretIssued => "secret-issued",
        }
    }

    pub fn parse(s: &str) -> Option<CreatedFrom> {
        CreatedFrom::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// How `explain` names the evidence.
    pub fn describe(self) -> &'static str {
        match self {
            CreatedFrom::Store => "the store's creation time",
            CreatedFrom::RegisterEvent => "its CLIENT_REGISTER event",
            CreatedFrom::SecretIssued => {
                "the issue time of its secret, later than creation if rotated"
            }
        }
    }
}

/// Trust band of a verdict. Until scoring runs every registration is `Neutral`: no evidence
/// has been weighed either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Trusted,
    Neutral,
    Suspicious,
    Malicious,
}

impl Band {
    pub const ALL: [Band; 4] = [
        Band::Trusted,
        Band::Neutral,
        Band::Suspicious,
        Band::Malicious,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Trusted => "trusted",
            Band::Neutral => "neutral",
            Band::Suspicious => "suspicious",
            Band::Malicious => "malicious",
        }
    }

    pub fn parse(s: &str) -> Option<Band> {
        Band::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// What the store knows about a registration's use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// The store keeps no usage facts for it (or the input did not say).
    Unknown,
    /// Usage is tracked and there is no use on record.
    Never,
    /// Most recent use on record.
    LastUsed(DateTime<Utc>),
}

impl Usage {
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Unknown => "unknown",
            Usage::Never => "never",
            Usage::LastUsed(_) => "used",
        }
    }

    pub fn last_used(self) -> Option<DateTime<Utc>> {
        match self {
            Usage::LastUsed(t) => Some(t),
            _ => None,
        }
    }

    /// Combines two observations: a known use always wins over none, the later use wins.
    pub fn merge(self, other: Usage) -> Usage {
        match (self, other) {
            (Usage::LastUsed(a), Usage::LastUsed(b)) => Usage::LastUsed(a.max(b)),
            (u @ Usage::LastUsed(_), _) | (_, u @ Usage::LastUsed(_)) => u,
            (Usage::Never, _) | (_, Usage::Never) => Usage::Never,
            _ => Usage::Unknown,
        }
    }
}

/// RFC 7591 client metadata after normalization: defaults applied, every string bounded.
/// Redirect URIs keep the exact registered text; `crate::normalize` reports the ones that do
/// not parse.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// OpenID Connect: fetched by the AS to check pairwise redirect hosts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sector_identifier_uri: Option<String>,
    /// OpenID Connect: request objects the AS may fetch.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub request_uris: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub contacts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_statement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
}

impl ClientMetadata {
    /// The URIs a consent screen shows (RFC 7591 §2): client, logo, policy and terms, each
    /// with its field name.
    pub fn display_uris(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("client_uri", &self.client_uri),
            ("logo_uri", &self.logo_uri),
            ("policy_uri", &self.policy_uri),
            ("tos_uri", &self.tos_uri),
        ]
        .into_iter()
        .filter_map(|(field, v)| v.as_deref().map(|v| (field, v)))
    }
}

/// One client registration as regwarden sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub client_id: String,
    pub metadata: ClientMetadata,
    pub created_at: Option<DateTime<Utc>>,
    /// Where `created_at` comes from; None when it is unknown.
    pub created_from: Option<CreatedFrom>,
    pub updated_at: Option<DateTime<Utc>>,
    pub usage: Usage,
    pub origin: Origin,
}

/// Where a store's scans left off: the positions a source resumes from, kept by the state
/// database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreCursor {
    pub updated_at: Option<String>,
    pub id: Option<String>,
    pub usage: Option<String>,
    pub last_full_scan_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// A full scan reads every registration (and only it marks any gone); an incremental one
/// what changed since the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKind {
    Full,
    Incremental,
}

impl ScanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanKind::Full => "full",
            ScanKind::Incremental => "incremental",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_merge_keeps_latest_known_use() {
        let t1 = DateTime::from_timestamp(100, 0).unwrap();
        let t2 = DateTime::from_timestamp(200, 0).unwrap();
        assert_eq!(
            Usage::LastUsed(t1).merge(Usage::LastUsed(t2)),
            Usage::LastUsed(t2)
        );
        assert_eq!(Usage::Never.merge(Usage::LastUsed(t1)), Usage::LastUsed(t1));
        assert_eq!(Usage::Unknown.merge(Usage::Never), Usage::Never);
        assert_eq!(Usage::Unknown.merge(Usage::Unknown), Usage::Unknown);
    }

    #[test]
    fn origin_round_trips_and_tolerates_garbage() {
        for o in Origin::ALL {
            assert_eq!(Origin::parse(o.as_str()), o);
        }
        assert_eq!(Origin::parse("\u{202e}admin"), Origin::Unknown);
    }
}
