//! `regwarden run`: the HTTP endpoints plus one scan loop per store, each on its cron
//! schedules, retried with backoff when the store or state database is down, stopped by a
//! cancellation token (SIGTERM/SIGINT in production, the test itself in tests).

use crate::config::{Config, StoreConfig};
use crate::escape::esc;
use crate::http::{self, Readiness};
use crate::metrics::Metrics;
use crate::refresh::{no_progress, refresh, Refreshed, Scan, ScanError};
use crate::source::Source;
use crate::state::{ScanKind, State};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Doubling retry delay, reset after a success.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff {
            next: BACKOFF_START,
            max,
        }
    }
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        d
    }
    pub fn reset(&mut self) {
        self.next = BACKOFF_START;
    }
}

/// Runs the daemon until `shutdown` is cancelled. `listener` is bound by the caller (so tests
/// can use port 0).
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let readiness = Arc::new(Readiness::default());
    let cimd = config
        .fetch
        .cimd(Some(metrics.cimd_fetches_total.clone()))?
        .map(Arc::new);
    let tracker = TaskTracker::new();
    let now = Utc::now();
    // One process on a SQLite state database, always the leader; replicas sharing a
    // PostgreSQL one elect theirs (crate::leader) and stand by until then.
    let single = config.state_url.expose().starts_with("sqlite:");
    if single {
        init_store_metrics(&config, &metrics);
    }
    readiness.set_standby(!single);
    for store in &config.stores {
        readiness.expect_store(
            &store.name,
            config.incremental_scans.interval_after(now),
            None,
        );
    }
    tracing::info!(listen = %listener.local_addr()?, stores = config.stores.len(), "regwarden running");
    tracker.spawn(http::serve(
        listener,
        http::router(metrics.clone(), readiness.clone()),
        shutdown.clone(),
    ));
    tracker.spawn(crate::systemd::watchdog(shutdown.clone()));
    let stop = shutdown.clone();
    tracker.spawn(async move {
        stop.cancelled().await;
        crate::systemd::stopping();
    });

    let Some(state) = connect_state(&config, &shutdown).await else {
        tracker.close();
        tracker.wait().await;
        return Ok(());
    };
    let _ = readiness.state.set(state.clone());
    // Serving HTTP with the state database migrated: up, for systemd (Type=notify). /readyz
    // still waits for each store's first successful scan (on the leader).
    crate::systemd::ready();
    let elector = crate::leader::Elector::new(&state, config.lease);
    while let Some(term) = elector.campaign(&shutdown).await {
        if !single {
            // Each term starts from zero: the series were dropped when the last one ended.
            init_store_metrics(&config, &metrics);
        }
        metrics.leader.set(1);
        readiness.set_standby(false);
        lead(&config, &term, &metrics, &readiness, cimd.as_ref()).await;
        metrics.leader.set(0);
        readiness.set_standby(!single);
        let lost = term.lost.is_cancelled();
        term.end().await;
        if !lost {
            break;
        }
        // Standing by: the store series are the new leader's.
        metrics.clear_stores();
    }
    tracker.close();
    tracker.wait().await;
    tracing::info!("regwarden stopped");
    Ok(())
}

/// Makes every store's series exist (see [`Metrics::init_store`]).
fn init_store_metrics(config: &Config, metrics: &Metrics) {
    let software: Vec<String> = config
        .scorer
        .catalog
        .clients()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    for store in &config.stores {
        metrics.init_store(&store.name, &software, store.capacity);
    }
}

