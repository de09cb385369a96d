//! The command layer: parsing (clap), one module per subcommand, and what they share
//! (loading the config, choosing stores, logging, the exit status an error maps to). Only
//! `main` imports it; nothing below it prints.

mod act;
mod check_config;
mod cimd;
mod demo;
mod docs;
mod explain;
mod healthcheck;
mod report;
mod run;
mod scan;
mod score;

use crate::act::ActionError;
use crate::config::{self, Config, ConfigError, LogFormat, StoreConfig};
use crate::report::Format;
use chrono::Utc;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The version and the commit it was built from (build.rs), as `--version` prints them.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("REGWARDEN_COMMIT"),
    ")"
);

/// Exit status and environment, for `--help` and the man page.
const AFTER_HELP: &str = "\
Exit status:
  0  success (check-config: the configuration is valid; healthcheck: /healthz answered;
     cimd: the document was fetched and verified)
  1  runtime failure: a store, the state database or the admin API failed, a scan was
     incomplete, a health check failed, a metadata document was refused or not verified
  2  bad usage or configuration: the message names the option or configuration key

Environment:
  REGWARDEN_CONFIG             the configuration file, as --config
  REGWARDEN_<SECTION>__<KEY>   overrides one configuration key (see config/regwarden.toml)
  RUST_LOG                     log filter, wins over [log] level
  NO_COLOR                     when set and not empty, no colours in help or logs
  NOTIFY_SOCKET, WATCHDOG_USEC  set by systemd for Type=notify and WatchdogSec= (run)";

