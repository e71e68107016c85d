//! The contract between the SSO server and the key-bridge agent on a workstation, in one crate
//! used by both ends (no I/O, no HTTP client): a change on one side that the other does not
//! follow fails to compile instead of failing at run time.
//!
//! - [`sign`]: who is calling. Every request is signed by the workstation's own P-256 key and,
//!   when it concerns a key, by the key's P-256 identity (made inside the key, never exported),
//!   over the method, path, body hash, time and a nonce. The key adds a *user verified* byte of
//!   its own: only the key can say that its PIN was checked for this very request.
//! - [`seal`]: passwords travel encrypted to the key's public key with HPKE (RFC 9180, base mode,
//!   DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM); only the key opens them.
//! - [`attest`]: what only a genuine key can say: that an identity is its own (signed by its
//!   factory key, which the vendor's CA certified for its serial), and that it stored a password.
//! - [`wire`]: the JSON bodies.
//!
//! The whole protocol is described in `docs/key-bridge-protocol.md`.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod attest;
pub mod seal;
pub mod sign;
pub mod wire;

pub use attest::{check_stored_proof, identity_statement, stored_proof};
pub use seal::{open, password_aad, seal, SealedPassword};
pub use sign::{
    key_message, verify, workstation_message, IdentityKey, Request, SignedHeaders, MAX_SKEW_SECS,
};
pub use wire::*;

/// What can go wrong reading the other side's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("{field}: not base64url")]
    Base64 { field: &'static str },
    #[error("{field}: not an uncompressed P-256 public key")]
    PublicKey { field: &'static str },
    #[error("{field}: not a 32-byte P-256 private key")]
    PrivateKey { field: &'static str },
    #[error("the sealed password does not open with this key")]
    Open,
    #[error("the password could not be sealed: {0}")]
    Seal(String),
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
}

/// base64url without padding, as every binary value on this wire.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url without padding.
pub fn unb64(text: &str, field: &'static str) -> Result<Vec<u8>, ProtocolError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| ProtocolError::Base64 { field })
}
