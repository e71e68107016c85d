//! The canonical byte strings of the phone protocol (docs/phone-protocol.md), which signatures
//! cover instead of JSON text, and ES256 verification of the phone's signatures. The phone's side
//! is `mobile_core::protocol`; the tests check both encode alike.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

pub const REGISTER_DOMAIN: &[u8] = b"hideez-auth/register/v1\0";
pub const CHALLENGE_DOMAIN: &[u8] = b"hideez-auth/challenge/v1\0";
pub const ANSWER_DOMAIN: &[u8] = b"hideez-auth/answer/v1\0";
pub const POLL_DOMAIN: &[u8] = b"hideez-auth/poll/v1\0";
pub const PUSH_TOKEN_DOMAIN: &[u8] = b"hideez-auth/push-token/v1\0";

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

pub fn key_proof_message(enrolment_id: &str, device_public_key: &[u8]) -> Vec<u8> {
    let mut m = REGISTER_DOMAIN.to_vec();
    put_str(&mut m, enrolment_id);
    put_bytes(&mut m, device_public_key);
    m
}

/// The fields a challenge's signature covers.
pub struct ChallengeFields<'a> {
    pub device_id: &'a str,
    pub challenge_id: &'a str,
    pub nonce: &'a str,
    pub employee: &'a str,
    pub client_name: &'a str,
    pub ip: &'a str,
    pub place: &'a str,
    pub user_agent: &'a str,
    /// Unix seconds.
    pub created: u64,
    pub expires: u64,
    pub number_choices: [u8; 3],
}

pub fn challenge_message(c: &ChallengeFields<'_>) -> Vec<u8> {
    let mut m = CHALLENGE_DOMAIN.to_vec();
    for s in [
        c.device_id,
        c.challenge_id,
        c.nonce,
        c.employee,
        c.client_name,
        c.ip,
        c.place,
        c.user_agent,
    ] {
        put_str(&mut m, s);
    }
    m.extend_from_slice(&c.created.to_be_bytes());
    m.extend_from_slice(&c.expires.to_be_bytes());
    m.extend_from_slice(&3u32.to_be_bytes());
    m.extend_from_slice(&c.number_choices);
    m
}

pub fn answer_message(
    device_id: &str,
    challenge_id: &str,
    nonce: &str,
    decision: &str,
    number: Option<u8>,
) -> Vec<u8> {
    let mut m = ANSWER_DOMAIN.to_vec();
    put_str(&mut m, device_id);
    put_str(&mut m, challenge_id);
    put_str(&mut m, nonce);
    put_str(&mut m, decision);
    m.push(number.unwrap_or(0));
    m
}

pub fn poll_message(device_id: &str, timestamp: u64, nonce: &str) -> Vec<u8> {
    let mut m = POLL_DOMAIN.to_vec();
    put_str(&mut m, device_id);
    m.extend_from_slice(&timestamp.to_be_bytes());
    put_str(&mut m, nonce);
    m
}

pub fn push_token_message(
    device_id: &str,
    timestamp: u64,
    nonce: &str,
    push_token: &str,
) -> Vec<u8> {
    let mut m = PUSH_TOKEN_DOMAIN.to_vec();
    put_str(&mut m, device_id);
    m.extend_from_slice(&timestamp.to_be_bytes());
    put_str(&mut m, nonce);
    put_str(&mut m, push_token);
    m
}

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

    /// The test vector of docs/phone-protocol.md, section "Test vectors".
    #[test]
    fn challenge_encoding_matches_the_documented_vector() {
        let m = challenge_message(&ChallengeFields {
            device_id: "dev-1",
            challenge_id: "ch-1",
            nonce: "AAAAAAAAAAAAAAAAAAAAAA",
            employee: "Alice",
            client_name: "Payroll",
            ip: "203.0.113.7",
            place: "Berlin, DE",
            user_agent: "Firefox",
            created: 1_700_000_000,
            expires: 1_700_000_060,
            number_choices: [12, 47, 83],
        });
        let hex: String = m.iter().map(|b| format!("{b:02x}")).collect();
        let expected = concat!(
            "68696465657a2d617574682f6368616c6c656e67652f763100",
            "000000056465762d31",
            "0000000463682d31",
            "0000001641414141414141414141414141414141414141414141",
            "00000005416c696365",
            "00000007506179726f6c6c",
            "0000000b3230332e302e3131332e37",
            "0000000a4265726c696e2c204445",
            "0000000746697265666f78",
            "000000006553f100",
            "000000006553f13c",
            "000000030c2f53",
        );
        assert_eq!(hex, expected);
        let a = answer_message(
            "dev-1",
            "ch-1",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "approve",
            Some(47),
        );
        let hex: String = a.iter().map(|b| format!("{b:02x}")).collect();
        let expected = concat!(
            "68696465657a2d617574682f616e737765722f763100",
            "000000056465762d31",
            "0000000463682d31",
            "0000001641414141414141414141414141414141414141414141",
            "00000007617070726f7665",
            "2f",
        );
        assert_eq!(hex, expected);
    }

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
