//! Configuration: one TOML file, overridable key by key from the environment.
//!
//! Loading goes file → `*_file` secrets → `REGWARDEN_SECTION__KEY` overrides → serde (unknown
//! keys refused) → [`RawConfig::validate`], which reports every problem with its key at once.
//! Cron expressions, addresses and durations are parsed here, never at run time.

use crate::escape::esc;
use chrono::{DateTime, Utc};
use serde::Deserialize;
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

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

/// A value that must never reach logs, reports or metrics (passwords inside URLs, tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Replaces the password of a URL with `***`; text that is no URL is hidden whole.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL hidden)".into(),
    }
}

// ---------------------------------------------------------------------------------------
// The file's shape, exactly as written (see config/regwarden.toml for every key explained).

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub schedule: RawSchedule,
    #[serde(default)]
    pub expiry: RawExpiry,
    #[serde(default)]
    pub stores: Vec<RawStore>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub scan: Option<String>,
    pub reconcile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpiry {
    pub unused_after: Option<String>,
    pub inactive_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub database_url: Option<String>,
    pub admin_url: Option<String>,
    pub path: Option<String>,
    pub batch_size: Option<i64>,
}

// ---------------------------------------------------------------------------------------
// The checked configuration the rest of the program uses.

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the file was read from (None when built from defaults).
    pub source: Option<PathBuf>,
    pub state_url: Secret,
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub log_level: String,
    pub scan: CronSchedule,
    pub reconcile: CronSchedule,
    pub unused_after: Duration,
    pub inactive_after: Duration,
    pub stores: Vec<StoreConfig>,
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
}

#[derive(Debug, Clone)]
pub enum StoreKind {
    Hydra {
        database_url: Secret,
        admin_url: Option<url::Url>,
    },
    Jsonl {
        path: PathBuf,
    },
}

