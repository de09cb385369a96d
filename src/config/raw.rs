//! The file's shape as serde reads it, and its validation into [`Config`].

use super::{problem, Config, ConfigError, CronSchedule, LogFormat, Problem, Secret, StoreConfig};
use crate::escape::esc;
use crate::score::{Bands, Catalog, Publishers, Rule, Scorer, Tier};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

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
    pub score: RawScore,
    #[serde(default)]
    pub publishers: Vec<RawPublisher>,
    #[serde(default)]
    pub fetch: super::fetch::RawFetch,
    #[serde(default)]
    pub actions: super::policy::RawActions,
    #[serde(default)]
    pub allow: Vec<super::policy::RawMatcher>,
    #[serde(default)]
    pub deny: Vec<super::policy::RawMatcher>,
    #[serde(default)]
    pub stores: Vec<RawStore>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScore {
    pub trusted_at: Option<i64>,
    pub suspicious_at: Option<i64>,
    pub malicious_at: Option<i64>,
    pub extra_catalog: Option<Vec<String>>,
    pub points: Option<std::collections::BTreeMap<String, i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPublisher {
    pub issuer: Option<String>,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub url: Option<String>,
    pub lease: Option<String>,
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
    pub unused: Option<String>,
    pub inactive: Option<String>,
    pub family_keep: Option<i64>,
    pub origins: Option<Vec<String>>,
    pub bands: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub database_url: Option<String>,
    pub admin_url: Option<String>,
    pub realm: Option<String>,
    pub admin_client_id: Option<String>,
    pub admin_client_secret: Option<String>,
    pub path: Option<String>,
    pub batch_size: Option<i64>,
    pub capacity: Option<i64>,
    pub rows_per_second: Option<i64>,
}

pub(super) fn parse_duration(
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
pub(super) fn resolve_sqlite(url: &str, base: &Path) -> String {
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
        } else if let Some(why) = crate::secret::url_problem(&state_url) {
            problems.push(problem("state.url", why));
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
        if !log_filter_ok(&log_level) {
            problems.push(problem(
                "log.level",
                format!(
                    "{:?} is not a level or filter like \"info\" or \"regwarden=debug\" (ASCII, no spaces)",
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
        let lease = parse_duration("state.lease", &self.state.lease, "30s", &mut problems);
        if lease < Duration::from_secs(2) {
            problems.push(problem(
                "state.lease",
                "must be at least 2s (the leader renews it every third of it)",
            ));
        }
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
            let name = match s.name.clone() {
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
            let capacity = match s.capacity {
                None => None,
                Some(n @ 1..=1_000_000_000) => Some(n as u64),
                Some(n) => {
                    problems.push(problem(
                        key("capacity"),
                        format!("{n} is outside 1..=1000000000"),
                    ));
                    None
                }
            };
            let rows_per_second = match s.rows_per_second {
                None => None,
                Some(n @ 1..=10_000_000) => Some(n as u32),
                Some(n) => {
                    problems.push(problem(
                        key("rows_per_second"),
                        format!("{n} is outside 1..=10000000"),
                    ));
                    None
                }
            };
            let Some(kind) = super::stores::store_kind(&s, &key, base, &mut problems) else {
                continue;
            };
            stores.push(StoreConfig {
                name,
                kind,
                batch_size,
                capacity,
                rows_per_second,
                usage_window: unused_after.max(inactive_after),
            });
        }
        let scorer = build_scorer(&self.score, &self.publishers, base, &mut problems);
        let fetch = super::fetch::build(&self.fetch, &mut problems);
        let publisher_keys = super::fetch::publisher_urls(&self.publishers, &fetch, &mut problems);
        let (policy, mode, actions_schedule) = super::policy::build(
            &self.expiry,
            &self.actions,
            &self.allow,
            &self.deny,
            (unused_after, inactive_after),
            &mut problems,
        );
        super::policy::check_stores(mode, &stores, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { problems });
        }
        Ok(Config {
            scorer: std::sync::Arc::new(scorer),
            source: path.map(Path::to_path_buf),
            state_url: Secret(state_url),
            lease,
            listen,
            log_format,
            log_level,
            incremental_scans: scan,
            full_scans: reconcile,
            inactive_after,
            policy,
            mode,
            actions_schedule,
            stores,
            fetch,
            publisher_keys,
        })
    }
}

/// The scorer from `[score]` and `[[publishers]]`: thresholds in order, known rule ids,
/// readable catalogs and keys.
fn build_scorer(
    raw: &RawScore,
    publishers: &[RawPublisher],
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Scorer {
    let d = Bands::default();
    let mut threshold = |key: &str, v: Option<i64>, default: i32| match v.map(i32::try_from) {
        None => default,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            problems.push(problem(key, "is out of range"));
            default
        }
    };
    let bands = Bands {
        trusted_at: threshold("score.trusted_at", raw.trusted_at, d.trusted_at),
        suspicious_at: threshold("score.suspicious_at", raw.suspicious_at, d.suspicious_at),
        malicious_at: threshold("score.malicious_at", raw.malicious_at, d.malicious_at),
    };
    if !(bands.trusted_at < bands.suspicious_at && bands.suspicious_at <= bands.malicious_at) {
        problems.push(problem(
            "score",
            "thresholds must satisfy trusted_at < suspicious_at <= malicious_at",
        ));
    }
    let mut overrides = Vec::new();
    for (id, points) in raw.points.iter().flatten() {
        match (Rule::parse(id), i32::try_from(*points)) {
            (Some(rule), Ok(p)) if rule.tier() == Tier::Note && p != 0 => problems.push(problem(
                format!("score.points.{id}"),
                "is a note: it is shown, never scored (attackers can make it happen to anyone)",
            )),
            (Some(rule), Ok(p)) if (-1000..=1000).contains(&p) => overrides.push((rule, p)),
            (Some(_), _) => problems.push(problem(
                format!("score.points.{id}"),
                "must be within -1000..=1000",
            )),
            (None, _) => problems.push(problem(
                format!("score.points.{id}"),
                "is not a rule id (config/regwarden.toml lists them under [score.points])",
            )),
        }
    }
    let mut extra = Vec::new();
    for (i, file) in raw.extra_catalog.iter().flatten().enumerate() {
        let path = base.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => extra.push((path.display().to_string(), text)),
            Err(e) => problems.push(problem(
                format!("score.extra_catalog[{i}]"),
                format!("cannot read {}: {e}", path.display()),
            )),
        }
    }
    let catalog = Catalog::load(&extra).unwrap_or_else(|e| {
        problems.push(problem("score.extra_catalog", e.to_string()));
        Catalog::load(&[]).expect("the built-in catalog is valid")
    });
    let mut keys = Publishers::default();
    for (i, p) in publishers.iter().enumerate() {
        match (&p.issuer, &p.jwks, &p.jwks_uri) {
            (Some(issuer), Some(jwks), None) => {
                if let Err(e) = keys.add(issuer, jwks) {
                    problems.push(problem(format!("publishers[{i}].jwks"), e));
                }
            }
            (None, ..) => problems.push(problem(format!("publishers[{i}].issuer"), "is required")),
            (_, Some(_), Some(_)) => problems.push(problem(
                format!("publishers[{i}].jwks_uri"),
                "give jwks or jwks_uri, not both",
            )),
            // Fetched before judging: see super::fetch::publisher_urls.
            (Some(_), None, Some(_)) => {}
            (_, None, None) => problems.push(problem(
                format!("publishers[{i}].jwks"),
                "is required (or jwks_file, or jwks_uri)",
            )),
        }
    }
    Scorer::new(catalog, keys, &overrides, bands)
}

fn valid_store_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The log filter `s` (`[log] level`, `RUST_LOG`) as `tracing_subscriber` takes it, or None.
/// Only ASCII without whitespace is taken: its directive parser slices each directive,
/// untrimmed, at positions counted in the trimmed one, so a leading space before a character
/// of several bytes panicked it (found by fuzzing the config: `" é=info"`), and before ASCII
/// silently named another target. Field values in span filters (`target[span{field=value}]`)
/// match literally, not as regular expressions: their regex compiles to a DFA whose size can
/// grow exponentially with the pattern (found by fuzzing the config: a 200-byte level took
/// 15 s and then 2 GB).
pub(crate) fn log_filter(s: &str) -> Option<tracing_subscriber::EnvFilter> {
    if !s.is_ascii() || s.chars().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    tracing_subscriber::EnvFilter::builder()
        .with_regex(false)
        .parse(s)
        .ok()
}

/// Whether `s` is a log filter regwarden takes (see `log_filter`).
pub(crate) fn log_filter_ok(s: &str) -> bool {
    log_filter(s).is_some()
}

#[cfg(test)]
mod log_filter_tests {
    use super::log_filter_ok;

    #[test]
    fn log_filters_tracing_cannot_take_whole_are_refused_not_panicked_on() {
        for ok in ["info", "warn,regwarden=debug", "regwarden::refresh=trace"] {
            assert!(log_filter_ok(ok), "{ok}");
        }
        // The fuzzer's find, reduced: a panic inside tracing-subscriber before this check.
        for bad in [
            " é=info",
            "info, regwarden=debug",
            "régwarden=debug",
            "x=nope",
        ] {
            assert!(!log_filter_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn span_field_values_match_literally_so_no_filter_can_blow_up() {
        // The fuzzer's find: as a regex, this field value compiled for 15 s into 2 GB.
        let found = "ma[=uuuuuuuuuu{[suuuuuuuuuu%cod%mm]mmmmmmmmmmm$mmmm=mmmm+mmmmmm\
                     ................./...................enyin_}nGGGGGGGGGGGGFGGGGGGGGGGGGG\
                     GG'GGGGGGGGGGGGGGGdb:GGGG#/s";
        let started = std::time::Instant::now();
        let _ = log_filter_ok(found);
        assert!(log_filter_ok("regwarden[scan{store=(a+)+b}]=debug"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
