use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `regwarden report | head` should end quietly, as other command-line tools do, rather
    // than panic on the closed pipe.
    #[cfg(unix)]
    // SAFETY: sets the process-wide disposition of one signal at start-up, before any command
    // writes output; no handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // glibc serves a block of its threshold or more with a mapping of its own, and raises
    // the threshold (up to 32 MiB) each time such a block is freed: after a scan's usage
    // index and families grow past megabytes, its pages of half a megabyte came from the
    // heap, which kept what they fragmented. Held at 1 MiB, a first scan of 1,000,000
    // peaked at 56-57 MB of resident memory, not 62-66, in the same time (at 128 KiB: 54 MB,
    // but a second more of the kernel zeroing fresh pages).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sets one of glibc's allocator parameters; any value is valid, and glibc
    // takes its own lock to change it.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
    // glibc also gives threads that allocate at once arenas of their own, up to eight per
    // core, and each keeps what it fragmented. Two, set before any thread starts: a
    // 1%-changed rescan of 1,000,000 (its reads beside the writer's verdicts) peaked at
    // 57-59 MB, not 61-62, in the same time; a first scan's time did not change either.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: as above.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(regwarden::cmd::main(regwarden::cmd::Cli::parse())),
        Err(e) => {
            eprintln!("regwarden: cannot start its runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
