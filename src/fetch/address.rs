//! Which destinations an outbound fetch may reach: every special-use address of RFC 6890 and
//! its IPv6 peers is refused, and so is every IPv6 address that embeds or translates to an
//! IPv4 one (mapped, compatible, NAT64, 6to4, Teredo), whatever IPv4 address it carries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a fetch was refused: a fixed vocabulary, printed with every refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The URL is not https.
    NotHttps,
    /// The URL carries user information.
    Userinfo,
    /// The URL's host is an IP literal (in any notation); only DNS names are fetched.
    IpLiteral,
    /// The URL does not parse or has no host.
    BadUrl,
    /// A name resolved to no address at all.
    NoAddress,
    Unspecified,
    Loopback,
    Private,
    SharedCgnat,
    LinkLocal,
    Metadata,
    ProtocolAssignment,
    Documentation,
    Benchmarking,
    Multicast,
    Reserved,
    Broadcast,
    UniqueLocal,
    Ipv4Embedded,
    Nat64,
    Discard,
}

impl Rule {
    /// The rule's id, as printed and counted.
    pub fn id(self) -> &'static str {
        match self {
            Rule::NotHttps => "url.not_https",
            Rule::Userinfo => "url.userinfo",
            Rule::IpLiteral => "url.ip_literal",
            Rule::BadUrl => "url.invalid",
            Rule::NoAddress => "dns.no_address",
            Rule::Unspecified => "address.unspecified",
            Rule::Loopback => "address.loopback",
            Rule::Private => "address.private",
            Rule::SharedCgnat => "address.cgnat",
            Rule::LinkLocal => "address.link_local",
            Rule::Metadata => "address.metadata",
            Rule::ProtocolAssignment => "address.protocol_assignment",
            Rule::Documentation => "address.documentation",
            Rule::Benchmarking => "address.benchmarking",
            Rule::Multicast => "address.multicast",
            Rule::Reserved => "address.reserved",
            Rule::Broadcast => "address.broadcast",
            Rule::UniqueLocal => "address.unique_local",
            Rule::Ipv4Embedded => "address.ipv4_embedded",
            Rule::Nat64 => "address.nat64",
            Rule::Discard => "address.discard",
        }
    }

    /// What an address refused by this rule is, with the standard that says so.
    fn what(self) -> &'static str {
        match self {
            Rule::Unspecified => "unspecified (\"this network\", RFC 1122)",
            Rule::Loopback => "loopback (RFC 1122, RFC 4291)",
            Rule::Private => "private (RFC 1918)",
            Rule::SharedCgnat => "shared carrier-grade NAT space (RFC 6598)",
            Rule::LinkLocal => "link-local (RFC 3927, RFC 4291)",
            Rule::Metadata => "a cloud metadata address",
            Rule::ProtocolAssignment => "reserved for IETF protocol assignments (RFC 6890)",
            Rule::Documentation => "a documentation address (RFC 5737, RFC 3849, RFC 9637)",
            Rule::Benchmarking => "reserved for benchmarking (RFC 2544)",
            Rule::Multicast => "multicast (RFC 5771, RFC 4291)",
            Rule::Reserved => "reserved, not global unicast (RFC 1112, RFC 4291)",
            Rule::Broadcast => "the limited broadcast address (RFC 919)",
            Rule::UniqueLocal => "unique-local (RFC 4193)",
            Rule::Ipv4Embedded => {
                "an IPv6 form of an IPv4 address (mapped, compatible, 6to4 or Teredo: RFC 4291, RFC 3056, RFC 4380)"
            }
            Rule::Nat64 => "a NAT64 translation of an IPv4 address (RFC 6052, RFC 8215)",
            Rule::Discard => "discard-only (RFC 6666)",
            Rule::NotHttps | Rule::Userinfo | Rule::IpLiteral | Rule::BadUrl | Rule::NoAddress => {
                "refused"
            }
        }
    }
}

/// A refused fetch: the rule and what it was refused on. Its text names both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub detail: String,
}

impl Refusal {
    pub fn new(rule: Rule, detail: impl Into<String>) -> Refusal {
        Refusal {
            rule,
            detail: detail.into(),
        }
    }

    /// The refusal of an address; `context` says where it came from ("evil.example
    /// resolves to", "host 0x7f.1 is").
    pub fn address(ip: IpAddr, rule: Rule, context: Option<&str>) -> Refusal {
        let detail = match context {
            None => format!("{ip} is {}", rule.what()),
            Some(c) => format!("{c} {ip}, which is {}", rule.what()),
        };
        Refusal::new(rule, detail)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.detail, self.rule.id())
    }
}

impl std::error::Error for Refusal {}

/// The rule that refuses `ip`, or `None` for an address a fetch may connect to.
pub fn refused(ip: IpAddr) -> Option<Rule> {
    match ip {
        IpAddr::V4(v4) => v4_rule(v4),
        IpAddr::V6(v6) => v6_rule(v6),
    }
}

fn v4_rule(ip: Ipv4Addr) -> Option<Rule> {
    let [a, b, c, _] = ip.octets();
    let rule = match (a, b, c) {
        // AWS, GCP, Azure, OpenStack at 169.254.169.254; Alibaba at 100.100.100.200.
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => Rule::Metadata,
        _ if ip == Ipv4Addr::new(100, 100, 100, 200) => Rule::Metadata,
        _ if ip.is_broadcast() => Rule::Broadcast,
        (0, ..) => Rule::Unspecified,
        (10, ..) => Rule::Private,
        (100, 64..=127, _) => Rule::SharedCgnat,
        (127, ..) => Rule::Loopback,
        (169, 254, _) => Rule::LinkLocal,
        (172, 16..=31, _) => Rule::Private,
        (192, 0, 0) => Rule::ProtocolAssignment,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Rule::Documentation,
        // The 6to4 relay anycast prefix (RFC 7526, deprecated).
        (192, 88, 99) => Rule::Reserved,
        (192, 168, _) => Rule::Private,
        (198, 18..=19, _) => Rule::Benchmarking,
        (224..=239, ..) => Rule::Multicast,
        (240..=255, ..) => Rule::Reserved,
        _ => return None,
    };
    Some(rule)
}

