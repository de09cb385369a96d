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
    regwarden::cmd::main(regwarden::cmd::Cli::parse()).await
}
