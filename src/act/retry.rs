//! The retry policy of every admin API call: timeouts, connection failures and 5xx answers
//! are retried with doubling backoff, up to [`ATTEMPTS`] in all; anything else is answered at
//! once. Messages never carry the URL (it may hold credentials).

use super::hydra::Answer;
use std::time::Duration;

/// Attempts per request, the first included.
pub const ATTEMPTS: u32 = 4;
const FIRST_DELAY: Duration = Duration::from_millis(250);

/// Sends the request `build` makes until it is answered with anything but a 5xx; the
/// answer and the attempts it took, or the last failure's message and the attempts made.
pub(super) async fn send(
    server: &str,
    what: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Answer<reqwest::Response>, (String, u32)> {
    let mut delay = FIRST_DELAY;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let retryable = match build().send().await {
            Ok(r) if r.status().is_server_error() => format!("HTTP {}", r.status()),
            Ok(r) => {
                return Ok(Answer {
                    value: r,
                    attempts: attempt,
                })
            }
            Err(e) if e.is_connect() => format!("unreachable: {}", e.without_url()),
            Err(e) if e.is_timeout() || e.is_request() => e.without_url().to_string(),
            Err(e) => return Err((e.without_url().to_string(), attempt)),
        };
        if attempt >= ATTEMPTS {
            return Err((retryable, attempt));
        }
        tracing::warn!(server, what, attempt, error = %retryable, retry_in = ?delay, "admin API call failed; retrying");
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}
