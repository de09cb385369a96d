//! Acting on plans through the authorization server's admin API, never its database.
//!
//! One run for one store: reconcile the journal's open intents against the store (a call
//! that may or may not have happened is checked, never repeated blindly), plan from the state
//! database (which the caller has just refreshed with a complete scan), refuse the plan whole
//! if it exceeds the blast radius, then for each action: read the client's full snapshot,
//! journal the intent, call, journal the outcome. Dry-run plans and counts, nothing more.

mod admin;
pub mod hydra;
pub mod journal;
pub mod keycloak;
mod restore;
mod retry;

pub use admin::AdminApi;
pub use journal::{Intent, JournalEntry, Outcome};
pub use restore::{restore, Restored};

use crate::config::StoreConfig;
use crate::escape::esc;
use crate::metrics::Metrics;
use crate::model::Band;
use crate::policy::{
    self, ActionKind, Candidate, JournalAction, Mode, Plan, PlanError, Policy, Refusal,
};
use crate::state::{State, StateError};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("admin API {url}: {what} failed after {attempts} attempt(s): {message}")]
    Admin {
        what: String,
        url: String,
        message: String,
        attempts: u32,
    },
    #[error("store {store} has no admin_url: regwarden acts only through the admin API (set stores.admin_url)")]
    NoAdminApi { store: String },
    #[error("store {store}: {open} journal intent(s) could not be reconciled; nothing acted on until they are")]
    Unreconciled { store: String, open: usize },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("action {id}: {why}")]
    NotRestorable { id: i64, why: String },
    #[error(transparent)]
    State(#[from] StateError),
}

impl ActionError {
    /// A problem of the configuration (contradictory or all-matching rules, a store without
    /// admin API), not of the run: commands exit with status 2 for it.
    pub fn is_configuration(&self) -> bool {
        matches!(self, ActionError::Plan(_) | ActionError::NoAdminApi { .. })
    }
}

/// The admin API of a store, or why there is none.
pub fn admin_api(store: &StoreConfig) -> Result<AdminApi, ActionError> {
    AdminApi::of(store)
}

/// The live registrations of a store as the planner sees them.
pub async fn candidates(state: &State, store: &str) -> Result<Vec<Candidate>, StateError> {
    let quarantined = state.quarantined(store).await?;
    let mut out = Vec::new();
    let mut pages = state.live_pages(store);
    while let Some(page) = pages.next().await? {
        for j in page {
            let r = j.registration;
            let mut hosts: Vec<String> = r
                .metadata
                .redirect_uris
                .iter()
                .filter_map(|u| url::Url::parse(u).ok())
                .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
                .collect();
            hosts.dedup();
            out.push(Candidate {
                quarantined_at: quarantined.get(&r.client_id).copied(),
                client_id: r.client_id,
                name: r.metadata.client_name,
                software_id: r.metadata.software_id,
                redirect_hosts: hosts,
                family: Some(j.stored.family).filter(|f| !f.is_empty()),
                software: j.stored.software,
                band: Band::parse(j.stored.band),
                origin: r.origin,
                usage: r.usage,
                created_at: r.created_at,
            });
        }
    }
    Ok(out)
}

/// Plans a store from the state database.
pub async fn plan_store(
    state: &State,
    store: &str,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Plan, ActionError> {
    let c = candidates(state, store).await?;
    Ok(policy::plan(store, &c, policy, now)?)
}

/// What reconciling a store's open intents found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    pub done: u64,
    pub not_done: u64,
}

/// Settles intents left without outcome by checking the store: for a delete, is the client
/// gone? for a quarantine, is it in effect (tagged, grants blocked)? for a restore, is the
/// client there and not quarantined? The call is never repeated here.
pub async fn reconcile(
    state: &State,
    store: &str,
    api: &AdminApi,
) -> Result<Reconciled, ActionError> {
    let mut out = Reconciled::default();
    for e in state.open_intents(store).await? {
        let now_there = api.get(&e.client_id).await?;
        let happened = match (JournalAction::parse(&e.action), &now_there.value) {
            (Some(JournalAction::Delete), v) => v.is_none(),
            (Some(JournalAction::Quarantine), Some(v)) => api.is_quarantined(v),
            (Some(JournalAction::Restore), Some(v)) => !api.is_quarantined(v),
            _ => false,
        };
        let o = if happened {
            out.done += 1;
            Outcome::ReconciledDone
        } else {
            out.not_done += 1;
            Outcome::ReconciledNotDone
        };
        tracing::warn!(store = %esc(store), action_id = e.id, action = %esc(&e.action), client_id = %esc(&e.client_id), outcome = o.as_str(),
            "reconciled an action left without outcome by an earlier process");
        state
            .journal_outcome(e.id, o, None, now_there.attempts, Utc::now())
            .await?;
    }
    Ok(out)
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    pub planned: u64,
    pub done: u64,
    pub errors: u64,
    /// Clients already gone when read just before acting (nothing journaled).
    pub already_gone: u64,
    pub simulated: u64,
    /// Admin API attempts beyond the first, over all calls.
    pub retries: u64,
}

/// Everything a run works with.
pub struct Runner<'a> {
    pub state: &'a State,
    pub store: &'a StoreConfig,
    pub policy: &'a Policy,
    pub mode: Mode,
    pub metrics: Option<&'a Metrics>,
}

