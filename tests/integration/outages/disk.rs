//! The state database's disk full, on SQLite, two ways:
//! - ENOSPC ("database or disk is full"), as a full disk gives it: the state lives on a small
//!   tmpfs mounted for the test (root, as CI runs; the test says so when it cannot mount),
//!   filled up by a file beside it, which is then removed;
//! - EFBIG (an I/O error to SQLite): the daemon's file size limit (RLIMIT_FSIZE) is lowered to
//!   1 KiB while it runs (prlimit(2) on its pid), so every write past the first KiB of any file
//!   fails; SIGXFSZ is ignored in the child so the write fails with an error instead of
//!   killing the process. Then the limit is lifted again.
//!
//! Either way: no action while writes fail, the daemon stays up and says so, and it recovers
//! by itself once there is room, with the journal on disk matching every action it logged.

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
    let d = Daemon {
        proc: Running(child),
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    env.until_gone(&first, &d, Duration::from_secs(60)).await;
    d.until_ready(200, "ready", Duration::from_secs(20)).await;

    full_then_freed(
        &env,
        d,
        &state_url,
        &first,
        "disk I/O error",
        || set_file_size_limit(pid, Some(1024)),
        || set_file_size_limit(pid, None),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra, the MCP SDK and root (to mount a tmpfs): run scripts/test.sh as root"]
async fn a_state_disk_out_of_space_fails_scans_without_acting_and_recovers() {
    let env = Env::start().await;
    let fs = Tmpfs::mount(&env.dir.path().join("statefs"), "16m");
    let state_url = format!("sqlite://{}", fs.path.join("state.db").display());
    let (cfg, port) = env.config(&state_url, "", &env.store_url, &env.hydra.admin, "");
    let first = env.wave(3).await;
    let d = Daemon::start(&cfg, port, env.dir.path().join("enospc.log"));
    env.until_gone(&first, &d, Duration::from_secs(60)).await;
    d.until_ready(200, "ready", Duration::from_secs(20)).await;
    let filler = fs.path.join("filler");
    full_then_freed(
        &env,
        d,
        &state_url,
        &first,
        "database or disk is full",
        || fill(&filler),
        || std::fs::remove_file(&filler).unwrap(),
    )
    .await;
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(path: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} ({}): this test needs root (CI runs as root)",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs {
            path: path.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Writes `path` until the file system is full, to the last byte (ENOSPC, not a short count).
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    for chunk in [1 << 20, 4096, 1] {
        let buf = vec![0u8; chunk];
        loop {
            match f.write_all(&buf) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
    }
    let _ = f.sync_all();
}

/// Fills the disk (`full`) under a running daemon that has acted on a first wave, registers a
/// second wave, checks nothing is acted on while writes fail and the daemon says so, frees it
/// (`freed`) and checks the daemon recovers with journal and store agreeing. `says`: what
/// SQLite makes of the fault (EFBIG is an I/O error to it, ENOSPC a full database).
async fn full_then_freed(
    env: &Env,
    mut d: Daemon,
    state_url: &str,
    first: &[String],
    says: &str,
    full: impl FnOnce(),
    freed: impl FnOnce(),
) {
    full();
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
    assert!(said.iter().any(|l| l.contains(says)), "{}", d.log());

    freed();
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
    let mut c = sqlx::SqliteConnection::connect(state_url).await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let state = State::connect(&regwarden::config::Secret::new(state_url))
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
