//! Configuration: one TOML file, overridable key by key from the environment.
//!
//! Loading goes file → `*_file` secrets → `REGWARDEN_SECTION__KEY` overrides → serde (unknown
//! keys refused) → [`RawConfig::validate`], which reports every problem with its key at once.
//! Cron expressions, addresses and durations are parsed here, never at run time.

mod fetch;
mod layers;
mod policy;
mod raw;
mod stores;

pub use fetch::{FetchConfig, PublisherKeysError};
pub(crate) use raw::log_filter;
pub use raw::RawConfig;
pub use stores::{KeycloakAdmin, StoreKind};

use crate::escape::esc;
use chrono::{DateTime, Utc};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The default configuration file, relative to the working directory.
pub const DEFAULT_PATH: &str = "regwarden.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

/// One thing wrong with the configuration, named by its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

pub(crate) fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

pub use crate::secret::{redact_url, Secret};

// ---------------------------------------------------------------------------------------
// The checked configuration the rest of the program uses.

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the file was read from (None when built from defaults).
    pub source: Option<PathBuf>,
    pub state_url: Secret,
    /// How long a replica's leadership lasts unrenewed on a PostgreSQL state database
    /// (`[state] lease`): the longest a dead leader's replica waits to take over.
    pub lease: Duration,
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub log_level: String,
    /// When incremental scans run (`[schedule] scan`).
    pub incremental_scans: CronSchedule,
    /// When full scans run, the only ones that mark registrations gone (`[schedule] reconcile`).
    pub full_scans: CronSchedule,
    pub inactive_after: Duration,
    /// Catalog, publisher keys, weights and bands for trust scoring.
    pub scorer: std::sync::Arc<crate::score::Scorer>,
    /// Allow/deny rules, expiry, band actions and limits (`[expiry]`, `[actions]`).
    pub policy: crate::policy::Policy,
    /// Dry-run unless `[actions] mode = "enforce"`.
    pub mode: crate::policy::Mode,
    /// When the daemon plans, and in enforce mode acts (`[actions] schedule`), in either mode.
    pub actions_schedule: CronSchedule,
    pub stores: Vec<StoreConfig>,
    /// Outbound fetches (`[fetch]`): off unless enabled.
    pub fetch: FetchConfig,
    /// Publishers whose keys are fetched (`[[publishers]] jwks_uri`): (issuer, URL). Added
    /// to the scorer by [`Config::fetch_publisher_keys`] before anything is judged.
    pub publisher_keys: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub name: String,
    pub kind: StoreKind,
    pub batch_size: u32,
    /// The most registrations the authorization server accepts (e.g. Keycloak's Max Clients).
    pub capacity: Option<u64>,
    /// At most this many registrations read per second (None: as fast as the store answers),
    /// to spare an authorization server's database during a full scan.
    pub rows_per_second: Option<u32>,
    /// The longest expiry window (`expiry.unused_after`, `expiry.inactive_after`): usage facts
    /// must reach back this far for expiry to trust them.
    pub usage_window: Duration,
}

/// A cron expression checked at load. Five fields (minute first) or six/seven (seconds first).
#[derive(Clone)]
pub struct CronSchedule {
    expr: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        let fields = expr.split_whitespace().count();
        let full = if fields == 5 {
            format!("0 {expr}")
        } else {
            expr.to_owned()
        };
        let schedule = cron::Schedule::from_str(&full)
            .map_err(|e| format!("invalid cron expression {:?}: {e}", esc(expr)))?;
        if schedule.upcoming(Utc).next().is_none() {
            return Err(format!("cron expression {:?} never fires", esc(expr)));
        }
        Ok(CronSchedule {
            expr: expr.to_owned(),
            schedule,
        })
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&t).next()
    }

    /// The gap between the next two fire times after `t`: the interval readiness is judged by.
    pub fn interval_after(&self, t: DateTime<Utc>) -> Duration {
        let mut it = self.schedule.after(&t);
        match (it.next(), it.next()) {
            (Some(a), Some(b)) => (b - a).to_std().unwrap_or(Duration::from_secs(3600)),
            _ => Duration::from_secs(3600),
        }
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.expr)
    }
}

/// Loads, overrides and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    load_str(&text, Some(path), &env)
}