impl Runner<'_> {
    /// Counts an action in `actions_total`: a journal [`Outcome`], or "simulated" in dry-run.
    fn count(&self, action: ActionKind, outcome: &str) {
        if let Some(m) = self.metrics {
            m.actions_total
                .with_label_values(&[
                    self.store.name.as_str(),
                    action.as_str(),
                    outcome,
                    self.mode.as_str(),
                ])
                .inc();
        }
    }

    fn pending(&self, plan: Option<&Plan>, done: &[String]) {
        let Some(m) = self.metrics else { return };
        for kind in ActionKind::ALL {
            let n = plan.map_or(0, |p| {
                p.actions
                    .iter()
                    .filter(|a| a.action == kind && !done.contains(&a.client_id))
                    .count()
            });
            m.actions_pending
                .with_label_values(&[self.store.name.as_str(), kind.as_str()])
                .set(n as i64);
        }
    }

    /// One run. The caller must have completed a full scan of the store just before.
    pub async fn run(&self, now: DateTime<Utc>) -> Result<(Plan, RunSummary), ActionError> {
        let name = self.store.name.as_str();
        let api = match self.mode {
            Mode::Enforce => {
                let api = admin_api(self.store)?;
                api.probe().await?;
                reconcile(self.state, name, &api).await?;
                let open = self.state.open_intents(name).await?.len();
                if open > 0 {
                    return Err(ActionError::Unreconciled {
                        store: name.into(),
                        open,
                    });
                }
                Some(api)
            }
            Mode::DryRun => None,
        };
        let refuse = |e: ActionError| {
            if let Some(m) = self.metrics {
                m.plan_refused_total.with_label_values(&[name]).inc();
            }
            tracing::error!(store = %esc(name), error = %e, "plan refused; nothing done");
            e
        };
        let plan = plan_store(self.state, name, self.policy, now)
            .await
            .map_err(|e| match e {
                ActionError::Plan(_) => refuse(e),
                other => other,
            })?;
        self.pending(Some(&plan), &[]);
        policy::check_limits(&plan, &self.policy.limits).map_err(|r| refuse(r.into()))?;
        let mut summary = RunSummary {
            planned: plan.actions.len() as u64,
            ..RunSummary::default()
        };
        let Some(api) = api else {
            for a in &plan.actions {
                self.count(a.action, "simulated");
                summary.simulated += 1;
            }
            return Ok((plan, summary));
        };
        let mut finished = Vec::new();
        for a in &plan.actions {
            let result = self.act(&api, a, &mut summary).await;
            match result {
                Ok(()) => finished.push(a.client_id.clone()),
                Err(ActionError::State(e)) => return Err(e.into()),
                Err(e) => {
                    summary.errors += 1;
                    self.count(a.action, Outcome::Error.as_str());
                    tracing::error!(store = %esc(name), client_id = %esc(&a.client_id), action = a.action.as_str(), error = %e, "action failed");
                }
            }
            self.pending(Some(&plan), &finished);
        }
        tracing::info!(store = %esc(name), planned = summary.planned, done = summary.done, errors = summary.errors,
            already_gone = summary.already_gone, retries = summary.retries, "enforcement run finished");
        Ok((plan, summary))
    }

    /// One action: snapshot, intent, call, outcome.
    async fn act(
        &self,
        api: &AdminApi,
        a: &policy::Planned,
        summary: &mut RunSummary,
    ) -> Result<(), ActionError> {
        let name = self.store.name.as_str();
        if api.protects(&a.client_id) {
            self.count(a.action, "skipped");
            tracing::warn!(store = %esc(name), client_id = %esc(&a.client_id), action = a.action.as_str(),
                "planned action on a client the server needs (built-in or regwarden's own account) skipped");
            return Ok(());
        }
        let snap = api.get(&a.client_id).await?;
        summary.retries += u64::from(snap.attempts - 1);
        let Some(snapshot) = snap.value else {
            summary.already_gone += 1;
            self.count(a.action, "skipped");
            return Ok(());
        };
        let reason = format!("{}: {}", a.rule, a.reason);
        crate::crash::point("before-intent");
        let id = self
            .state
            .journal_intent(
                &Intent {
                    store: name,
                    client_id: &a.client_id,
                    action: a.action.as_str(),
                    mode: self.mode.as_str(),
                    reason: &reason,
                    snapshot: &snapshot.to_string(),
                },
                Utc::now(),
            )
            .await?;
        crate::crash::point("after-intent");
        // Paused between the intent and the call (SIGSTOP, a frozen VM), this process may have
        // lost its lease meanwhile: then the call is not sent, the intent stays open, and
        // whoever leads settles it from the store (not done).
        self.state.still_leads()?;
        let call = match a.action {
            ActionKind::Delete => api.delete(&a.client_id).await.map(|r| r.attempts),
            ActionKind::Quarantine => {
                let mut tag = serde_json::Map::new();
                tag.insert("at".into(), Utc::now().to_rfc3339().into());
                tag.insert("reason".into(), reason.clone().into());
                tag.insert("action_id".into(), id.into());
                tag.insert("undo".into(), format!("regwarden restore {id}").into());
                api.quarantine(&a.client_id, &snapshot, tag).await
            }
        };
        crate::crash::point("after-call");
        match call {
            Ok(attempts) => {
                summary.retries += u64::from(attempts - 1);
                summary.done += 1;
                self.state
                    .journal_outcome(id, Outcome::Done, None, attempts, Utc::now())
                    .await?;
                self.count(a.action, Outcome::Done.as_str());
                tracing::info!(store = %esc(name), action_id = id, client_id = %esc(&a.client_id), action = a.action.as_str(), rule = %a.rule, "action done");
                Ok(())
            }
            Err(e) => {
                let attempts = match &e {
                    ActionError::Admin { attempts, .. } => *attempts,
                    _ => 1,
                };
                summary.retries += u64::from(attempts.saturating_sub(1));
                self.state
                    .journal_outcome(
                        id,
                        Outcome::Error,
                        Some(&e.to_string()),
                        attempts,
                        Utc::now(),
                    )
                    .await?;
                Err(e)
            }
        }
    }
}
