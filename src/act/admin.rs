//! The admin API of a store, whatever its kind: the operations the runner, reconciliation
//! and restore need, each done the way that server allows. A quarantine is Hydra's blocking
//! JSON Patch (Hydra cannot disable a client) or Keycloak's `enabled: false`.

use super::hydra::{Answer, HydraAdmin};
use super::keycloak::{self, KeycloakAdmin};
use super::ActionError;
use crate::config::{StoreConfig, StoreKind};
use crate::quarantine;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub enum AdminApi {
    Hydra(HydraAdmin),
    Keycloak(KeycloakAdmin),
}

/// What a quarantine is on this server, for messages.
impl AdminApi {
    /// The admin API of a store, or why there is none.
    pub fn of(store: &StoreConfig) -> Result<AdminApi, ActionError> {
        match &store.kind {
            StoreKind::Hydra {
                admin_url: Some(u), ..
            } => Ok(AdminApi::Hydra(HydraAdmin::new(u.clone()))),
            StoreKind::Keycloak {
                realm,
                admin: Some(a),
                ..
            } => Ok(AdminApi::Keycloak(KeycloakAdmin::from_config(realm, a))),
            _ => Err(ActionError::NoAdminApi {
                store: store.name.clone(),
            }),
        }
    }

    /// Checks the admin API answers (and, for Keycloak, that the credentials and roles do).
    pub async fn probe(&self) -> Result<(), ActionError> {
        match self {
            AdminApi::Hydra(h) => h.probe().await,
            AdminApi::Keycloak(k) => k.probe().await,
        }
    }

    /// The client's full snapshot, secrets stripped; None when it does not exist.
    pub async fn get(&self, client_id: &str) -> Result<Answer<Option<Value>>, ActionError> {
        match self {
            AdminApi::Hydra(h) => h.get(client_id).await,
            AdminApi::Keycloak(k) => k.get(client_id).await,
        }
    }

    /// Deletes the client; a missing one counts as done (false).
    pub async fn delete(&self, client_id: &str) -> Result<Answer<bool>, ActionError> {
        match self {
            AdminApi::Hydra(h) => h.delete(client_id).await,
            AdminApi::Keycloak(k) => k.delete(client_id).await,
        }
    }

    /// Quarantines the client of `snapshot` (read just before), tagged with `tag` (time,
    /// reason, action id, undo command). Returns the attempts it took.
    pub async fn quarantine(
        &self,
        client_id: &str,
        snapshot: &Value,
        tag: Map<String, Value>,
    ) -> Result<u32, ActionError> {
        match self {
            AdminApi::Hydra(h) => {
                // Already blocked (a quarantine lifted only in part): keep the values from before.
                let base = quarantine::as_before(snapshot.clone());
                let patch = quarantine::block_patch(&base, tag);
                h.patch(client_id, "quarantine client", &patch).await
            }
            AdminApi::Keycloak(k) => k.disable(snapshot, tag).await,
        }
    }

    /// Whether a quarantine is in effect on `client` as this API shows it.
    pub fn is_quarantined(&self, client: &Value) -> bool {
        match self {
            AdminApi::Hydra(_) => quarantine::is_quarantined(client),
            AdminApi::Keycloak(_) => keycloak::is_quarantined(client),
        }
    }

    /// Clients regwarden must never act on whatever the plan says: on Keycloak, the built-in
    /// clients the realm needs to run and regwarden's own service account.
    pub fn protects(&self, client_id: &str) -> bool {
        match self {
            AdminApi::Hydra(_) => false,
            AdminApi::Keycloak(k) => {
                client_id == k.client_id() || keycloak::is_built_in(k.realm(), client_id)
            }
        }
    }

    /// Whether `client` carries a quarantine tag (in effect or not).
    pub fn is_tagged(&self, client: &Value) -> bool {
        match self {
            AdminApi::Hydra(_) => quarantine::tag(client).is_some(),
            AdminApi::Keycloak(_) => keycloak::quarantine_tag(client).is_some(),
        }
    }
}
