//! `TestServerSigner`: the server's side of the protocol, for tests in Rust and in the foreign
//! languages (feature `test-support`). It signs challenges with its own random P-256 key and
//! checks registration requests, answers and polls with the reference checks of
//! [`crate::protocol`], so a test can drive the real library end to end without a server.
//! It holds no key of any real server: it cannot forge anything a phone would trust.

use std::fmt;
use std::sync::Arc;

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};

use crate::authenticator::PollRequest;
use crate::crypto::{b64url, encode_public_key, parse_public_key};
use crate::error::AuthError;
use crate::keystore::random_signing_key;
use crate::offline::{StoredTotp, TotpJson};
use crate::protocol::{
    self, challenge_message, wire_challenge, ChallengeJson, PollResponseJson,
    RegistrationResponseJson, VerifiedAnswer,
};
use crate::Challenge;

#[derive(uniffi::Object)]
pub struct TestServerSigner {
    key: SigningKey,
    /// The offline-code secret it hands out in registration answers.
    totp_secret: [u8; 32],
}

impl fmt::Debug for TestServerSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServerSigner").finish_non_exhaustive()
    }
}

fn device_key(public_key: &[u8]) -> Result<p256::ecdsa::VerifyingKey, AuthError> {
    parse_public_key(public_key).ok_or_else(|| {
        AuthError::invalid("device_public_key", "must be an uncompressed P-256 point")
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, AuthError> {
    serde_json::to_string(v).map_err(|e| AuthError::Internal {
        reason: e.to_string(),
    })
}

impl TestServerSigner {
    pub fn signed(&self, c: &Challenge) -> Result<ChallengeJson, AuthError> {
        let sig: Signature = self.key.sign(&challenge_message(c)?);
        Ok(wire_challenge(c, &sig.to_bytes()))
    }
}

#[uniffi::export]
impl TestServerSigner {
    /// A signer with a new random key.
    #[uniffi::constructor]
    pub fn new() -> Result<Arc<Self>, AuthError> {
        let mut totp_secret = [0u8; 32];
        crate::crypto::random_bytes(&mut totp_secret)?;
        Ok(Arc::new(Self {
            key: random_signing_key()?,
            totp_secret,
        }))
    }

    /// The signer's public key, SEC1 uncompressed.
    pub fn public_key(&self) -> Vec<u8> {
        encode_public_key(self.key.verifying_key())
    }

    /// The server's answer to a registration request, naming this signer's key and giving
    /// offline codes (HMAC-SHA-256, 6 digits, 30 s) as the sso-server does.
    pub fn registration_response(
        &self,
        device_id: String,
        account_name: Option<String>,
    ) -> Result<String, AuthError> {
        to_json(&RegistrationResponseJson {
            device_id,
            server_public_key: b64url(&self.public_key()),
            account_name,
            totp: Some(TotpJson {
                secret: b64url(&self.totp_secret),
                algorithm: "SHA256".into(),
                digits: 6,
                period: 30,
            }),
        })
    }

    /// The offline code the server expects at `now_unix` (computed independently of the
    /// account the phone stored).
    pub fn offline_code_at(&self, now_unix: i64) -> Result<String, AuthError> {
        let t = StoredTotp {
            alias: String::new(),
            algorithm: "SHA256".into(),
            digits: 6,
            period: 30,
        };
        Ok(crate::offline::code(&t, &self.totp_secret, now_unix)?.code)
    }

    /// Checks a registration request body as the server does (form and key proof; not the
    /// enrolment secret) and returns the device public key.
    pub fn check_registration_request(&self, body_json: String) -> Result<Vec<u8>, AuthError> {
        let (_, key) = protocol::verify_registration_request(&body_json)?;
        Ok(encode_public_key(&key))
    }

    /// The challenge as the server sends it: JSON with its signature.
    pub fn sign_challenge(&self, challenge: Challenge) -> Result<String, AuthError> {
        to_json(&self.signed(&challenge)?)
    }

    /// A poll response holding these challenges, each signed.
    pub fn sign_poll_response(&self, challenges: Vec<Challenge>) -> Result<String, AuthError> {
        let challenges = challenges
            .iter()
            .map(|c| self.signed(c))
            .collect::<Result<Vec<_>, _>>()?;
        to_json(&PollResponseJson { challenges })
    }

    /// Checks an answer body as the server does, against the server's copy of the challenge.
    pub fn verify_answer(
        &self,
        device_public_key: Vec<u8>,
        challenge: Challenge,
        answer_body_json: String,
    ) -> Result<VerifiedAnswer, AuthError> {
        protocol::verify_answer(
            &device_key(&device_public_key)?,
            &challenge,
            &answer_body_json,
        )
    }

    /// Checks a poll request's signature and timestamp as the server does.
    pub fn verify_poll(
        &self,
        device_public_key: Vec<u8>,
        request: PollRequest,
        now_unix: i64,
    ) -> Result<(), AuthError> {
        protocol::verify_poll(
            &device_key(&device_public_key)?,
            &request.device_id,
            request.timestamp_unix,
            &request.nonce,
            &request.signature,
            now_unix,
        )
    }
}

/// The canonical challenge message (the bytes the server signs), for tests that check the
/// documented encoding independently.
#[uniffi::export]
pub fn canonical_challenge_message(challenge: Challenge) -> Result<Vec<u8>, AuthError> {
    challenge_message(&challenge)
}
