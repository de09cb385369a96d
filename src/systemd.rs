//! The service manager's side of `regwarden run` (systemd `Type=notify`): readiness once the
//! daemon serves HTTP and its state database answers, watchdog keep-alives while its runtime
//! is alive, and the stop. Without `NOTIFY_SOCKET` (not under systemd) every call does
//! nothing.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Tells the service manager the daemon is up (after the HTTP listener is bound and the
/// state database is connected and migrated).
pub fn ready() {
    send(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("serving /metrics; scanning the stores"),
    ]);
}

/// Tells the service manager the daemon is stopping.
pub fn stopping() {
    send(&[sd_notify::NotifyState::Stopping]);
}

/// Sends `WATCHDOG=1` at half the interval systemd asked for (`WatchdogSec=`, passed as
/// `WATCHDOG_USEC`) until `shutdown`; returns at once when no watchdog is set. It runs on the
/// daemon's runtime, so a wedged runtime stops the pings and systemd restarts the service.
pub async fn watchdog(shutdown: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (interval / 2).max(Duration::from_millis(10));
    tracing::debug!(every = ?every, "systemd watchdog enabled");
    loop {
        send(&[sd_notify::NotifyState::Watchdog]);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

fn send(state: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}
