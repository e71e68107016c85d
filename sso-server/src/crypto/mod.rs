//! Randomness, token hashing and encryption at rest.
//!
//! All secret randomness comes from the OS CSPRNG (`getrandom`). Secrets stored in the database
//! are sealed with XChaCha20-Poly1305 under the data-encryption key ([`keyfile`]); its 24-byte
//! nonces are random, so there is no nonce counter to keep across instances.

pub mod keyfile;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Fills a fixed-size array from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::Crypto(format!("OS random generator failed: {e}")))?;
    Ok(buf)
}

/// A 256-bit random token, base64url without padding (43 characters).
pub fn random_token() -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A uniformly random integer below `bound` (rejection sampling, no modulo bias).
pub fn random_below(bound: u32) -> Result<u32> {
    if bound == 0 {
        return Err(Error::Internal("random_below(0)".into()));
    }
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let v = u32::from_le_bytes(random_bytes::<4>()?);
        if v < zone {
            return Ok(v % bound);
        }
    }
}

/// A random password drawn from a set of characters that are easy to read and type.
pub fn random_password(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..len)
        .map(|_| random_below(ALPHABET.len() as u32).map(|i| ALPHABET[i as usize] as char))
        .collect()
}

/// How bearer tokens (sessions, invitations) are stored: only their SHA-256, so a database leak
/// does not hand out live tokens. The tokens have 256 bits of entropy, so no salt or slow hash is
/// needed.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Constant-time comparison of two strings (CSRF tokens and the like).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

const SEALED_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The AEAD under the data-encryption key. `aad` binds a ciphertext to its place (e.g. the
/// secret's name), so a ciphertext copied to another row does not decrypt.
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
    /// HMAC-SHA256 key derived from the data key, for values the server must recompute rather
    /// than store (refresh-token secrets).
    mac: ring::hmac::Key,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

impl Cipher {
    pub fn new(key: &keyfile::DataKey) -> Self {
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
        let mac_key = ring::hmac::sign(&derive, b"sso-server: MAC key v1");
        Self {
            aead: XChaCha20Poly1305::new(Key::from_slice(key.as_bytes())),
            mac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, mac_key.as_ref()),
        }
    }

    /// HMAC-SHA256 of `msg` for one `purpose` (domain-separated), under a key derived from the
    /// data key: unforgeable without it, recomputable by every instance that has it.
    pub fn mac(&self, purpose: &str, msg: &[u8]) -> [u8; 32] {
        let mut ctx = ring::hmac::Context::with_key(&self.mac);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(msg);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Output: version byte, 24-byte nonce, ciphertext with tag.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let ct = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::Crypto("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEALED_VERSION {
            return Err(Error::Crypto("sealed value is malformed".into()));
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| {
                Error::Crypto(
                    "a stored secret does not decrypt: wrong data-encryption key or tampered data"
                        .into(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(&keyfile::DataKey::generate().unwrap())
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let c = cipher();
        let sealed = c.seal(b"bind-password", b"domain:1").unwrap();
        assert!(!sealed.windows(13).any(|w| w == b"bind-password"));
        assert_eq!(c.open(&sealed, b"domain:1").unwrap(), b"bind-password");
        assert!(c.open(&sealed, b"domain:2").is_err(), "aad must bind");
        assert!(
            cipher().open(&sealed, b"domain:1").is_err(),
            "other key must fail"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(c.open(&tampered, b"domain:1").is_err());
        assert!(c.open(&sealed[..10], b"domain:1").is_err());
    }

    #[test]
    fn nonces_differ() {
        let c = cipher();
        assert_ne!(c.seal(b"x", b"").unwrap(), c.seal(b"x", b"").unwrap());
    }

    #[test]
    fn random_password_uses_alphabet() {
        let p = random_password(64).unwrap();
        assert_eq!(p.len(), 64);
        assert!(p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c)));
        assert_ne!(p, random_password(64).unwrap());
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
