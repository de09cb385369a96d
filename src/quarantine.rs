//! What a quarantine is on Ory Hydra, which has no way to disable a client: a JSON Patch
//! through the admin API that makes Hydra refuse every new token for the client, undone by
//! patching the same fields back. Pure: the patches, and how a quarantined client is
//! recognized (by `act` to reconcile, by the Hydra source to judge it as it was).
//!
//! The change, checked against Hydra v2.3.0 and fosite v0.49.0 (see the README):
//! - `redirect_uris` → `[]`: every authorization request fails redirect-URI matching, before
//!   any login flow, and the error stays on Hydra's error page instead of redirecting the
//!   user to the client (an attacker's site, for a malicious one).
//! - `grant_types` → `["urn:regwarden:quarantined"]`: the token endpoint refuses the code
//!   exchange, the refresh token grant, client_credentials and jwt-bearer with
//!   `unauthorized_client`. Not empty: Hydra reads an empty list as `["authorization_code"]`.
//! - `response_types` → `["urn:regwarden:quarantined"]`: no authorization response type
//!   matches (an empty list would read as `["code"]`).
//! - `post_logout_redirect_uris` → `[]` when it had any: Hydra refuses an update whose
//!   post-logout URIs match none of the redirect URIs.
//! - `metadata.regwarden_quarantine`: when, why, the journal's action id, and the replaced
//!   values (`was`), so the quarantine shows in Hydra's console and a scan can see through it.
//!
//! Nothing else changes: the client secret, its live refresh tokens and consents stay, so a
//! restore brings the client back exactly as it was and its refresh tokens work again.

use serde_json::{json, Map, Value};

/// The metadata key a quarantine sets on the client.
pub const KEY: &str = "regwarden_quarantine";

/// The grant and response type a quarantined client is left with: no handler knows it.
pub const BLOCKED: &str = "urn:regwarden:quarantined";

/// The fields a quarantine replaces, in patch order.
pub const FIELDS: [&str; 4] = [
    "redirect_uris",
    "grant_types",
    "response_types",
    "post_logout_redirect_uris",
];

/// The value a quarantine gives `field`.
fn blocked(field: &str) -> Value {
    match field {
        "grant_types" | "response_types" => json!([BLOCKED]),
        _ => json!([]),
    }
}

fn is_empty_list(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// The fields a quarantine of `client` (as the admin API shows it) replaces: every one of
/// [`FIELDS`] but `post_logout_redirect_uris` when it has none.
fn replaced(client: &Value) -> impl Iterator<Item = &'static str> + '_ {
    FIELDS
        .into_iter()
        .filter(move |f| *f != "post_logout_redirect_uris" || !is_empty_list(client.get(*f)))
}

/// The JSON Patch that quarantines `client` (its snapshot from the admin API). `tag` is what
/// the metadata tag says besides `was` (time, reason, action id).
pub fn block_patch(client: &Value, mut tag: Map<String, Value>) -> Value {
    let mut was = Map::new();
    let mut ops = Vec::new();
    for f in replaced(client) {
        was.insert(f.into(), client.get(f).cloned().unwrap_or(Value::Null));
        ops.push(json!({ "op": "add", "path": format!("/{f}"), "value": blocked(f) }));
    }
    tag.insert("was".into(), Value::Object(was));
    let has_metadata = client.get("metadata").is_some_and(Value::is_object);
    ops.push(if has_metadata {
        json!({ "op": "add", "path": format!("/metadata/{KEY}"), "value": tag })
    } else {
        json!({ "op": "add", "path": "/metadata", "value": { KEY: tag } })
    });
    Value::Array(ops)
}

/// The JSON Patch that lifts the quarantine of `current` (the client as it is now), putting
/// back each replaced field exactly as `before` (the journal's pre-quarantine snapshot) had
/// it, and removing the tag.
pub fn unblock_patch(before: &Value, current: &Value) -> Value {
    let mut ops: Vec<Value> = replaced(before)
        .map(|f| {
            json!({ "op": "add", "path": format!("/{f}"),
                "value": before.get(f).cloned().unwrap_or_else(|| json!([])) })
        })
        .collect();
    if tag(current).is_some() {
        ops.push(json!({ "op": "remove", "path": format!("/metadata/{KEY}") }));
    }
    Value::Array(ops)
}

/// `current` with each field a quarantine of `before` replaced put back as `before` had it,
/// and without the tag: what [`unblock_patch`] makes of a client, for a client that is no
/// longer there to patch (deleted after its grace, re-created by a restore).
pub fn lifted(before: &Value, current: &Value) -> Value {
    let mut out = current.clone();
    if let Some(o) = out.as_object_mut() {
        for f in replaced(before) {
            o.insert(
                f.into(),
                before.get(f).cloned().unwrap_or_else(|| json!([])),
            );
        }
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove(KEY);
        }
    }
    out
}

