-- Leader election between replicas sharing a PostgreSQL state database: one row, the lease.
-- `epoch` grows with every new leader; the journal's intents are written only while the
-- writer's (holder, epoch) is still the unexpired lease (fencing). Times in Unix milliseconds
-- of the database's clock.
CREATE TABLE leader_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
