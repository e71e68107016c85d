//! The server's side of the phone protocol's cryptography: ES256 verification of the phone's
//! signatures and base64url. What is signed (the canonical byte strings) comes from the
//! `phone-protocol` crate, which the phone core uses too.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

pub use phone_protocol::{
    answer_message, challenge_message, poll_message, push_token_message,
    registration_proof_message as key_proof_message, unregister_message,
};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// A valid uncompressed P-256 point (65 bytes, 0x04 prefix, on the curve).
pub fn valid_p256_point(pk: &[u8]) -> bool {
    pk.len() == 65 && pk.first() == Some(&4) && p256::PublicKey::from_sec1_bytes(pk).is_ok()
}

/// ES256 (fixed r||s) over `message` with an uncompressed P-256 key.
pub fn verify_es256(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature.len() == 64
        && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
            .verify(message, signature)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_on_and_off_the_curve() {
        // The documented device key.
        let pk = unb64("BFUPRxAD89-Xw99QaseX9nIfsaH7e49vg9IkSYplyI4kE2CT1wEuUJpzcVy9CwCjzA_0tcAbP_oZarH7MnA2uOY").unwrap();
        assert!(valid_p256_point(&pk));
        let mut off = pk.clone();
        off[64] ^= 1;
        assert!(!valid_p256_point(&off));
        assert!(!valid_p256_point(&pk[..64]));
    }
}
