//! The one outbound HTTP client (invariant 8). A URL is checked before the request (https,
//! no user information, no IP literal in any notation); a name is resolved by our own
//! resolver, which refuses the whole name when any address it resolves to is special-use, so
//! the address checked is the address connected (a name rebound to 127.0.0.1 is refused when
//! it is resolved for the connection, not when the URL was read). No redirects, no proxies, no
//! connection reuse, a size cap read as the body arrives, short timeouts, a concurrency limit.

use super::address::{refused, Refusal, Rule};
use crate::escape::esc;
use futures_util::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use url::{Host, Url};

/// How the client behaves (`[fetch]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub connect_timeout: Duration,
    /// The whole exchange, connection to last byte.
    pub timeout: Duration,
    /// Fetches in flight at once; more wait their turn.
    pub max_concurrent: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            max_concurrent: 4,
        }
    }
}

/// Why a fetch gave no document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// The destination is not one regwarden fetches from.
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("{url} answered HTTP {status}{}", if (300..400).contains(status) { " (redirects are not followed)" } else { "" })]
    Status { url: String, status: u16 },
    #[error("{url} sent more than {cap} bytes")]
    TooLarge { url: String, cap: usize },
    #[error("{url} did not answer within {0:?}", .timeout)]
    Timeout { url: String, timeout: Duration },
    #[error("cannot fetch {url}: {reason}")]
    Network { url: String, reason: String },
}

/// A body fetched whole, with how long HTTP caching lets it be reused (see [`freshness`]).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub fresh_for: Option<Duration>,
}

/// Resolves a name to addresses (the system resolver, or a test's).
pub type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system resolver, as tokio asks it.
pub fn system_lookup() -> Lookup {
    Arc::new(|name: String| {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    })
}

/// Checks a URL before any request: https, a host that is a DNS name, no user information.
/// IP literals are refused in every notation the URL standard reads (`2130706433`, `0x7f.1`,
/// `017700000001` are all 127.0.0.1), naming the address and, when special, its class.
pub fn check_url(text: &str) -> Result<Url, Refusal> {
    let url = Url::parse(text).map_err(|e| {
        Refusal::new(
            Rule::BadUrl,
            format!("{:?} does not parse as a URL: {e}", esc(text)),
        )
    })?;
    if url.scheme() != "https" {
        return Err(Refusal::new(
            Rule::NotHttps,
            format!("{}: URLs are refused, only https is fetched", url.scheme()),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::new(
            Rule::Userinfo,
            "the URL carries user information (user:password@)",
        ));
    }
    let ip = match url.host() {
        None => return Err(Refusal::new(Rule::BadUrl, "the URL has no host")),
        Some(Host::Domain(_)) => return Ok(url),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    // Name the host as written when the URL standard read it as another notation.
    let written = written_host(text);
    let context = (written.trim_start_matches('[').trim_end_matches(']') != ip.to_string())
        .then(|| format!("host {} is", esc(&written)));
    Err(match refused(ip) {
        Some(rule) => Refusal::address(ip, rule, context.as_deref()),
        None => Refusal::new(
            Rule::IpLiteral,
            match context {
                Some(c) => format!("{c} the IP address {ip}: only DNS names are fetched"),
                None => format!("{ip} is an IP address: only DNS names are fetched"),
            },
        ),
    })
}

/// The host as written in the URL text (before the URL standard canonicalized it).
fn written_host(text: &str) -> String {
    let rest = text.split_once("://").map_or(text, |(_, r)| r);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or("")),
        None => host.split(':').next().unwrap_or("").to_owned(),
    }
}

/// reqwest's resolver hook: resolves, then refuses the name when any address is special-use.
struct GuardedResolver {
    lookup: Lookup,
    /// The one address exempt from the rules: only [`Fetcher::for_tests`] (compiled into unit
    /// tests alone) sets it, for their local server; nothing in the configuration reaches it.
    exempt: Option<IpAddr>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let (lookup, exempt) = (self.lookup.clone(), self.exempt);
        Box::pin(async move {
            let ips = lookup(host.clone()).await?;
            if ips.is_empty() {
                let r = Refusal::new(Rule::NoAddress, format!("{} has no address", esc(&host)));
                return Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>);
            }
            // One forbidden address refuses the name: a client that falls back from one
            // address to the next would otherwise reach it.
            for ip in &ips {
                if let Some(rule) = refused(*ip).filter(|_| exempt != Some(*ip)) {
                    let context = format!("{} resolves to", esc(&host));
                    return Err(Box::new(Refusal::address(*ip, rule, Some(&context))) as _);
                }
            }
            Ok(Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0))) as Addrs)
        })
    }
}

/// The SSRF-safe client. Cheap to clone; clones share the concurrency limit.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    limit: Arc<Semaphore>,
    settings: Settings,
}

