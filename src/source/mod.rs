//! Sources: one adapter per store kind, each reading registrations in bounded batches,
//! read-only. A source hands over raw client documents; `crate::refresh::scan` normalizes them.

pub mod hydra;
pub mod jsonl;
pub mod keycloak;
mod sql;
mod text_rows;

use crate::config::{StoreConfig, StoreKind};
use crate::model::{CreatedFrom, Origin, Registration, Usage};
use crate::model::{ScanKind, StoreCursor};
use crate::normalize::{normalize, RecordError};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("query on {what} failed: {source}")]
    Query {
        what: &'static str,
        source: sqlx::Error,
    },
    #[error("{url} does not look like an Ory Hydra database: {reason}")]
    NotHydra { url: String, reason: String },
    #[error("{url} does not look like a Keycloak database: {reason}")]
    NotKeycloak { url: String, reason: String },
    #[error("admin API {url}: {what} failed: {message}")]
    Api {
        url: String,
        what: String,
        message: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// One registration as the store holds it, before normalization.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// Where it came from, for messages ("line 12", "hydra_client row").
    pub locator: String,
    /// The RFC 7591 client information object (any JSON value; normalization is total).
    pub doc: serde_json::Value,
    pub created_at: Option<DateTime<Utc>>,
    /// Where `created_at` comes from (None when it is None).
    pub created_from: Option<CreatedFrom>,
    pub updated_at: Option<DateTime<Utc>>,
    pub usage: Usage,
    pub origin: Origin,
    /// Problems the source met reading this record (unparsable timestamps, bad JSON columns).
    pub warnings: Vec<String>,
}

impl SourceRecord {
    /// The client_id as the source gave it, if it gave one as text.
    pub fn client_id(&self) -> Option<&str> {
        self.doc
            .get("client_id")
            .and_then(serde_json::Value::as_str)
    }

    /// Normalizes the record into a registration, with every warning about it (the
    /// source's and normalization's).
    pub fn into_registration(self) -> Result<(Registration, Vec<String>), RecordError> {
        let n = normalize(&self.doc)?;
        let mut warnings = self.warnings;
        warnings.extend(n.warnings);
        let registration = Registration {
            client_id: n.client_id,
            metadata: n.metadata,
            created_at: self.created_at,
            created_from: self.created_from.filter(|_| self.created_at.is_some()),
            updated_at: self.updated_at,
            usage: self.usage,
            origin: self.origin,
        };
        Ok((registration, warnings))
    }
}

/// A record the source could not read at all (it still counts, and the scan goes on).
#[derive(Debug, Clone)]
pub struct Refused {
    pub locator: String,
    pub reason: String,
}

/// One page of a scan.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<SourceRecord>,
    pub refused: Vec<Refused>,
    /// The records' usage is still to be looked up ([`Pager::look_up_uses`]): `Unknown`
    /// until then.
    pub uses_pending: bool,
}

/// An open store.
pub enum Source {
    Hydra(hydra::HydraSource),
    Keycloak(keycloak::KeycloakSource),
    /// Hydra through its admin API alone.
    HydraApi(hydra::api::HydraApiSource),
    /// Keycloak through its admin API alone.
    KeycloakApi(keycloak::api::KeycloakApiSource),
    Jsonl(jsonl::JsonlSource),
}

impl Source {
    pub async fn open(cfg: &StoreConfig) -> Result<Source, SourceError> {
        Ok(match &cfg.kind {
            StoreKind::Hydra {
                database_url: Some(url),
                ..
            } => Source::Hydra(hydra::HydraSource::open(url, cfg.batch_size).await?),
            StoreKind::Keycloak {
                realm,
                database_url: Some(url),
                ..
            } => Source::Keycloak(
                keycloak::KeycloakSource::open(url, realm, cfg.batch_size, cfg.usage_window)
                    .await?,
            ),
            StoreKind::Hydra {
                database_url: None,
                admin_url: Some(u),
            } => Source::HydraApi(hydra::api::HydraApiSource::open(u, cfg.batch_size).await?),
            StoreKind::Keycloak {
                realm,
                database_url: None,
                admin: Some(a),
            } => Source::KeycloakApi(
                keycloak::api::KeycloakApiSource::open(realm, a, cfg.batch_size, cfg.usage_window)
                    .await?,
            ),
            StoreKind::Hydra { .. } | StoreKind::Keycloak { .. } => {
                return Err(SourceError::Api {
                    url: String::new(),
                    what: format!("read store {}", cfg.name),
                    message: "neither database_url nor an admin API is configured".into(),
                })
            }
            StoreKind::Jsonl { path } => {
                Source::Jsonl(jsonl::JsonlSource::new(path.clone(), cfg.batch_size))
            }
        })
    }

