//! Trust scoring: independent rules over one registration, each adding points (positive is
//! risk, negative is evidence of trust) with a detail a person can read. Weights and band
//! thresholds come from config; [`RULES`] lists every rule with its default.
//!
//! Usage drives expiry more than trust: never-used registrations and bursts of look-alike
//! ones are normal MCP behaviour, so their rules alone never leave the neutral band.

pub mod attestation;
pub mod catalog;
pub mod facts;
mod rules;
pub mod text;
pub mod uri;

pub use attestation::{Attestation, Publishers};
pub use catalog::{Catalog, KnownClient};

use crate::cluster::{fingerprint_of, ClusterId, FamilyIndex};
use crate::model::{Band, Registration};
use serde::Serialize;

macro_rules! rules {
    ($($variant:ident = $id:literal, $points:expr, $about:literal;)*) => {
        /// A scoring rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rule { $($variant),* }

        /// Every rule: (rule, id, default points, what it means).
        pub const RULES: &[(Rule, &str, i32, &str)] = &[$((Rule::$variant, $id, $points, $about)),*];
    };
}

rules! {
    CatalogSignature = "catalog.signature", -30, "matches the redirect signature of the known client it names";
    AttestationVerified = "attestation.verified", -60, "carries a software statement signed by a configured publisher";
    OriginAdmin = "origin.admin", -20, "was created by an administrator, not through open registration";
    RecentlyUsed = "usage.recent", -10, "was used within the last 30 days";
    ConsistentHttps = "metadata.consistent", -10, "redirects are https on one site, and its client_uri is on it too";
    ReverseDnsScheme = "redirect.reverse_dns_scheme", -5, "native app redirects use a reverse-DNS private-use scheme";
    ImpersonationCatalog = "impersonation.catalog", 70, "names a known client but redirects somewhere that client never does";
    ImpersonationCatalogLoopback = "impersonation.catalog_loopback", 20, "names a known client, loopback redirect not its usual one";
    ImpersonationConfusable = "impersonation.confusable", 60, "name looks like a known client's without being it";
    ImpersonationSoftwareId = "impersonation.software_id", 50, "sends a known client's software_id with redirects it never uses";
    ImpersonationFamily = "impersonation.family", 50, "copies the name of an established family of this store on other hosts";
    RedirectDangerousScheme = "redirect.dangerous_scheme", 100, "a redirect URI runs script or opens local content";
    RedirectHttp = "redirect.http_not_loopback", 40, "a redirect URI uses plain http on a non-loopback host";
    RedirectFragment = "redirect.fragment", 30, "a redirect URI has a fragment";
    RedirectWildcard = "redirect.wildcard", 40, "a redirect URI contains a wildcard";
    RedirectUserinfo = "redirect.userinfo", 40, "a redirect URI carries user information";
    RedirectPublicIp = "redirect.public_ip", 30, "a redirect URI goes to a public IP literal";
    RedirectSpecialIp = "redirect.special_ip", 50, "a redirect URI goes to a private, link-local or metadata address";
    RedirectLookalike = "redirect.loopback_lookalike", 60, "a redirect host dresses up as loopback";
    RedirectPrivateScheme = "redirect.private_scheme", 30, "a private-use scheme that is not reverse-DNS nor a known client's";
    RedirectManySites = "redirect.many_sites", 30, "redirect URIs spread over many unrelated sites";
    RedirectInvalid = "redirect.invalid", 30, "a redirect URI does not parse";
    RedirectMissing = "redirect.missing", 10, "uses authorization_code without any redirect URI";
    MetadataClientUriSite = "metadata.client_uri_site", 30, "client_uri is on another site than the redirect URIs";
    MetadataUriSite = "metadata.uri_site", 10, "logo, policy or terms URI on another site than the redirect URIs";
    MetadataNotHttps = "metadata.not_https", 10, "a client, logo, policy or terms URI is not https";
    NameHidden = "name.hidden_characters", 40, "client_name holds control, bidi-override or invisible characters";
    NameInvisible = "name.invisible", 50, "client_name shows nothing";
    NameUrlOrInstruction = "name.url_or_instruction", 30, "client_name holds a URL or an instruction to the reader";
    NameLength = "name.absurd_length", 30, "client_name is absurdly long";
    NameMissing = "name.missing", 5, "no client_name";
    GrantImplicit = "grant.implicit", 40, "asks for the implicit grant or tokens from the authorization endpoint";
    GrantPassword = "grant.password", 40, "asks for the resource owner password grant";
    GrantRisky = "grant.risky_combination", 30, "a public client asking for client_credentials";
    AttestationInvalid = "attestation.invalid", 50, "carries a software statement that does not verify";
    AttestationUnverified = "attestation.unverified", 10, "carries a software statement from a publisher with no configured key";
    CimdClientId = "cimd.client_id", 0, "client_id is a Client ID Metadata Document URL";
    CimdInvalid = "cimd.invalid_client_id", 30, "client_id is an https URL that breaks the CIMD rules";
    NeverUsed = "usage.never_used", 5, "never used, a day or more after registering";
    Burst = "behaviour.burst", 10, "one of a burst of near-identical registrations";
}

