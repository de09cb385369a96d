-- Keycloak stores: `stores.kind` allows 'keycloak', and a registration records where its
-- creation time came from (`created_from`: the store's own creation column, a
-- CLIENT_REGISTER event, the time its secret was issued; NULL when no creation time is known
-- and the first sighting stands in). migrations/postgres/ has the same change.
--
-- SQLite cannot change a CHECK, so every table is rebuilt as in 0003_enum_checks: each new
-- table is filled from the old one, the old ones are dropped, and the new ones take their
-- names; the AUTOINCREMENT counters move with their tables.

CREATE TABLE stores_new (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CONSTRAINT stores_kind_check CHECK (kind IN ('hydra', 'keycloak', 'jsonl')),
    cursor_updated_at TEXT,
    cursor_id TEXT,
    usage_cursor TEXT,
    last_full_scan_at BIGINT,
    last_success_at BIGINT,
    created_at BIGINT NOT NULL
);
INSERT INTO stores_new (name, kind, cursor_updated_at, cursor_id, usage_cursor, last_full_scan_at,
                        last_success_at, created_at)
SELECT name, kind, cursor_updated_at, cursor_id, usage_cursor, last_full_scan_at,
       last_success_at, created_at
FROM stores;

CREATE TABLE scans_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store TEXT NOT NULL REFERENCES stores_new (name),
    kind TEXT NOT NULL CONSTRAINT scans_kind_check CHECK (kind IN ('full', 'incremental')),
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    outcome TEXT NOT NULL
        CONSTRAINT scans_outcome_check CHECK (outcome IN ('running', 'ok', 'failed', 'interrupted')),
    seen BIGINT NOT NULL DEFAULT 0,
    new_count BIGINT NOT NULL DEFAULT 0,
    changed BIGINT NOT NULL DEFAULT 0,
    gone BIGINT NOT NULL DEFAULT 0,
    warnings BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    error TEXT
);
INSERT INTO scans_new (id, store, kind, started_at, finished_at, outcome, seen, new_count, changed,
                       gone, warnings, refused, error)
SELECT id, store, kind, started_at, finished_at, outcome, seen, new_count, changed,
       gone, warnings, refused, error
FROM scans;

CREATE TABLE registrations_new (
    store TEXT NOT NULL REFERENCES stores_new (name),
    client_id TEXT NOT NULL,
    client_name TEXT,
    origin TEXT NOT NULL
        CONSTRAINT registrations_origin_check CHECK (origin IN ('dcr', 'cimd', 'admin', 'unknown')),
    created_at BIGINT,
    created_from TEXT
        CONSTRAINT registrations_created_from_check
        CHECK (created_from IN ('store', 'register-event', 'secret-issued')),
    updated_at BIGINT,
    usage TEXT NOT NULL
        CONSTRAINT registrations_usage_check CHECK (usage IN ('unknown', 'never', 'used')),
    last_used_at BIGINT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    last_seen_scan BIGINT NOT NULL,
    gone_at BIGINT,
    metadata TEXT NOT NULL,
    warnings TEXT,
    band TEXT
        CONSTRAINT registrations_band_check CHECK (band IN ('trusted', 'neutral', 'suspicious', 'malicious')),
    score INTEGER,
    reasons TEXT,
    family TEXT,
    software TEXT,
    PRIMARY KEY (store, client_id)
);
INSERT INTO registrations_new (store, client_id, client_name, origin, created_at, updated_at, usage,
                               last_used_at, first_seen_at, last_seen_at, last_seen_scan, gone_at,
                               metadata, warnings, band, score, reasons, family, software)
SELECT store, client_id, client_name, origin, created_at, updated_at, usage,
       last_used_at, first_seen_at, last_seen_at, last_seen_scan, gone_at,
       metadata, warnings, band, score, reasons, family, software
FROM registrations;

CREATE TABLE families_new (
    store TEXT NOT NULL REFERENCES stores_new (name),
    id TEXT NOT NULL,
    software TEXT,
    size BIGINT NOT NULL,
    used BIGINT NOT NULL,
    first_created_at BIGINT,
    last_created_at BIGINT,
    PRIMARY KEY (store, id)
);
INSERT INTO families_new (store, id, software, size, used, first_created_at, last_created_at)
SELECT store, id, software, size, used, first_created_at, last_created_at
FROM families;

CREATE TABLE actions_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store TEXT NOT NULL REFERENCES stores_new (name),
    client_id TEXT NOT NULL,
    action TEXT NOT NULL
        CONSTRAINT actions_action_check CHECK (action IN ('quarantine', 'delete', 'restore')),
    mode TEXT NOT NULL CONSTRAINT actions_mode_check CHECK (mode IN ('dry-run', 'enforce')),
    reason TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    intent_at BIGINT NOT NULL,
    outcome TEXT
        CONSTRAINT actions_outcome_check
        CHECK (outcome IN ('done', 'error', 'reconciled-done', 'reconciled-not-done')),
    outcome_at BIGINT,
    error TEXT,
    attempts BIGINT NOT NULL DEFAULT 0
);
INSERT INTO actions_new (id, store, client_id, action, mode, reason, snapshot, intent_at, outcome,
                         outcome_at, error, attempts)
SELECT id, store, client_id, action, mode, reason, snapshot, intent_at, outcome,
       outcome_at, error, attempts
FROM actions;

-- The counters as they were (not merely the highest id copied).
DELETE FROM sqlite_sequence WHERE name IN ('scans_new', 'actions_new');
UPDATE sqlite_sequence SET name = name || '_new' WHERE name IN ('scans', 'actions');

DROP TABLE actions;
DROP TABLE families;
DROP TABLE registrations;
DROP TABLE scans;
DROP TABLE stores;

ALTER TABLE stores_new RENAME TO stores;
ALTER TABLE scans_new RENAME TO scans;
ALTER TABLE registrations_new RENAME TO registrations;
ALTER TABLE families_new RENAME TO families;
ALTER TABLE actions_new RENAME TO actions;

CREATE INDEX scans_by_store ON scans (store, id);
CREATE INDEX registrations_live ON registrations (store, gone_at);
CREATE INDEX actions_open ON actions (store, outcome);
CREATE INDEX actions_by_client ON actions (store, client_id);
