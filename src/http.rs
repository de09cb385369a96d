//! The HTTP endpoints: `/metrics`, `/healthz` (the process answers) and `/readyz` (the state
//! database answers and every store had a successful scan within two scan intervals; on a
//! standby replica, only the state database is judged: it scans nothing while another leads).

use crate::metrics::Metrics;
use crate::state::State;
use axum::extract::State as AxumState;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Per store: the last successful scan and the interval one is expected within.
type Freshness = BTreeMap<String, (Option<DateTime<Utc>>, Duration)>;

/// What `/readyz` judges by, shared with the scan loops.
#[derive(Default)]
pub struct Readiness {
    /// Set once the state database is connected and migrated.
    pub state: OnceLock<State>,
    stores: Mutex<Freshness>,
    /// A replica standing by (another leads): it scans nothing, so no store is judged.
    standby: AtomicBool,
}

impl Readiness {
    pub fn expect_store(
        &self,
        store: &str,
        interval: Duration,
        last_success: Option<DateTime<Utc>>,
    ) {
        self.stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(store.to_owned(), (last_success, interval));
    }

    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::SeqCst);
    }

    pub fn is_standby(&self) -> bool {
        self.standby.load(Ordering::SeqCst)
    }

    pub fn scanned(&self, store: &str, at: DateTime<Utc>) {
        if let Some(e) = self
            .stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(store)
        {
            e.0 = Some(at);
        }
    }

    /// Problems that make the daemon not ready, as lines for the response body.
    pub async fn problems(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut out = Vec::new();
        match self.state.get() {
            None => out.push("state database: not connected yet".to_owned()),
            Some(state) => match tokio::time::timeout(Duration::from_secs(2), state.ping()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => out.push(format!("state database: {e}")),
                Err(_) => out.push("state database: no answer within 2s".to_owned()),
            },
        }
        let stores = if self.is_standby() {
            Freshness::new()
        } else {
            self.stores
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        for (name, (last, interval)) in stores {
            let limit = chrono::Duration::from_std(interval * 2).unwrap_or(chrono::Duration::MAX);
            match last {
                None => out.push(format!("store {name}: no successful scan yet")),
                Some(t) if now - t > limit => out.push(format!(
                    "store {name}: last successful scan at {} is older than two intervals",
                    t.to_rfc3339()
                )),
                Some(_) => {}
            }
        }
        out
    }
}

#[derive(Clone)]
struct App {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

pub fn router(metrics: Arc<Metrics>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(App { metrics, readiness })
}

async fn metrics_handler(AxumState(app): AxumState<App>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.encode(),
    )
}

async fn readyz(AxumState(app): AxumState<App>) -> impl IntoResponse {
    let problems = app.readiness.problems(Utc::now()).await;
    if problems.is_empty() && app.readiness.is_standby() {
        (
            StatusCode::OK,
            "ready (standby: another replica leads)\n".to_owned(),
        )
    } else if problems.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n", problems.join("\n")),
        )
    }
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
