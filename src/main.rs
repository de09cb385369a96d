use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    regwarden::cli::main(regwarden::cli::Cli::parse()).await
}
