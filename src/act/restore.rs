//! `regwarden restore ACTION_ID`: undoes a journaled quarantine or delete through the admin
//! API, itself journaled (intent with the client's snapshot, then outcome). A quarantine is
//! lifted in place and nothing is lost; a deleted client is re-created, and what Hydra
//! dropped with it cannot come back. The journal's note and the command say which.

use super::hydra::HydraAdmin;
use super::keycloak::{self, KeycloakAdmin};
use super::{admin_api, ActionError, AdminApi, Intent, JournalEntry, Outcome};
use crate::config::StoreConfig;
use crate::escape::esc;
use crate::policy::{ActionKind, JournalAction, Mode};
use crate::quarantine;
use crate::state::State;
use chrono::Utc;
use serde_json::Value;

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// The restore's own journal entry.
    pub action_id: i64,
    pub store: String,
    pub client_id: String,
    /// What was undone: a quarantine or a delete.
    pub undone: ActionKind,
    /// What came back and what cannot (as journaled).
    pub note: String,
    /// The new secret of a re-created confidential client (its old one cannot come back).
    pub new_secret: Option<String>,
}

/// Undoes the quarantine or delete journaled as action `id`.
pub async fn restore(
    state: &State,
    stores: &[StoreConfig],
    id: i64,
) -> Result<Restored, ActionError> {
    let not = |why: String| ActionError::NotRestorable { id, why };
    let e = state
        .journal_entry(id)
        .await?
        .ok_or_else(|| not("no such action in the journal".into()))?;
    let undone = match JournalAction::parse(&e.action) {
        Some(JournalAction::Delete) => ActionKind::Delete,
        Some(JournalAction::Quarantine) => ActionKind::Quarantine,
        _ => {
            return Err(not(format!(
                "is a {} action; only deletes and quarantines can be restored",
                esc(&e.action)
            )))
        }
    };
    if !e
        .outcome
        .as_deref()
        .and_then(Outcome::parse)
        .is_some_and(Outcome::took_effect)
    {
        return Err(not(format!(
            "the {} did not take effect (outcome {}); nothing to restore",
            undone.as_str(),
            e.outcome.as_deref().unwrap_or("none")
        )));
    }
    let store = stores
        .iter()
        .find(|s| s.name == e.store)
        .ok_or_else(|| not(format!("store {} is not configured", esc(&e.store))))?;
    let api = admin_api(store)?;
    let snapshot: Value = serde_json::from_str(&e.snapshot)
        .map_err(|err| not(format!("its snapshot is unreadable: {err}")))?;
    if undone == ActionKind::Delete {
        return match &api {
            AdminApi::Hydra(h) => recreate(state, h, &e, snapshot).await,
            AdminApi::Keycloak(k) => recreate_keycloak(state, k, &e, &snapshot).await,
        };
    }
    let Some(current) = api.get(&e.client_id).await?.value else {
        return Err(not(format!(
            "client {} is no longer in store {}; if a later action deleted it, restore that delete",
            esc(&e.client_id),
            e.store
        )));
    };
    match &api {
        AdminApi::Hydra(h) => lift(state, h, &e, &snapshot, current).await,
        AdminApi::Keycloak(k) => enable(state, k, &e, current).await,
    }
}

/// Journals a restore's intent, runs `call`, journals its outcome.
async fn journaled<T>(
    state: &State,
    e: &JournalEntry,
    snapshot: &str,
    note: &str,
    call: impl std::future::Future<Output = Result<T, ActionError>>,
) -> Result<(i64, T), ActionError> {
    let intent = state
        .journal_intent(
            &Intent {
                store: &e.store,
                client_id: &e.client_id,
                action: JournalAction::Restore.as_str(),
                mode: Mode::Enforce.as_str(),
                reason: note,
                snapshot,
            },
            Utc::now(),
        )
        .await?;
    match call.await {
        Ok(v) => {
            state
                .journal_outcome(intent, Outcome::Done, None, 1, Utc::now())
                .await?;
            Ok((intent, v))
        }
        Err(err) => {
            state
                .journal_outcome(
                    intent,
                    Outcome::Error,
                    Some(&err.to_string()),
                    1,
                    Utc::now(),
                )
                .await?;
            Err(err)
        }
    }
}

/// Lifts a Hydra quarantine of `current` (the client as it is now) in place: the replaced
/// fields back from the quarantine's snapshot, the tag removed, by one JSON Patch. Secret,
/// tokens and consents were never touched.
async fn lift(
    state: &State,
    api: &HydraAdmin,
    e: &JournalEntry,
    snapshot: &Value,
    current: Value,
) -> Result<Restored, ActionError> {
    // A snapshot taken of an already quarantined client: the values from before.
    let before = quarantine::as_before(snapshot.clone());
    let fields = quarantine::replaced_fields(&before).join(", ");
    let patch = if quarantine::tag(&current).is_some() || quarantine::is_quarantined(&current) {
        Some(quarantine::unblock_patch(&before, &current))
    } else {
        None
    };
    let note = match patch {
        Some(_) => format!(
            "restore of quarantine {}: {fields} put back from its snapshot, quarantine tag removed; \
             secret, refresh tokens and consents were never touched; cannot come back: the token \
             requests refused during the quarantine",
            e.id
        ),
        None => format!(
            "restore of quarantine {}: already lifted outside regwarden (no quarantine tag); nothing \
             changed in the store, the quarantine ends in the journal",
            e.id
        ),
    };
    let call = async {
        match &patch {
            Some(p) => api
                .patch(&e.client_id, "lift quarantine", p)
                .await
                .map(|_| ()),
            None => Ok(()),
        }
    };
    let (action_id, ()) = journaled(state, e, &current.to_string(), &note, call).await?;
    Ok(Restored {
        action_id,
        store: e.store.clone(),
        client_id: e.client_id.clone(),
        undone: ActionKind::Quarantine,
        note,
        new_secret: None,
    })
}

