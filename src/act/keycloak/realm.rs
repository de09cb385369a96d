//! Realm-wide reads for a reader over the API alone: the Max Clients registration policy,
//! the events configuration, stored events and the session counts per client. Each answer
//! is decoded by a pure function, so that what Keycloak could answer is tested without it.

use super::{KeycloakAdmin, Tally, VIEW_EVENTS, VIEW_REALM};
use crate::act::ActionError;
use serde_json::Value;

/// Registration policies are components of this type.
const POLICY_TYPE: &str =
    "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy";

/// What the realm stores of its user events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Whether user events are saved at all (off by default).
    pub enabled: bool,
    /// How long saved events are kept; None keeps them forever.
    pub expiration_secs: Option<u64>,
    /// The event types saved (Keycloak lists its defaults when none are chosen).
    pub types: Vec<String>,
}

/// A stored user event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The OAuth client id; None for events without a client.
    pub client_id: Option<String>,
    pub time_ms: i64,
    /// `CODE_TO_TOKEN`, `LOGIN`, `CLIENT_REGISTER`…
    pub kind: String,
}

/// A client's sessions now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStats {
    /// The OAuth client id.
    pub client_id: String,
    pub active: u64,
    pub offline: u64,
}

/// The smallest `max-clients` of the realm's Max Clients policies; None when there is
/// none. A policy whose limit is not a number limits nothing here.
pub fn max_clients_of(components: &Value) -> Option<u64> {
    components
        .as_array()?
        .iter()
        .filter(|c| c.get("providerId").and_then(Value::as_str) == Some("max-clients"))
        .filter_map(|c| {
            let v = c.get("config")?.get("max-clients")?;
            let first = v.as_array().and_then(|a| a.first()).unwrap_or(v);
            first.as_str()?.trim().parse::<u64>().ok()
        })
        .min()
}

