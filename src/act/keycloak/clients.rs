//! Clients: read by OAuth client id, disable and enable (the quarantine), delete, re-create
//! from a snapshot, list by page.

use super::representation::{
    as_before, body_of, enabled_before, ids, note, strip_secrets, uses_secret, KEY,
};
use super::{KeycloakAdmin, Tally, MANAGE_CLIENTS, VIEW_CLIENTS};
use crate::act::hydra::Answer;
use crate::act::ActionError;
use crate::escape::esc_max;
use crate::secret::Secret;
use serde_json::{Map, Value};

/// A client re-created from its snapshot.
#[derive(Debug)]
pub struct Created {
    /// The client as Keycloak now shows it, secrets stripped.
    pub client: Value,
    /// Its internal id (the snapshot's when Keycloak kept it).
    pub id: String,
    /// The new secret of a confidential client, to hand over to its owner: the old one
    /// cannot come back.
    pub secret: Option<Secret>,
    /// What could not come back.
    pub note: String,
}

impl KeycloakAdmin {
    /// The internal id of the client whose OAuth client id is `client_id`, if any.
    async fn find(
        &self,
        what: &str,
        client_id: &str,
        tally: &mut Tally,
    ) -> Result<Option<String>, ActionError> {
        let mut u = self.admin(&["clients"]);
        u.query_pairs_mut()
            .append_pair("clientId", client_id)
            .append_pair("search", "false");
        let v = self.get_json(what, VIEW_CLIENTS, u, tally).await?;
        let Some(list) = v.as_array() else {
            return Err(self.error(
                what,
                "unreadable answer: not a list of clients",
                tally.attempts(),
            ));
        };
        // Only an exact match: never another client that merely contains the id.
        let Some(found) = list
            .iter()
            .find(|c| c.get("clientId").and_then(Value::as_str) == Some(client_id))
        else {
            return Ok(None);
        };
        match found
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(id) => Ok(Some(id.to_owned())),
            None => Err(self.error(
                what,
                "unreadable answer: a client without id",
                tally.attempts(),
            )),
        }
    }

    /// The client by internal id, secrets stripped; None if it does not exist.
    async fn read(
        &self,
        what: &str,
        id: &str,
        tally: &mut Tally,
    ) -> Result<Option<Value>, ActionError> {
        let u = self.admin(&["clients", id]);
        let r = self
            .call(what, VIEW_CLIENTS, tally, || self.http.get(u.clone()))
            .await?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status().is_success() {
            return Err(self.unexpected(what, r, tally).await);
        }
        let mut v = self.json(what, r, tally).await?;
        if !v.is_object() {
            return Err(self.error(what, "unreadable answer: not a client", tally.attempts()));
        }
        strip_secrets(&mut v);
        Ok(Some(v))
    }

    /// The full representation of the client whose OAuth client id is `client_id`, secrets
    /// stripped; None if it does not exist.
    pub async fn get(&self, client_id: &str) -> Result<Answer<Option<Value>>, ActionError> {
        let what = "read client";
        let mut tally = Tally::default();
        let value = match self.find(what, client_id, &mut tally).await? {
            Some(id) => self.read(what, &id, &mut tally).await?,
            None => None,
        };
        Ok(Answer {
            value,
            attempts: tally.attempts(),
        })
    }

    /// Replaces the client `id` with `body` (PUT; absent fields and attributes are left as
    /// they are, the secret included).
    async fn put(&self, what: &str, id: &str, body: &Value) -> Result<u32, ActionError> {
        let mut tally = Tally::default();
        let u = self.admin(&["clients", id]);
        let r = self
            .call(what, MANAGE_CLIENTS, &mut tally, || {
                self.http.put(u.clone()).json(body)
            })
            .await?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(self.error(
                what,
                "the client no longer exists (HTTP 404)",
                tally.attempts(),
            ));
        }
        if !r.status().is_success() {
            return Err(self.unexpected(what, r, &tally).await);
        }
        Ok(tally.attempts())
    }

    /// Disables the client of `snapshot` (its full representation, read just before) and
    /// tags it: attribute [`KEY`] holds `tag` as JSON, with `was_enabled` added. Keycloak
    /// then refuses it every token; its secret, sessions and consents are left in place.
    pub async fn disable(
        &self,
        snapshot: &Value,
        mut tag: Map<String, Value>,
    ) -> Result<u32, ActionError> {
        let what = "disable client";
        let (id, _) = ids(snapshot).map_err(|m| self.error(what, m, 1))?;
        // A snapshot of a client already quarantined: keep what it was before.
        tag.insert("was_enabled".into(), Value::Bool(enabled_before(snapshot)));
        let mut body = body_of(snapshot);
        if let Some(o) = body.as_object_mut() {
            o.insert("enabled".into(), Value::Bool(false));
            let attrs = o
                .entry("attributes")
                .or_insert_with(|| Value::Object(Map::new()));
            if !attrs.is_object() {
                *attrs = Value::Object(Map::new());
            }
            if let Some(a) = attrs.as_object_mut() {
                a.insert(KEY.into(), Value::String(Value::Object(tag).to_string()));
            }
        }
        self.put(what, id, &body).await
    }

    /// Lifts a quarantine: the client as `snapshot` shows it, enabled as it was before the
    /// quarantine, the tag attribute removed (PUT with an empty value, which Keycloak takes
    /// as removal). Given the journal's snapshot from before the quarantine, every setting
    /// goes back to it; given the client as it is now, only the quarantine is undone.
    pub async fn enable(&self, snapshot: &Value) -> Result<u32, ActionError> {
        let what = "enable client";
        let (id, _) = ids(snapshot).map_err(|m| self.error(what, m, 1))?;
        let mut body = body_of(&as_before(snapshot));
        if let Some(o) = body.as_object_mut() {
            o.insert("enabled".into(), Value::Bool(enabled_before(snapshot)));
            let attrs = o
                .entry("attributes")
                .or_insert_with(|| Value::Object(Map::new()));
            if !attrs.is_object() {
                *attrs = Value::Object(Map::new());
            }
            if let Some(a) = attrs.as_object_mut() {
                a.insert(KEY.into(), Value::String(String::new()));
            }
        }
        self.put(what, id, &body).await
    }

    /// Deletes the client whose OAuth client id is `client_id`; a missing client counts as
    /// done (true when it was there).
    pub async fn delete(&self, client_id: &str) -> Result<Answer<bool>, ActionError> {
        let what = "delete client";
        let mut tally = Tally::default();
        let Some(id) = self.find(what, client_id, &mut tally).await? else {
            return Ok(Answer {
                value: false,
                attempts: tally.attempts(),
            });
        };
        let u = self.admin(&["clients", &id]);
        let r = self
            .call(what, MANAGE_CLIENTS, &mut tally, || {
                self.http.delete(u.clone())
            })
            .await?;
        let value = match r.status() {
            s if s.is_success() => true,
            reqwest::StatusCode::NOT_FOUND => false,
            _ => return Err(self.unexpected(what, r, &tally).await),
        };
        Ok(Answer {
            value,
            attempts: tally.attempts(),
        })
    }

    /// Re-creates a deleted client from its snapshot, with its internal id, client id and
    /// settings. Returns it with the new secret of a confidential client and a note of what
    /// could not come back.
    pub async fn create(&self, snapshot: &Value) -> Result<Created, ActionError> {
        let what = "create client";
        let (id, client_id) = ids(snapshot).map_err(|m| self.error(what, m, 1))?;
        let body = body_of(snapshot);
        let mut tally = Tally::default();
        let u = self.admin(&["clients"]);
        let r = self
            .call(what, MANAGE_CLIENTS, &mut tally, || {
                self.http.post(u.clone()).json(&body)
            })
            .await?;
        // A 409 after a retry is most likely the first attempt's own client, answered too
        // late: it is ours if it carries the snapshot's internal id, which was sent.
        let ours_late = r.status() == reqwest::StatusCode::CONFLICT
            && tally.attempts() > 1
            && self.find(what, client_id, &mut tally).await?.as_deref() == Some(id);
        if r.status() == reqwest::StatusCode::CONFLICT && !ours_late {
            return Err(self.error(
                what,
                format!(
                    "a client with client id {} or internal id {} exists (HTTP 409)",
                    esc_max(client_id, 100),
                    esc_max(id, 60)
                ),
                tally.attempts(),
            ));
        }
        if !r.status().is_success() && !ours_late {
            return Err(self.unexpected(what, r, &tally).await);
        }
        let new_id = match self.find(what, client_id, &mut tally).await? {
            Some(new_id) => new_id,
            None => {
                return Err(self.error(
                    what,
                    "created, yet not found by its client id",
                    tally.attempts(),
                ))
            }
        };
        let Some(client) = self.read(what, &new_id, &mut tally).await? else {
            return Err(self.error(what, "created, yet gone when read back", tally.attempts()));
        };
        let secret = if uses_secret(&client) {
            self.secret(what, &new_id, &mut tally).await?
        } else {
            None
        };
        let note = note(snapshot, id, &new_id, secret.is_some());
        Ok(Created {
            client,
            id: new_id,
            secret,
            note,
        })
    }

    /// The secret of client `id` (`GET …/clients/{id}/client-secret`), if it has one.
    async fn secret(
        &self,
        what: &str,
        id: &str,
        tally: &mut Tally,
    ) -> Result<Option<Secret>, ActionError> {
        let u = self.admin(&["clients", id, "client-secret"]);
        let v = self.get_json(what, VIEW_CLIENTS, u, tally).await?;
        Ok(v.get("value")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Secret::new))
    }

    /// A page of the realm's clients in Keycloak's order (by client id), secrets stripped.
    pub async fn list(&self, first: u32, max: u32) -> Result<Answer<Vec<Value>>, ActionError> {
        let what = "list clients";
        let mut tally = Tally::default();
        let mut u = self.admin(&["clients"]);
        u.query_pairs_mut()
            .append_pair("first", &first.to_string())
            .append_pair("max", &max.to_string());
        let v = self.get_json(what, VIEW_CLIENTS, u, &mut tally).await?;
        let Value::Array(mut list) = v else {
            return Err(self.error(
                what,
                "unreadable answer: not a list of clients",
                tally.attempts(),
            ));
        };
        if list.iter().any(|c| !c.is_object()) {
            return Err(self.error(
                what,
                "unreadable answer: not a list of clients",
                tally.attempts(),
            ));
        }
        list.iter_mut().for_each(strip_secrets);
        Ok(Answer {
            value: list,
            attempts: tally.attempts(),
        })
    }
}
