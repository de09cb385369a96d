-- Keycloak stores: `stores.kind` allows 'keycloak', and a registration records where its
-- creation time came from (`created_from`: the store's own creation column, a
-- CLIENT_REGISTER event, the time its secret was issued; NULL when no creation time is known
-- and the first sighting stands in). migrations/sqlite/ has the same change.
ALTER TABLE stores DROP CONSTRAINT stores_kind_check;
ALTER TABLE stores ADD CONSTRAINT stores_kind_check
    CHECK (kind IN ('hydra', 'keycloak', 'jsonl'));

ALTER TABLE registrations ADD COLUMN created_from TEXT
    CONSTRAINT registrations_created_from_check
    CHECK (created_from IN ('store', 'register-event', 'secret-issued'));
