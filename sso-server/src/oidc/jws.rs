//! Compact JWS (RFC 7515) signing and verification for our own tokens, over `ring`.
//!
//! Why not a JOSE crate: signing is the hot spot of the token endpoint, and the common crates
//! either re-parse the RSA key on every signature (jsonwebtoken 9) or sign with the pure-Rust
//! `rsa` crate, about 3x slower than ring and with an open timing advisory. Holding parsed ring
//! keys keeps RS256 at ring's speed. The format itself is small: base64url(header) "."
//! base64url(payload) "." base64url(signature), and the relying parties' libraries (the
//! `openidconnect` crate in the tests) verify what we produce.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Alg {
    RS256,
    ES256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }
}

enum Private {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A parsed private key with its key id.
pub struct Signer {
    pub kid: String,
    pub alg: Alg,
    key: Private,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    /// From the stored private key: PKCS#1 DER for RS256, PKCS#8 DER for ES256.
    pub fn from_der(kid: &str, alg: Alg, der: &[u8]) -> Result<Self> {
        let rng = SystemRandom::new();
        let key = match alg {
            Alg::RS256 => Private::Rsa(
                RsaKeyPair::from_der(der)
                    .map_err(|e| Error::Crypto(format!("RSA signing key {kid}: {e}")))?,
            ),
            Alg::ES256 => Private::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .map_err(|e| Error::Crypto(format!("EC signing key {kid}: {e}")))?,
            ),
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            key,
            rng,
        })
    }

    /// From a PKCS#8 key (what Apple's .p8 files and Google's service-account keys hold).
    pub fn from_pkcs8(kid: &str, alg: Alg, der: &[u8]) -> Result<Self> {
        match alg {
            Alg::ES256 => Self::from_der(kid, alg, der),
            Alg::RS256 => Ok(Self {
                kid: kid.to_owned(),
                alg,
                key: Private::Rsa(
                    RsaKeyPair::from_pkcs8(der)
                        .map_err(|e| Error::Crypto(format!("RSA key {kid}: {e}")))?,
                ),
                rng: SystemRandom::new(),
            }),
        }
    }

    /// From a PEM `PRIVATE KEY` (PKCS#8) block.
    pub fn from_pkcs8_pem(kid: &str, alg: Alg, pem: &str) -> Result<Self> {
        use rustls::pki_types::pem::PemObject as _;
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| Error::Crypto(format!("key {kid}: not a PKCS#8 PEM private key: {e}")))?;
        Self::from_pkcs8(kid, alg, der.secret_pkcs8_der())
    }

    /// The public key as a JWK (RFC 7517), with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> Value {
        match &self.key {
            Private::Rsa(k) => {
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                serde_json::json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                    "n": b64(&c.n),
                    "e": b64(&c.e),
                })
            }
            Private::Ec(k) => {
                // Uncompressed SEC1: 0x04 || x (32 bytes) || y (32 bytes).
                let point = k.public_key().as_ref();
                let x = point.get(1..33).unwrap_or_default();
                let y = point.get(33..65).unwrap_or_default();
                serde_json::json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "kid": self.kid, "crv": "P-256",
                    "x": b64(x), "y": b64(y),
                })
            }
        }
    }

    /// Signs `claims` as a compact JWS with `typ` in the header.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String> {
        let header = serde_json::json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": typ });
        let header = serde_json::to_vec(&header).map_err(|e| Error::Internal(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| Error::Internal(e.to_string()))?;
        let mut out = String::with_capacity(512);
        out.push_str(&b64(&header));
        out.push('.');
        out.push_str(&b64(&payload));
        let sig = match &self.key {
            Private::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    out.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| Error::Crypto("RSA signing failed".into()))?;
                sig
            }
            Private::Ec(k) => k
                .sign(&self.rng, out.as_bytes())
                .map_err(|_| Error::Crypto("ECDSA signing failed".into()))?
                .as_ref()
                .to_vec(),
        };
        out.push('.');
        out.push_str(&b64(&sig));
        Ok(out)
    }
}

/// A public key that verifies our tokens.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub kid: String,
    pub alg: Alg,
    /// RS256: PKCS#1 RSAPublicKey components; ES256: the uncompressed point.
    key: VerifierKey,
}

#[derive(Debug, Clone)]
enum VerifierKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec(Vec<u8>),
}

impl Verifier {
    pub fn from_jwk(jwk: &Value) -> Option<Self> {
        let field = |k: &str| {
            jwk.get(k)
                .and_then(Value::as_str)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        };
        let kid = jwk.get("kid")?.as_str()?.to_owned();
        match jwk.get("kty")?.as_str()? {
            "RSA" => Some(Self {
                kid,
                alg: Alg::RS256,
                key: VerifierKey::Rsa {
                    n: field("n")?,
                    e: field("e")?,
                },
            }),
            "EC" => {
                let mut point = vec![4u8];
                point.extend(field("x")?);
                point.extend(field("y")?);
                Some(Self {
                    kid,
                    alg: Alg::ES256,
                    key: VerifierKey::Ec(point),
                })
            }
            _ => None,
        }
    }

    fn verify_sig(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.key {
            VerifierKey::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            VerifierKey::Ec(point) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}

/// The header fields we read.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

/// Verifies a compact JWS made by one of `keys` with the expected `typ` and returns its claims.
/// Expiry and audience are the caller's to check. None for anything that does not verify.
pub fn verify(token: &str, typ: &str, keys: &[Verifier]) -> Option<Value> {
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header.typ.as_deref() != Some(typ) {
        return None;
    }
    let alg = Alg::parse(&header.alg)?;
    let kid = header.kid?;
    let key = keys.iter().find(|k| k.kid == kid && k.alg == alg)?;
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    let signed_len = h.len() + 1 + p.len();
    if !key.verify_sig(token.get(..signed_len)?.as_bytes(), &sig) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
}

/// `at_hash` / `c_hash` (OIDC Core 3.1.3.6): the left half of SHA-256, base64url.
pub fn half_hash(value: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    b64(&digest.as_ref()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::keys::generate;

    #[test]
    fn sign_and_verify_both_algorithms_and_reject_tampering() {
        for alg in [Alg::ES256, Alg::RS256] {
            let (der, _) = generate(alg).unwrap();
            let s = Signer::from_der("k1", alg, &der).unwrap();
            let v = Verifier::from_jwk(&s.public_jwk()).unwrap();
            let t = s.sign("at+jwt", &serde_json::json!({"sub": "x"})).unwrap();
            assert_eq!(
                verify(&t, "at+jwt", std::slice::from_ref(&v)).unwrap()["sub"],
                "x"
            );
            assert!(
                verify(&t, "JWT", std::slice::from_ref(&v)).is_none(),
                "typ is checked"
            );
            let mut bad = t.clone();
            bad.insert(t.find('.').unwrap() + 2, 'A');
            assert!(verify(&bad, "at+jwt", std::slice::from_ref(&v)).is_none());
            let other = Signer::from_der("k1", alg, &generate(alg).unwrap().0).unwrap();
            let forged = other
                .sign("at+jwt", &serde_json::json!({"sub": "x"}))
                .unwrap();
            assert!(verify(&forged, "at+jwt", &[v]).is_none());
        }
    }

    #[test]
    fn half_hash_matches_the_spec_example() {
        // OIDC Core A.3: access_token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" -> at_hash
        // "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
