//! SQLite's write-ahead log copied into the database file: beside the writer while a
//! refresh runs, and at its end.

use super::{q, State, StateError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// How often the log is copied beside the writer.
const BESIDE_EVERY: Duration = Duration::from_millis(200);

impl State {
    /// Copies what the write-ahead log holds into the SQLite database and empties the log, at
    /// the end of a refresh: the log then holds no more than one refresh's writes, and the
    /// next process to open the database does not read it all back first (with a 512 MiB log
    /// left behind, a no-change rescan took 1.9 s instead of 0.1 s). It waits for readers of
    /// other processes as long as the connection's busy timeout allows; one that could not
    /// be done is logged, and the next one copies what this left. Nothing on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StateError> {
        if self.sqlite {
            let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(self.pool())
                .await
                .map_err(q("checkpoint the write-ahead log"))?;
            if busy != 0 {
                tracing::warn!("state database log not emptied: another connection held it");
            }
        }
        Ok(())
    }

    /// While the handle is held, copies what the writer committed from the write-ahead log
    /// into a SQLite database file every 200 ms, on the read connection (a passive
    /// checkpoint: it waits for no one, and copies what no reader still needs). Otherwise
    /// the writer copies it, and stops writing meanwhile: once the log passes its limit,
    /// and in the refresh's last checkpoint, which copied a whole 1%-changed rescan's
    /// writes (1,000,000 clients, 1% changed: 3.2-3.5 s so, 2.95-3.35 s copied beside, in
    /// alternated runs). [`Beside::stop`] before [`State::checkpoint`]: SQLite refuses a
    /// checkpoint while another runs.
    /// `None` on PostgreSQL, or for a database held in memory.
    pub fn checkpoints_beside(&self) -> Option<Beside> {
        let reads = self.reads.clone()?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = AbortOnDropHandle::new(tokio::spawn(async move {
            let mut every = tokio::time::interval(BESIDE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    _ = every.tick() => {}
                }
                // One that fails copies nothing: the writer's and the last one still do.
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&reads)
                    .await
                {
                    tracing::debug!(error = %e, "write-ahead log not copied beside the writer");
                }
            }
        }));
        Some(Beside { stop, task })
    }
}

/// Checkpoints beside the writer ([`State::checkpoints_beside`]), until stopped (or
/// dropped: then a checkpoint under way may still run for a while).
pub struct Beside {
    stop: CancellationToken,
    task: AbortOnDropHandle<()>,
}

impl Beside {
    /// Stops after the checkpoint under way, if any.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::debug!(error = %e, "checkpoints beside the writer ended badly");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::state::testing;

    async fn file_len(dir: &tempfile::TempDir) -> u64 {
        std::fs::metadata(dir.path().join("state.db"))
            .unwrap()
            .len()
    }

    /// What the writer committed reaches the database file while the handle is held, and
    /// only then (the writer's own checkpoints start at 512 MiB of log).
    #[tokio::test]
    async fn committed_pages_reach_the_file_beside_the_writer() {
        let (state, dir) = testing::sqlite().await;
        let write = |table: &'static str| {
            let state = state.clone();
            async move {
                sqlx::raw_sql(&format!(
                    "CREATE TABLE {table} (x TEXT);
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                     INSERT INTO {table} SELECT printf('%.1000d', i) FROM n;"
                ))
                .execute(state.pool())
                .await
                .unwrap();
            }
        };
        let before = file_len(&dir).await;
        write("unattended").await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(file_len(&dir).await, before, "copied with no one beside");

        let beside = state.checkpoints_beside().expect("a SQLite file");
        write("attended").await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // Both tables' 2 MB or so.
        assert!(
            file_len(&dir).await > before + 4_000_000,
            "{} bytes",
            file_len(&dir).await
        );
        // Stopped, no checkpoint beside is under way: the last one empties the log.
        write("last").await;
        beside.stop().await;
        state.checkpoint().await.unwrap();
        let log = std::fs::metadata(dir.path().join("state.db-wal")).unwrap();
        assert_eq!(log.len(), 0, "the log is left holding pages");
    }
}