impl StoreKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            StoreKind::Hydra { .. } => "hydra",
            StoreKind::Jsonl { .. } => "jsonl",
        }
    }
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
                message: e.to_string(),
            })?;
    let base = path
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut problems = Vec::new();
    resolve_secret_files(&mut table, "", &base, &mut problems);
    apply_env(&mut table, env, &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid { problems });
    }
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let message = e.into_inner().message().to_owned();
            ConfigError::Invalid {
                problems: vec![problem(
                    if key == "." {
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

/// Replaces every `KEY_file = "path"` by `KEY = <contents of path>` (trailing newline
/// dropped), so secrets can live in files mounted by the service manager.
fn resolve_secret_files(
    table: &mut toml::Table,
    prefix: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match table.get_mut(&key) {
            Some(toml::Value::Table(t)) => resolve_secret_files(t, &full, base, problems),
            Some(toml::Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let toml::Value::Table(t) = item {
                        resolve_secret_files(t, &format!("{full}[{i}]"), base, problems);
                    }
                }
            }
            _ => {}
        }
        let Some(target) = key.strip_suffix("_file") else {
            continue;
        };
        if table.contains_key(target) {
            problems.push(problem(
                &full,
                format!("set both {target} and {key}; keep one"),
            ));
            continue;
        }
        let Some(toml::Value::String(file)) = table.remove(&key) else {
            problems.push(problem(&full, "must be a file path (a string)"));
            continue;
        };
        let file = base.join(file);
        match std::fs::read_to_string(&file) {
            Ok(s) => {
                table.insert(
                    target.to_owned(),
                    toml::Value::String(s.trim_end_matches(['\r', '\n']).to_owned()),
                );
            }
            Err(e) => problems.push(problem(
                &full,
                format!("cannot read {}: {e}", file.display()),
            )),
        }
    }
}

/// Applies `REGWARDEN_SECTION__KEY=value` overrides (`REGWARDEN_STORES__<NAME>__KEY` for a
/// store, by its name). Only variables with `__` are config keys; values that are all digits
/// become integers, `true`/`false` booleans, anything else a string.
fn apply_env(table: &mut toml::Table, env: &[(String, String)], problems: &mut Vec<Problem>) {
    for (var, value) in env {
        let Some(rest) = var.strip_prefix("REGWARDEN_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let v = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            value
                .parse()
                .map(toml::Value::Integer)
                .unwrap_or_else(|_| toml::Value::String(value.clone()))
        } else if value == "true" || value == "false" {
            toml::Value::Boolean(value == "true")
        } else {
            toml::Value::String(value.clone())
        };
        match parts.as_slice() {
            [section, key] if section != "stores" => {
                let entry = table
                    .entry(section.clone())
                    .or_insert_with(|| toml::Value::Table(Default::default()));
                match entry {
                    toml::Value::Table(t) => {
                        t.insert(key.clone(), v);
                    }
                    _ => problems.push(problem(
                        var,
                        format!("{section} is not a table in the config file"),
                    )),
                }
            }
            [stores, name, key] if stores == "stores" => {
                let store = table
                    .get_mut("stores")
                    .and_then(|s| s.as_array_mut())
                    .and_then(|items| {
                        items.iter_mut().filter_map(|i| i.as_table_mut()).find(|t| {
                            t.get("name")
                                .and_then(|n| n.as_str())
                                .map(|n| n.replace('-', "_").eq_ignore_ascii_case(name))
                                == Some(true)
                        })
                    });
                match store {
                    Some(t) => {
                        t.insert(key.clone(), v);
                    }
                    None => problems.push(problem(
                        var,
                        format!("no store named {name} in the config file"),
                    )),
                }
            }
            _ => problems.push(problem(
                var,
                "expected REGWARDEN_SECTION__KEY or REGWARDEN_STORES__NAME__KEY",
            )),
        }
    }
}

fn parse_duration(
    key: &str,
    raw: &Option<String>,
    default: &str,
    problems: &mut Vec<Problem>,
) -> Duration {
    let text = raw.as_deref().unwrap_or(default);
    match humantime::parse_duration(text) {
        Ok(d) if d > Duration::ZERO => d,
        Ok(_) => {
            problems.push(problem(key, "must be longer than zero"));
            Duration::from_secs(1)
        }
        Err(e) => {
            problems.push(problem(
                key,
                format!(
                    "{:?} is not a duration like \"7d\" or \"36h\": {e}",
                    esc(text)
                ),
            ));
            Duration::from_secs(1)
        }
    }
}

/// Resolves a relative SQLite file in a database URL against the config file's folder.
fn resolve_sqlite(url: &str, base: &Path) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return url.to_owned();
    };
    if rest.starts_with('/') || rest.starts_with(":memory:") || base.as_os_str().is_empty() {
        return url.to_owned();
    }
    format!("sqlite://{}", base.join(rest).display())
}

