//! Hydra's admin API answering 503, or not answering at all, in the middle of an enforcement
//! run: each call is retried, a call that never succeeded is journaled as an error (not
//! repeated blindly, not lost: the next run plans it again), the daemon stays up, and the
//! rest is done once the API is back.

use super::*;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use regwarden::state::State;
use std::sync::atomic::AtomicU8;

pub const PASS: u8 = 0;
pub const FAIL: u8 = 1;
pub const HANG: u8 = 2;

/// An HTTP proxy in front of an admin API (Hydra's, Keycloak's); `armed` becomes the mode
/// after the next DELETE that passes (the fault starts mid-run). FAIL answers every DELETE
/// 503 (reads and token requests pass, so intents are journaled and their calls fail); HANG
/// holds every request.
pub struct AdminProxy {
    target: String,
    pub mode: AtomicU8,
    pub armed: AtomicU8,
    /// Requests answered 503 or held while faulty.
    pub faulted: AtomicU64,
}

async fn forward(p: Arc<AdminProxy>, req: Request) -> Response {
    let (method, path) = (req.method().clone(), req.uri().to_string());
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    loop {
        match p.mode.load(Ordering::SeqCst) {
            FAIL if method == axum::http::Method::DELETE => {
                p.faulted.fetch_add(1, Ordering::SeqCst);
                return Response::builder()
                    .status(503)
                    .body(Body::from("down"))
                    .unwrap();
            }
            HANG => {
                p.faulted.fetch_add(1, Ordering::SeqCst);
                // Held until the fault ends (or the client gives up and drops it).
                while p.mode.load(Ordering::SeqCst) == HANG {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            _ => break,
        }
    }
    // Headers both ways (Keycloak's bearer tokens, Location), but for the framing ones.
    let hop = |name: &axum::http::HeaderName| {
        ["host", "content-length", "transfer-encoding", "connection"].contains(&name.as_str())
    };
    let mut out = reqwest::Client::new().request(method.clone(), format!("{}{path}", p.target));
    for (name, value) in headers.iter().filter(|(n, _)| !hop(n)) {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let answer = out.body(body).send().await.unwrap();
    let status = answer.status();
    let mut back = Response::builder().status(status.as_u16());
    for (name, value) in answer.headers().iter() {
        if !["content-length", "transfer-encoding", "connection"].contains(&name.as_str()) {
            back = back.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.unwrap();
    if method == axum::http::Method::DELETE && status.is_success() {
        let armed = p.armed.swap(PASS, Ordering::SeqCst);
        if armed != PASS {
            p.mode.store(armed, Ordering::SeqCst);
        }
    }
    back.body(Body::from(bytes)).unwrap()
}

pub async fn start_proxy(target: &str) -> (Arc<AdminProxy>, String) {
    let proxy = Arc::new(AdminProxy {
        target: target.to_owned(),
        mode: AtomicU8::new(PASS),
        armed: AtomicU8::new(PASS),
        faulted: AtomicU64::new(0),
    });
    let p = proxy.clone();
    let app = axum::Router::new().fallback(move |req: Request| forward(p.clone(), req));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (proxy, format!("http://{addr}"))
}

async fn admin_fault_mid_run(mode: u8, name: &str, hold: Duration) {
    let env = Env::start().await;
    let unused = env.wave(4).await;
    let (proxy, url) = start_proxy(&env.hydra.admin).await;
    proxy.armed.store(mode, Ordering::SeqCst);
    let state_url = format!("sqlite://{}", env.dir.path().join("state.db").display());
    let (cfg, port) = env.config(&state_url, "", &env.store_url, &url, "");
    let mut d = Daemon::start(&cfg, port, env.dir.path().join(format!("{name}.log")));
    // The first delete passes, then the API fails.
    let start = Instant::now();
    while proxy.mode.load(Ordering::SeqCst) == PASS {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no delete:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fault_at = Instant::now();
    tokio::time::sleep(hold).await;
    d.assert_up().await;
    let state = State::connect(&regwarden::config::Secret::new(state_url.clone()))
        .await
        .unwrap();
    let gone = unused.len() + 1 - env.clients().await.len();
    assert_eq!(gone, 1, "{name}: deleted while the admin API was down");
    let failed = d.metric(DELETES_FAILED).await.unwrap_or(0.0);
    let journal = state.recent_actions("hydra", 100).await.unwrap();
    let errors: Vec<_> = journal
        .iter()
        .filter(|e| e.outcome.as_deref() == Some("error"))
        .collect();
    eprintln!(
        "{name}: {:?} of fault: {} requests faulted, {failed} deletes failed (journal: {} error, {} open), ready: {}",
        fault_at.elapsed(),
        proxy.faulted.load(Ordering::SeqCst),
        errors.len(),
        state.open_intents("hydra").await.unwrap().len(),
        get(&format!("{}/readyz", d.base)).await.0,
    );
    for e in &errors {
        assert_eq!(e.attempts, 4, "{e:?}");
    }
    if mode == FAIL {
        assert!(
            failed >= 1.0 && !errors.is_empty(),
            "{name}: no failure counted"
        );
    }
    proxy.mode.store(PASS, Ordering::SeqCst);
    let restored = Instant::now();
    env.until_gone(&unused, &d, Duration::from_secs(90)).await;
    eprintln!(
        "{name}: all done {:?} after the API came back",
        restored.elapsed()
    );
    d.assert_up().await;
    // Let a last run settle its outcomes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    env.agree(&state, &unused).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn the_admin_api_answering_503_mid_run_fails_calls_cleanly_and_recovers() {
    admin_fault_mid_run(FAIL, "admin-503", Duration::from_secs(8)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn the_admin_api_hanging_mid_run_times_out_and_recovers() {
    admin_fault_mid_run(HANG, "admin-hang", Duration::from_secs(15)).await;
}