impl Rule {
    fn index(self) -> usize {
        RULES
            .iter()
            .position(|r| r.0 == self)
            .expect("every rule is listed")
    }

    pub fn id(self) -> &'static str {
        RULES[self.index()].1
    }

    pub fn parse(id: &str) -> Option<Rule> {
        RULES.iter().find(|r| r.1 == id).map(|r| r.0)
    }
}

/// One reason of a verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub rule: &'static str,
    pub points: i32,
    pub detail: String,
}

/// The judgement of one registration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub band: Band,
    pub score: i32,
    pub reasons: Vec<Reason>,
    pub cluster: ClusterId,
    /// Catalog id of the software it matches, if any.
    pub software: Option<String>,
}

/// Band thresholds: a score at or below `trusted_at` is trusted, at or above `suspicious_at`
/// suspicious, at or above `malicious_at` malicious; neutral in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bands {
    pub trusted_at: i32,
    pub suspicious_at: i32,
    pub malicious_at: i32,
}

impl Default for Bands {
    fn default() -> Self {
        Bands {
            trusted_at: -30,
            suspicious_at: 30,
            malicious_at: 70,
        }
    }
}

impl Bands {
    pub fn band(&self, score: i32) -> Band {
        if score >= self.malicious_at {
            Band::Malicious
        } else if score >= self.suspicious_at {
            Band::Suspicious
        } else if score <= self.trusted_at {
            Band::Trusted
        } else {
            Band::Neutral
        }
    }
}

/// The configured scorer: catalog, publisher keys, weights and bands.
#[derive(Debug)]
pub struct Scorer {
    pub catalog: Catalog,
    pub publishers: Publishers,
    points: Vec<i32>,
    pub bands: Bands,
}

impl Scorer {
    pub fn new(
        catalog: Catalog,
        publishers: Publishers,
        overrides: &[(Rule, i32)],
        bands: Bands,
    ) -> Scorer {
        let mut points: Vec<i32> = RULES.iter().map(|r| r.2).collect();
        for (rule, p) in overrides {
            points[rule.index()] = *p;
        }
        Scorer {
            catalog,
            publishers,
            points,
            bands,
        }
    }

    /// The built-in catalog, no publishers, default weights.
    pub fn with_defaults() -> Scorer {
        Scorer::new(
            Catalog::load(&[]).expect("the built-in catalog is valid"),
            Publishers::default(),
            &[],
            Bands::default(),
        )
    }

    pub fn points(&self, rule: Rule) -> i32 {
        self.points[rule.index()]
    }

    /// The family id and software of a registration (no family context needed).
    pub fn classify(&self, reg: &Registration) -> (ClusterId, Option<String>) {
        let facts = rules::facts(self, reg);
        (
            fingerprint_of(&facts),
            rules::identify(self, reg, &facts).software,
        )
    }

