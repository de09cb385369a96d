-- Admin API attempts an action took (retries of timeouts and 5xx included), and a lookup of
-- a client's journal entries (quarantines, restores).
ALTER TABLE actions ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX actions_by_client ON actions (store, client_id);