impl RawConfig {
    /// Checks every key and returns the typed configuration, or every problem found.
    pub fn validate(self, path: Option<&Path>, base: &Path) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let state_url = resolve_sqlite(
            self.state
                .url
                .as_deref()
                .unwrap_or("sqlite://regwarden-state.db"),
            base,
        );
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| state_url.starts_with(p))
        {
            problems.push(problem(
                "state.url",
                "must be a sqlite:// or postgres:// URL",
            ));
        }
        let listen_text = self.http.listen.as_deref().unwrap_or("127.0.0.1:9464");
        let listen = listen_text.parse().unwrap_or_else(|_| {
            problems.push(problem(
                "http.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:9464",
                    esc(listen_text)
                ),
            ));
            SocketAddr::from(([127, 0, 0, 1], 9464))
        });
        let log_format = match self.log.format.as_deref().unwrap_or("auto") {
            "auto" => LogFormat::Auto,
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                problems.push(problem(
                    "log.format",
                    format!("{:?} is not one of auto, pretty, json", esc(other)),
                ));
                LogFormat::Auto
            }
        };
        let log_level = self.log.level.unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            problems.push(problem(
                "log.level",
                format!(
                    "{:?} is not a level or filter like \"info\" or \"regwarden=debug\"",
                    esc(&log_level)
                ),
            ));
        }
        let mut cron = |key: &str, raw: &Option<String>, default: &str| {
            CronSchedule::parse(raw.as_deref().unwrap_or(default)).unwrap_or_else(|e| {
                problems.push(problem(key, e));
                CronSchedule::parse(default).expect("default schedules parse")
            })
        };
        let scan = cron("schedule.scan", &self.schedule.scan, "*/5 * * * *");
        let reconcile = cron("schedule.reconcile", &self.schedule.reconcile, "0 * * * *");
        let unused_after = parse_duration(
            "expiry.unused_after",
            &self.expiry.unused_after,
            "7d",
            &mut problems,
        );
        let inactive_after = parse_duration(
            "expiry.inactive_after",
            &self.expiry.inactive_after,
            "90d",
            &mut problems,
        );

        let mut stores = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.stores.into_iter().enumerate() {
            let key = |k: &str| format!("stores[{i}].{k}");
            let name = match s.name {
                Some(n) if valid_store_name(&n) => n,
                Some(n) => {
                    problems.push(problem(
                        key("name"),
                        format!("{:?} must be 1-64 characters of a-z, 0-9, - and _", esc(&n)),
                    ));
                    continue;
                }
                None => {
                    problems.push(problem(key("name"), "is required"));
                    continue;
                }
            };
            if !names.insert(name.clone()) {
                problems.push(problem(
                    key("name"),
                    format!("{name} is used by another store"),
                ));
            }
            let batch_size = match s.batch_size {
                None => 1000,
                Some(n @ 1..=100_000) => n as u32,
                Some(n) => {
                    problems.push(problem(
                        key("batch_size"),
                        format!("{n} is outside 1..=100000"),
                    ));
                    1000
                }
            };
            let kind = match s.kind.as_deref() {
                Some("hydra") => {
                    if s.path.is_some() {
                        problems.push(problem(key("path"), "applies to kind \"jsonl\" only"));
                    }
                    let admin_url = s
                        .admin_url
                        .as_deref()
                        .and_then(|u| match url::Url::parse(u) {
                            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                            _ => {
                                problems.push(problem(
                                    key("admin_url"),
                                    format!("{:?} is not an http(s) URL", esc(u)),
                                ));
                                None
                            }
                        });
                    match s.database_url {
                        Some(u)
                            if [
                                "postgres://",
                                "postgresql://",
                                "mysql://",
                                "mariadb://",
                                "sqlite:",
                            ]
                            .iter()
                            .any(|p| u.starts_with(p)) =>
                        {
                            StoreKind::Hydra {
                                database_url: Secret(resolve_sqlite(&u, base)),
                                admin_url,
                            }
                        }
                        Some(u) => {
                            problems.push(problem(
                                key("database_url"),
                                format!(
                                    "{} must be a postgres://, mysql:// or sqlite: URL",
                                    redact_url(&u)
                                ),
                            ));
                            continue;
                        }
                        None => {
                            problems.push(problem(
                                key("database_url"),
                                "is required for kind \"hydra\"",
                            ));
                            continue;
                        }
                    }
                }
                Some("jsonl") => {
                    for (k, set) in [
                        ("database_url", s.database_url.is_some()),
                        ("admin_url", s.admin_url.is_some()),
                    ] {
                        if set {
                            problems.push(problem(key(k), "applies to kind \"hydra\" only"));
                        }
                    }
                    match s.path {
                        Some(p) => StoreKind::Jsonl { path: base.join(p) },
                        None => {
                            problems.push(problem(key("path"), "is required for kind \"jsonl\""));
                            continue;
                        }
                    }
                }
                Some(other) => {
                    problems.push(problem(
                        key("kind"),
                        format!("{:?} is not one of hydra, jsonl", esc(other)),
                    ));
                    continue;
                }
                None => {
                    problems.push(problem(key("kind"), "is required (hydra or jsonl)"));
                    continue;
                }
            };
            stores.push(StoreConfig {
                name,
                kind,
                batch_size,
            });
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { problems });
        }
        Ok(Config {
            source: path.map(Path::to_path_buf),
            state_url: Secret(state_url),
            listen,
            log_format,
            log_level,
            scan,
            reconcile,
            unused_after,
            inactive_after,
            stores,
        })
    }
}

fn valid_store_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

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
        assert_eq!(c.scan.interval_after(Utc::now()), Duration::from_secs(300));
        assert_eq!(
            c.reconcile.interval_after(Utc::now()),
            Duration::from_secs(3600)
        );
        assert!(c.stores.is_empty());
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../config/regwarden.toml");
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
                "stores[2].kind"
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
            StoreKind::Hydra { database_url, .. } => {
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
            StoreKind::Hydra { database_url, .. } => {
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
}
