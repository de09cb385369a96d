-- The registrations a full scan found exactly as recorded: it writes their client ids here
-- instead of rewriting each row to mark it seen (a reconcile rewrote every registration of
-- the store, invariant 12). Marking what is gone reads it; a full scan's start and end clear
-- the store's rows.
-- Unlogged: a scan that a crash interrupts has failed anyway, and starts over.
-- migrations/sqlite/ and migrations/postgres/ have the same change.
CREATE UNLOGGED TABLE scan_seen (
    store TEXT NOT NULL,
    client_id TEXT NOT NULL,
    PRIMARY KEY (store, client_id)
);
