-- Enumerated text columns hold only the values regwarden writes (migrations/sqlite/ has the
-- same constraints; SQLite has to rebuild its tables to add them). A NULL passes a CHECK,
-- so nullable columns stay nullable.
ALTER TABLE stores ADD CONSTRAINT stores_kind_check
    CHECK (kind IN ('hydra', 'jsonl'));

ALTER TABLE scans ADD CONSTRAINT scans_kind_check
    CHECK (kind IN ('full', 'incremental'));
ALTER TABLE scans ADD CONSTRAINT scans_outcome_check
    CHECK (outcome IN ('running', 'ok', 'failed', 'interrupted'));

ALTER TABLE registrations ADD CONSTRAINT registrations_origin_check
    CHECK (origin IN ('dcr', 'cimd', 'admin', 'unknown'));
ALTER TABLE registrations ADD CONSTRAINT registrations_usage_check
    CHECK (usage IN ('unknown', 'never', 'used'));
ALTER TABLE registrations ADD CONSTRAINT registrations_band_check
    CHECK (band IN ('trusted', 'neutral', 'suspicious', 'malicious'));

ALTER TABLE actions ADD CONSTRAINT actions_action_check
    CHECK (action IN ('quarantine', 'delete', 'restore'));
ALTER TABLE actions ADD CONSTRAINT actions_mode_check
    CHECK (mode IN ('dry-run', 'enforce'));
ALTER TABLE actions ADD CONSTRAINT actions_outcome_check
    CHECK (outcome IN ('done', 'error', 'reconciled-done', 'reconciled-not-done'));
