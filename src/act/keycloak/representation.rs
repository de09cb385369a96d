//! What a client representation says and what is sent back: secrets stripped, the
//! quarantine tag, the client as it was before its quarantine, what a re-created client
//! loses. Pure.

use crate::escape::esc_max;
use serde_json::Value;

/// The client attribute a quarantine sets: its tag, serialized as JSON.
pub const KEY: &str = "regwarden.quarantine";

/// Representation fields never kept in a snapshot nor sent back.
const SECRET_FIELDS: [&str; 2] = ["secret", "registrationAccessToken"];

/// Client attributes holding secrets: the previous secret kept by secret rotation, and
/// private keys (SAML clients).
fn is_secret_attribute(name: &str) -> bool {
    name == "client.secret.rotated" || name.ends_with("private.key")
}

/// Removes the client's secret, registration access token and secret attributes.
pub fn strip_secrets(client: &mut Value) {
    let Some(o) = client.as_object_mut() else {
        return;
    };
    for k in SECRET_FIELDS {
        o.remove(k);
    }
    if let Some(a) = o.get_mut("attributes").and_then(Value::as_object_mut) {
        a.retain(|k, _| !is_secret_attribute(k));
    }
}

/// True when the client is disabled (`enabled: false`).
pub fn is_disabled(client: &Value) -> bool {
    client.get("enabled") == Some(&Value::Bool(false))
}

/// The quarantine tag of a client, if it carries one: the JSON the attribute holds, or the
/// attribute's raw text when it is not JSON (someone else's edit).
pub fn quarantine_tag(client: &Value) -> Option<Value> {
    let raw = client.get("attributes")?.get(KEY)?.as_str()?;
    if raw.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.into())))
}

/// True when a quarantine is in effect: tagged and disabled (a tag alone could be left by
/// someone else's edit).
pub fn is_quarantined(client: &Value) -> bool {
    is_disabled(client) && quarantine_tag(client).is_some()
}

/// Whether the client was enabled before its quarantine (the tag's `was_enabled`; true
/// when the tag does not say), or as it is when not quarantined.
pub(super) fn enabled_before(client: &Value) -> bool {
    if is_quarantined(client) {
        quarantine_tag(client)
            .and_then(|t| t.get("was_enabled").and_then(Value::as_bool))
            .unwrap_or(true)
    } else {
        client
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }
}

/// The client as it was before its quarantine, for judging it and for re-creating it:
/// enabled as it was, without the tag. A client not under quarantine is returned as is.
pub fn as_before(client: &Value) -> Value {
    let mut out = client.clone();
    if !is_quarantined(client) {
        return out;
    }
    let was = enabled_before(client);
    if let Some(o) = out.as_object_mut() {
        o.insert("enabled".into(), Value::Bool(was));
        if let Some(a) = o.get_mut("attributes").and_then(Value::as_object_mut) {
            a.remove(KEY);
        }
    }
    out
}

/// Attributes Keycloak keeps about the current secret itself: never sent back, so that a
/// PUT leaves them as they are and a re-created client's new secret gets its own.
const SECRET_TIMES: [&str; 4] = [
    "client.secret.creation.time",
    "client.secret.expiration.time",
    "client.secret.rotated.creation.time",
    "client.secret.rotated.expiration.time",
];

/// The snapshot as a representation to send: secrets, what Keycloak keeps about them and
/// read-only fields left out.
pub(super) fn body_of(snapshot: &Value) -> Value {
    let mut body = snapshot.clone();
    strip_secrets(&mut body);
    if let Some(o) = body.as_object_mut() {
        o.remove("access");
        if let Some(a) = o.get_mut("attributes").and_then(Value::as_object_mut) {
            a.retain(|k, _| !SECRET_TIMES.contains(&k.as_str()));
        }
    }
    body
}

/// The internal id and client id of a snapshot, or why it has none.
pub(super) fn ids(snapshot: &Value) -> Result<(&str, &str), String> {
    let id = snapshot
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let client_id = snapshot.get("clientId").and_then(Value::as_str);
    match (id, client_id) {
        (Some(id), Some(c)) => Ok((id, c)),
        _ => {
            Err("the snapshot has no id and clientId: not a Keycloak client representation".into())
        }
    }
}

/// Confidential clients authenticate with the secret Keycloak generated for them.
pub(super) fn uses_secret(client: &Value) -> bool {
    let flag = |k: &str| client.get(k).and_then(Value::as_bool).unwrap_or(false);
    !flag("publicClient")
        && !flag("bearerOnly")
        && matches!(
            client
                .get("clientAuthenticatorType")
                .and_then(Value::as_str),
            None | Some("client-secret" | "client-secret-jwt")
        )
}