/// One term of leadership: settles what an earlier leader left (scans still marked running,
/// journal intents without outcome) and runs the store loops until the term ends.
async fn lead(
    config: &Config,
    term: &crate::leader::Term,
    metrics: &Arc<Metrics>,
    readiness: &Arc<Readiness>,
    cimd: Option<&Arc<crate::fetch::Cimd>>,
) {
    let state = &term.state;
    let now = Utc::now();
    let interrupted = state.close_interrupted_scans(now).await.unwrap_or(0);
    if interrupted > 0 {
        tracing::warn!(
            scans = interrupted,
            "closed scans left running by an earlier process"
        );
    }
    let tracker = TaskTracker::new();
    for store in config.stores.iter().cloned() {
        // Intents a stopped process left without outcome are settled against the store now.
        if let Ok(api) = crate::act::admin_api(&store) {
            match crate::act::reconcile(state, &store.name, &api).await {
                Ok(r) if r.done + r.not_done > 0 => {
                    tracing::warn!(store = %store.name, done = r.done, not_done = r.not_done, "reconciled open journal intents")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(store = %store.name, error = %e, "cannot reconcile the action journal yet; nothing is acted on until it is")
                }
            }
        }
        if let Ok(cursor) = state.store_cursor(&store.name).await {
            readiness.expect_store(
                &store.name,
                config.incremental_scans.interval_after(now),
                cursor.last_success_at,
            );
        }
        let looper = StoreLoop {
            config: config.clone(),
            store,
            state: state.clone(),
            metrics: metrics.clone(),
            readiness: readiness.clone(),
            cimd: cimd.cloned(),
            lost: term.lost.clone(),
        };
        tracker.spawn(looper.run(term.ended.clone()));
    }
    tracker.close();
    tracker.wait().await;
}

