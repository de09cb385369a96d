//! The state database's disk full, on SQLite: the daemon's file size limit (RLIMIT_FSIZE) is
//! lowered to 1 KiB while it runs (prlimit(2) on its pid), so every write past the first KiB
//! of any file fails as a full disk does; SIGXFSZ is ignored in the child so the write fails
//! with an error instead of killing the process (a full disk gives ENOSPC, no signal). Then
//! the limit is lifted again. A tmpfs or loop device would need privileges this test does
//! not assume.

use super::*;
use regwarden::state::State;
use sqlx::Connection;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit(2) with a valid pid and a pointer to a live rlimit; no old value asked.
    let r = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn a_full_state_disk_fails_scans_without_acting_and_recovers() {
    let env = Env::start().await;
    let state_file = env.dir.path().join("state.db");
    let state_url = format!("sqlite://{}", state_file.display());
    let (cfg, port) = env.config(&state_url, "", &env.store_url, &env.hydra.admin, "");
    let first = env.wave(3).await;
    let log = env.dir.path().join("disk.log");
    let mut cmd = regwarden();
    cmd.args(["run", "--config"])
        .arg(&cfg)
        .env_remove("REGWARDEN_CONFIG")
        .stdout(Stdio::null())
        // A pipe: the limit applies to every file the daemon writes, its log file too.
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe signal(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut file = std::fs::File::create(&log).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut file));
    let pid = child.id();
    let mut d = Daemon {
        proc: Running(child),
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    env.until_gone(&first, &d, Duration::from_secs(60)).await;
    d.until_ready(200, "ready", Duration::from_secs(20)).await;

    set_file_size_limit(pid, Some(1024));
    let errors_before = d.metric(SCAN_ERRORS).await.unwrap_or(0.0);
    let full_at = Instant::now();
    let second = env.wave(3).await;
    d.until_metric(SCAN_ERRORS, Duration::from_secs(20), |v| v > errors_before)
        .await;
    let body = d
        .until_ready(503, "older than two intervals", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    d.assert_up().await;
    assert_eq!(env.clients().await.len(), 4, "acted with a full disk");
    let errors = d.metric(SCAN_ERRORS).await.unwrap();
    let said: Vec<String> = d
        .log()
        .lines()
        .filter(|l| l.contains("scan failed"))
        .take(1)
        .map(str::to_owned)
        .collect();
    eprintln!(
        "state disk full for {:?}: {} failed scans, /readyz: {body:?}, log: {said:?}",
        full_at.elapsed(),
        errors - errors_before
    );
    assert!(!said.is_empty(), "{}", d.log());

    set_file_size_limit(pid, None);
    let lifted = Instant::now();
    env.until_gone(&second, &d, Duration::from_secs(60)).await;
    d.until_ready(200, "ready", Duration::from_secs(20)).await;
    eprintln!(
        "state disk: recovered {:?} after space came back",
        lifted.elapsed()
    );
    let log_text = d.log();
    // SIGKILL: what is on disk is all there is.
    d.proc.0.kill().unwrap();
    d.proc.0.wait().unwrap();
    let mut c = sqlx::SqliteConnection::connect(&state_url).await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let state = State::connect(&regwarden::config::Secret::new(state_url.clone()))
        .await
        .unwrap();
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    env.agree(&state, &all).await;
    // Every action the daemon reported done is in the journal on disk (a commit that failed
    // once must not leave later writes in a transaction that never reaches the disk).
    let reported = log_text
        .lines()
        .filter(|l| l.contains("action done"))
        .count();
    let journaled = state.recent_actions("hydra", 1000).await.unwrap();
    assert_eq!(reported, journaled.len(), "{journaled:#?}\n{log_text}");
}