    /// Whether a full scan reads each client_id once: the database readers page by a key
    /// of the client table, in which the client_id is unique (Hydra's id in its network,
    /// Keycloak's client_id in its realm). A file may repeat one; an admin API's pages may
    /// shift while they are read.
    pub fn unique_ids(&self) -> bool {
        matches!(self, Source::Hydra(_) | Source::Keycloak(_))
    }

    /// Whether this source can follow changes since a cursor; otherwise every scan is full.
    pub fn incremental(&self) -> bool {
        matches!(self, Source::Hydra(_))
    }

    /// Starts reading; `kind` Incremental continues after `cursor`.
    pub async fn pager(
        &self,
        kind: ScanKind,
        cursor: &StoreCursor,
    ) -> Result<Pager<'_>, SourceError> {
        Ok(match self {
            Source::Hydra(h) => Pager::Hydra(h.pager(kind, cursor).await?),
            Source::Keycloak(k) => Pager::Keycloak(k.pager()),
            Source::HydraApi(h) => Pager::HydraApi(h.pager()),
            Source::KeycloakApi(k) => Pager::KeycloakApi(k.pager()),
            Source::Jsonl(j) => Pager::Jsonl(j.pager().await?),
        })
    }

    /// Uses recorded since the usage cursor: (client_id, last use) and the next cursor.
    pub async fn usage_since(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<(String, DateTime<Utc>)>, Option<String>), SourceError> {
        match self {
            Source::Hydra(h) => h.usage_since(cursor).await,
            _ => Ok((Vec::new(), None)),
        }
    }

    /// The position to start the usage cursor at when a full scan begins.
    pub async fn usage_mark(&self) -> Result<Option<String>, SourceError> {
        match self {
            Source::Hydra(h) => h.usage_mark().await,
            _ => Ok(None),
        }
    }

    /// The store's own registration cap and its use, where the store has one.
    pub async fn capacity(&self) -> Result<Option<keycloak::Capacity>, SourceError> {
        match self {
            Source::Keycloak(k) => Ok(Some(k.capacity().await?)),
            Source::KeycloakApi(k) => Ok(Some(k.capacity().await)),
            _ => Ok(None),
        }
    }

    /// What an operator should know about the store's usage facts (logged at start-up and
    /// printed by `check-config`), if anything.
    pub fn notice(&self) -> Option<String> {
        match self {
            Source::Keycloak(k) => k.notice(),
            Source::KeycloakApi(k) => Some(k.notice()),
            Source::HydraApi(_) => Some(
                "read through the admin API alone: Hydra's API shows no usage, so usage is unknown \
                 and registrations are never expired for lack of use"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// A scan in progress.
pub enum Pager<'a> {
    Hydra(hydra::HydraPager<'a>),
    Keycloak(keycloak::KeycloakPager<'a>),
    HydraApi(hydra::api::HydraApiPager<'a>),
    KeycloakApi(keycloak::api::KeycloakApiPager<'a>),
    Jsonl(jsonl::JsonlPager),
}

impl Pager<'_> {
    /// The next batch, or None when the scan is complete.
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        match self {
            Pager::Hydra(p) => p.next_batch().await,
            Pager::Keycloak(p) => p.next_batch().await,
            Pager::HydraApi(p) => p.next_batch().await,
            Pager::KeycloakApi(p) => p.next_batch().await,
            Pager::Jsonl(p) => p.next_batch().await,
        }
    }

    /// Looks up the last uses of `batch`'s clients when they are pending, but for those in
    /// `known`: the state has theirs, and the usage follow after the scan brings what
    /// came since.
    pub async fn look_up_uses(
        &self,
        batch: &mut Batch,
        known: &HashSet<String>,
    ) -> Result<(), SourceError> {
        match self {
            Pager::Hydra(p) if batch.uses_pending => p.look_up_uses(batch, known).await,
            _ => Ok(()),
        }
    }

    /// The incremental position reached (updated_at text, client id).
    pub fn position(&self) -> (Option<String>, Option<String>) {
        match self {
            Pager::Hydra(p) => p.position(),
            _ => (None, None),
        }
    }
}
