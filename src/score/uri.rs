//! URI facts a scorer needs: where a redirect goes (loopback, private, public, a name), the
//! "site" a host belongs to, and look-alikes of loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Where a host points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// 127.0.0.0/8, ::1, `localhost` and names under `.localhost` (RFC 6761).
    Loopback,
    /// A cloud metadata address (169.254.169.254, fd00:ec2::254).
    Metadata,
    /// Private, link-local, CGNAT, unique-local or unspecified addresses (RFC 6890).
    SpecialIp,
    /// A public IP literal.
    PublicIp,
    /// A DNS name that is not loopback.
    Name,
}

pub fn host_kind(host: &Host<&str>) -> HostKind {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                HostKind::Loopback
            } else {
                HostKind::Name
            }
        }
        Host::Ipv4(ip) => ip_kind(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => ip_kind(IpAddr::V6(*ip)),
    }
}

fn ip_kind(ip: IpAddr) -> HostKind {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None if v6.is_loopback() => HostKind::Loopback,
            None if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => HostKind::Metadata,
            None if v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6.is_multicast() =>
            {
                HostKind::SpecialIp
            }
            None => HostKind::PublicIp,
        },
    }
}

fn v4_kind(ip: Ipv4Addr) -> HostKind {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        HostKind::Loopback
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        HostKind::Metadata
    } else if ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || (a == 100 && (64..128).contains(&b))
        || a == 0
        || a >= 240
    {
        HostKind::SpecialIp
    } else {
        HostKind::PublicIp
    }
}

/// A DNS name dressed up as loopback: `localhost.example.com`, `127.0.0.1.nip.io`,
/// `127-0-0-1.sslip.io`: it reads as local and resolves wherever its owner wants.
pub fn loopback_lookalike(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") || h.parse::<IpAddr>().is_ok() {
        return false;
    }
    let labels: Vec<&str> = h.split('.').collect();
    labels
        .iter()
        .any(|l| *l == "localhost" || l.starts_with("localhost-") || l.ends_with("-localhost"))
        || h.starts_with("127.")
        || h.contains("127-0-0-1")
        || h.contains("127.0.0.1")
        || ["nip.io", "sslip.io", "xip.io", "localtest.me", "lvh.me"]
            .iter()
            .any(|s| h == *s || h.ends_with(&format!(".{s}")))
}

/// Second-level parts of public suffixes with two labels (co.uk, com.au, ...): enough to
/// group hosts by site without a full public suffix list.
const TWO_LABEL_SUFFIX_HEADS: &[&str] = &[
    "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go",
];

/// The site a host belongs to (its registrable domain, approximately): `api.acme.co.uk` →
/// `acme.co.uk`, `auth.example.com` → `example.com`. IP literals are their own site.
pub fn site(host: &str) -> String {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h.parse::<IpAddr>().is_ok() || h.starts_with('[') {
        return h;
    }
    let labels: Vec<&str> = h.split('.').collect();
    let n = labels.len();
    let keep =
        if n >= 3 && labels[n - 1].len() == 2 && TWO_LABEL_SUFFIX_HEADS.contains(&labels[n - 2]) {
            3
        } else {
            2
        };
    labels[n.saturating_sub(keep)..].join(".")
}

/// Why the host of an http(s) URI reads differently to a browser's URL parser (WHATWG, as
/// `url` parses) and to a plain RFC 3986 reader, or reads as loopback on some stacks: the
/// forms an attacker uses to slip past a redirect check. `url` is `raw` parsed.
pub fn ambiguous_host(raw: &str, url: &Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    if raw.trim() != raw || raw.contains(['\t', '\n', '\r']) {
        return Some("holds whitespace that browsers drop before parsing".into());
    }
    let after = &raw[raw.find(':')? + 1..];
    let Some(rest) = after.strip_prefix("//") else {
        return Some(format!(
            "browsers read a host ({}) where RFC 3986 reads none: there is no // after the scheme",
            url.host_str().unwrap_or_default()
        ));
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('\\') {
        return Some(format!(
            "a backslash in the authority: browsers read the host as {}, RFC 3986 as what follows the @ or the whole",
            url.host_str().unwrap_or_default()
        ));
    }
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            if userinfo.contains('@') {
                return Some("more than one @ in the authority".into());
            }
            if userinfo.contains('.') && !userinfo.contains(':') {
                return Some(format!(
                    "user information that reads as a host: the browser goes to {}",
                    url.host_str().unwrap_or_default()
                ));
            }
            hp
        }
        None => authority,
    };
    let host_raw = if host_port.starts_with('[') {
        &host_port[..host_port.find(']').map_or(host_port.len(), |i| i + 1)]
    } else {
        match host_port.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host_port,
        }
    };
    let parsed = url.host_str().unwrap_or_default();
    match url.host()? {
        Host::Ipv4(ip) if ip.is_unspecified() => {
            Some("0.0.0.0, which some systems connect to as this very host".into())
        }
        Host::Ipv4(ip) if host_raw != parsed => Some(format!(
            "{} is the IPv4 address {ip} written another way",
            crate::escape::esc(host_raw)
        )),
        Host::Ipv6(ip) if ip.to_ipv4_mapped().is_some() => Some(format!(
            "an IPv4-mapped IPv6 address, read as {}",
            ip.to_ipv4_mapped()
                .map(|v| v.to_string())
                .unwrap_or_default()
        )),
        Host::Ipv6(_) if !host_raw.eq_ignore_ascii_case(parsed) => Some(format!(
            "{} is the IPv6 address {parsed} written another way",
            crate::escape::esc(host_raw)
        )),
        Host::Domain(d) if host_raw.contains('%') => {
            Some(format!("a percent-encoded host, read as {d}"))
        }
        Host::Domain(d) if d.ends_with('.') => Some(format!(
            "a trailing dot: {d} is not the same string as {} to a redirect check",
            d.trim_end_matches('.')
        )),
        Host::Domain(d) if host_raw.is_ascii() && !host_raw.eq_ignore_ascii_case(d) => {
            Some(format!("{} is read as {d}", crate::escape::esc(host_raw)))
        }
        Host::Domain(d) if !host_raw.is_ascii() && !d.split('.').any(|l| l.starts_with("xn--")) => {
            Some(format!(
                "{} holds Unicode characters that map to the plain host {d}",
                crate::escape::esc(host_raw)
            ))
        }
        _ => None,
    }
}