/// The fields a quarantine of `client` replaced or would replace, for messages.
pub fn replaced_fields(client: &Value) -> Vec<&'static str> {
    replaced(client).collect()
}

/// The quarantine tag of a client (admin API or store row), if it carries one.
pub fn tag(client: &Value) -> Option<&Map<String, Value>> {
    client.get("metadata")?.get(KEY)?.as_object()
}

/// True when a quarantine is in effect on `client`: tagged and its grant types blocked (the
/// patch sets both at once; a tag alone could be left by someone else's edit).
pub fn is_quarantined(client: &Value) -> bool {
    tag(client).is_some() && client.get("grant_types") == Some(&blocked("grant_types"))
}

/// The client as it was before its quarantine, for judging it: each replaced field that
/// still holds its blocked value gets its `was` value back; the tag is removed. A client
/// not under quarantine is returned as is (taken by value: a scan calls this per row). The
/// values come from the admin-only metadata, which DCR cannot set, and are the client's own
/// registration: nothing here is trusted.
pub fn as_before(client: Value) -> Value {
    if !is_quarantined(&client) {
        return client;
    }
    let was = tag(&client)
        .and_then(|t| t.get("was"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = client;
    if let Some(o) = out.as_object_mut() {
        for f in FIELDS {
            if let Some(v) = was.get(f) {
                if o.get(f).is_none_or(|cur| *cur == blocked(f)) {
                    o.insert(f.into(), v.clone());
                }
            }
        }
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove(KEY);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Value {
        json!({
            "client_id": "c1", "client_name": "Cursor",
            "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "metadata": {"team": "x"}
        })
    }

    /// Applies a patch of add/remove operations on top-level and metadata members, as
    /// Hydra does.
    fn apply(doc: &Value, patch: &Value) -> Value {
        let mut out = doc.clone();
        for op in patch.as_array().unwrap() {
            let path: Vec<&str> = op["path"].as_str().unwrap()[1..].split('/').collect();
            let mut target = &mut out;
            for p in &path[..path.len() - 1] {
                target = target.get_mut(*p).unwrap();
            }
            let o = target.as_object_mut().unwrap();
            let last = path[path.len() - 1];
            match op["op"].as_str().unwrap() {
                "add" => {
                    o.insert(last.into(), op["value"].clone());
                }
                "remove" => {
                    o.remove(last).expect("removing an existing member");
                }
                other => panic!("{other}"),
            }
        }
        out
    }

    #[test]
    fn a_quarantine_replaces_only_the_grant_fields_and_a_restore_puts_them_back() {
        let c = client();
        let mut tag = Map::new();
        tag.insert("action_id".into(), json!(7));
        let patch = block_patch(&c, tag);
        let paths: Vec<&str> = patch
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "/redirect_uris",
                "/grant_types",
                "/response_types",
                "/metadata/regwarden_quarantine"
            ]
        );
        let q = apply(&c, &patch);
        assert!(is_quarantined(&q) && !is_quarantined(&c));
        assert_eq!(q["redirect_uris"], json!([]));
        assert_eq!(q["grant_types"], json!([BLOCKED]));
        assert_eq!(q["metadata"]["team"], "x");
        assert_eq!(q["metadata"][KEY]["action_id"], 7);
        // Judged as it was, not as we left it.
        assert_eq!(as_before(q.clone()), c);
        // Restored exactly, in place or re-created.
        assert_eq!(apply(&q, &unblock_patch(&c, &q)), c);
        assert_eq!(lifted(&c, &q), c);
    }

    #[test]
    fn post_logout_uris_are_cleared_only_when_there_are_some_and_metadata_may_be_missing() {
        let mut c = client();
        c.as_object_mut().unwrap().remove("metadata");
        c["post_logout_redirect_uris"] = json!(["cursor://anysphere.cursor-mcp/logout"]);
        let q = apply(&c, &block_patch(&c, Map::new()));
        assert_eq!(q["post_logout_redirect_uris"], json!([]));
        assert!(is_quarantined(&q));
        let back = apply(&q, &unblock_patch(&c, &q));
        assert_eq!(
            back["post_logout_redirect_uris"],
            c["post_logout_redirect_uris"]
        );
        assert_eq!(back["metadata"], json!({}));
    }

    #[test]
    fn a_tag_without_the_block_is_not_a_quarantine_and_changes_nothing() {
        let mut c = client();
        c["metadata"][KEY] = json!({"was": {"redirect_uris": ["https://evil.example/cb"]}});
        assert!(!is_quarantined(&c));
        assert_eq!(as_before(c.clone()), c);
        // A field changed after the quarantine (not blocked any more) is left as it is.
        let mut q = apply(&client(), &block_patch(&client(), Map::new()));
        q["response_types"] = json!(["token"]);
        assert_eq!(as_before(q.clone())["response_types"], json!(["token"]));
    }
}
