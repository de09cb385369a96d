-- The Keycloak 26.7 tables regwarden reads, with Keycloak's own table and column names and
-- types mapped to SQLite, for `regwarden demo --kind keycloak` (Keycloak itself runs on
-- PostgreSQL or MariaDB; its other tables are left out). Checked against the schema Keycloak
-- 26.7.3's migrations create on PostgreSQL.
CREATE TABLE realm (
    id VARCHAR(36) PRIMARY KEY,
    name VARCHAR(255) UNIQUE,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    events_enabled BOOLEAN NOT NULL DEFAULT 0,
    events_expiration BIGINT
);
CREATE TABLE realm_enabled_event_types (
    realm_id VARCHAR(36) NOT NULL REFERENCES realm (id),
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (realm_id, value)
);
CREATE TABLE client (
    id VARCHAR(36) PRIMARY KEY,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    full_scope_allowed BOOLEAN NOT NULL DEFAULT 1,
    client_id VARCHAR(255),
    not_before INTEGER,
    public_client BOOLEAN NOT NULL DEFAULT 0,
    secret VARCHAR(255),
    base_url VARCHAR(255),
    bearer_only BOOLEAN NOT NULL DEFAULT 0,
    management_url VARCHAR(255),
    surrogate_auth_required BOOLEAN NOT NULL DEFAULT 0,
    realm_id VARCHAR(36),
    protocol VARCHAR(255),
    node_rereg_timeout INTEGER DEFAULT 0,
    frontchannel_logout BOOLEAN NOT NULL DEFAULT 0,
    consent_required BOOLEAN NOT NULL DEFAULT 0,
    name VARCHAR(255),
    service_accounts_enabled BOOLEAN NOT NULL DEFAULT 0,
    client_authenticator_type VARCHAR(255),
    root_url VARCHAR(255),
    description VARCHAR(255),
    registration_token VARCHAR(255),
    standard_flow_enabled BOOLEAN NOT NULL DEFAULT 1,
    implicit_flow_enabled BOOLEAN NOT NULL DEFAULT 0,
    direct_access_grants_enabled BOOLEAN NOT NULL DEFAULT 0,
    always_display_in_console BOOLEAN NOT NULL DEFAULT 0,
    created_timestamp BIGINT,
    last_modified_timestamp BIGINT,
    UNIQUE (realm_id, client_id)
);
CREATE INDEX idx_client_id ON client (client_id);
CREATE TABLE client_attributes (
    client_id VARCHAR(36) NOT NULL REFERENCES client (id),
    name VARCHAR(255) NOT NULL,
    value TEXT,
    PRIMARY KEY (client_id, name)
);
CREATE TABLE redirect_uris (
    client_id VARCHAR(36) NOT NULL REFERENCES client (id),
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (client_id, value)
);
CREATE TABLE web_origins (
    client_id VARCHAR(36) NOT NULL REFERENCES client (id),
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (client_id, value)
);
CREATE TABLE event_entity (
    id VARCHAR(36) PRIMARY KEY,
    client_id VARCHAR(255),
    details_json VARCHAR(2550),
    error VARCHAR(255),
    ip_address VARCHAR(255),
    realm_id VARCHAR(255),
    session_id VARCHAR(255),
    event_time BIGINT,
    type VARCHAR(255),
    user_id VARCHAR(255),
    details_json_long_value TEXT
);
CREATE INDEX idx_event_time ON event_entity (realm_id, event_time);
CREATE TABLE offline_client_session (
    user_session_id VARCHAR(36) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    offline_flag VARCHAR(4) NOT NULL,
    timestamp INTEGER,
    data TEXT,
    client_storage_provider VARCHAR(36) NOT NULL DEFAULT 'local',
    external_client_id VARCHAR(255) NOT NULL DEFAULT 'local',
    version INTEGER DEFAULT 0,
    realm_id VARCHAR(36),
    PRIMARY KEY (user_session_id, client_id, client_storage_provider, external_client_id, offline_flag)
);
CREATE TABLE user_consent (
    id VARCHAR(36) PRIMARY KEY,
    client_id VARCHAR(255),
    user_id VARCHAR(36) NOT NULL,
    created_date BIGINT,
    last_updated_date BIGINT,
    client_storage_provider VARCHAR(36),
    external_client_id VARCHAR(255)
);
CREATE TABLE component (
    id VARCHAR(36) PRIMARY KEY,
    name VARCHAR(255),
    parent_id VARCHAR(36),
    provider_id VARCHAR(36),
    provider_type VARCHAR(255),
    realm_id VARCHAR(36) REFERENCES realm (id),
    sub_type VARCHAR(255)
);
CREATE TABLE component_config (
    id VARCHAR(36) PRIMARY KEY,
    component_id VARCHAR(36) NOT NULL REFERENCES component (id),
    name VARCHAR(255) NOT NULL,
    value TEXT
);
