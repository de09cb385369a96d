//! Trust scoring: independent rules over one registration, each adding points (positive is
//! risk, negative is evidence of trust) with a detail a person can read. Weights and band
//! thresholds come from config; [`RULES`] lists every rule with its tier and default.
//!
//! A verdict depends on the registration itself, the catalog, the operator's config and
//! verified attestations, never on arrival order or on other registrations an attacker could
//! make (ARCHITECTURE.md invariant 10). Evidence comes in tiers ([`Tier`]): weak signals (metadata
//! consistency, unusual but legal shapes) never flag on their own, hygiene violations of the
//! standards may flag but never reach malicious, and only strong evidence (impersonation of a
//! vouched identity, dangerous or ambiguous redirects, forged attestation, SSRF bait aimed at
//! cloud metadata) can. Notes carry no points: usage, bursts and name collisions between
//! families are shown to a person, not scored.

pub mod attestation;
pub mod catalog;
pub mod facts;
pub mod family;
mod rules;
pub mod text;
pub mod uri;
pub mod vouch;

pub use attestation::{Attestation, Publishers};
pub use catalog::{Catalog, KnownClient};
pub use facts::CimdEvidence;

use crate::model::{Band, Registration};
use family::{fingerprint_of, FamilyId, FamilyIndex, Member};
use serde::Serialize;
use sha2::Digest;

/// How much a rule's evidence may weigh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Evidence of trust a registrant cannot forge (catalog, admin origin, verified statement).
    Trust,
    /// Shown, never scored.
    Note,
    /// Alone (even together) stays below suspicious.
    Weak,
    /// A violation of the standards: may flag, never reaches malicious without strong evidence.
    Hygiene,
    /// Strong evidence: may reach malicious.
    Strong,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Trust => "trust",
            Tier::Note => "note",
            Tier::Weak => "weak",
            Tier::Hygiene => "hygiene",
            Tier::Strong => "strong",
        }
    }
}

macro_rules! rules {
    ($($variant:ident = $id:literal, $tier:ident, $points:expr, $about:literal;)*) => {
        /// A scoring rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rule { $($variant),* }

        /// Every rule: (rule, id, tier, default points, what it means).
        pub const RULES: &[(Rule, &str, Tier, i32, &str)] =
            &[$((Rule::$variant, $id, Tier::$tier, $points, $about)),*];
    };
}

