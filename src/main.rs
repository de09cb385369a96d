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
    // SQLite's own allocations (C, each connection's pages and sorts) still come from
    // glibc, which serves a block of its threshold or more with a mapping of its own, and
    // raises the threshold (up to 32 MiB) each time such a block is freed; held at 1 MiB, a
    // first scan of 1,000,000 peaked at 56-57 MB of resident memory, not 62-66 (measured
    // when glibc served everything).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sets one of glibc's allocator parameters; any value is valid, and glibc
    // takes its own lock to change it.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
    // glibc also gives threads that allocate at once arenas of their own, up to eight per
    // core, and each keeps what it fragmented. Two, set before any thread starts.
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

/// Rust's allocations go to jemalloc. A first scan of 1,000,000 allocates and frees in three
/// threads at once (rows read, scored, written): with glibc's allocator, a sixth of its CPU
/// time was `malloc` and `free` (`perf`). Alternated with it, jemalloc took 24-26 s of user
/// time against 31-33 s, and 28-38 s of wall time against 35-40 s, at the same peak memory
/// with the options below.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation (its `malloc_conf`, under the prefix
/// `tikv-jemalloc-sys` gives its symbols). Two arenas, not four per core: with its defaults
/// a first scan of 1,000,000 peaked at 68 MB of resident memory, with these at 58-62 MB.
/// Freed pages go back to the system a quarter of a second after they are freed, not ten
/// seconds (the daemon sleeps between refreshes holding only what it uses).
#[cfg(not(target_env = "msvc"))]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &[u8; 46] = b"narenas:2,dirty_decay_ms:250,muzzy_decay_ms:0\0";
