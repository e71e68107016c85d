//! The few primitives the protocol uses: base64url, the OS random generator, and ECDSA P-256 with
//! SHA-256 (ES256) verification, with conversion between the two signature encodings.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};

use crate::error::AuthError;

/// Length of an uncompressed SEC1 P-256 public key: `0x04 || X (32) || Y (32)`.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of a fixed-size ES256 signature: `r (32) || s (32)`, big-endian.
pub const SIGNATURE_LEN: usize = 64;

/// base64url without padding (RFC 4648 §5). The only binary-to-text encoding on the wire.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url without padding: no `=`, no `+`/`/`, no stray trailing bits.
pub fn from_b64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|e| AuthError::Internal {
        reason: format!("the OS random generator failed: {e}"),
    })
}

/// `n` random bytes, base64url: nonces and key aliases.
pub fn random_token(n: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; n];
    random_bytes(&mut buf)?;
    Ok(b64url(&buf))
}

/// Parses an uncompressed SEC1 P-256 public key (65 bytes, first byte 0x04) that is a valid point.
pub fn parse_public_key(bytes: &[u8]) -> Option<VerifyingKey> {
    if bytes.len() != PUBLIC_KEY_LEN || bytes[0] != 0x04 {
        return None;
    }
    VerifyingKey::from_sec1_bytes(bytes).ok()
}

/// The uncompressed SEC1 encoding of a public key.
pub fn encode_public_key(key: &VerifyingKey) -> Vec<u8> {
    key.to_encoded_point(false).as_bytes().to_vec()
}

/// Verifies a fixed-size (`r || s`) ECDSA-SHA256 signature over `message`.
pub fn verify_fixed(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    if signature.len() != SIGNATURE_LEN {
        return false;
    }
    match Signature::from_slice(signature) {
        Ok(sig) => key.verify(message, &sig).is_ok(),
        Err(_) => false,
    }
}

/// Converts a DER (X9.62 `ECDSA-Sig-Value`) signature, as Keychain and Android Keystore produce
/// it, to the fixed `r || s` form used on the wire.
pub fn der_to_fixed(der: &[u8]) -> Option<Vec<u8>> {
    Signature::from_der(der).ok().map(|s| s.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::SigningKey;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(from_b64url("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(from_b64url("-_8="), None);
        assert_eq!(from_b64url("+/8"), None);
        // "-_9" has non-zero trailing bits: not the canonical encoding of any bytes.
        assert_eq!(from_b64url("-_9"), None);
    }

    #[test]
    fn der_and_fixed_signatures_agree() {
        let k = key();
        let sig: Signature = k.sign(b"message");
        let der = sig.to_der();
        let fixed = der_to_fixed(der.as_bytes()).unwrap();
        assert_eq!(fixed.len(), SIGNATURE_LEN);
        assert!(verify_fixed(k.verifying_key(), b"message", &fixed));
        assert!(!verify_fixed(k.verifying_key(), b"messagf", &fixed));
        assert!(!verify_fixed(k.verifying_key(), b"message", &fixed[..63]));
        assert_eq!(der_to_fixed(&fixed), None, "a fixed signature is not DER");
    }

    #[test]
    fn public_keys_must_be_uncompressed_points() {
        let k = key();
        let pk = encode_public_key(k.verifying_key());
        assert_eq!(pk.len(), PUBLIC_KEY_LEN);
        assert!(parse_public_key(&pk).is_some());
        let compressed = k.verifying_key().to_encoded_point(true);
        assert!(parse_public_key(compressed.as_bytes()).is_none());
        let mut off_curve = pk.clone();
        off_curve[64] ^= 1;
        assert!(parse_public_key(&off_curve).is_none());
    }

    /// Platform key stores and ring produce either `s` or `n - s`; both must verify.
    #[test]
    fn high_and_low_s_both_verify() {
        let k = key();
        let sig: Signature = k.sign(b"message");
        let (r, s) = sig.split_scalars();
        let flipped = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        assert_ne!(flipped, sig);
        for sig in [sig, flipped] {
            assert!(verify_fixed(k.verifying_key(), b"message", &sig.to_bytes()));
            let der = sig.to_der();
            let fixed = der_to_fixed(der.as_bytes()).unwrap();
            assert!(verify_fixed(k.verifying_key(), b"message", &fixed));
        }
    }
}