rules! {
    CatalogSignature = "catalog.signature", Trust, -30, "matches the redirect signature of the known client it names";
    AttestationVerified = "attestation.verified", Trust, -60, "carries a software statement signed by a configured publisher";
    OriginAdmin = "origin.admin", Trust, -20, "was created by an administrator, not through open registration";
    CimdVerified = "cimd.verified", Trust, -30, "its client_id's metadata document was fetched and agrees with it (the URL host's owner publishes it)";
    CimdClientId = "cimd.client_id", Note, 0, "client_id is a Client ID Metadata Document URL";
    RecentlyUsed = "usage.recent", Note, 0, "was used within the last 30 days (anyone can use their own registration)";
    Burst = "behaviour.burst", Note, 0, "one of a burst of near-identical registrations (normal for MCP clients)";
    NameShared = "family.name_shared", Note, 0, "another family of the store, on other sites, has the same name; neither is vouched for";
    ImpersonationCatalog = "impersonation.catalog", Strong, 70, "names a known client but redirects somewhere that client never does";
    ImpersonationSoftwareId = "impersonation.software_id", Strong, 70, "sends a known client's software_id with redirects it never uses";
    ImpersonationConfusable = "impersonation.confusable", Strong, 60, "name looks like a known client's without being it";
    ImpersonationOperatorApp = "impersonation.operator_app", Strong, 50, "copies the name of an app an administrator created, on other hosts";
    RedirectDangerousScheme = "redirect.dangerous_scheme", Strong, 100, "a redirect URI runs script or opens local content";
    RedirectAmbiguousHost = "redirect.ambiguous_host", Strong, 70, "a redirect host that URL parsers read differently (numeric, encoded, mapped, backslash)";
    AttestationForged = "attestation.forged", Strong, 70, "a software statement in a configured publisher's name that does not verify";
    CimdMismatch = "cimd.mismatch", Strong, 70, "its client_id's metadata document contradicts it or breaks the CIMD rules";
    FetchMetadataAddress = "fetch.metadata_address", Strong, 70, "jwks_uri, sector_identifier_uri or request_uris aim at a cloud metadata address";
    ImpersonationDisplay = "impersonation.display_metadata", Hygiene, 40, "a known client's registration whose logo, home, policy or terms URI is on a foreign host";
    RedirectHttp = "redirect.http_not_loopback", Hygiene, 40, "a redirect URI uses plain http on a non-loopback host";
    RedirectFragment = "redirect.fragment", Hygiene, 30, "a redirect URI has a fragment";
    RedirectWildcard = "redirect.wildcard", Hygiene, 40, "a redirect URI contains a wildcard";
    RedirectUserinfo = "redirect.userinfo", Hygiene, 40, "a redirect URI carries user information";
    RedirectLookalike = "redirect.loopback_lookalike", Hygiene, 60, "a redirect host dresses up as loopback";
    RedirectMetadataIp = "redirect.metadata_address", Hygiene, 50, "a redirect URI goes to a cloud metadata address";
    RedirectEmbeddedUrl = "redirect.embedded_url", Hygiene, 30, "a redirect URI's query carries another URL (open-redirector chaining)";
    RedirectInvalid = "redirect.invalid", Hygiene, 30, "a redirect URI does not parse";
    FetchSpecialAddress = "fetch.special_address", Hygiene, 50, "jwks_uri, sector_identifier_uri or request_uris aim at a local, private or non-https address";
    NameHidden = "name.hidden_characters", Hygiene, 40, "client_name holds control, bidi-override or invisible characters";
    NameInvisible = "name.invisible", Hygiene, 50, "client_name shows nothing";
    NameUrlOrInstruction = "name.url_or_instruction", Hygiene, 40, "client_name holds a URL or an instruction to the reader";
    NameAuthority = "name.authority_claim", Hygiene, 40, "client_name claims a status or authority (official, verified, security team)";
    NameMixedScript = "name.mixed_script", Hygiene, 50, "a word of client_name mixes scripts, or looks Latin in another script (UTS #39)";
    NameLength = "name.absurd_length", Hygiene, 30, "client_name is absurdly long";
    GrantImplicit = "grant.implicit", Hygiene, 40, "asks for the implicit grant or tokens from the authorization endpoint";
    GrantPassword = "grant.password", Hygiene, 40, "asks for the resource owner password grant";
    GrantRisky = "grant.risky_combination", Hygiene, 40, "a public client asking for client_credentials";
    AttestationInvalid = "attestation.invalid", Hygiene, 30, "carries a software statement that is not a readable JWT";
    AttestationUnsigned = "attestation.unsigned", Hygiene, 50, "carries a software statement with alg none";
    AttestationContradicts = "attestation.contradicts", Hygiene, 40, "carries an unverified software statement whose claims contradict the metadata";
    CimdInvalid = "cimd.invalid_client_id", Hygiene, 30, "client_id is an https URL that breaks the CIMD rules";
    ImpersonationCatalogLoopback = "impersonation.catalog_loopback", Weak, 20, "names a known client, loopback redirect not its usual one";
    RedirectPublicIp = "redirect.public_ip", Weak, 20, "a redirect URI goes to a public IP literal";
    RedirectSpecialIp = "redirect.special_ip", Weak, 20, "a redirect URI goes to a private, link-local or CGNAT address";
    RedirectPrivateScheme = "redirect.private_scheme", Weak, 15, "a private-use scheme that is not reverse-DNS nor a known client's";
    RedirectManySites = "redirect.many_sites", Weak, 20, "redirect URIs spread over many unrelated sites";
    RedirectMissing = "redirect.missing", Weak, 10, "uses authorization_code without any redirect URI";
    MetadataClientUriSite = "metadata.client_uri_site", Weak, 15, "client_uri is on another site than the redirect URIs";
    MetadataUriSite = "metadata.uri_site", Weak, 10, "logo, policy or terms URI on another site than the redirect URIs";
    MetadataNotHttps = "metadata.not_https", Weak, 10, "a client, logo, policy or terms URI is not https";
    NameMissing = "name.missing", Weak, 5, "no client_name";
    AttestationUnverified = "attestation.unverified", Weak, 10, "carries a software statement from a publisher with no configured key";
    NeverUsed = "usage.never_used", Weak, 5, "never used, a day or more after registering";
}