impl Fetcher {
    /// The client for production: the system resolver, the public web PKI.
    pub fn new(settings: Settings) -> Result<Fetcher, FetchError> {
        Self::build(settings, builder(settings, system_lookup(), None))
    }

    /// A client for tests: their resolver, their root certificate, and one address exempt from
    /// the special-use rules (their local server's). Compiled only into unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(
        settings: Settings,
        lookup: Lookup,
        root_der: &[u8],
        exempt: IpAddr,
    ) -> Fetcher {
        let cert = reqwest::Certificate::from_der(root_der).expect("test certificate");
        let b = builder(settings, lookup, Some(exempt))
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert);
        Self::build(settings, b).expect("test client")
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    fn build(settings: Settings, b: reqwest::ClientBuilder) -> Result<Fetcher, FetchError> {
        let client = b.build().map_err(|e| FetchError::Network {
            url: String::new(),
            reason: format!("cannot build the HTTP client: {e}"),
        })?;
        Ok(Fetcher {
            client,
            limit: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            settings,
        })
    }

    /// Fetches `url` whole, at most `cap` bytes, with the `Accept` header given.
    pub async fn get(&self, url: &str, accept: &str, cap: usize) -> Result<Fetched, FetchError> {
        let parsed = check_url(url).map_err(FetchError::Refused)?;
        let shown = esc(url).to_string();
        let _turn = self
            .limit
            .acquire()
            .await
            .map_err(|_| FetchError::Network {
                url: shown.clone(),
                reason: "the client is shutting down".into(),
            })?;
        let work = async {
            let mut resp = self
                .client
                .get(parsed)
                .header(reqwest::header::ACCEPT, accept)
                .send()
                .await
                .map_err(|e| self.failure(&shown, e))?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(FetchError::Status {
                    url: shown.clone(),
                    status,
                });
            }
            if resp.content_length().is_some_and(|n| n > cap as u64) {
                return Err(FetchError::TooLarge {
                    url: shown.clone(),
                    cap,
                });
            }
            let fresh_for = freshness(resp.headers());
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.failure(&shown, e))? {
                if body.len() + chunk.len() > cap {
                    return Err(FetchError::TooLarge {
                        url: shown.clone(),
                        cap,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched { body, fresh_for })
        };
        // reqwest's own timeout covers the exchange; this one also covers a resolver that hangs.
        match tokio::time::timeout(self.settings.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: shown,
                timeout: self.settings.timeout,
            }),
        }
    }

    /// A reqwest error as ours: a refusal from the resolver keeps its rule.
    fn failure(&self, url: &str, e: reqwest::Error) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if let Some(r) = s.downcast_ref::<Refusal>() {
                return FetchError::Refused(r.clone());
            }
            source = s.source();
        }
        if e.is_timeout() {
            return FetchError::Timeout {
                url: url.to_owned(),
                timeout: self.settings.timeout,
            };
        }
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        FetchError::Network {
            url: url.to_owned(),
            reason: esc(&reason).to_string(),
        }
    }
}

fn builder(settings: Settings, lookup: Lookup, exempt: Option<IpAddr>) -> reqwest::ClientBuilder {
    let resolver = GuardedResolver { lookup, exempt };
    reqwest::Client::builder()
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would connect for us, to addresses our resolver never sees.
        .no_proxy()
        .dns_resolver(Arc::new(resolver))
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        // Every fetch resolves and connects anew: a pooled connection was checked for an
        // earlier fetch.
        .pool_max_idle_per_host(0)
        .referer(false)
        .user_agent(concat!("regwarden/", env!("CARGO_PKG_VERSION")))
}

/// How long a response may be reused per its caching headers (RFC 9111): not at all
/// (`None`) with `no-store` or `no-cache`; else `max-age` less `Age`, else `Expires` less
/// `Date`.
pub fn freshness(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    use reqwest::header::{CACHE_CONTROL, DATE, EXPIRES};
    let text = |h| headers.get(h).and_then(|v| v.to_str().ok());
    let mut max_age = None;
    for directive in text(CACHE_CONTROL).unwrap_or("").split(',') {
        let d = directive.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return None;
        }
        if let Some(n) = d.strip_prefix("max-age=") {
            max_age = Some(n.trim_matches('"').parse::<u64>().ok()?);
        }
    }
    if let Some(secs) = max_age {
        // What a cache on the way already used up (RFC 9111 section 4.2.3).
        let age = text(reqwest::header::AGE).and_then(|a| a.trim().parse::<u64>().ok());
        let left = secs.saturating_sub(age.unwrap_or(0));
        return (left > 0).then(|| Duration::from_secs(left));
    }
    let date = |h| text(h).and_then(|t| chrono::DateTime::parse_from_rfc2822(t).ok());
    let expires = date(EXPIRES)?;
    let now = date(DATE).map_or_else(chrono::Utc::now, |d| d.with_timezone(&chrono::Utc));
    (expires.with_timezone(&chrono::Utc) - now).to_std().ok()
}
