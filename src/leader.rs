//! Which replica scans and acts. On a SQLite state database there is one process and it
//! always leads. Replicas sharing a PostgreSQL state database elect one through the lease
//! row of `state::lease`: each campaigns every third of `[state] lease`; the holder renews
//! its lease as often, and its term ends (its store loops stop, an action in flight is
//! dropped) as soon as a renewal fails with less than a third of the lease left, before any
//! other replica can take the lease over. Every journal intent of a term is written under its
//! fence, so even a leader that was paused past its lease (SIGSTOP, a frozen VM) and wakes up
//! still believing it leads cannot journal, and so cannot act: nothing is called before its
//! intent is journaled. A dead leader's lease runs out and a standby takes over within
//! `lease` plus a third of it, reconciling the dead leader's open intents first.

use crate::state::{Fence, State};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One term of leadership.
pub struct Term {
    /// The state database, with intents fenced by this term (unfenced on SQLite).
    pub state: State,
    /// Cancelled when the term ends: the lease was lost, or the process stops.
    pub ended: CancellationToken,
    /// Cancelled only when the lease was lost: what is under way stops at once.
    pub lost: CancellationToken,
    fence: Option<Arc<Fence>>,
    watchdog: Option<tokio::task::JoinHandle<()>>,
}

impl Term {
    /// Ends the term: stops renewing and, unless it was lost, gives the lease up so that
    /// another replica need not wait for it to run out.
    pub async fn end(self) {
        self.ended.cancel();
        if let Some(w) = self.watchdog {
            let _ = w.await;
        }
        if let (Some(f), false) = (&self.fence, self.lost.is_cancelled()) {
            let release = self.state.release_lease(&f.holder, f.epoch);
            match tokio::time::timeout(Duration::from_secs(2), release).await {
                Ok(Ok(())) => tracing::info!(epoch = f.epoch, "leader lease released"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot release the leader lease; it runs out by itself")
                }
                Err(_) => {
                    tracing::warn!("cannot release the leader lease in 2s; it runs out by itself")
                }
            }
        }
    }
}

/// Campaigns for leadership on one state database.
pub struct Elector {
    state: State,
    holder: String,
    lease: Duration,
}

impl Elector {
    pub fn new(state: &State, lease: Duration) -> Elector {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Elector {
            state: state.clone(),
            holder: format!("{}:{}:{nanos:08x}", host.trim(), std::process::id()),
            lease,
        }
    }

    /// This process's name in the lease row.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn period(&self) -> Duration {
        self.lease / 3
    }

    /// Waits until this process leads; None once `shutdown` is cancelled.
    pub async fn campaign(&self, shutdown: &CancellationToken) -> Option<Term> {
        if self.state.is_sqlite() {
            return (!shutdown.is_cancelled()).then(|| Term {
                state: self.state.clone(),
                ended: shutdown.child_token(),
                lost: CancellationToken::new(),
                fence: None,
                watchdog: None,
            });
        }
        let mut standing_by = false;
        loop {
            if shutdown.is_cancelled() {
                return None;
            }
            let sent = Instant::now();
            let attempt = self.state.acquire_lease(&self.holder, self.lease);
            match tokio::time::timeout(self.period(), attempt).await {
                Ok(Ok(Some(epoch))) => {
                    tracing::info!(holder = %self.holder, epoch, "leading: this replica scans and acts");
                    return Some(self.term(epoch, sent, shutdown));
                }
                Ok(Ok(None)) if !standing_by => {
                    standing_by = true;
                    tracing::info!(holder = %self.holder, "standing by: another replica leads");
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot campaign for leadership; standing by")
                }
                Err(_) => tracing::warn!(
                    "the state database did not answer a campaign in time; standing by"
                ),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(self.period()) => {}
            }
        }
    }

    /// Leads now or not at all: a term, or None when another process holds the lease. For
    /// the commands that act once from the command line (`apply --yes`, `restore`), so that
    /// they never act beside a daemon that leads (nor beside each other) on a shared state
    /// database. On SQLite, like [`Elector::campaign`], this process leads.
    pub async fn lead_now(&self) -> Result<Option<Term>, crate::state::StateError> {
        let now = CancellationToken::new();
        if self.state.is_sqlite() {
            return Ok(Some(Term {
                state: self.state.clone(),
                ended: now,
                lost: CancellationToken::new(),
                fence: None,
                watchdog: None,
            }));
        }
        let sent = Instant::now();
        let epoch = self.state.acquire_lease(&self.holder, self.lease).await?;
        Ok(epoch.map(|epoch| {
            tracing::info!(holder = %self.holder, epoch, "leading for this command");
            self.term(epoch, sent, &now)
        }))
    }

    fn term(&self, epoch: i64, sent: Instant, shutdown: &CancellationToken) -> Term {
        let fence = Arc::new(Fence::new(
            self.holder.clone(),
            epoch,
            sent + self.lease,
            self.period(),
        ));
        let ended = shutdown.child_token();
        let lost = CancellationToken::new();
        let watchdog = tokio::spawn(renew(
            self.state.clone(),
            fence.clone(),
            self.lease,
            ended.clone(),
            lost.clone(),
        ));
        Term {
            state: self.state.fenced(fence.clone()),
            ended,
            lost,
            fence: Some(fence),
            watchdog: Some(watchdog),
        }
    }
}

/// Renews the lease every third of it until the term ends; ends the term (cancelling
/// `lost`, then `ended`) when another replica holds it or too little of it is left.
async fn renew(
    state: State,
    fence: Arc<Fence>,
    lease: Duration,
    ended: CancellationToken,
    lost: CancellationToken,
) {
    let period = lease / 3;
    loop {
        tokio::select! {
            _ = ended.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let sent = Instant::now();
        let attempt = state.renew_lease(&fence.holder, fence.epoch, lease);
        let why = match tokio::time::timeout(period, attempt).await {
            Ok(Ok(true)) => {
                fence.extend(sent + lease);
                continue;
            }
            Ok(Ok(false)) => "the lease ran out or another replica holds it".to_owned(),
            Ok(Err(e)) if fence.fresh() => {
                tracing::warn!(error = %e, "cannot renew the leader lease; retrying");
                continue;
            }
            Err(_) if fence.fresh() => {
                tracing::warn!(
                    "the state database did not answer a lease renewal in time; retrying"
                );
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the state database did not answer in time".to_owned(),
        };
        tracing::error!(epoch = fence.epoch, why = %why, "leadership lost: stopping every scan and action of this replica");
        lost.cancel();
        ended.cancel();
        return;
    }
}
