//! The policy's vocabulary: what a plan can ask for, what the journal records, and the rule
//! that asked.

use crate::model::Band;
use serde::Serialize;
use std::fmt;

/// What a plan can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Quarantine,
    Delete,
}

impl ActionKind {
    pub const ALL: [ActionKind; 2] = [ActionKind::Quarantine, ActionKind::Delete];
    pub fn as_str(self) -> &'static str {
        JournalAction::from(self).as_str()
    }
}

/// What the journal records: an action a plan asked for, or a restore only a person can ask
/// for (`regwarden restore`), which no plan ever holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalAction {
    Quarantine,
    Delete,
    Restore,
}

impl From<ActionKind> for JournalAction {
    fn from(k: ActionKind) -> JournalAction {
        match k {
            ActionKind::Quarantine => JournalAction::Quarantine,
            ActionKind::Delete => JournalAction::Delete,
        }
    }
}

impl JournalAction {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalAction::Quarantine => "quarantine",
            JournalAction::Delete => "delete",
            JournalAction::Restore => "restore",
        }
    }
    pub fn parse(s: &str) -> Option<JournalAction> {
        [Self::Quarantine, Self::Delete, Self::Restore]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The policy rule that asked for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyRule {
    /// A `[[deny]]` matcher.
    Deny,
    /// `[expiry.bands]`: the action for a trust band.
    Band(Band),
    /// Never used within `unused_after`.
    ExpiryUnused,
    /// Last use older than `inactive_after`.
    ExpiryInactive,
    /// Beyond `family_keep` members of its family.
    FamilyKeep,
    /// Quarantined, grace over, unused since: delete.
    QuarantineGrace,
}

impl PolicyRule {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyRule::Deny => "deny",
            PolicyRule::Band(Band::Trusted) => "band.trusted",
            PolicyRule::Band(Band::Neutral) => "band.neutral",
            PolicyRule::Band(Band::Suspicious) => "band.suspicious",
            PolicyRule::Band(Band::Malicious) => "band.malicious",
            PolicyRule::ExpiryUnused => "expiry.unused",
            PolicyRule::ExpiryInactive => "expiry.inactive",
            PolicyRule::FamilyKeep => "family_keep",
            PolicyRule::QuarantineGrace => "quarantine.grace",
        }
    }
}

impl fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PolicyRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