/// Re-creates a deleted client with its client_id and metadata from the delete's snapshot;
/// a client deleted after its quarantine comes back as it was before the quarantine.
async fn recreate(
    state: &State,
    api: &HydraAdmin,
    e: &JournalEntry,
    mut snapshot: Value,
) -> Result<Restored, ActionError> {
    let not = |why: String| ActionError::NotRestorable { id: e.id, why };
    if quarantine::is_quarantined(&snapshot) {
        // Deleted while quarantined: the fields from the quarantine's own snapshot in the
        // journal, else from the tag's copy of them.
        let journaled = state
            .last_done_before(
                &e.store,
                &e.client_id,
                ActionKind::Quarantine.as_str(),
                e.id,
            )
            .await?
            .and_then(|q| serde_json::from_str::<Value>(&q.snapshot).ok());
        let before = quarantine::as_before(journaled.unwrap_or_else(|| snapshot.clone()));
        snapshot = quarantine::lifted(&before, &snapshot);
    } else if let Some(m) = snapshot.get_mut("metadata").and_then(Value::as_object_mut) {
        // A stray tag belongs to the deletion being undone.
        m.remove(quarantine::KEY);
    }
    if api.get(&e.client_id).await?.value.is_some() {
        return Err(not(format!(
            "client {} exists in store {} again; nothing restored",
            esc(&e.client_id),
            e.store
        )));
    }
    let note = format!(
        "restore of delete {}: re-created with its client_id and metadata; cannot come back: its \
         tokens, consents and registration access token, and a confidential client's old secret \
         (a new one is issued)",
        e.id
    );
    let (action_id, created) =
        journaled(state, e, &e.snapshot, &note, api.create(&snapshot)).await?;
    let public = created
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        == Some("none");
    Ok(Restored {
        action_id,
        store: e.store.clone(),
        client_id: e.client_id.clone(),
        undone: ActionKind::Delete,
        note,
        new_secret: created
            .get("client_secret")
            .and_then(Value::as_str)
            .filter(|s| !public && !s.is_empty())
            .map(str::to_owned),
    })
}

/// Lifts a Keycloak quarantine in place: the client re-enabled as it was before it (the tag
/// says), the tag removed; every other setting stays as it is now. Nothing else was touched.
async fn enable(
    state: &State,
    api: &KeycloakAdmin,
    e: &JournalEntry,
    current: Value,
) -> Result<Restored, ActionError> {
    let tagged = keycloak::quarantine_tag(&current).is_some();
    let note = if tagged {
        format!(
            "restore of quarantine {}: enabled again as it was before, quarantine tag removed; its              secret, sessions, consents and registration access token were never touched; cannot              come back: the token requests refused during the quarantine",
            e.id
        )
    } else {
        format!(
            "restore of quarantine {}: already lifted outside regwarden (no quarantine tag); nothing              changed in the store, the quarantine ends in the journal",
            e.id
        )
    };
    let call = async {
        if tagged {
            api.enable(&current).await.map(|_| ())
        } else {
            Ok(())
        }
    };
    let (action_id, ()) = journaled(state, e, &current.to_string(), &note, call).await?;
    Ok(Restored {
        action_id,
        store: e.store.clone(),
        client_id: e.client_id.clone(),
        undone: ActionKind::Quarantine,
        note,
        new_secret: None,
    })
}

/// Re-creates a deleted Keycloak client from the delete's snapshot (as it was before a
/// quarantine, if it was under one), with its client id, internal id and settings.
async fn recreate_keycloak(
    state: &State,
    api: &KeycloakAdmin,
    e: &JournalEntry,
    snapshot: &Value,
) -> Result<Restored, ActionError> {
    let not = |why: String| ActionError::NotRestorable { id: e.id, why };
    if api.get(&e.client_id).await?.value.is_some() {
        return Err(not(format!(
            "client {} exists in store {} again; nothing restored",
            esc(&e.client_id),
            e.store
        )));
    }
    let before = keycloak::as_before(snapshot);
    let note = format!(
        "restore of delete {}: re-created with its client id, internal id and settings; cannot \
         come back: its sessions and consents, its registration access token, a confidential \
         client's old secret (a new one is issued), its service account's roles, and client \
         roles or scope mappings if it had any",
        e.id
    );
    let (action_id, created) = journaled(state, e, &e.snapshot, &note, api.create(&before)).await?;
    Ok(Restored {
        action_id,
        store: e.store.clone(),
        client_id: e.client_id.clone(),
        undone: ActionKind::Delete,
        note: created.note,
        new_secret: created.secret.map(|s| s.expose().to_owned()),
    })
}