    /// Adds a registration to the families (first pass).
    pub fn observe(&self, families: &mut FamilyIndex, reg: &Registration) {
        let facts = rules::facts(self, reg);
        let id = fingerprint_of(&facts);
        let software = rules::identify(self, reg, &facts).software;
        families.observe(reg, &facts, id, software.as_deref());
    }

    /// Second pass: the verdict, given the store's frozen families.
    pub fn judge(
        &self,
        reg: &Registration,
        families: &FamilyIndex,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Verdict {
        rules::judge(self, reg, families, now)
    }
}

/// Scores a whole population in memory (two passes). For tests and small inputs.
pub fn judge_all(
    scorer: &Scorer,
    regs: &[Registration],
    now: chrono::DateTime<chrono::Utc>,
) -> (FamilyIndex, Vec<Verdict>) {
    let mut families = FamilyIndex::default();
    for r in regs {
        scorer.observe(&mut families, r);
    }
    families.freeze();
    let verdicts = regs
        .iter()
        .map(|r| scorer.judge(r, &families, now))
        .collect();
    (families, verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientMetadata, Origin, Usage};
    use chrono::{DateTime, Duration, Utc};

    fn mcp_remote(i: u32, created: DateTime<Utc>, usage: Usage) -> Registration {
        Registration {
            client_id: format!("r{i}"),
            metadata: ClientMetadata {
                client_name: Some("MCP CLI Proxy".into()),
                redirect_uris: vec![format!("http://localhost:{}/oauth/callback", 4000 + i)],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                response_types: vec!["code".into()],
                token_endpoint_auth_method: "none".into(),
                ..Default::default()
            },
            created_at: Some(created),
            updated_at: None,
            usage,
            origin: Origin::Dcr,
        }
    }

    #[test]
    fn bursts_and_never_used_alone_stay_neutral_or_better() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let start = now - Duration::days(3);
        let regs: Vec<Registration> = (0..12)
            .map(|i| mcp_remote(i, start + Duration::seconds(20 * i as i64), Usage::Never))
            .collect();
        let (families, verdicts) = judge_all(&Scorer::with_defaults(), &regs, now);
        assert_eq!(families.len(), 1, "one family of twelve installs");
        for v in &verdicts {
            let rules: Vec<&str> = v.reasons.iter().map(|r| r.rule).collect();
            assert!(
                rules.contains(&"behaviour.burst") && rules.contains(&"usage.never_used"),
                "{rules:?}"
            );
            assert!(matches!(v.band, Band::Neutral | Band::Trusted), "{v:?}");
            assert_eq!(v.software.as_deref(), Some("mcp-remote"));
        }
        // Spread over days, no burst; used recently, trust.
        let calm: Vec<Registration> = (0..12)
            .map(|i| {
                mcp_remote(
                    i,
                    start - Duration::days(i as i64),
                    Usage::LastUsed(now - Duration::hours(2)),
                )
            })
            .collect();
        let (_, verdicts) = judge_all(&Scorer::with_defaults(), &calm, now);
        for v in &verdicts {
            assert!(
                v.reasons.iter().all(|r| r.rule != "behaviour.burst"),
                "{v:?}"
            );
            assert_eq!(v.band, Band::Trusted, "{v:?}");
        }
    }

    #[test]
    fn weights_and_bands_come_from_config() {
        let scorer = Scorer::new(
            Catalog::load(&[]).unwrap(),
            Publishers::default(),
            &[(Rule::NeverUsed, 40)],
            Bands::default(),
        );
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let reg = mcp_remote(1, now - Duration::days(3), Usage::Never);
        let (_, v) = judge_all(&scorer, &[reg], now);
        assert_eq!(v[0].score, -30 + 40);
        assert_eq!(
            Bands {
                trusted_at: -30,
                suspicious_at: 30,
                malicious_at: 70
            }
            .band(70),
            Band::Malicious
        );
        assert_eq!(Bands::default().band(-30), Band::Trusted);
        assert_eq!(Bands::default().band(29), Band::Neutral);
        for (rule, id, ..) in RULES {
            assert_eq!(Rule::parse(id), Some(*rule));
        }
    }
}