fn v6_rule(ip: Ipv6Addr) -> Option<Rule> {
    let s = ip.segments();
    let rule = if ip.is_unspecified() {
        Rule::Unspecified
    } else if ip.is_loopback() {
        Rule::Loopback
    } else if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        // AWS's IPv6 instance metadata endpoint.
        Rule::Metadata
    } else if s[..6] == [0, 0, 0, 0, 0, 0xffff] || s[..6] == [0; 6] {
        // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d).
        Rule::Ipv4Embedded
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..3] == [0x64, 0xff9b, 1] {
        Rule::Nat64
    } else if s[..4] == [0x100, 0, 0, 0] {
        Rule::Discard
    } else if s[0] == 0x2002 || s[..2] == [0x2001, 0] {
        // 6to4 and Teredo carry an IPv4 address in their bits.
        Rule::Ipv4Embedded
    } else if s[0] == 0x2001 && s[1] == 0xdb8 || s[0] & 0xfff0 == 0x3ff0 {
        Rule::Documentation
    } else if s[0] == 0x2001 && s[1] < 0x200 {
        Rule::ProtocolAssignment
    } else if s[0] & 0xfe00 == 0xfc00 {
        Rule::UniqueLocal
    } else if s[0] & 0xffc0 == 0xfe80 {
        Rule::LinkLocal
    } else if s[0] & 0xff00 == 0xff00 {
        Rule::Multicast
    } else if s[0] & 0xe000 != 0x2000 {
        // Outside 2000::/3 nothing is global unicast today (site-local fec0::/10 included).
        Rule::Reserved
    } else {
        return None;
    };
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        refused(s.parse().unwrap()).map(Rule::id)
    }

    #[test]
    fn every_special_use_ipv4_block_is_refused() {
        for (ip, id) in [
            ("0.0.0.0", "address.unspecified"),
            ("0.1.2.3", "address.unspecified"),
            ("10.0.0.1", "address.private"),
            ("172.16.0.1", "address.private"),
            ("172.31.255.255", "address.private"),
            ("192.168.1.1", "address.private"),
            ("100.64.0.1", "address.cgnat"),
            ("100.127.255.254", "address.cgnat"),
            ("127.0.0.1", "address.loopback"),
            ("127.255.255.254", "address.loopback"),
            ("169.254.0.1", "address.link_local"),
            ("169.254.169.254", "address.metadata"),
            ("100.100.100.200", "address.metadata"),
            ("192.0.0.8", "address.protocol_assignment"),
            ("192.0.2.1", "address.documentation"),
            ("198.51.100.7", "address.documentation"),
            ("203.0.113.9", "address.documentation"),
            ("198.18.0.1", "address.benchmarking"),
            ("198.19.255.1", "address.benchmarking"),
            ("224.0.0.1", "address.multicast"),
            ("239.255.255.250", "address.multicast"),
            ("240.0.0.1", "address.reserved"),
            ("192.88.99.1", "address.reserved"),
            ("255.255.255.255", "address.broadcast"),
        ] {
            assert_eq!(rule(ip), Some(id), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_neighbours_of_special_blocks_are_allowed() {
        for ip in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(rule(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_special_use_ipv6_block_and_ipv4_form_is_refused() {
        for (ip, id) in [
            ("::", "address.unspecified"),
            ("::1", "address.loopback"),
            ("fd00:ec2::254", "address.metadata"),
            ("::ffff:127.0.0.1", "address.ipv4_embedded"),
            ("::ffff:8.8.8.8", "address.ipv4_embedded"),
            ("::ffff:a9fe:a9fe", "address.ipv4_embedded"),
            ("::127.0.0.1", "address.ipv4_embedded"),
            ("64:ff9b::a9fe:a9fe", "address.nat64"),
            ("64:ff9b:1::10.0.0.1", "address.nat64"),
            ("100::1", "address.discard"),
            ("2002:7f00:1::", "address.ipv4_embedded"),
            ("2001:0:4136:e378::1", "address.ipv4_embedded"),
            ("2001:db8::1", "address.documentation"),
            ("3fff::1", "address.documentation"),
            ("2001:2::1", "address.protocol_assignment"),
            ("fc00::1", "address.unique_local"),
            ("fd12:3456::1", "address.unique_local"),
            ("fe80::1", "address.link_local"),
            ("febf::1", "address.link_local"),
            ("fec0::1", "address.reserved"),
            ("ff02::1", "address.multicast"),
            ("4000::1", "address.reserved"),
            ("::2", "address.ipv4_embedded"),
        ] {
            assert_eq!(rule(ip), Some(id), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "2001:4860::8888",
        ] {
            assert_eq!(rule(ip), None, "{ip}");
        }
    }

    #[test]
    fn a_refusal_says_what_the_address_is_and_which_rule() {
        let r = Refusal::address(
            "10.0.0.1".parse().unwrap(),
            Rule::Private,
            Some("evil.example resolves to"),
        );
        assert_eq!(
            r.to_string(),
            "evil.example resolves to 10.0.0.1, which is private (RFC 1918) [address.private]"
        );
        let r = Refusal::address("127.0.0.1".parse().unwrap(), Rule::Loopback, None);
        assert_eq!(
            r.to_string(),
            "127.0.0.1 is loopback (RFC 1122, RFC 4291) [address.loopback]"
        );
    }
}
