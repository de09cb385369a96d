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

/// The host of a URL as text (without brackets for IPv6), if it has one.
pub fn host_text(url: &Url) -> Option<String> {
    match url.host()? {
        Host::Domain(d) => Some(d.to_ascii_lowercase()),
        Host::Ipv4(ip) => Some(ip.to_string()),
        Host::Ipv6(ip) => Some(ip.to_string()),
    }
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
    fn sites() {
        assert_eq!(site("api.acme.co.uk"), "acme.co.uk");
        assert_eq!(site("auth.example.com"), "example.com");
        assert_eq!(site("example.com."), "example.com");
        assert_eq!(site("localhost"), "localhost");
        assert_eq!(site("10.0.0.1"), "10.0.0.1");
    }
}
