-- regwarden state, SQLite flavour. migrations/postgres/ holds the same schema for PostgreSQL;
-- only the generated ids differ. Times are Unix seconds (UTC).

-- One row per configured store, with where its scans left off.
CREATE TABLE stores (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    -- Incremental keyset position: the store's own updated_at text and client id.
    cursor_updated_at TEXT,
    cursor_id TEXT,
    -- Latest requested_at followed in the store's usage tables (its own text form).
    usage_cursor TEXT,
    last_full_scan_at BIGINT,
    last_success_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store TEXT NOT NULL REFERENCES stores (name),
    kind TEXT NOT NULL,               -- full | incremental
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    outcome TEXT NOT NULL,            -- running | ok | failed | interrupted
    seen BIGINT NOT NULL DEFAULT 0,
    new_count BIGINT NOT NULL DEFAULT 0,
    changed BIGINT NOT NULL DEFAULT 0,
    gone BIGINT NOT NULL DEFAULT 0,
    warnings BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX scans_by_store ON scans (store, id);

CREATE TABLE registrations (
    store TEXT NOT NULL REFERENCES stores (name),
    client_id TEXT NOT NULL,
    client_name TEXT,
    origin TEXT NOT NULL,             -- dcr | cimd | admin | unknown
    created_at BIGINT,
    updated_at BIGINT,
    usage TEXT NOT NULL,              -- unknown | never | used
    last_used_at BIGINT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    last_seen_scan BIGINT NOT NULL,
    gone_at BIGINT,                   -- set only by a complete full scan that did not see it
    metadata TEXT NOT NULL,           -- normalized RFC 7591 snapshot, JSON
    warnings TEXT,                    -- JSON list of normalization warnings
    -- Verdict and family, filled by scoring and clustering.
    band TEXT,
    score INTEGER,
    reasons TEXT,
    family TEXT,
    software TEXT,
    PRIMARY KEY (store, client_id)
);
CREATE INDEX registrations_live ON registrations (store, gone_at);

CREATE TABLE families (
    store TEXT NOT NULL REFERENCES stores (name),
    id TEXT NOT NULL,
    software TEXT,
    size BIGINT NOT NULL,
    used BIGINT NOT NULL,             -- members with a use on record
    first_created_at BIGINT,
    last_created_at BIGINT,
    PRIMARY KEY (store, id)
);

-- The action journal: intent (with the full snapshot) before the admin call, outcome after.
CREATE TABLE actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store TEXT NOT NULL REFERENCES stores (name),
    client_id TEXT NOT NULL,
    action TEXT NOT NULL,
    mode TEXT NOT NULL,
    reason TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    intent_at BIGINT NOT NULL,
    outcome TEXT,
    outcome_at BIGINT,
    error TEXT
);
CREATE INDEX actions_open ON actions (store, outcome);