/// What a re-created client could not get back, precisely for this client.
pub(super) fn note(snapshot: &Value, old_id: &str, new_id: &str, new_secret: bool) -> String {
    let flag = |k: &str| snapshot.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut kept = vec!["its client id and settings".to_owned()];
    if old_id == new_id {
        kept.push("its internal id".into());
    }
    let mut lost: Vec<String> = vec![
        "its user sessions, offline sessions and the tokens issued in them (refresh tokens \
         included)"
            .into(),
        "its users' consents".into(),
        "its registration access token (a client registered through DCR can no longer read \
         or update its registration)"
            .into(),
        "client roles, scope role mappings and fine-grained permissions, if it had any (not \
         part of its representation)"
            .into(),
    ];
    if old_id != new_id {
        lost.push(format!("its internal id ({} now)", esc_max(new_id, 60)));
    }
    if new_secret {
        lost.push("its secret: a new one was generated and must be handed to its owner".into());
    }
    if flag("serviceAccountsEnabled") {
        lost.push("its service account user's roles and attributes (a new service account user was created)".into());
    }
    format!(
        "re-created with {}; cannot come back: {}",
        kept.join(" and "),
        lost.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> Value {
        json!({
            "id": "u1", "clientId": "c1", "enabled": true, "secret": "s",
            "registrationAccessToken": "rat",
            "attributes": {"use.refresh.tokens": "true", "client.secret.rotated": "old",
                "saml.signing.private.key": "key", "client.secret.creation.time": "1700000000"}
        })
    }

    fn quarantined(was_enabled: Option<bool>) -> Value {
        let mut c = client();
        c["enabled"] = json!(false);
        let mut tag = json!({"action_id": 3});
        if let Some(w) = was_enabled {
            tag["was_enabled"] = json!(w);
        }
        c["attributes"][KEY] = json!(tag.to_string());
        c
    }

    #[test]
    fn secrets_and_secret_attributes_are_stripped_and_nothing_else() {
        let mut c = client();
        strip_secrets(&mut c);
        assert_eq!(
            c,
            json!({"id": "u1", "clientId": "c1", "enabled": true,
                "attributes": {"use.refresh.tokens": "true", "client.secret.creation.time": "1700000000"}})
        );
        let mut odd = json!(["not", "a", "client"]);
        strip_secrets(&mut odd);
        assert_eq!(odd, json!(["not", "a", "client"]));
    }

    #[test]
    fn a_quarantine_is_a_tag_and_disabled_and_as_before_sees_through_it() {
        let q = quarantined(Some(true));
        assert!(is_disabled(&q) && is_quarantined(&q));
        assert_eq!(quarantine_tag(&q).unwrap()["action_id"], 3);
        let before = as_before(&q);
        assert_eq!(before["enabled"], true);
        assert!(quarantine_tag(&before).is_none() && !is_quarantined(&before));
        // Disabled before the quarantine: stays disabled.
        assert_eq!(as_before(&quarantined(Some(false)))["enabled"], false);
        // A tag that does not say: enabled (Keycloak's default).
        assert_eq!(as_before(&quarantined(None))["enabled"], true);
        // Not quarantined: as is.
        assert_eq!(as_before(&client()), client());
    }

    #[test]
    fn odd_tags_are_shown_raw_and_empty_ones_are_none() {
        let mut c = client();
        c["attributes"][KEY] = json!("set by hand");
        assert_eq!(quarantine_tag(&c), Some(json!("set by hand")));
        assert!(!is_quarantined(&c), "enabled, so not in effect");
        c["attributes"][KEY] = json!("");
        assert_eq!(quarantine_tag(&c), None);
        c["attributes"][KEY] = json!(42);
        assert_eq!(quarantine_tag(&c), None);
        assert!(!is_disabled(&json!({"enabled": "false"})) && !is_disabled(&json!(null)));
    }

    #[test]
    fn the_note_names_what_this_client_loses() {
        let public = json!({"id": "u1", "clientId": "c1", "publicClient": true});
        let n = note(&public, "u1", "u1", false);
        assert!(
            n.contains("internal id") && !n.contains("secret") && !n.contains("service account"),
            "{n}"
        );
        let n = note(&public, "u1", "u2", true);
        assert!(
            n.contains("its internal id (u2 now)") && n.contains("a new one was generated"),
            "{n}"
        );
        assert!(uses_secret(
            &json!({"clientAuthenticatorType": "client-secret"})
        ));
        assert!(!uses_secret(
            &json!({"clientAuthenticatorType": "client-jwt"})
        ));
        assert!(!uses_secret(&public));
    }
}
