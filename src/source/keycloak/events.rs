//! What a realm saves of its events, and whether that covers the expiry windows: usage is
//! "never" only where a use would be on record.

use std::time::Duration;

/// What the realm saves of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSettings {
    pub enabled: bool,
    /// How long stored events are kept; None: forever.
    pub expiration: Option<Duration>,
    /// Saved types; empty means Keycloak's defaults (which include `CODE_TO_TOKEN` and
    /// `CLIENT_REGISTER`, not `REFRESH_TOKEN`).
    pub types: Vec<String>,
}

impl EventSettings {
    /// Whether the realm keeps events of `kind`.
    pub fn saves(&self, kind: &str) -> bool {
        self.enabled
            && (self.types.iter().any(|t| t == kind)
                || (self.types.is_empty() && kind != "REFRESH_TOKEN"))
    }

    /// Whether stored `CODE_TO_TOKEN` events cover `window`: every use in it is on record.
    pub fn covers(&self, window: Duration) -> bool {
        self.saves("CODE_TO_TOKEN") && self.expiration.is_none_or(|e| e >= window)
    }

    /// What an operator should know when the events do not cover `window`.
    pub fn notice(&self, realm: &str, window: Duration) -> Option<String> {
        let tail = "usage is known only from sessions and consents, and clients with neither are \
                    never expired for lack of use";
        if !self.enabled {
            Some(format!(
                "realm {realm} stores no events (Realm settings → Events → Save events): {tail}"
            ))
        } else if !self.saves("CODE_TO_TOKEN") {
            Some(format!(
                "realm {realm} does not save CODE_TO_TOKEN events: {tail}"
            ))
        } else if !self.covers(window) {
            Some(format!(
                "realm {realm} expires its events after {}, sooner than the expiry window of {}: {tail}",
                humantime::format_duration(self.expiration.unwrap_or_default()),
                humantime::format_duration(window)
            ))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_settings_say_what_they_cover() {
        let day = Duration::from_secs(86_400);
        let off = EventSettings {
            enabled: false,
            expiration: None,
            types: vec![],
        };
        assert!(!off.covers(day));
        assert!(off.notice("mcp", day).unwrap().contains("stores no events"));
        let default_types = EventSettings {
            enabled: true,
            ..off.clone()
        };
        assert!(default_types.covers(day * 365));
        assert!(!default_types.saves("REFRESH_TOKEN"));
        assert_eq!(default_types.notice("mcp", day), None);
        let short = EventSettings {
            expiration: Some(day),
            ..default_types.clone()
        };
        assert!(!short.covers(day * 30));
        assert!(short
            .notice("mcp", day * 30)
            .unwrap()
            .contains("expires its events after 1day"));
        let no_code = EventSettings {
            types: vec!["LOGIN".into()],
            ..default_types
        };
        assert!(no_code
            .notice("mcp", day)
            .unwrap()
            .contains("CODE_TO_TOKEN"));
    }
}
