//! The command line: parsing (clap) and one function per subcommand.

use crate::config::{self, Config, ConfigError, LogFormat};
use crate::report::{self, Format};
use crate::scan::Scan;
use crate::source::Source;
use crate::state::{ScanKind, State};
use crate::verdicts::judge_store;
use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// regwarden keeps an OAuth authorization server's dynamically registered clients clean:
/// it reads the server's client store (Ory Hydra, or RFC 7591 JSON Lines), records every
/// registration with its origin and last use, and exports Prometheus metrics.
///
/// Start with `regwarden demo`: it needs no services and leaves a config to try every
/// other command on.
#[derive(Debug, Parser)]
#[command(name = "regwarden", version, max_term_width = 100)]
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
    },
    /// Run the daemon: scheduled scans of every store, and the HTTP endpoints.
    ///
    /// Serves /metrics (Prometheus), /healthz and /readyz on [http] listen. Stops cleanly on
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

/// Exit status for bad usage or configuration.
pub(crate) const EXIT_CONFIG: u8 = 2;

pub async fn main(cli: Cli) -> ExitCode {
    let explicit = cli.config.is_some();
    let path = cli
        .config
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let result = match cli.command {
        Command::CheckConfig => return check_config(&path),
        Command::Demo {
            registrations,
            serve,
            dir,
        } => crate::demo::cycle::demo(registrations, serve, &dir).await,
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
            let cfg = if explicit || path.exists() {
                load_config(&path)
            } else {
                config::load_str("", None, &std::env::vars().collect::<Vec<_>>()).map_err(|e| {
                    eprintln!("regwarden: {}", describe_config_error(&e));
                    ExitCode::from(EXIT_CONFIG)
                })
            };
            match cfg {
                Err(code) => return code,
                Ok(cfg) => score(&cfg, &input, now).await,
            }
        }
        command => match load_config(&path) {
            Err(code) => return code,
            Ok(cfg) => {
                init_logging(&cfg, matches!(command, Command::Run));
                match command {
                    Command::Run => run(cfg).await,
                    Command::Scan { store, full } => scan(&cfg, store.as_deref(), full).await,
                    Command::Report { format, store } => {
                        report(&cfg, format, store.as_deref()).await
                    }
                    Command::Explain { client_id, store } => {
                        crate::explain::explain(&cfg, &client_id, store.as_deref()).await
                    }
                    Command::Plan { format, store } => {
                        crate::cli_act::plan(&cfg, format, store.as_deref()).await
                    }
                    Command::Apply { yes, store } => {
                        crate::cli_act::apply(&cfg, yes, store.as_deref()).await
                    }
                    Command::Restore { action_id } => {
                        crate::cli_act::restore(&cfg, action_id).await
                    }
                    Command::Demo { .. } | Command::CheckConfig | Command::Score { .. } => {
                        unreachable!("handled above")
                    }
                }
            }
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("regwarden: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("regwarden: {}", describe_config_error(&e));
        ExitCode::from(EXIT_CONFIG)
    })
}

