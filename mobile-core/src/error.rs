//! The one error type of the crate, exported to the apps as `AuthError` (an exception in Kotlin,
//! Swift and Python, with the fields below).
//!
//! Messages never carry secrets: not the registration secret, not key material, not signatures.
//! They name the field that was wrong and why, so the app can show a useful message and support
//! can read a log.

/// Everything that can go wrong in the phone core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthError {
    /// The scanned text is not a `hideez-auth://register` link at all.
    #[error("not a registration code: {reason}")]
    NotARegistrationCode { reason: String },
    /// The link is a registration link of a version this app does not know (`v` ≠ 1).
    #[error("unsupported registration code version `{version}`; update the app")]
    UnsupportedVersion { version: String },
    /// A required field is absent (link parameter or JSON member).
    #[error("`{field}` is missing")]
    MissingField { field: String },
    /// A field is present but wrong (link parameter, JSON member or argument).
    #[error("`{field}` is invalid: {reason}")]
    InvalidField { field: String, reason: String },
    /// The registration link's `exp` has passed.
    #[error("the registration code expired at {expired_at_unix}; ask for a new one")]
    RegistrationExpired { expired_at_unix: i64 },
    /// The link names a plain-http server and insecure development servers are not allowed.
    #[error("the server must use https")]
    InsecureServer,
    /// `complete_registration` (or `cancel_registration`) before `build_registration_request`.
    #[error("no device key was generated for this registration; build the request first")]
    RegistrationNotStarted,
    /// The server's answer to the registration request is not what the protocol says.
    #[error("the server's registration response is invalid: `{field}`: {reason}")]
    InvalidServerResponse { field: String, reason: String },
    /// There is no account with this id on the phone.
    #[error("no account `{account_id}` on this phone")]
    UnknownAccount { account_id: String },
    /// The server returned a device id that this phone already has an account for.
    #[error("an account `{account_id}` already exists on this phone")]
    AccountExists { account_id: String },
    /// A challenge is malformed (bad JSON, a field out of range, meant for another device).
    #[error("invalid challenge: `{field}`: {reason}")]
    InvalidChallenge { field: String, reason: String },
    /// The challenge's signature does not verify with the server key stored at registration:
    /// the challenge was changed or did not come from the server. Never show such a challenge.
    #[error("the challenge's signature does not verify; it was not sent by the server")]
    BadSignature,
    /// The challenge expired (after the allowed clock skew).
    #[error("the challenge expired at {expires_unix} (now {now_unix})")]
    ChallengeExpired { expires_unix: i64, now_unix: i64 },
    /// The challenge was created in the future, beyond the allowed clock skew: check the clock.
    #[error("the challenge is not valid before {created_unix} (now {now_unix}); check the phone's clock")]
    ChallengeNotYetValid { created_unix: i64, now_unix: i64 },
    /// This phone already answered (or is answering) this challenge.
    #[error("challenge `{challenge_id}` was already answered")]
    AlreadyAnswered { challenge_id: String },
    /// Another sign-in request for this account is open at the same time: one of them was not
    /// started by the employee. The app says so and approves neither until the other one is
    /// denied or expires.
    #[error("{open} requests are open at once: deny the one you did not start, then approve")]
    AnotherPromptOpen { open: u32 },
    /// Raised by a `PlatformKeyStore` implementation (the app's Keychain/Keystore code), or a key store
    /// that returned something unusable (not a P-256 point, a signature that does not verify).
    #[error("key store: {reason}")]
    KeyStore { reason: String },
    /// The account file could not be read or written.
    #[error("account storage: {reason}")]
    Storage { reason: String },
    /// A bug or an unexpected condition (e.g. the OS random generator failed).
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl AuthError {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn challenge(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidChallenge {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn server_response(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidServerResponse {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn key_store(reason: impl Into<String>) -> Self {
        Self::KeyStore {
            reason: reason.into(),
        }
    }
}

/// A foreign `PlatformKeyStore` that throws something other than `AuthError` (or whose call fails in the
/// FFI layer) becomes `AuthError::KeyStore` instead of a panic.
impl From<uniffi::UnexpectedUniFFICallbackError> for AuthError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::KeyStore { reason: e.reason }
    }
}
