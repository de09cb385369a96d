//! What operators expect of a well-kept tool and service: `--version` naming the commit,
//! shell completions and a man page from the clap definitions, NO_COLOR, a health check for
//! images without curl, and systemd's `Type=notify` protocol (readiness, watchdog, stop).

use crate::harness::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn version_names_the_commit_it_was_built_from() {
    let (code, out, _) = output(regwarden().arg("--version"));
    assert_eq!(code, 0);
    let v = out.trim();
    let commit = v
        .strip_prefix(concat!(
            "regwarden ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        ))
        .and_then(|c| c.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{v}"));
    let hex = commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(hex || commit == "unknown", "{v}");
}

/// The allocator's options (`malloc_conf` in src/main.rs) reach jemalloc: the symbol they
/// are exported under follows `tikv-jemalloc-sys`'s prefix, and a prefix that changed would
/// leave jemalloc on its defaults silently (eight arenas here: about 10 MB more at a first
/// scan's peak).
#[cfg(target_os = "linux")]
#[test]
fn the_allocator_runs_with_the_options_the_binary_sets() {
    // jemalloc prints its statistics, options included, at exit when asked to.
    let (code, _, err) = output(
        regwarden()
            .arg("--version")
            .env("_RJEM_MALLOC_CONF", "stats_print:true"),
    );
    assert_eq!(code, 0, "{err}");
    for option in [
        "opt.narenas: 2",
        "opt.dirty_decay_ms: 250",
        "opt.muzzy_decay_ms: 0",
    ] {
        assert!(
            err.contains(option),
            "{option} not in jemalloc's statistics:\n{err}"
        );
    }
}

#[test]
fn completions_and_man_pages_are_generated_from_the_commands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = output(regwarden().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        for sub in ["check-config", "explain", "completions"] {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let (code, _, err) = output(regwarden().args(["completions", "tcsh"]));
    assert_eq!(code, 2, "{err}");

    let (code, page, _) = output(regwarden().arg("man"));
    assert_eq!(code, 0);
    assert!(page.contains(".TH regwarden 1"), "{page}");
    assert!(page.contains(".SH EXIT STATUS") && page.contains("NO_COLOR"));

    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = output(regwarden().args(["man", "--dir"]).arg(dir.path()));
    assert_eq!(code, 0, "{err}");
    for page in ["regwarden.1", "regwarden-check-config.1", "regwarden-run.1"] {
        assert!(dir.path().join(page).is_file(), "{page} not written");
    }
    let main = std::fs::read_to_string(dir.path().join("regwarden.1")).unwrap();
    assert!(main.contains(".SH EXIT STATUS"));

    let (_, help, _) = output(regwarden().arg("--help"));
    assert!(
        help.contains("Exit status:") && help.contains("2  bad usage"),
        "{help}"
    );
}

#[test]
fn no_color_and_pipes_get_no_escape_sequences() {
    let dir = tempfile::tempdir().unwrap();
    // Pretty logs, and a store that cannot be read so a warning is logged.
    let cfg = dir.path().join("regwarden.toml");
    std::fs::write(
        &cfg,
        "[log]\nformat = \"pretty\"\nlevel = \"debug\"\n[[stores]]\nname = \"a\"\nkind = \"jsonl\"\npath = \"missing.jsonl\"\n",
    )
    .unwrap();
    for no_color in [None, Some("1")] {
        let mut cmd = regwarden();
        cmd.arg("scan").arg("--config").arg(&cfg);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let (_, out, err) = output(&mut cmd);
        assert!(!err.is_empty(), "expected some log output");
        assert!(!out.contains('\x1b') && !err.contains('\x1b'), "{err}");
    }
    let (_, help, _) = output(regwarden().arg("--help").env("NO_COLOR", "1"));
    assert!(!help.contains('\x1b'));
}

#[test]
fn healthcheck_fails_when_nothing_answers() {
    let url = format!("http://127.0.0.1:{}/healthz", free_port());
    let (code, _, err) = output(regwarden().args(["healthcheck", "--url", &url]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&url), "{err}");
}

/// `regwarden run` under a stand-in for systemd: a notify socket of the test's own.
#[test]
fn run_speaks_systemds_notify_protocol() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clients.jsonl"), "").unwrap();
    let port = free_port();
    let cfg = dir.path().join("regwarden.toml");
    std::fs::write(
        &cfg,
        format!(
            "[state]\nurl = \"sqlite://state.db\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [[stores]]\nname = \"audit\"\nkind = \"jsonl\"\npath = \"clients.jsonl\"\n"
        ),
    )
    .unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut child = regwarden()
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let wait_for = |what: &str, seen: &mut Vec<String>| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if seen.iter().any(|m| m.lines().any(|l| l == what)) {
                return;
            }
            let mut buf = [0u8; 4096];
            if let Ok(n) = socket.recv(&mut buf) {
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        panic!("no {what} from regwarden run; got {seen:?}");
    };
    wait_for("READY=1", &mut seen);
    // Ready means serving: /healthz answers, and `healthcheck` says so.
    let url = format!("http://127.0.0.1:{port}/healthz");
    let (code, _, err) = output(regwarden().args(["healthcheck", "--url", &url]));
    assert_eq!(code, 0, "{err}");
    // Watchdog keep-alives at half of WATCHDOG_USEC: several within a second.
    seen.clear();
    std::thread::sleep(Duration::from_millis(600));
    wait_for("WATCHDOG=1", &mut seen);
    let stop = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stop.success());
    wait_for("STOPPING=1", &mut seen);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_file(Path::new(&socket_path));
}