impl Rule {
    /// Its row in [`RULES`]: the enum and the table are written by one macro, in one order.
    fn index(self) -> usize {
        self as usize
    }

    pub fn id(self) -> &'static str {
        RULES[self.index()].1
    }

    pub fn tier(self) -> Tier {
        RULES[self.index()].2
    }

    pub fn parse(id: &str) -> Option<Rule> {
        RULES.iter().find(|r| r.1 == id).map(|r| r.0)
    }
}

/// Bumped whenever a rule's outcome or detail changes for the same input, so that stores
/// judged by an earlier build are judged again in full (see [`Scorer::fingerprint`]).
pub const RULES_REVISION: u32 = 2;

/// The reason id that shows how much weak or hygiene evidence was capped.
pub const CAPPED: &str = "score.capped";

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
    /// Its family (the contract of `regwarden score` calls it the cluster).
    #[serde(rename = "cluster")]
    pub family: FamilyId,
    /// Catalog id of the software it matches, if any.
    pub software: Option<String>,
    /// What it adds to its family (stored with the verdict, not shown).
    #[serde(skip)]
    pub member: family::Member,
    /// When the verdict's time-dependent part next changes by time alone (Unix seconds): a
    /// recent use ageing past 30 days, an unused registration turning a day old.
    #[serde(skip)]
    pub due: Option<i64>,
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
#[derive(Debug, Clone)]
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
        let mut points: Vec<i32> = RULES.iter().map(|r| r.3).collect();
        for (rule, p) in overrides {
            // Notes are shown, never scored (config refuses points for them).
            if rule.tier() != Tier::Note {
                points[rule.index()] = *p;
            }
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

    /// What verdicts depend on besides the registrations: this build's rules, the catalog,
    /// the publishers' keys, the weights and the bands, as 16 hex characters. A store judged
    /// with another fingerprint is judged again in full.
    pub fn fingerprint(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(RULES_REVISION.to_le_bytes());
        h.update(self.catalog.digest());
        h.update(self.publishers.digest());
        for p in &self.points {
            h.update(p.to_le_bytes());
        }
        let b = self.bands;
        for t in [b.trusted_at, b.suspicious_at, b.malicious_at] {
            h.update(t.to_le_bytes());
        }
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn points(&self, rule: Rule) -> i32 {
        self.points[rule.index()]
    }

    /// The score of tiered points: weak evidence counts at most up to just below
    /// suspicious, weak and hygiene evidence together at most up to just below malicious;
    /// trust and strong evidence count in full. Returns the score and how much was capped.
    pub fn total(&self, points: impl IntoIterator<Item = (Tier, i32)>) -> (i32, i32) {
        let (mut trust, mut weak, mut hygiene, mut strong) = (0i32, 0i32, 0i32, 0i32);
        for (tier, p) in points {
            match tier {
                Tier::Trust => trust += p,
                Tier::Weak => weak += p,
                Tier::Hygiene => hygiene += p,
                Tier::Strong => strong += p,
                Tier::Note => {}
            }
        }
        let soft =
            (weak.min(self.bands.suspicious_at - 1) + hygiene).min(self.bands.malicious_at - 1);
        (trust + soft + strong, (weak + hygiene - soft).max(0))
    }

    /// The family id and software of a registration (no family context needed).
    pub fn classify(&self, reg: &Registration) -> (FamilyId, Option<String>) {
        let facts = rules::facts(self, reg);
        (
            fingerprint_of(&facts),
            rules::identify(self, reg, &facts).software,
        )
    }

    /// What a registration adds to its family.
    pub fn member(&self, reg: &Registration) -> Member {
        let facts = rules::facts(self, reg);
        let identity = rules::identify(self, reg, &facts);
        rules::member(reg, &facts, &identity)
    }

    /// Adds a registration to the families (first pass).
    pub fn observe(&self, families: &mut FamilyIndex, reg: &Registration) {
        families.add(&self.member(reg));
    }

    /// Second pass: the verdict, given the store's frozen families.
    pub fn judge(
        &self,
        reg: &Registration,
        families: &FamilyIndex,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Verdict {
        rules::judge(self, reg, families, now, None)
    }

    /// Whether the family notes of a verdict say anything of `member` among `families`. They
    /// depend on nothing else: a verdict given with no families differs from one given with
    /// them only where this holds.
    pub fn family_notes(&self, member: &Member, families: &FamilyIndex) -> bool {
        rules::family_notes(self, member, families)
    }

    /// The score, band and reasons of a verdict given with `families`, from the reasons
    /// (rule, points, detail) of the one given to the same registration with none, and what
    /// it adds to its family. `None` when a reason is none of this scorer's rules.
    pub fn with_family(
        &self,
        alone: &[(&str, i32, &str)],
        member: &Member,
        families: &FamilyIndex,
    ) -> Option<(i32, Band, Vec<Reason>)> {
        let (score, reasons) = rules::with_family(self, alone, member, families)?;
        Some((score, self.bands.band(score), reasons))
    }

    /// As [`Scorer::judge`], with what fetching its metadata document showed (CIMD clients).
    pub fn judge_with(
        &self,
        reg: &Registration,
        families: &FamilyIndex,
        now: chrono::DateTime<chrono::Utc>,
        cimd: Option<&CimdEvidence>,
    ) -> Verdict {
        rules::judge(self, reg, families, now, cimd)
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
mod evidence_tests;

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
            created_from: Some(crate::model::CreatedFrom::Store),
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
    fn tiers_cap_what_weak_and_hygiene_evidence_can_do() {
        let s = Scorer::with_defaults();
        let t = |v: &[(Tier, i32)]| s.total(v.iter().copied()).0;
        assert_eq!(
            t(&[(Tier::Weak, 20), (Tier::Weak, 20)]),
            29,
            "weak never flags"
        );
        assert_eq!(
            t(&[(Tier::Hygiene, 40), (Tier::Hygiene, 40)]),
            69,
            "never malicious"
        );
        assert_eq!(t(&[(Tier::Weak, 20), (Tier::Hygiene, 30)]), 50);
        assert_eq!(t(&[(Tier::Weak, 29), (Tier::Hygiene, 60)]), 69);
        assert_eq!(t(&[(Tier::Strong, 70), (Tier::Hygiene, 40)]), 110);
        assert_eq!(t(&[(Tier::Trust, -30), (Tier::Weak, 50)]), -1);
        assert_eq!(t(&[(Tier::Note, 500)]), 0);
        assert_eq!(s.total([(Tier::Weak, 50)]).1, 21, "what was capped");
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
        // A weak rule, even weighted up, counts at most suspicious_at - 1.
        assert_eq!(v[0].score, -30 + 29);
        let sum: i32 = v[0].reasons.iter().map(|r| r.points).sum();
        assert_eq!(sum, v[0].score, "the capped reason keeps the sum: {v:?}");
        assert!(v[0].reasons.iter().any(|r| r.rule == CAPPED));
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
        for (i, (rule, id, ..)) in RULES.iter().enumerate() {
            assert_eq!(Rule::parse(id), Some(*rule));
            assert_eq!(rule.index(), i);
        }
    }
}
