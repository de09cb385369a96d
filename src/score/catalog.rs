//! The catalog of known clients (config/known-clients.toml plus the operator's own entries):
//! which names, redirect signatures, auth methods and software ids each real client uses.

use super::text::{fold_name, skeleton};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use url::Url;

/// The catalog shipped with regwarden.
pub const BUILTIN: &str = include_str!("../../config/known-clients.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    client: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    name: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    redirects: Vec<String>,
    #[serde(default)]
    auth_methods: Vec<String>,
    #[serde(default)]
    software_ids: Vec<String>,
    #[serde(default)]
    schemes: Vec<String>,
    cimd_client_id: Option<String>,
    #[serde(default)]
    sites: Vec<String>,
}

/// One known client.
#[derive(Debug, Clone)]
pub struct KnownClient {
    pub id: String,
    pub name: String,
    pub auth_methods: Vec<String>,
    pub software_ids: Vec<String>,
    pub cimd_client_id: Option<String>,
    /// Sites (registrable domains) its display metadata may point at.
    pub sites: Vec<String>,
    signatures: Vec<Signature>,
    /// Redirect templates as written, for messages.
    pub redirects: Vec<String>,
}

/// A redirect URI pattern: `*` matches within one part (a port, a host, a path segment);
/// a trailing `*` matches any rest. A `:*` port also matches no port.
#[derive(Debug, Clone)]
struct Signature {
    pattern: String,
}

impl Signature {
    fn matches(&self, uri: &str) -> bool {
        if let Some(path) = self.self_hosted_path() {
            // Self-hosted software: the host, port and scheme are each operator's choice
            // (http on a LAN is a hygiene matter, judged apart); the path is the software's.
            let rest = uri
                .strip_prefix("https://")
                .or_else(|| uri.strip_prefix("http://"));
            return rest.is_some_and(|r| {
                let at = r.find('/').unwrap_or(r.len());
                glob(path.as_bytes(), &r.as_bytes()[at..])
            });
        }
        glob(self.pattern.as_bytes(), uri.as_bytes()) || {
            // A "host:*" pattern also accepts the host without a port.
            self.pattern.contains(":*")
                && glob(
                    self.pattern.replacen(":*", "", 1).as_bytes(),
                    uri.as_bytes(),
                )
        }
    }

    /// The path of a `https://*/path` signature.
    fn self_hosted_path(&self) -> Option<&str> {
        self.pattern.strip_prefix("https://*")
    }
}

