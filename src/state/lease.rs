//! The `leader_lease` table: leader election between replicas that share a PostgreSQL state
//! database, and the fence every journal write of the leader is made under. One row; whoever
//! holds it unexpired leads. Every new leader gets a higher `epoch`; an intent or outcome is
//! written only in a transaction that finds the writer's (holder, epoch) still the unexpired
//! lease and holds the row locked against a takeover until it commits, so a leader that lost
//! its lease (paused, cut off from the database) cannot journal an intent, and so cannot act,
//! nor settle another leader's intent. Times are the database's clock, in milliseconds, so
//! replicas need not agree on the time.

use super::{q, State, StateError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The lease row's name (one leader per state database).
const LEASE: &str = "regwarden";
/// The database's clock in Unix milliseconds (PostgreSQL).
const NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// One term of leadership: who holds the lease, under which epoch, and until when as this
/// process counts it.
#[derive(Debug)]
pub struct Fence {
    pub holder: String,
    pub epoch: i64,
    /// Monotonic end of the lease as this process sees it: measured from before the renewal
    /// was sent, so never later than the database's own expiry.
    valid_until: Mutex<Instant>,
    /// Nothing is started with less than this left of the lease.
    margin: Duration,
}

impl Fence {
    pub fn new(holder: String, epoch: i64, valid_until: Instant, margin: Duration) -> Fence {
        Fence {
            holder,
            epoch,
            valid_until: Mutex::new(valid_until),
            margin,
        }
    }

    pub fn valid_until(&self) -> Instant {
        *self.valid_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn extend(&self, until: Instant) {
        *self.valid_until.lock().unwrap_or_else(|p| p.into_inner()) = until;
    }

    /// Whether enough of the lease is left to start an action.
    pub fn fresh(&self) -> bool {
        self.valid_until()
            .checked_duration_since(Instant::now())
            .is_some_and(|left| left > self.margin)
    }
}

impl State {
    /// Takes the lease for `holder` if nobody holds it unexpired: the new epoch, or None.
    pub async fn acquire_lease(
        &self,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, StateError> {
        sqlx::query_scalar(&format!(
            "INSERT INTO leader_lease (name, holder, epoch, expires_at) VALUES ($1, $2, 1, {NOW_MS} + $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                 epoch = leader_lease.epoch + 1, expires_at = excluded.expires_at
             WHERE leader_lease.expires_at <= {NOW_MS}
             RETURNING epoch"
        ))
        .bind(LEASE)
        .bind(holder)
        .bind(ttl.as_millis() as i64)
        .fetch_optional(self.pool())
        .await
        .map_err(q("acquire the leader lease"))
    }

    /// Extends the lease of `holder` in `epoch` if it still holds it unexpired.
    pub async fn renew_lease(
        &self,
        holder: &str,
        epoch: i64,
        ttl: Duration,
    ) -> Result<bool, StateError> {
        let r = sqlx::query(&format!(
            "UPDATE leader_lease SET expires_at = {NOW_MS} + $4
             WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > {NOW_MS}"
        ))
        .bind(LEASE)
        .bind(holder)
        .bind(epoch)
        .bind(ttl.as_millis() as i64)
        .execute(self.pool())
        .await
        .map_err(q("renew the leader lease"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives the lease up at once (a graceful stop), so another replica need not wait.
    pub async fn release_lease(&self, holder: &str, epoch: i64) -> Result<(), StateError> {
        sqlx::query(
            "UPDATE leader_lease SET expires_at = 0 WHERE name = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(LEASE)
        .bind(holder)
        .bind(epoch)
        .execute(self.pool())
        .await
        .map_err(q("release the leader lease"))?;
        Ok(())
    }

    /// The unexpired lease as it stands: holder, epoch and its expiry (the database's clock,
    /// in milliseconds), which moves on with every renewal.
    pub async fn lease_row(&self) -> Result<Option<(String, i64, i64)>, StateError> {
        sqlx::query_as(&format!(
            "SELECT holder, epoch, expires_at FROM leader_lease WHERE name = $1 AND expires_at > {NOW_MS}"
        ))
        .bind(LEASE)
        .fetch_optional(self.pool())
        .await
        .map_err(q("read the leader lease"))
    }

    /// Who holds the lease unexpired, and in which epoch (for tests and operators).
    pub async fn lease_holder(&self) -> Result<Option<(String, i64)>, StateError> {
        Ok(self
            .lease_row()
            .await?
            .map(|(holder, epoch, _)| (holder, epoch)))
    }

    /// Whether this process may still send a call: refused (`Fenced`) once the fence's lease
    /// has run out by this process's own monotonic clock, which counts on through a pause
    /// (SIGSTOP, a frozen VM) and ends no later than the database's expiry, so no other
    /// replica can have taken over while this says Ok. Ok when unfenced (SQLite).
    pub fn still_leads(&self) -> Result<(), StateError> {
        match &self.fence {
            Some(f) if f.valid_until() <= Instant::now() => Err(StateError::Fenced {
                why: format!(
                    "the lease of {} (epoch {}) ran out before the call could be sent",
                    f.holder, f.epoch
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Checks, in the transaction `tx` about to write the journal, that `fence` is still the
    /// unexpired lease, and locks the lease row (FOR SHARE) until `tx` ends: a takeover waits
    /// for the write, or the write finds the new epoch and is refused. `margin`: also refuse
    /// when less than the fence's margin of the lease is left (before starting an action).
    pub(super) async fn check_fence(
        &self,
        fence: &Fence,
        margin: bool,
        tx: &mut sqlx::AnyConnection,
    ) -> Result<(), StateError> {
        let left = fence.valid_until().checked_duration_since(Instant::now());
        if left.is_none() || (margin && !fence.fresh()) {
            return Err(StateError::Fenced {
                why: "the lease ran out before it could be renewed".into(),
            });
        }
        let held: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT epoch FROM leader_lease
             WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > {NOW_MS}
             FOR SHARE"
        ))
        .bind(LEASE)
        .bind(fence.holder.as_str())
        .bind(fence.epoch)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q("check the leader lease"))?;
        match held {
            Some(_) => Ok(()),
            None => Err(StateError::Fenced {
                why: format!(
                    "the lease of {} (epoch {}) is no longer held",
                    fence.holder, fence.epoch
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::state::{Intent, Outcome};
    use chrono::Utc;
    use std::sync::Arc;

    fn intent(client: &str) -> Intent<'_> {
        Intent {
            store: "s",
            client_id: client,
            action: "delete",
            mode: "enforce",
            reason: "expiry.unused: test",
            snapshot: "{}",
        }
    }

    /// Two replicas on one real PostgreSQL: one lease at a time, a new epoch per leader,
    /// and a leader whose lease ran out (or was taken) cannot journal an intent.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/test.sh"]
    async fn one_leader_at_a_time_and_a_deposed_one_cannot_journal() {
        let (admin, name, url) = super::super::testing::postgres_database("rw_lease").await;
        let a = State::connect(&Secret::new(url.clone())).await.unwrap();
        let b = State::connect(&Secret::new(url)).await.unwrap();
        a.ensure_store("s", "hydra", Utc::now()).await.unwrap();
        let ttl = Duration::from_millis(1500);
        let ea = a.acquire_lease("a", ttl).await.unwrap().expect("a leads");
        assert_eq!(b.acquire_lease("b", ttl).await.unwrap(), None);
        assert!(a.renew_lease("a", ea, ttl).await.unwrap());
        assert_eq!(a.lease_holder().await.unwrap(), Some(("a".to_owned(), ea)));
        let fence = |holder: &str, epoch| {
            Arc::new(Fence::new(
                holder.to_owned(),
                epoch,
                Instant::now() + ttl,
                Duration::from_millis(100),
            ))
        };
        let fa = a.fenced(fence("a", ea));
        let id = fa.journal_intent(&intent("c1"), Utc::now()).await.unwrap();
        assert!(fa.still_leads().is_ok() && a.still_leads().is_ok());
        // a is paused past its lease; b takes over with a higher epoch.
        tokio::time::sleep(ttl + Duration::from_millis(200)).await;
        // Paused between its intent and its call: its own clock says the call must not go.
        match fa.still_leads() {
            Err(StateError::Fenced { why }) => assert!(why.contains("ran out"), "{why}"),
            other => panic!("a paused leader may still call: {other:?}"),
        }
        assert!(!a.renew_lease("a", ea, ttl).await.unwrap(), "expired");
        let eb = b.acquire_lease("b", ttl).await.unwrap().expect("b leads");
        assert!(eb > ea);
        // a wakes up believing it leads (its local deadline pushed on): the database says no.
        let stale = a.fenced(fence("a", ea));
        match stale.journal_intent(&intent("c2"), Utc::now()).await {
            Err(StateError::Fenced { why }) => assert!(why.contains("no longer held"), "{why}"),
            other => panic!("a deposed leader journaled: {other:?}"),
        }
        // Nor write an outcome (its intent stays open for the leader to reconcile).
        assert!(matches!(
            stale
                .journal_outcome(id, Outcome::ReconciledNotDone, None, 1, Utc::now())
                .await,
            Err(StateError::Fenced { .. })
        ));
        // A local deadline that passed refuses before asking the database.
        let late = a.fenced(Arc::new(Fence::new(
            "b".into(),
            eb,
            Instant::now(),
            Duration::from_millis(100),
        )));
        assert!(matches!(
            late.journal_intent(&intent("c3"), Utc::now()).await,
            Err(StateError::Fenced { .. })
        ));
        let fb = b.fenced(fence("b", eb));
        let id2 = fb.journal_intent(&intent("c4"), Utc::now()).await.unwrap();
        let open: Vec<i64> = b
            .open_intents("s")
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(open, [id, id2]);
        // Released: the other takes it at once.
        b.release_lease("b", eb).await.unwrap();
        assert!(a
            .acquire_lease("a", ttl)
            .await
            .unwrap()
            .is_some_and(|e| e > eb));
        drop((a, b, fa, fb, stale, late));
        let _ = sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&admin)
            .await;
    }
}
