//! `[fetch]`: the outbound client (invariant 8). Off unless `enabled = true`.

use super::raw::{parse_duration, RawPublisher};
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

/// The publishers configured by `jwks_uri`: (issuer, URL), each URL checked as the client will
/// (https, a DNS name, no user information); they need fetching enabled.
pub(super) fn publisher_urls(
    publishers: &[RawPublisher],
    fetch: &FetchConfig,
    problems: &mut Vec<Problem>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, p) in publishers.iter().enumerate() {
        let (Some(issuer), None, Some(url)) = (&p.issuer, &p.jwks, &p.jwks_uri) else {
            continue;
        };
        let key = format!("publishers[{i}].jwks_uri");
        if let Err(r) = crate::fetch::check_url(url) {
            problems.push(problem(&key, format!("refused: {r}")));
        } else if !fetch.enabled {
            problems.push(problem(
                &key,
                "needs [fetch] enabled = true (nothing is fetched otherwise); or give jwks",
            ));
        } else {
            out.push((issuer.clone(), url.clone()));
        }
    }
    out
}

/// Why a publisher's keys could not be had; names the publisher's key in the config.
#[derive(Debug, thiserror::Error)]
#[error("publishers[{index}].jwks_uri ({issuer}): {reason}")]
pub struct PublisherKeysError {
    pub index: usize,
    pub issuer: String,
    pub reason: String,
}

/// The most bytes a publisher's key set may have.
const JWKS_MAX_BYTES: usize = 64 * 1024;

impl super::Config {
    /// Fetches the key set of every publisher configured by `jwks_uri` and adds it to the
    /// scorer, before anything is judged. A key set that cannot be fetched or read is an
    /// error: judging without it would turn that publisher's verified statements into
    /// unverifiable ones.
    pub async fn fetch_publisher_keys(
        &mut self,
        fetcher: &crate::fetch::Fetcher,
    ) -> Result<(), PublisherKeysError> {
        let accept = "application/jwk-set+json, application/json";
        let mut sets = Vec::new();
        for (index, (issuer, url)) in self.publisher_keys.iter().enumerate() {
            let failed = |reason: String| PublisherKeysError {
                index,
                issuer: issuer.clone(),
                reason,
            };
            let got = fetcher
                .get(url, accept, JWKS_MAX_BYTES)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let text = String::from_utf8(got.body).map_err(|_| failed("not UTF-8".into()))?;
            sets.push((index, issuer.clone(), text));
        }
        if sets.is_empty() {
            return Ok(());
        }
        let mut scorer = crate::score::Scorer::clone(&self.scorer);
        for (index, issuer, text) in sets {
            scorer
                .publishers
                .add(&issuer, &text)
                .map_err(|reason| PublisherKeysError {
                    index,
                    issuer,
                    reason,
                })?;
        }
        self.scorer = std::sync::Arc::new(scorer);
        Ok(())
    }
}
