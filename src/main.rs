use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
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
    regwarden::cmd::main(regwarden::cmd::Cli::parse()).await
}
