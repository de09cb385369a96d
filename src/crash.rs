//! Test-only fault injection: `REGWARDEN_CRASH_AT=<point>[:<n>]` makes the process kill
//! itself with SIGKILL the `n`th time (1 by default) it reaches the named point, so crash
//! tests can stop it exactly between two steps of an action. Compiled only into debug builds
//! (the integration tests' binary); in a release build [`point`] is empty, so no config or
//! environment can reach it there.
//!
//! SIGKILL rather than `abort()`: nothing runs after it (no destructor, no flush, no rollback
//! the process itself sends), as with the OOM killer or a node that loses power; the
//! database sees only a connection cut.
//!
//! Points: `before-intent` (snapshot read, nothing journaled), `intent-uncommitted` (the
//! intent's INSERT executed, its transaction not committed), `after-intent` (journaled, not
//! called), `after-call` (the admin API answered, the outcome not journaled),
//! `outcome-uncommitted` (the outcome's UPDATE executed, not committed).

/// Kills the process here if `REGWARDEN_CRASH_AT` names this point (and this is the hit it
/// counts to). A no-op in release builds.
#[cfg(debug_assertions)]
pub fn point(name: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static HITS: AtomicU32 = AtomicU32::new(0);
    let Ok(spec) = std::env::var("REGWARDEN_CRASH_AT") else {
        return;
    };
    let (at, nth) = match spec.split_once(':') {
        Some((at, n)) => (at, n.parse().unwrap_or(1)),
        None => (spec.as_str(), 1),
    };
    if at != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != nth {
        return;
    }
    eprintln!("REGWARDEN_CRASH_AT={spec}: killing this process with SIGKILL");
    // SAFETY: kill(2) on our own pid with a constant signal has no memory effects.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // SIGKILL to oneself is delivered before kill() returns; never go on regardless.
    loop {
        std::thread::park();
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_name: &str) {}