/// Connects to the state database, retrying with backoff; None if shut down first.
async fn connect_state(config: &Config, shutdown: &CancellationToken) -> Option<State> {
    let mut backoff = Backoff::new(Duration::from_secs(60));
    loop {
        match State::connect(&config.state_url).await {
            Ok(s) => return Some(s),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::error!(error = %e, retry_in = ?delay, "state database unavailable");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

struct StoreLoop {
    config: Config,
    store: StoreConfig,
    state: State,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    /// CIMD documents, fetched and cached for every store (`[fetch] enabled`).
    cimd: Option<Arc<crate::fetch::Cimd>>,
    /// Cancelled when this replica lost its leadership: an action run stops at once.
    lost: CancellationToken,
}

impl StoreLoop {
    async fn run(self, shutdown: CancellationToken) {
        let name = self.store.name.clone();
        let mut source: Option<Source> = None;
        let mut backoff = Backoff::new(BACKOFF_MAX);
        // Start with a scan at once; the first one is full (Scan::run decides).
        let mut next_scan = Utc::now();
        let mut next_full_scan = self
            .config
            .full_scans
            .next_after(Utc::now())
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut not_before = DateTime::<Utc>::MIN_UTC;
        let mut next_actions = self
            .config
            .actions_schedule
            .next_after(Utc::now())
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        loop {
            // After a failure nothing runs before its retry (the backoff, or the next scheduled
            // scan if sooner), even what stays due: a failed full scan before a planning run
            // is retried as one then, not at once in a loop.
            let due = next_scan
                .min(next_full_scan)
                .min(next_actions)
                .max(not_before);
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            // A planning run acts only on the result of the complete scan just before it.
            let actions_due = Utc::now() >= next_actions;
            let kind = if actions_due || Utc::now() >= next_full_scan {
                ScanKind::Full
            } else {
                ScanKind::Incremental
            };
            match self.step(&mut source, kind, &shutdown).await {
                Ok(done) => {
                    backoff.reset();
                    let now = Utc::now();
                    next_scan = self
                        .config
                        .incremental_scans
                        .next_after(now)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    if done == ScanKind::Full {
                        next_full_scan = self
                            .config
                            .full_scans
                            .next_after(now)
                            .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    }
                    if actions_due && done == ScanKind::Full {
                        tokio::select! {
                            _ = self.lost.cancelled() => {
                                tracing::error!(store = %name, "planning run stopped: leadership lost");
                                break;
                            }
                            _ = self.act(now) => {}
                        }
                        next_actions = self
                            .config
                            .actions_schedule
                            .next_after(Utc::now())
                            .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    }
                }
                Err(ScanError::Cancelled) => break,
                Err(e) => {
                    self.metrics
                        .scan_errors_total
                        .with_label_values(&[&name])
                        .inc();
                    let delay = backoff.next_delay();
                    tracing::error!(store = %name, error = %e, retry_in = ?delay, "scan failed");
                    // Retry after the backoff, but never later than the schedule would have.
                    // A failed full scan stays due, so its retry is a full scan again.
                    let now = Utc::now();
                    let retry = now + chrono::Duration::from_std(delay).unwrap_or_default();
                    next_scan = self
                        .config
                        .incremental_scans
                        .next_after(now)
                        .map_or(retry, |t| t.min(retry));
                    not_before = next_scan;
                }
            }
        }
        tracing::debug!(store = %name, "scan loop stopped");
    }

    /// Plans, and in enforce mode acts, right after a complete scan. Errors are logged and
    /// counted; the loop goes on.
    async fn act(&self, now: DateTime<Utc>) {
        let runner = crate::act::Runner {
            state: &self.state,
            store: &self.store,
            policy: &self.config.policy,
            // A JSON Lines file has no admin API: it is only ever planned.
            mode: match self.store.kind {
                crate::config::StoreKind::Jsonl { .. } => crate::policy::Mode::DryRun,
                _ => self.config.mode,
            },
            metrics: Some(&self.metrics),
        };
        match runner.run(now).await {
            Ok((_, s)) => {
                tracing::info!(store = %self.store.name, mode = self.config.mode.as_str(), planned = s.planned, done = s.done, errors = s.errors, "planning run finished")
            }
            Err(e @ (crate::act::ActionError::Refused(_) | crate::act::ActionError::Plan(_))) => {
                tracing::debug!(store = %self.store.name, error = %e, "plan refused (logged above)")
            }
            Err(e) => {
                tracing::error!(store = %self.store.name, error = %e, "planning run failed; nothing more done")
            }
        }
    }

    /// Opens the store if needed, scans it, and refreshes the store's metrics.
    async fn step(
        &self,
        source: &mut Option<Source>,
        kind: ScanKind,
        shutdown: &CancellationToken,
    ) -> Result<ScanKind, ScanError> {
        if source.is_none() {
            let opened = Source::open(&self.store).await?;
            if let Some(n) = opened.notice() {
                tracing::warn!(store = %esc(&self.store.name), "{n}");
            }
            *source = Some(opened);
        }
        let src = source.as_ref().expect("opened above");
        let scan = Scan {
            state: &self.state,
            store: &self.store,
            source: src,
            scorer: &self.config.scorer,
            cimd: self.cimd.as_deref(),
            cancel: shutdown,
            progress: &no_progress,
        };
        let now = Utc::now();
        let Refreshed {
            scan: report,
            judgement,
        } = refresh(&scan, kind, now).await?;
        let name = self.store.name.as_str();
        let m = &self.metrics;
        m.scan_duration_seconds
            .with_label_values(&[name, report.kind.as_str()])
            .observe(report.duration.as_secs_f64());
        m.last_successful_scan_timestamp_seconds
            .with_label_values(&[name])
            .set(now.timestamp() as f64);
        for (software, n) in &report.new_by_software {
            m.registrations_created_total
                .with_label_values(&[name, software])
                .inc_by(*n);
        }
        m.set_families(name, &judgement.families);
        let live = self
            .state
            .live_counts(name, now, self.config.inactive_after)
            .await?;
        m.set_live(name, &live);
        m.registration_rate_ratio
            .with_label_values(&[name])
            .set(self.state.registration_rate_ratio(name, now).await?);
        // The store's own cap (Keycloak's Max Clients, counted as Keycloak counts: built-in
        // clients too) unless the config sets one; otherwise the registrations regwarden sees.
        match src.capacity().await? {
            Some(c) => {
                if let Some(limit) = self.store.capacity.or(c.limit) {
                    m.store_capacity
                        .with_label_values(&[name])
                        .set(limit as i64);
                }
                m.store_capacity_used
                    .with_label_values(&[name])
                    .set(c.used as i64);
            }
            None if self.store.capacity.is_some() => {
                m.store_capacity_used
                    .with_label_values(&[name])
                    .set(live.by_band_origin.values().sum::<u64>() as i64);
            }
            None => {}
        }
        self.readiness.scanned(name, now);
        if report.counts.refused > 0 {
            tracing::warn!(store = %esc(name), refused = report.counts.refused, "some records could not be read; see the warnings above");
        }
        Ok(report.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(5));
        let seq: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(seq, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }
}