/// Loads from text; `env` is the process environment (passed in so tests stay pure).
pub fn load_str(
    text: &str,
    path: Option<&Path>,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let shown = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("(inline)"));
    let mut table: toml::Table =
        text.parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: shown.clone(),
                message: syntax_message(text, &e),
            })?;
    let base = path
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut problems = Vec::new();
    layers::resolve_secret_files(&mut table, "", &base, &mut problems);
    layers::apply_env(&mut table, env, &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid { problems });
    }
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let message = e.into_inner().message().to_owned();
            ConfigError::Invalid {
                problems: vec![problem(
                    // An empty TOML key ("" = 1) makes an empty path.
                    if key == "." || key.is_empty() {
                        "(top level)".into()
                    } else {
                        key
                    },
                    message,
                )],
            }
        })?;
    raw.validate(path, &base)
}

/// Where a TOML syntax error is and what it is, without the offending line: the toml crate
/// quotes it, and a line like `database_url = "postgres://u:password@db` holds a secret.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(before) = e.span().and_then(|s| text.get(..s.start)) else {
        return message.to_owned();
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

#[cfg(test)]
mod fetch_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_str(text, Some(Path::new("/etc/regwarden/regwarden.toml")), &env)
    }

    fn problems(r: Result<Config, ConfigError>) -> Vec<String> {
        match r {
            Err(ConfigError::Invalid { problems }) => problems.into_iter().map(|p| p.key).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9464");
        assert_eq!(
            c.state_url.expose(),
            "sqlite:///etc/regwarden/regwarden-state.db"
        );
        assert_eq!(
            c.incremental_scans.interval_after(Utc::now()),
            Duration::from_secs(300)
        );
        assert_eq!(
            c.full_scans.interval_after(Utc::now()),
            Duration::from_secs(3600)
        );
        assert!(c.stores.is_empty());
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../config/regwarden.toml");
        let c = load(text, &[]).unwrap();
        assert!(!c.stores.is_empty());
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        assert_eq!(
            problems(load("[http]\nlisten = \"127.0.0.1:1\"\nport = 3\n", &[])),
            ["http.port"]
        );
        assert_eq!(problems(load("colour = 1\n", &[])), ["colour"]);
        let err = load(
            "[[stores]]\nname = \"a\"\nkind = \"jsonl\"\npath = \"x\"\nbatchsize = 3\n",
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("stores[0].batchsize: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
            [http]
            listen = "nowhere"
            [schedule]
            scan = "every five minutes"
            [expiry]
            inactive_after = "soon"
            [[stores]]
            name = "Bad Name"
            kind = "hydra"
            [[stores]]
            name = "ok"
            kind = "hydra"
            [[stores]]
            name = "ok2"
            kind = "keycloak"
        "#;
        assert_eq!(
            problems(load(text, &[])),
            [
                "http.listen",
                "schedule.scan",
                "expiry.inactive_after",
                "stores[0].name",
                "stores[1].database_url",
                "stores[2].realm"
            ]
        );
    }

    #[test]
    fn env_overrides_any_key() {
        let text = "[[stores]]\nname = \"prod-hydra\"\nkind = \"hydra\"\ndatabase_url = \"postgres://a@h/db\"\n";
        let c = load(
            text,
            &[
                ("REGWARDEN_HTTP__LISTEN", "0.0.0.0:9999"),
                ("REGWARDEN_STORES__PROD_HYDRA__BATCH_SIZE", "50"),
                (
                    "REGWARDEN_STORES__PROD_HYDRA__DATABASE_URL",
                    "postgres://b:pw@h/db",
                ),
                ("REGWARDEN_CONFIG", "/ignored/not/a/key"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9999");
        assert_eq!(c.stores[0].batch_size, 50);
        match &c.stores[0].kind {
            StoreKind::Hydra {
                database_url: Some(database_url),
                ..
            } => {
                assert_eq!(database_url.expose(), "postgres://b:pw@h/db");
                assert_eq!(database_url.redacted_url(), "postgres://b:***@h/db");
                assert_eq!(format!("{database_url:?}"), "Secret(***)");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            problems(load(text, &[("REGWARDEN_STORES__NOPE__PATH", "x")])),
            ["REGWARDEN_STORES__NOPE__PATH"]
        );
        assert_eq!(
            problems(load(text, &[("REGWARDEN_HTTP__PORT", "1")])),
            ["http.port"]
        );
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), "postgres://u:s3cret@h/hydra\n").unwrap();
        let cfg = dir.path().join("regwarden.toml");
        let text = "[[stores]]\nname = \"h\"\nkind = \"hydra\"\ndatabase_url_file = \"db\"\n";
        let c = load_str(text, Some(&cfg), &[]).unwrap();
        match &c.stores[0].kind {
            StoreKind::Hydra {
                database_url: Some(database_url),
                ..
            } => {
                assert_eq!(database_url.expose(), "postgres://u:s3cret@h/hydra")
            }
            other => panic!("{other:?}"),
        }
        let missing = "[[stores]]\nname = \"h\"\nkind = \"hydra\"\ndatabase_url_file = \"nope\"\n";
        assert_eq!(
            problems(load_str(missing, Some(&cfg), &[])),
            ["stores[0].database_url_file"]
        );
    }

    #[test]
    fn scoring_settings_are_checked() {
        assert_eq!(
            problems(load(
                "[score.points]\n\"redirect.fragment\" = 45\n\"no.such\" = 1\n",
                &[]
            )),
            ["score.points.no.such"]
        );
        assert_eq!(
            problems(load(
                "[score]\nsuspicious_at = 80\nmalicious_at = 70\n",
                &[]
            )),
            ["score"]
        );
        assert_eq!(
            problems(load(
                "[[publishers]]\nissuer = \"https://p.example\"\njwks = \"{}\"\n",
                &[]
            )),
            ["publishers[0].jwks"]
        );
        let c = load("[score.points]\n\"redirect.fragment\" = 45\n", &[]).unwrap();
        assert_eq!(c.scorer.points(crate::score::Rule::RedirectFragment), 45);
    }

    #[test]
    fn the_shipped_config_lists_every_rule_with_its_default() {
        let text = include_str!("../../config/regwarden.toml");
        for (_, id, tier, points, _) in crate::score::RULES {
            let line = format!("# \"{id}\" = {points:<4} # {}:", tier.as_str());
            assert!(
                text.contains(&line),
                "config/regwarden.toml does not list {line}"
            );
        }
    }

    #[test]
    fn five_field_cron_is_accepted() {
        assert!(CronSchedule::parse("*/10 * * * *").is_ok());
        assert!(CronSchedule::parse("0 */10 * * * *").is_ok());
        assert!(CronSchedule::parse("61 * * * *").is_err());
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = load("[http\n", &[]).unwrap_err();
        assert!(err.to_string().contains("regwarden.toml"), "{err}");
    }

    #[test]
    fn syntax_errors_do_not_quote_the_line_that_may_hold_a_secret() {
        let text = "[state]\nurl = \"postgres://rw:Sekr1t-pw@db/state\n";
        let err = load(text, &[]).unwrap_err().to_string();
        assert!(!err.contains("Sekr1t"), "{err}");
        assert!(err.contains("line 2, column"), "{err}");
        let err = load("[[stores]]\nname = 'a'\nkind = \"jsonl\" x\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3, column 16"), "{err}");
    }

    /// Found by fuzzing (fuzz/README.md, target `config`): an override whose section or key is
    /// empty (`REGWARDEN___MODE`, `REGWARDEN_ACTIONS__`) made a key named "" and a problem
    /// that named no key; so did an empty quoted key in the file.
    #[test]
    fn empty_keys_are_problems_that_name_where_they_are() {
        for var in [
            "REGWARDEN___an ",
            "REGWARDEN_ACTIONS__",
            "REGWARDEN_STORES____MODE",
        ] {
            match load("", &[(var, "x")]) {
                Err(ConfigError::Invalid { problems }) => {
                    assert_eq!(problems.len(), 1, "{var}: {problems:?}");
                    assert_eq!(problems[0].key, var);
                }
                other => panic!("{var}: expected a problem, got {other:?}"),
            }
        }
        for text in [
            "\"\" = 1\n",
            "[actions]\n\"\" = 1\n",
            "[[stores]]\n\"\" = 1\n",
        ] {
            match load(text, &[]) {
                Err(ConfigError::Invalid { problems }) => {
                    for p in &problems {
                        assert!(!p.key.is_empty(), "{text:?}: {p}");
                    }
                }
                other => panic!("{text:?}: expected problems, got {other:?}"),
            }
        }
    }
}