/// regwarden keeps an OAuth authorization server's dynamically registered clients clean:
/// it reads the server's client store (Ory Hydra, Keycloak, or RFC 7591 JSON Lines), records
/// every registration with its origin and last use, and exports Prometheus metrics.
///
/// Start with `regwarden demo`: it needs no services and leaves a config to try every
/// other command on.
#[derive(Debug, Parser)]
#[command(
    name = "regwarden",
    version = VERSION,
    max_term_width = 100,
    after_long_help = AFTER_HELP
)]
pub struct Cli {
    /// Configuration file (see config/regwarden.toml for every key) [default: regwarden.toml]
    #[arg(long, global = true, env = "REGWARDEN_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a realistic Hydra store in SQLite, scan it and print the report (no services needed).
    ///
    /// Everything is left in DIR: the store (hydra.db), the state database (state.db) and a
    /// config naming both (regwarden.toml), so other commands can be tried with
    /// `--config DIR/regwarden.toml`.
    Demo {
        /// How many registrations the demo store holds.
        #[arg(long, default_value_t = 2500)]
        registrations: usize,
        /// Keep serving /metrics, /healthz and /readyz on this address after the report.
        #[arg(long, value_name = "ADDR")]
        serve: Option<SocketAddr>,
        /// Folder for the demo's files (replaced if it holds an earlier demo).
        #[arg(long, default_value = "regwarden-demo")]
        dir: PathBuf,
        /// The kind of store the demo builds: an Ory Hydra database or a Keycloak realm.
        #[arg(long, value_enum, default_value_t = demo::DemoKind::Hydra)]
        kind: demo::DemoKind,
    },
    /// Run the daemon: scheduled scans of every store, and the HTTP endpoints.
    ///
    /// Serves /metrics (Prometheus), /healthz and /readyz on `[http] listen`. Stops cleanly on
    /// SIGTERM or SIGINT.
    Run,
    /// Scan the configured stores once and record what they hold.
    Scan {
        /// Only this store (by its name in the config).
        #[arg(long)]
        store: Option<String>,
        /// Read every registration and mark the ones that are gone (otherwise: only what
        /// changed since the last scan, where the store allows it).
        #[arg(long)]
        full: bool,
    },
    /// Show what the stores hold: counts by origin, usage and age, the biggest name groups,
    /// the oldest never-used registrations.
    Report {
        /// table: for people; json: the same summary for programs; csv: one row per live
        /// registration.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Only this store.
        #[arg(long)]
        store: Option<String>,
    },
    /// Score RFC 7591 JSON Lines offline: one JSON verdict per input line on stdout.
    ///
    /// Each line is a client information object, optionally with created_at and
    /// last_used_at (RFC 3339; "last_used_at": null means never used). Each output line is
    /// {"client_id", "band", "score", "reasons", "cluster", "software"}, or {"line", "error"}
    /// for a line that cannot be read. Uses --config's scoring settings when given (or when
    /// ./regwarden.toml exists), the defaults otherwise.
    Score {
        /// The JSON Lines file.
        #[arg(long, value_name = "FILE.jsonl")]
        input: PathBuf,
        /// Judge as of this time (RFC 3339) instead of now, for repeatable results.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
    /// Explain one registration: its verdict with every reason, its family, its catalog match.
    Explain {
        /// The client_id, as the store holds it.
        client_id: String,
        /// The store to look in (default: every store that has it).
        #[arg(long)]
        store: Option<String>,
    },
    /// Show what the policy would do now: every planned action with its rule and reason.
    ///
    /// Plans from the state database as the last scan left it; changes nothing.
    Plan {
        #[arg(long, value_enum, default_value = "table")]
        format: PlanFormat,
        /// Only this store.
        #[arg(long)]
        store: Option<String>,
    },
    /// Scan every store completely, plan, and act through the admin API.
    ///
    /// In dry-run mode (the default) this prints what it would do and changes nothing;
    /// `--yes` acts this once, as `[actions] mode = "enforce"` does always. The blast-radius
    /// limits apply either way.
    Apply {
        /// Act now even though the configuration says dry-run.
        #[arg(long)]
        yes: bool,
        /// Only this store.
        #[arg(long)]
        store: Option<String>,
    },
    /// Re-create a client a delete action removed (ACTION_ID from `regwarden report`), with
    /// its client_id and metadata, through the admin API.
    Restore {
        /// The id of the delete action in the journal.
        action_id: i64,
    },
    /// Check the configuration; print every problem with its key (exit status 2 if any).
    CheckConfig,
    /// Fetch and check one Client ID Metadata Document as the daemon would; print the
    /// verdict, or the rule that refused it (exit status 1 when refused or not verified).
    ///
    /// The URL must be https with a path, a DNS name for a host (no IP literal in any
    /// notation) and no user information; a name that resolves to a loopback, private,
    /// link-local, metadata or other special-use address is refused before connecting.
    /// Uses `[fetch]` timeouts from --config when given (or when ./regwarden.toml exists);
    /// runs whether or not `[fetch] enabled` is set.
    Cimd {
        /// The CIMD client_id (the document's URL).
        url: String,
    },
    /// Ask a running daemon's /healthz (for container health checks: the image has no curl
    /// and no shell). Exit status 0 when it answers 200, 1 otherwise.
    Healthcheck {
        /// The URL to ask [default: /healthz on the configuration's `[http] listen`, on
        /// loopback when that is a wildcard address].
        #[arg(long)]
        url: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    ///
    /// e.g. `regwarden completions bash > /usr/share/bash-completion/completions/regwarden`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, or write one page per command into DIR.
    ///
    /// e.g. `regwarden man | gzip > /usr/share/man/man1/regwarden.1.gz`.
    Man {
        /// Write regwarden.1 and regwarden-COMMAND.1 for every command into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

/// Exit status for bad usage or configuration.
const EXIT_CONFIG: u8 = 2;

/// The exit status an error maps to: a configuration problem (bad config, contradictory
/// rules, a store without admin API) is 2, anything else 1. The one place this is decided.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    match e.downcast_ref::<ActionError>() {
        Some(a) => action_status(a),
        None if e.downcast_ref::<ConfigError>().is_some() => ExitCode::from(EXIT_CONFIG),
        None => ExitCode::FAILURE,
    }
}

/// The exit status of a failed action run (see [`exit_code`]).
fn action_status(e: &ActionError) -> ExitCode {
    if e.is_configuration() {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

/// Prints a failure the way every command does and gives its exit status.
fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("regwarden: {e:#}");
    exit_code(&e)
}

pub async fn main(cli: Cli) -> ExitCode {
    let explicit = cli.config.is_some();
    let path = cli
        .config
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let result = match cli.command {
        Command::CheckConfig => return check_config::check_config(&path).await,
        Command::Completions { shell } => return docs::completions(shell),
        Command::Man { dir } => docs::man(dir.as_deref()),
        Command::Healthcheck { url } => {
            let url = match url {
                Some(u) => u,
                None => match load_config(&path) {
                    Ok(cfg) => healthcheck::default_url(cfg.listen),
                    Err(code) => return code,
                },
            };
            return healthcheck::healthcheck(&url).await;
        }
        Command::Demo {
            registrations,
            serve,
            dir,
            kind,
        } => demo::demo(registrations, serve, &dir, kind).await,
        Command::Cimd { url } => match optional_config(explicit, &path) {
            Err(code) => return code,
            Ok(cfg) => cimd::cimd(&cfg.fetch, &url).await,
        },
        Command::Score { input, now } => {
            let now = match now
                .as_deref()
                .map(chrono::DateTime::parse_from_rfc3339)
                .transpose()
            {
                Ok(t) => t.map(|t| t.with_timezone(&Utc)).unwrap_or_else(Utc::now),
                Err(e) => {
                    eprintln!("regwarden: --now is not an RFC 3339 time: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            // Scoring settings are optional here: defaults unless a config is at hand.
            match optional_config(explicit, &path) {
                Err(code) => return code,
                Ok(cfg) => match with_publisher_keys(cfg).await {
                    Ok(cfg) => score::score(&cfg, &input, now).await,
                    Err(e) => Err(e),
                },
            }
        }
        command => match load_config(&path) {
            Err(code) => return code,
            Ok(cfg) => {
                init_logging(&cfg, matches!(command, Command::Run));
                // Commands that judge need every publisher's keys first.
                let judges = matches!(
                    command,
                    Command::Run | Command::Scan { .. } | Command::Apply { .. }
                );
                let cfg = if judges {
                    match with_publisher_keys(cfg).await {
                        Ok(cfg) => cfg,
                        Err(e) => return fail(e),
                    }
                } else {
                    cfg
                };
                match command {
                    Command::Run => run::run(cfg).await,
                    Command::Scan { store, full } => scan::scan(&cfg, store.as_deref(), full).await,
                    Command::Report { format, store } => {
                        report::report(&cfg, format, store.as_deref()).await
                    }
                    Command::Explain { client_id, store } => {
                        explain::explain(&cfg, &client_id, store.as_deref()).await
                    }
                    Command::Plan { format, store } => {
                        act::plan(&cfg, format, store.as_deref()).await
                    }
                    Command::Apply { yes, store } => act::apply(&cfg, yes, store.as_deref()).await,
                    Command::Restore { action_id } => act::restore(&cfg, action_id).await,
                    Command::Demo { .. }
                    | Command::CheckConfig
                    | Command::Score { .. }
                    | Command::Cimd { .. }
                    | Command::Completions { .. }
                    | Command::Man { .. }
                    | Command::Healthcheck { .. } => unreachable!("handled above"),
                }
            }
        },
    };
    result.unwrap_or_else(fail)
}

/// The configured stores `--store` selects (all without it), or an error naming it.
fn select_stores<'a>(cfg: &'a Config, only: Option<&str>) -> anyhow::Result<Vec<&'a StoreConfig>> {
    let s: Vec<_> = cfg
        .stores
        .iter()
        .filter(|s| selected(only, &s.name))
        .collect();
    if s.is_empty() {
        anyhow::bail!(
            "no store{} in the configuration",
            only.map(|o| format!(" named {o}")).unwrap_or_default()
        );
    }
    Ok(s)
}

/// Whether `--store` (if given) selects the store named `name`.
fn selected(only: Option<&str>, name: &str) -> bool {
    only.is_none_or(|o| o == name)
}

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("regwarden: {}", describe_config_error(&e));
        ExitCode::from(EXIT_CONFIG)
    })
}

/// The configuration with the keys of publishers configured by URL (`jwks_uri`) fetched
/// and added to the scorer.
async fn with_publisher_keys(mut cfg: Config) -> anyhow::Result<Config> {
    if !cfg.publisher_keys.is_empty() {
        let fetcher = crate::fetch::Fetcher::new(cfg.fetch.settings)?;
        cfg.fetch_publisher_keys(&fetcher).await?;
    }
    Ok(cfg)
}

/// The configuration when one is named or ./regwarden.toml exists, the defaults otherwise
/// (for commands whose settings are optional: `score`, `cimd`).
fn optional_config(explicit: bool, path: &Path) -> Result<Config, ExitCode> {
    if explicit || path.exists() {
        return load_config(path);
    }
    config::load_str("", None, &std::env::vars().collect::<Vec<_>>()).map_err(|e| {
        eprintln!("regwarden: {}", describe_config_error(&e));
        ExitCode::from(EXIT_CONFIG)
    })
}

fn describe_config_error(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid { problems } => {
            let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
            format!(
                "the configuration has {} problem(s):\n{}",
                problems.len(),
                lines.join("\n")
            )
        }
        other => other.to_string(),
    }
}

/// Logs go to stderr: pretty on a terminal, JSON otherwise (or as configured). Commands other
/// than `run` log only warnings unless RUST_LOG says otherwise.
fn init_logging(cfg: &Config, daemon: bool) {
    let level = if daemon {
        cfg.log_level.clone()
    } else {
        format!("warn,{}", cfg.log_level.replace("info", "warn"))
    };
    // RUST_LOG only as the config's level is taken (see `log_filter`): else the level.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| crate::config::log_filter(&f))
        .or_else(|| crate::config::log_filter(&level))
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let json = match cfg.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_ansi(colour(&std::io::stderr()))
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Whether to colour what goes to `stream`: only a terminal, and never when NO_COLOR is set
/// to anything but the empty string (no-color.org).
fn colour(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
