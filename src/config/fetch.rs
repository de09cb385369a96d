//! `[fetch]`: the outbound client (invariant 8). Off unless `enabled = true`.

use super::raw::parse_duration;
use super::{problem, Problem};
use crate::fetch::Settings;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFetch {
    pub enabled: Option<bool>,
    pub connect_timeout: Option<String>,
    pub timeout: Option<String>,
    pub max_concurrent: Option<i64>,
}

/// Whether regwarden fetches anything, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchConfig {
    /// The daemon fetches Client ID Metadata Documents only when this is set.
    pub enabled: bool,
    pub settings: Settings,
}

/// The longest timeout accepted: fetches are small documents, a slow host is a failed fetch.
const LONGEST: Duration = Duration::from_secs(60);

pub(super) fn build(raw: &RawFetch, problems: &mut Vec<Problem>) -> FetchConfig {
    let d = Settings::default();
    let mut timeout = |key: &str, v: &Option<String>, default: Duration| {
        let text = humantime::format_duration(default).to_string();
        let t = parse_duration(key, v, &text, problems);
        if t > LONGEST {
            problems.push(problem(key, "must be at most 60s"));
            return default;
        }
        t
    };
    let connect_timeout = timeout(
        "fetch.connect_timeout",
        &raw.connect_timeout,
        d.connect_timeout,
    );
    let total = timeout("fetch.timeout", &raw.timeout, d.timeout);
    if connect_timeout > total {
        problems.push(problem(
            "fetch.connect_timeout",
            "must not be longer than fetch.timeout",
        ));
    }
    let max_concurrent = match raw.max_concurrent {
        None => d.max_concurrent,
        Some(n @ 1..=64) => n as usize,
        Some(n) => {
            problems.push(problem(
                "fetch.max_concurrent",
                format!("{n} is outside 1..=64"),
            ));
            d.max_concurrent
        }
    };
    FetchConfig {
        enabled: raw.enabled.unwrap_or(false),
        settings: Settings {
            connect_timeout,
            timeout: total,
            max_concurrent,
        },
    }
}

impl FetchConfig {
    /// The CIMD checker the daemon and the scanning commands judge with: `None` unless
    /// fetching is enabled. `counter` counts its fetches by outcome.
    pub fn cimd(
        &self,
        counter: Option<prometheus::IntCounterVec>,
    ) -> Result<Option<crate::fetch::Cimd>, crate::fetch::FetchError> {
        if !self.enabled {
            return Ok(None);
        }
        let fetcher = crate::fetch::Fetcher::new(self.settings)?;
        Ok(Some(crate::fetch::Cimd::new(fetcher, counter)))
    }
}
