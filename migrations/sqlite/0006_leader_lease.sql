-- Leader election between replicas sharing a PostgreSQL state database (see the PostgreSQL
-- migration). A SQLite state database has one process, always the leader: the table stays
-- empty here and exists so both backends have one schema.
CREATE TABLE leader_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