/// `*` matches any run of bytes without `/`; a `*` at the very end matches everything.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', [])) => true,
        Some((b'*', rest)) => {
            let mut i = 0;
            loop {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if i == s.len() || s[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// A redirect URI in the form signatures are written in: lower-case scheme and host, the
/// port only when explicit, the path, no query or fragment.
pub fn canonical_redirect(url: &Url) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(url.scheme());
    out.push_str("://");
    if let Some(h) = url.host_str() {
        out.push_str(&h.to_ascii_lowercase());
    }
    if let Some(p) = url.port() {
        out.push(':');
        out.push_str(&p.to_string());
    }
    out.push_str(url.path());
    out
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog {source_name} is not valid: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// All known clients, indexed by folded name, name skeleton and software id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    clients: Vec<KnownClient>,
    by_name: HashMap<String, usize>,
    by_skeleton: HashMap<String, usize>,
    by_software_id: HashMap<String, usize>,
    schemes: Vec<String>,
    /// The texts it was loaded from, hashed: part of the scorer's fingerprint.
    inputs: Sha256,
}

impl Catalog {
    /// The built-in catalog plus the given extra files' contents (name, text).
    pub fn load(extra: &[(String, String)]) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        catalog.add("config/known-clients.toml (built in)", BUILTIN)?;
        for (name, text) in extra {
            catalog.add(name, text)?;
        }
        Ok(catalog)
    }

    /// A digest of every text the catalog was loaded from.
    pub fn digest(&self) -> [u8; 32] {
        self.inputs.clone().finalize().into()
    }

    fn add(&mut self, source_name: &str, text: &str) -> Result<(), CatalogError> {
        let invalid = |message: String| CatalogError::Invalid {
            source_name: source_name.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        self.inputs.update((text.len() as u64).to_le_bytes());
        self.inputs.update(text.as_bytes());
        for e in file.client {
            if self.clients.iter().any(|c| c.id == e.id) {
                return Err(invalid(format!("client id {} is defined twice", e.id)));
            }
            if e.id.is_empty()
                || !e
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(invalid(format!(
                    "client id {:?} must be a-z, 0-9 and -",
                    e.id
                )));
            }
            let idx = self.clients.len();
            let mut names = e.names.clone();
            names.push(e.name.clone());
            for n in &names {
                self.by_name.entry(fold_name(n)).or_insert(idx);
                self.by_skeleton.entry(skeleton(n)).or_insert(idx);
            }
            for s in &e.software_ids {
                self.by_software_id.entry(s.clone()).or_insert(idx);
            }
            self.schemes
                .extend(e.schemes.iter().map(|s| s.to_ascii_lowercase()));
            for r in &e.redirects {
                if !r.contains("://") {
                    return Err(invalid(format!(
                        "client {}: redirect signature {r:?} needs a scheme://",
                        e.id
                    )));
                }
            }
            self.clients.push(KnownClient {
                signatures: e
                    .redirects
                    .iter()
                    .map(|r| Signature { pattern: r.clone() })
                    .collect(),
                redirects: e.redirects,
                id: e.id,
                name: e.name,
                auth_methods: e.auth_methods,
                software_ids: e.software_ids,
                cimd_client_id: e.cimd_client_id,
                sites: e.sites.iter().map(|h| super::uri::site(h)).collect(),
            });
        }
        Ok(())
    }

    pub fn clients(&self) -> &[KnownClient] {
        &self.clients
    }

    pub fn get(&self, idx: usize) -> &KnownClient {
        &self.clients[idx]
    }

    pub fn by_id(&self, id: &str) -> Option<&KnownClient> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// The client a folded name claims to be.
    pub fn claimed_by_name(&self, folded: &str) -> Option<usize> {
        self.by_name.get(folded).copied()
    }

    /// The client a name looks like (same skeleton), when it is not literally its name.
    pub fn look_alike(&self, skeleton: &str) -> Option<usize> {
        self.by_skeleton.get(skeleton).copied()
    }

    pub fn claimed_by_software_id(&self, software_id: &str) -> Option<usize> {
        self.by_software_id.get(software_id).copied()
    }

    /// Whether a private-use scheme belongs to a known client.
    pub fn knows_scheme(&self, scheme: &str) -> bool {
        self.schemes.iter().any(|s| s == scheme)
    }

    /// Whether a redirect URI (canonical form) fits one of the client's signatures.
    pub fn fits(&self, idx: usize, canonical: &str) -> bool {
        self.clients[idx]
            .signatures
            .iter()
            .any(|s| s.matches(canonical))
    }

    /// Whether it fits a signature with a fixed host: one only the client's owner controls
    /// (a "https://*/..." signature fits anyone's domain, so it recognizes, never vouches).
    pub fn fits_fixed_host(&self, idx: usize, canonical: &str) -> bool {
        self.clients[idx]
            .signatures
            .iter()
            .any(|s| s.self_hosted_path().is_none() && s.matches(canonical))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(u: &str) -> String {
        canonical_redirect(&Url::parse(u).unwrap())
    }

    #[test]
    fn builtin_catalog_loads_and_indexes_names() {
        let c = Catalog::load(&[]).unwrap();
        assert!(c.clients().len() >= 11);
        let cc = c.claimed_by_name("claude code").unwrap();
        assert_eq!(c.get(cc).id, "claude-code");
        assert_eq!(
            c.get(c.claimed_by_name("mcp cli proxy").unwrap()).id,
            "mcp-remote"
        );
        assert_eq!(
            c.get(
                c.claimed_by_software_id("2e6dc280-f3c3-4e01-99a7-8181dbd1d23d")
                    .unwrap()
            )
            .id,
            "mcp-remote"
        );
        assert!(c.knows_scheme("cursor"));
    }

    #[test]
    fn signatures_are_port_agnostic_on_loopback() {
        let c = Catalog::load(&[]).unwrap();
        let cc = c.claimed_by_name("claude code").unwrap();
        assert!(c.fits(cc, &canon("http://localhost:54321/callback")));
        assert!(c.fits(cc, &canon("http://127.0.0.1:1/callback")));
        assert!(!c.fits(cc, &canon("http://localhost:1/callback/../x")));
        assert!(!c.fits(cc, &canon("https://evil.example/callback")));
        let vs = c.claimed_by_name("visual studio code").unwrap();
        assert!(c.fits(vs, &canon("http://127.0.0.1/")));
        assert!(c.fits(vs, &canon("http://127.0.0.1:33418/")));
        assert!(!c.fits(vs, &canon("http://127.0.0.1:33418/steal")));
        let lc = c.claimed_by_name("librechat mcp client").unwrap();
        assert!(c.fits(
            lc,
            &canon("https://chat.acme.org/api/mcp/github/oauth/callback")
        ));
        assert!(!c.fits(
            lc,
            &canon("https://chat.acme.org/api/mcp/a/b/oauth/callback")
        ));
        let cl = c.claimed_by_name("cline").unwrap();
        assert!(c.fits(
            cl,
            &canon("vscode://saoudrizwan.claude-dev/mcp-auth/callback")
        ));
    }

    #[test]
    fn operators_add_clients_and_mistakes_are_named() {
        let ours = "[[client]]\nid = \"acme-portal\"\nname = \"Acme Portal\"\nredirects = [\"https://portal.acme.com/cb\"]\n";
        let c = Catalog::load(&[("ours.toml".into(), ours.into())]).unwrap();
        assert!(c.by_id("acme-portal").is_some());
        let dup = "[[client]]\nid = \"cursor\"\nname = \"x\"\n";
        assert!(Catalog::load(&[("dup.toml".into(), dup.into())])
            .unwrap_err()
            .to_string()
            .contains("defined twice"));
        let bad = "[[client]]\nid = \"x\"\nname = \"x\"\ncolour = 1\n";
        assert!(Catalog::load(&[("bad.toml".into(), bad.into())])
            .unwrap_err()
            .to_string()
            .contains("bad.toml"));
    }
}