/// A query parameter of a redirect URI whose value is itself a URL: the redirect endpoint
/// may forward the code there (open-redirector chaining, RFC 9700 §4.11).
pub fn embedded_url(url: &Url) -> Option<(String, String)> {
    url.query()?;
    url.query_pairs().find_map(|(k, v)| {
        let l = v.trim().to_ascii_lowercase();
        let looks = l.starts_with("http:")
            || l.starts_with("https:")
            || l.starts_with("//")
            || l.starts_with("\\\\")
            || l.contains("://")
            || l.contains("%3a%2f%2f");
        looks.then(|| (k.into_owned(), v.into_owned()))
    })
}

/// True for schemes a browser or the OS hands to a script or a local file: never a redirect.
pub fn dangerous_scheme(scheme: &str) -> bool {
    matches!(
        scheme,
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "view-source"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(u: &str) -> HostKind {
        host_kind(&Url::parse(u).unwrap().host().unwrap())
    }

    #[test]
    fn host_kinds() {
        assert_eq!(kind("http://localhost:1/"), HostKind::Loopback);
        assert_eq!(kind("http://127.0.0.2/"), HostKind::Loopback);
        assert_eq!(kind("http://[::1]:8/"), HostKind::Loopback);
        assert_eq!(kind("http://app.localhost/"), HostKind::Loopback);
        assert_eq!(kind("http://169.254.169.254/latest"), HostKind::Metadata);
        assert_eq!(kind("http://10.1.2.3/"), HostKind::SpecialIp);
        assert_eq!(kind("http://100.64.0.1/"), HostKind::SpecialIp);
        assert_eq!(kind("http://[fe80::1]/"), HostKind::SpecialIp);
        assert_eq!(kind("http://[::ffff:10.0.0.1]/"), HostKind::SpecialIp);
        assert_eq!(kind("http://8.8.8.8/"), HostKind::PublicIp);
        assert_eq!(kind("https://example.com/"), HostKind::Name);
        // The URL parser already reads odd IPv4 forms as the address they mean.
        assert_eq!(kind("http://0x7f.1/"), HostKind::Loopback);
        assert_eq!(kind("http://2130706433/"), HostKind::Loopback);
    }

    #[test]
    fn lookalikes() {
        for h in [
            "localhost.example.com",
            "127.0.0.1.nip.io",
            "127-0-0-1.sslip.io",
            "app.localtest.me",
            "my-localhost.evil.io",
        ] {
            assert!(loopback_lookalike(h), "{h}");
        }
        for h in [
            "localhost",
            "127.0.0.1",
            "dev.localhost",
            "example.com",
            "hostlocal.io",
        ] {
            assert!(!loopback_lookalike(h), "{h}");
        }
    }

    #[test]
    fn ambiguous_hosts_are_named_and_plain_ones_pass() {
        let why = |raw: &str| ambiguous_host(raw, &Url::parse(raw).unwrap());
        for raw in [
            "http://2130706433/cb",
            "http://0x7f000001/cb",
            "http://0177.0.0.1/cb",
            "http://127.1/cb",
            "http://[::ffff:127.0.0.1]/cb",
            "http://[0:0:0:0:0:0:0:1]/cb",
            "http://0.0.0.0:8080/cb",
            "https://evil.example\\@claude.ai/cb",
            "https://claude.ai@evil.example/cb",
            "https://a@b@evil.example/cb",
            "http://localhost./cb",
            "https://%63laude.ai/cb",
            "https://claude\u{3002}ai/cb",
            "http:evil.example/cb",
            "https://app.example.com/c\tb",
        ] {
            assert!(why(raw).is_some(), "{raw}");
        }
        for raw in [
            "http://127.0.0.1:33418/",
            "http://localhost:1234/callback",
            "http://[::1]:8080/cb",
            "https://LOGIN.Example.com/cb",
            "https://planner.café.example/cb",
            "https://user:pw@app.example.com/cb",
            "cursor://anysphere.cursor-mcp/oauth/callback",
        ] {
            assert_eq!(why(raw), None, "{raw}");
        }
    }

    #[test]
    fn embedded_urls_in_queries() {
        let q = |raw: &str| embedded_url(&Url::parse(raw).unwrap()).map(|(k, _)| k);
        assert_eq!(
            q("https://claude.ai/cb?next=https%3A%2F%2Fevil.example").as_deref(),
            Some("next")
        );
        assert_eq!(
            q("https://a.example/cb?r=//evil.example").as_deref(),
            Some("r")
        );
        assert_eq!(q("https://a.example/cb?tenant=eu&state=1"), None);
        assert_eq!(q("https://a.example/cb"), None);
    }

    #[test]
    fn sites() {
        assert_eq!(site("api.acme.co.uk"), "acme.co.uk");
        assert_eq!(site("auth.example.com"), "example.com");
        assert_eq!(site("example.com."), "example.com");
        assert_eq!(site("localhost"), "localhost");
        assert_eq!(site("10.0.0.1"), "10.0.0.1");
    }
}
