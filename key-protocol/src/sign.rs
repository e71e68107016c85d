//! Request signatures.
//!
//! ```text
//! request     = "hideez-key/request/v1\0" || str(METHOD) || str(path_and_query)
//!               || bytes(SHA-256(body)) || u64(time) || str(nonce) || str(workstation_id)
//! workstation = ES256 over "hideez-key/workstation/v1\0" || bytes(request)
//! key         = ES256 over "hideez-key/key/v1\0" || bytes(request) || u8(user_verified)
//! str(s) = u32be(len) || utf8(s); bytes(b) = u32be(len) || b; u64 big-endian
//! ```
//!
//! Signatures are ES256 in fixed form (`r || s`, 64 bytes), base64url in headers, as in the
//! phone protocol. `user_verified` is 1 only when the key checked its PIN for this signature: the
//! key writes that byte itself, so neither the agent nor the workstation can claim it.

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::{b64, ProtocolError};

pub const HEADER_WORKSTATION: &str = "x-bridge-workstation";
pub const HEADER_TIME: &str = "x-bridge-time";
pub const HEADER_NONCE: &str = "x-bridge-nonce";
pub const HEADER_WORKSTATION_SIGNATURE: &str = "x-bridge-workstation-signature";
pub const HEADER_KEY_SIGNATURE: &str = "x-bridge-key-signature";
pub const HEADER_USER_VERIFIED: &str = "x-bridge-user-verified";

/// How far a request's time may be from the server's, either way.
pub const MAX_SKEW_SECS: u64 = 120;

const REQUEST_DOMAIN: &[u8] = b"hideez-key/request/v1\0";
const WORKSTATION_DOMAIN: &[u8] = b"hideez-key/workstation/v1\0";
const KEY_DOMAIN: &[u8] = b"hideez-key/key/v1\0";

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

/// The parts of an HTTP request that are signed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path with its query, as sent (e.g. `/api/keys/K1/tasks?wait=25`).
    pub path_and_query: &'a str,
    pub body: &'a [u8],
    /// Unix seconds.
    pub time: u64,
    pub nonce: &'a str,
    pub workstation_id: &'a str,
}

impl Request<'_> {
    /// The canonical byte string both signatures cover.
    pub fn message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.path_and_query.len());
        out.extend_from_slice(REQUEST_DOMAIN);
        put_bytes(&mut out, self.method.to_ascii_uppercase().as_bytes());
        put_bytes(&mut out, self.path_and_query.as_bytes());
        put_bytes(&mut out, &Sha256::digest(self.body));
        out.extend_from_slice(&self.time.to_be_bytes());
        put_bytes(&mut out, self.nonce.as_bytes());
        put_bytes(&mut out, self.workstation_id.as_bytes());
        out
    }
}

/// What the workstation's key signs for a request.
pub fn workstation_message(request: &[u8]) -> Vec<u8> {
    let mut out = WORKSTATION_DOMAIN.to_vec();
    put_bytes(&mut out, request);
    out
}

/// What a hardware key signs for a request; `user_verified` is the key's own statement.
pub fn key_message(request: &[u8], user_verified: bool) -> Vec<u8> {
    let mut out = KEY_DOMAIN.to_vec();
    put_bytes(&mut out, request);
    out.push(u8::from(user_verified));
    out
}

/// Checks an ES256 signature (64 bytes `r || s`) by an uncompressed P-256 key. High and low `s`
/// are both accepted, as in the phone protocol.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(message, signature)
        .is_ok()
}

/// Checks that `bytes` is an uncompressed P-256 point (65 bytes, `0x04 || X || Y`, on the curve).
pub fn check_public_key(bytes: &[u8], field: &'static str) -> Result<(), ProtocolError> {
    if bytes.len() != 65 || bytes.first() != Some(&4) {
        return Err(ProtocolError::PublicKey { field });
    }
    VerifyingKey::from_sec1_bytes(bytes)
        .map(drop)
        .map_err(|_| ProtocolError::PublicKey { field })
}

/// A P-256 private key held by its owner: the emulated key keeps one inside its sealed file, the
/// agent one for its workstation. Zeroized on drop (`SigningKey` is), never printed.
#[derive(Clone)]
pub struct IdentityKey {
    key: SigningKey,
    /// The same key for ring's signer (fast); built once.
    signer: std::sync::Arc<ring::signature::EcdsaKeyPair>,
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKey(<secret>)")
    }
}