/// Decodes `GET …/events/config`; None when it is not an object.
pub fn events_config_of(v: &Value) -> Option<EventsConfig> {
    let o = v.as_object()?;
    Some(EventsConfig {
        enabled: o
            .get("eventsEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        expiration_secs: o
            .get("eventsExpiration")
            .and_then(Value::as_u64)
            .filter(|s| *s > 0),
        types: o
            .get("enabledEventTypes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Decodes `GET …/events`: one [`Event`] per item, in Keycloak's order; None when the
/// answer is not a list or an item has no time or type.
pub fn events_of(v: &Value) -> Option<Vec<Event>> {
    v.as_array()?
        .iter()
        .map(|e| {
            Some(Event {
                client_id: e.get("clientId").and_then(Value::as_str).map(str::to_owned),
                time_ms: e.get("time")?.as_i64()?,
                kind: e.get("type")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// A count Keycloak sends as a string (or, who knows, a number).
fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        n => n.as_u64(),
    }
}

/// Decodes `GET …/client-session-stats`; None when it is not a list of counts.
pub fn session_stats_of(v: &Value) -> Option<Vec<SessionStats>> {
    v.as_array()?
        .iter()
        .map(|s| {
            Some(SessionStats {
                client_id: s.get("clientId")?.as_str()?.to_owned(),
                active: count(s.get("active"))?,
                offline: count(s.get("offline")).unwrap_or(0),
            })
        })
        .collect()
}

impl KeycloakAdmin {
    /// The realm's Max Clients limit (`max-clients` registration policy; the smallest when
    /// there are several); None when no such policy exists. It counts every client of the
    /// realm, built-in ones included. Needs `view-realm`.
    pub async fn max_clients(&self) -> Result<Option<u64>, ActionError> {
        let what = "read client registration policies";
        let mut tally = Tally::default();
        let mut u = self.admin(&["components"]);
        u.query_pairs_mut().append_pair("type", POLICY_TYPE);
        let v = self.get_json(what, VIEW_REALM, u, &mut tally).await?;
        if !v.is_array() {
            return Err(self.error(
                what,
                "unreadable answer: not a list of components",
                tally.attempts(),
            ));
        }
        Ok(max_clients_of(&v))
    }

    /// What the realm stores of its user events. Needs `view-events`.
    pub async fn events_config(&self) -> Result<EventsConfig, ActionError> {
        let what = "read events configuration";
        let mut tally = Tally::default();
        let v = self
            .get_json(
                what,
                VIEW_EVENTS,
                self.admin(&["events", "config"]),
                &mut tally,
            )
            .await?;
        events_config_of(&v).ok_or_else(|| {
            self.error(
                what,
                "unreadable answer: not an events configuration",
                tally.attempts(),
            )
        })
    }

    /// A page of stored user events of the given types (all when empty) from
    /// `date_from_ms` on (inclusive), newest first. Keycloak answers 500 to a type it does
    /// not know. Needs `view-events`.
    pub async fn events(
        &self,
        types: &[&str],
        date_from_ms: Option<i64>,
        first: u32,
        max: u32,
    ) -> Result<Vec<Event>, ActionError> {
        let what = "read events";
        let mut tally = Tally::default();
        let mut u = self.admin(&["events"]);
        {
            let mut q = u.query_pairs_mut();
            for t in types {
                q.append_pair("type", t);
            }
            if let Some(from) = date_from_ms {
                q.append_pair("dateFrom", &from.to_string());
            }
            q.append_pair("first", &first.to_string())
                .append_pair("max", &max.to_string());
        }
        let v = self.get_json(what, VIEW_EVENTS, u, &mut tally).await?;
        events_of(&v).ok_or_else(|| {
            self.error(
                what,
                "unreadable answer: not a list of events with time and type",
                tally.attempts(),
            )
        })
    }

    /// Every client with sessions now, with its counts of active and offline sessions.
    /// Needs `view-realm`.
    pub async fn session_stats(&self) -> Result<Vec<SessionStats>, ActionError> {
        let what = "read client session counts";
        let mut tally = Tally::default();
        let v = self
            .get_json(
                what,
                VIEW_REALM,
                self.admin(&["client-session-stats"]),
                &mut tally,
            )
            .await?;
        session_stats_of(&v).ok_or_else(|| {
            self.error(
                what,
                "unreadable answer: not a list of session counts",
                tally.attempts(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn max_clients_is_the_smallest_readable_limit() {
        let c = json!([
            {"providerId": "trusted-hosts", "config": {"trusted-hosts": ["127.0.0.1"]}},
            {"providerId": "max-clients", "subType": "anonymous", "config": {"max-clients": ["200"]}},
            {"providerId": "max-clients", "subType": "authenticated", "config": {"max-clients": ["150"]}},
            {"providerId": "max-clients", "config": {"max-clients": ["lots"]}},
            {"providerId": "max-clients", "config": {}},
            "junk"
        ]);
        assert_eq!(max_clients_of(&c), Some(150));
        assert_eq!(max_clients_of(&json!([{"providerId": "scope"}])), None);
        assert_eq!(max_clients_of(&json!({"not": "a list"})), None);
    }

    #[test]
    fn events_config_keeps_forever_when_no_expiration_is_set() {
        let v = json!({"eventsEnabled": true, "eventsExpiration": 86400, "enabledEventTypes": ["LOGIN", 3, "CODE_TO_TOKEN"]});
        assert_eq!(
            events_config_of(&v),
            Some(EventsConfig {
                enabled: true,
                expiration_secs: Some(86400),
                types: vec!["LOGIN".into(), "CODE_TO_TOKEN".into()]
            })
        );
        let off = events_config_of(&json!({"eventsListeners": ["jboss-logging"]})).unwrap();
        assert_eq!((off.enabled, off.expiration_secs), (false, None));
        assert_eq!(events_config_of(&json!([])), None);
    }

    #[test]
    fn events_and_session_counts_decode_as_keycloak_sends_them() {
        let e = json!([
            {"time": 1795714700541_i64, "type": "CODE_TO_TOKEN", "clientId": "c1", "details": {}},
            {"time": 1795714700368_i64, "type": "LOGIN_ERROR"}
        ]);
        assert_eq!(
            events_of(&e).unwrap(),
            vec![
                Event {
                    client_id: Some("c1".into()),
                    time_ms: 1795714700541,
                    kind: "CODE_TO_TOKEN".into()
                },
                Event {
                    client_id: None,
                    time_ms: 1795714700368,
                    kind: "LOGIN_ERROR".into()
                },
            ]
        );
        assert_eq!(
            events_of(&json!([{"time": "yesterday", "type": "LOGIN"}])),
            None
        );
        let s = json!([{"offline": "1", "clientId": "c1", "active": "3", "id": "u1"}, {"clientId": "c2", "active": 2}]);
        assert_eq!(
            session_stats_of(&s).unwrap(),
            vec![
                SessionStats {
                    client_id: "c1".into(),
                    active: 3,
                    offline: 1
                },
                SessionStats {
                    client_id: "c2".into(),
                    active: 2,
                    offline: 0
                },
            ]
        );
        assert_eq!(session_stats_of(&json!([{"clientId": "c1"}])), None);
    }
}
