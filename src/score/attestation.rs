//! Software statements (RFC 7591 §2.3): a JWT signed by the software's publisher. Trusted only
//! when its signature verifies against a key the operator configured for its issuer.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One publisher's keys, from `[[publishers]]` in the config.
#[derive(Clone)]
struct PublisherKey {
    kid: Option<String>,
    key: DecodingKey,
    alg: Option<Algorithm>,
}

/// Keys by issuer.
#[derive(Default, Clone)]
pub struct Publishers {
    by_issuer: HashMap<String, Vec<PublisherKey>>,
    /// Issuers and key sets as added, hashed: part of the scorer's fingerprint.
    inputs: Sha256,
}

impl std::fmt::Debug for Publishers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_issuer.keys()).finish()
    }
}

/// The outcome of checking a software statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Attestation {
    /// Signed by the configured publisher of `issuer`; its claims.
    Verified {
        issuer: String,
        claims: Map<String, Value>,
    },
    /// No key is configured for the issuer it names; its claims, unverified.
    Unverifiable {
        issuer: String,
        claims: Map<String, Value>,
    },
    /// Names a configured publisher but its signature or validity does not check out.
    Forged { issuer: String, reason: String },
    /// `alg: none`: no signature at all; its claims, unverified.
    Unsigned {
        issuer: Option<String>,
        claims: Map<String, Value>,
    },
    /// Not a JWT.
    Invalid { reason: String },
}

/// The header and claims of a compact JWS, read without checking anything.
fn peek(statement: &str) -> Option<(Map<String, Value>, Map<String, Value>)> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut parts = statement.splitn(3, '.');
    let mut part = || -> Option<Map<String, Value>> {
        let raw = URL_SAFE_NO_PAD
            .decode(parts.next()?.trim_end_matches('='))
            .ok()?;
        match serde_json::from_slice(&raw).ok()? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    };
    Some((part()?, part()?))
}

impl Publishers {
    /// Adds an issuer's JWKS (JSON text). Errors name what is wrong.
    pub fn add(&mut self, issuer: &str, jwks: &str) -> Result<(), String> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| format!("not a JWKS: {e}"))?;
        if set.keys.is_empty() {
            return Err("the JWKS holds no keys".into());
        }
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| format!("unusable key {:?}: {e}", jwk.common.key_id))?;
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            keys.push(PublisherKey {
                kid: jwk.common.key_id.clone(),
                key,
                alg,
            });
        }
        self.by_issuer
            .entry(issuer.to_owned())
            .or_default()
            .extend(keys);
        for part in [issuer, jwks] {
            self.inputs.update((part.len() as u64).to_le_bytes());
            self.inputs.update(part.as_bytes());
        }
        Ok(())
    }

    /// A digest of every issuer and key set added.
    pub fn digest(&self) -> [u8; 32] {
        self.inputs.clone().finalize().into()
    }

    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }

    pub fn check(&self, statement: &str) -> Attestation {
        let peeked = peek(statement);
        if let Some((header, claims)) = &peeked {
            let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
            if alg.eq_ignore_ascii_case("none") {
                let issuer = claims.get("iss").and_then(Value::as_str).map(str::to_owned);
                return match issuer {
                    Some(i) if self.by_issuer.contains_key(&i) => Attestation::Forged {
                        issuer: i,
                        reason: "alg none, no signature".into(),
                    },
                    issuer => Attestation::Unsigned {
                        issuer,
                        claims: claims.clone(),
                    },
                };
            }
        }
        let header = match decode_header(statement) {
            Ok(h) => h,
            Err(e) => {
                return Attestation::Invalid {
                    reason: format!("not a signed JWT ({e})"),
                }
            }
        };
        // The issuer only picks the keys to try; nothing is trusted yet.
        let Some((_, claims)) = peeked else {
            return Attestation::Invalid {
                reason: "unreadable claims".into(),
            };
        };
        let Some(issuer) = claims.get("iss").and_then(Value::as_str).map(str::to_owned) else {
            return Attestation::Invalid {
                reason: "no iss claim".into(),
            };
        };
        let Some(keys) = self.by_issuer.get(&issuer) else {
            return Attestation::Unverifiable { issuer, claims };
        };
        let mut last_error = String::from("no key of the publisher matches the statement's kid");
        for k in keys
            .iter()
            .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
        {
            if k.alg.is_some_and(|a| a != header.alg)
                || matches!(
                    header.alg,
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
                )
            {
                last_error = format!("algorithm {:?} is not the publisher's", header.alg);
                continue;
            }
            let mut v = Validation::new(header.alg);
            v.set_issuer(&[issuer.as_str()]);
            v.required_spec_claims.clear();
            v.validate_aud = false;
            match decode::<Map<String, Value>>(statement, &k.key, &v) {
                Ok(d) => {
                    return Attestation::Verified {
                        issuer,
                        claims: d.claims,
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        Attestation::Forged {
            reason: format!("signature does not verify ({last_error})"),
            issuer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_jwks_is_refused_with_a_reason() {
        let mut p = Publishers::default();
        assert!(p.add("i", "{}").unwrap_err().contains("not a JWKS"));
        assert!(p
            .add("i", r#"{"keys":[]}"#)
            .unwrap_err()
            .contains("no keys"));
    }

    #[test]
    fn what_is_no_jwt_is_invalid() {
        assert!(matches!(
            Publishers::default().check("not.a.jwt"),
            Attestation::Invalid { .. }
        ));
    }
}