pub(crate) fn describe_config_error(e: &ConfigError) -> String {
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

fn check_config(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(cfg) => {
            println!("{}: OK", path.display());
            println!("  state database: {}", cfg.state_url.redacted_url());
            println!("  listen: {}", cfg.listen);
            println!(
                "  scan: {}   reconcile: {}",
                cfg.scan.expr(),
                cfg.reconcile.expr()
            );
            let p = &cfg.policy;
            println!(
                "  actions: {} on \"{}\", at most {} per run and {} of a store; {} allow and {} deny rule(s)",
                cfg.mode.as_str(),
                cfg.enforce.expr(),
                p.limits.max_actions_per_run,
                p.limits.max_fraction_per_run,
                p.allow.len(),
                p.deny.len()
            );
            for s in &cfg.stores {
                println!(
                    "  store {} ({}), batches of {}",
                    s.name,
                    s.kind.as_str(),
                    s.batch_size
                );
            }
            if cfg.stores.is_empty() {
                println!("  no [[stores]] configured: nothing will be scanned");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {}", path.display(), describe_config_error(&e));
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// Logs go to stderr: pretty on a terminal, JSON otherwise (or as configured). Commands other
/// than `run` log only warnings unless RUST_LOG says otherwise.
pub(crate) fn init_logging(cfg: &Config, daemon: bool) {
    let level = if daemon {
        cfg.log_level.clone()
    } else {
        format!("warn,{}", cfg.log_level.replace("info", "warn"))
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let json = match cfg.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub(crate) async fn run(cfg: Config) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", cfg.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    crate::daemon::run(cfg, listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Cancels `token` on SIGTERM or SIGINT.
pub async fn stop_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("stop requested; finishing the current step");
    token.cancel();
}

pub(crate) async fn scan(cfg: &Config, only: Option<&str>, full: bool) -> anyhow::Result<ExitCode> {
    let stores: Vec<_> = cfg
        .stores
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.name))
        .collect();
    if stores.is_empty() {
        anyhow::bail!(
            "no store to scan{}",
            only.map(|o| format!(" named {o}")).unwrap_or_default()
        );
    }
    let state = State::connect(&cfg.state_url).await?;
    let cancel = CancellationToken::new();
    tokio::spawn(stop_on_signal(cancel.clone()));
    let mut failed = false;
    for store in stores {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg}: {human_pos} records in {elapsed}",
            )
            .expect("valid template"),
        );
        bar.set_message(format!("scanning {}", store.name));
        let outcome = async {
            let source = Source::open(store).await?;
            let kind = if full {
                ScanKind::Full
            } else {
                ScanKind::Incremental
            };
            let progress = |n| bar.set_position(n);
            let scan = Scan {
                state: &state,
                store,
                source: &source,
                scorer: &cfg.scorer,
                cancel: &cancel,
                progress: &progress,
            };
            let report = scan.run(kind).await?;
            let judged = judge_store(&state, &store.name, &cfg.scorer, Utc::now()).await?;
            Ok::<_, anyhow::Error>((report, judged))
        }
        .await;
        bar.finish_and_clear();
        match outcome {
            Ok((r, j)) => {
                println!(
                    "{}: {} scan, {} seen, {} new, {} changed, {} gone, {} warnings, {} refused in {:.2}s",
                    store.name,
                    r.kind.as_str(),
                    r.counts.seen,
                    r.counts.new,
                    r.counts.changed,
                    r.counts.gone,
                    r.counts.warnings,
                    r.counts.refused,
                    r.duration.as_secs_f64()
                );
                println!(
                    "{}: {} registrations judged ({} verdicts changed), {} families, {} duplicates",
                    store.name, j.judged, j.changed, j.families.families, j.families.duplicates
                );
            }
            Err(e) => {
                failed = true;
                eprintln!("{}: scan failed: {e:#}", store.name);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn score(cfg: &Config, input: &Path, now: chrono::DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::new(stdout);
    let tally = crate::offline::score_file(input, &cfg.scorer, now, &mut out)
        .await
        .with_context(|| format!("cannot score {}", input.display()))?;
    if tally.errors > 0 {
        eprintln!(
            "regwarden: {} line(s) could not be scored; see their error objects",
            tally.errors
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn report(
    cfg: &Config,
    format: Format,
    only: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let state = State::connect(&cfg.state_url).await?;
    let known = state.stores().await?;
    let stores: Vec<(String, String)> = known
        .into_iter()
        .filter(|(n, _)| only.is_none_or(|o| o == n))
        .collect();
    if let Some(o) = only {
        if stores.is_empty() {
            anyhow::bail!("the state database has no store named {o}; run `regwarden scan` first");
        }
    }
    let now = Utc::now();
    let mut stdout = std::io::stdout().lock();
    if format == Format::Csv {
        let names: Vec<String> = stores.into_iter().map(|(n, _)| n).collect();
        report::csv(&state, &names, &mut stdout).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut summaries = Vec::new();
    for (name, kind) in &stores {
        summaries.push(state.summary(name, kind, now, cfg.inactive_after).await?);
    }
    report::add_cimd_opportunities(&mut summaries, &cfg.scorer.catalog);
    report::add_vouch_suggestions(&state, &mut summaries, now).await?;
    let mut journal = Vec::new();
    for (name, _) in &stores {
        let recent = state
            .recent_actions(name, crate::act::report::RECENT)
            .await?;
        journal.push((name.clone(), recent));
    }
    use std::io::Write;
    match format {
        Format::Json => {
            let actions: serde_json::Map<String, serde_json::Value> = journal
                .iter()
                .map(|(n, e)| (n.clone(), serde_json::json!(e)))
                .collect();
            writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "generated_at": now, "stores": summaries, "actions": actions })
                )?
            )?
        }
        _ => {
            write!(stdout, "{}", report::table(&summaries, now))?;
            write!(stdout, "{}", crate::act::report::table(&journal))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