impl IdentityKey {
    /// A new key from the OS CSPRNG.
    pub fn generate() -> Result<Self, ProtocolError> {
        loop {
            let mut secret = Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut secret[..]).map_err(|e| ProtocolError::Random(e.to_string()))?;
            // A draw outside the scalar range is vanishingly rare; draw again.
            if let Ok(key) = Self::from_bytes(&secret[..]) {
                return Ok(key);
            }
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let field = "private_key";
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ProtocolError::PrivateKey { field })?;
        let key =
            SigningKey::from_bytes(&arr.into()).map_err(|_| ProtocolError::PrivateKey { field })?;
        let public = key.verifying_key().to_encoded_point(false);
        let signer = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &arr,
            public.as_bytes(),
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|_| ProtocolError::PrivateKey { field })?;
        Ok(Self {
            key,
            signer: std::sync::Arc::new(signer),
        })
    }

    /// The 32 secret bytes, for the owner's sealed storage only.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes().into())
    }

    /// SEC1 uncompressed, 65 bytes.
    pub fn public_key(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// ES256 in fixed form (64 bytes).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self.signer.sign(&ring::rand::SystemRandom::new(), message) {
            Ok(sig) => sig.as_ref().to_vec(),
            // Only if the OS random generator fails: the pure-Rust signer (RFC 6979) needs none.
            Err(_) => {
                let sig: Signature = self.key.sign(message);
                sig.to_bytes().to_vec()
            }
        }
    }
}

/// A new request nonce: 16 random bytes, base64url.
pub fn new_nonce() -> Result<String, ProtocolError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ProtocolError::Random(e.to_string()))?;
    Ok(b64(&bytes))
}

/// The headers of a signed request, as the agent sends them.
#[derive(Debug, Clone)]
pub struct SignedHeaders {
    pub workstation_id: String,
    pub time: u64,
    pub nonce: String,
    pub workstation_signature: String,
    pub key_signature: Option<String>,
    pub user_verified: bool,
}

impl SignedHeaders {
    /// Header name and value pairs.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            (HEADER_WORKSTATION, self.workstation_id.clone()),
            (HEADER_TIME, self.time.to_string()),
            (HEADER_NONCE, self.nonce.clone()),
            (
                HEADER_WORKSTATION_SIGNATURE,
                self.workstation_signature.clone(),
            ),
        ];
        if let Some(k) = &self.key_signature {
            v.push((HEADER_KEY_SIGNATURE, k.clone()));
            v.push((
                HEADER_USER_VERIFIED,
                if self.user_verified { "1" } else { "0" }.into(),
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &[u8]) -> Vec<u8> {
        Request {
            method: "post",
            path_and_query: "/api/keys/K1/password",
            body,
            time: 1_700_000_000,
            nonce: "n1",
            workstation_id: "ws1",
        }
        .message()
    }

    #[test]
    fn signatures_cover_every_part_and_the_user_verified_byte() {
        let key = IdentityKey::generate().unwrap();
        let pk = key.public_key();
        let msg = request(b"{}");
        let sig = key.sign(&key_message(&msg, true));
        assert!(verify(&pk, &key_message(&msg, true), &sig));
        // The key said "verified": the same signature does not pass as "not verified" or for
        // another body, and a key signature is no workstation signature.
        assert!(!verify(&pk, &key_message(&msg, false), &sig));
        assert!(!verify(&pk, &key_message(&request(b"{ }"), true), &sig));
        assert!(!verify(&pk, &workstation_message(&msg), &sig));
        let other = IdentityKey::generate().unwrap();
        assert!(!verify(&other.public_key(), &key_message(&msg, true), &sig));
    }

    #[test]
    fn method_case_does_not_matter_but_the_path_does() {
        let a = request(b"");
        let b = Request {
            method: "POST",
            path_and_query: "/api/keys/K1/password",
            body: b"",
            time: 1_700_000_000,
            nonce: "n1",
            workstation_id: "ws1",
        }
        .message();
        assert_eq!(a, b);
        let c = Request {
            path_and_query: "/api/keys/K2/password",
            method: "POST",
            body: b"",
            time: 1_700_000_000,
            nonce: "n1",
            workstation_id: "ws1",
        }
        .message();
        assert_ne!(a, c);
    }

    #[test]
    fn high_s_signatures_verify_too() {
        // ring and the pure-Rust signer agree, and a high-s form of a signature is accepted.
        let key = IdentityKey::generate().unwrap();
        let msg = b"message";
        let sig = key.sign(msg);
        let parsed = Signature::from_slice(&sig).unwrap();
        let low = parsed.normalize_s().unwrap_or(parsed);
        let (r, s) = low.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        assert!(verify(&key.public_key(), msg, &low.to_bytes()));
        assert!(verify(&key.public_key(), msg, &high.to_bytes()));
        let p256_sig: Signature = key.key.sign(msg);
        assert!(verify(&key.public_key(), msg, &p256_sig.to_bytes()));
    }

    #[test]
    fn identity_round_trips_and_checks_points() {
        let key = IdentityKey::generate().unwrap();
        let again = IdentityKey::from_bytes(&key.to_bytes()[..]).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        assert!(check_public_key(&key.public_key(), "public_key").is_ok());
        let mut bad = key.public_key();
        bad[10] ^= 1;
        assert!(check_public_key(&bad, "public_key").is_err());
        assert!(IdentityKey::from_bytes(&[0u8; 32]).is_err());
        assert!(!format!("{key:?}").contains(&b64(&key.to_bytes()[..])));
    }
}
