-- The family index an incremental judgement reads (work proportional to change, invariant 12)
-- answers from the index alone: it holds every column those statements read (a member's
-- creation time, client id and flags), and the partial condition's columns too, without
-- which SQLite reads each row from the table (at 1,000,000 registrations and 1% changed,
-- 310,000 random table reads, 3 of the judgement's 10 seconds).
-- migrations/sqlite/ and migrations/postgres/ have the same change.
DROP INDEX registrations_family;
CREATE INDEX registrations_members
    ON registrations (store, family, judged_created_at, client_id, judged_flags, gone_at)
    WHERE gone_at IS NULL AND judged_flags IS NOT NULL;
