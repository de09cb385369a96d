-- Incremental judging (ARCHITECTURE.md invariant 12): a judgement re-scores only what changed.
-- migrations/sqlite/ has the same change.
--
-- registrations.stale: the registration's facts changed since its verdict (set by every write
-- of a scan that changes what a verdict reads; cleared when it is judged). Every row starts
-- stale, so the first judgement after this migration is a full one.
-- registrations.due_at: when the verdict's time-dependent part next changes (a recent use
-- ageing past 30 days, a registration turning a day old unused), NULL when it never does.
-- registrations.judged_*: what the registration adds to its family (registrations.family) as
-- last judged: its creation time, the sites its URIs point to (space-separated), and flags
-- (1: its verdict looks at same-name families, 2: used, 4: created by an administrator);
-- judged_flags is NULL while it is no member of a family (never judged, or gone).
ALTER TABLE registrations ADD COLUMN stale INTEGER NOT NULL DEFAULT 1;
ALTER TABLE registrations ADD COLUMN due_at BIGINT;
ALTER TABLE registrations ADD COLUMN judged_created_at BIGINT;
ALTER TABLE registrations ADD COLUMN judged_sites TEXT;
ALTER TABLE registrations ADD COLUMN judged_flags INTEGER;
CREATE INDEX registrations_stale ON registrations (store, client_id) WHERE stale = 1;
CREATE INDEX registrations_due ON registrations (store, due_at) WHERE gone_at IS NULL;
CREATE INDEX registrations_family ON registrations (store, family, judged_created_at)
    WHERE gone_at IS NULL;

-- Families keep what a judgement of their members reads, and what lets one member be taken
-- out again: the folded name, the members that match the software, members created by an
-- administrator, members that look at same-name families, and the smallest 32 sites with
-- their members ("site=members", space-separated; sites_overflow: members point to more).
ALTER TABLE families ADD COLUMN name TEXT;
ALTER TABLE families ADD COLUMN software_members BIGINT NOT NULL DEFAULT 0;
ALTER TABLE families ADD COLUMN admin BIGINT NOT NULL DEFAULT 0;
ALTER TABLE families ADD COLUMN named BIGINT NOT NULL DEFAULT 0;
ALTER TABLE families ADD COLUMN sites TEXT;
ALTER TABLE families ADD COLUMN sites_overflow INTEGER NOT NULL DEFAULT 0;
CREATE INDEX families_by_name ON families (store, name);

-- The scorer (version, catalog, publishers, weights, bands) of the store's last complete
-- judgement; NULL before one, and while one runs. A different scorer judges everything again.
ALTER TABLE stores ADD COLUMN judged_with TEXT;
