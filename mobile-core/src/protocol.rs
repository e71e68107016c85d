//! The wire protocol between the phone and the server: JSON bodies, HTTP endpoints and the
//! canonical byte strings that are signed. `docs/phone-protocol.md` is the same text with
//! examples and test vectors; the server implements exactly this.
//!
//! # Conventions
//!
//! - Binary values in JSON and headers are **base64url without padding** (RFC 4648 §5); decoders
//!   are strict (no padding, no `+`/`/`, no stray trailing bits).
//! - Public keys are P-256, **SEC1 uncompressed**: 65 bytes, `0x04 || X || Y`.
//! - Every signature on the wire is **ES256 in fixed form**: ECDSA P-256 over the SHA-256 of the
//!   message, encoded as 64 bytes `r || s` (big-endian, 32 bytes each), as in JWS (RFC 7518
//!   §3.4). The phone's key store returns DER (what Keychain and Android Keystore produce); the
//!   core converts it before it goes on the wire.
//! - Times are Unix seconds (JSON integers).
//! - Identifiers (`id`, `device_id`, `challenge_id`) are 1 to 128 characters from the URL
//!   unreserved set `A-Z a-z 0-9 - . _ ~` (a UUID fits), so they go into URLs and headers as they
//!   are. The device id must be unique across servers too (use a random UUID): on the phone it is
//!   also the account id.
//! - Endpoints are relative to the `server` base URL of the registration link (with a trailing
//!   `/` added to its path if missing): `https://sso.example.com/` + `api/authenticator/register`.
//! - JSON objects may carry members this version does not know; receivers ignore them (and the
//!   phone never displays anything that is not covered by the signature).
//!
//! # Canonical byte strings
//!
//! What is signed is never the JSON text but a byte string built from the values:
//!
//! ```text
//! message = DOMAIN || field || field || ...
//! str(s)  = u32be(len(utf8(s))) || utf8(s)        strings, length-prefixed
//! bytes(b)= u32be(len(b)) || b                    raw bytes, length-prefixed
//! u64(n)  = 8 bytes big-endian                    times (never negative)
//! u8(n)   = 1 byte                                numbers
//! ```
//!
//! Each message starts with its own domain tag (ASCII, ending with a NUL byte) so a signature
//! made for one purpose can never be taken for another:
//!
//! | purpose | domain | fields, in order | signed by |
//! |---|---|---|---|
//! | key proof at registration | `hideez-auth/register/v1\0` | `str(id) bytes(device_public_key)` | device key |
//! | challenge | `hideez-auth/challenge/v3\0` | `str(device_id) str(challenge_id) str(nonce) str(purpose) str(employee) str(client_name) str(ip) str(place) str(browser) str(os) u64(created) u64(expires)` | server key |
//! | answer | `hideez-auth/answer/v1\0` | `str(device_id) str(challenge_id) str(nonce) str(decision) u8(number, 0 = none)` | device key |
//! | poll | `hideez-auth/poll/v1\0` | `str(device_id) u64(timestamp) str(nonce)` | device key |
//!
//! # Messages
//!
//! **Registration** — the QR link is
//! `hideez-auth://register?v=1&server=<https base URL>&id=<enrolment id>&secret=<32 bytes
//! base64url>&exp=<unix>` (each parameter exactly once). The phone sends
//! `POST <server>/api/authenticator/register` with [`RegistrationRequestJson`]:
//! `{"id", "secret", "device_public_key", "key_proof", "device_name", "push_token"?, "platform"}`
//! (`push_token` absent when the app has none; `platform` is `ios`, `android` or `other`;
//! `key_proof` is the device key's signature of the key-proof message). The server checks the
//! secret (single use, not expired), verifies `key_proof` with `device_public_key`, stores the
//! device and answers `200` with [`RegistrationResponseJson`]:
//! `{"device_id", "server_public_key", "account_name"?}`.
//!
//! **Challenge** — server to phone, through a push (APNs/FCM data) or the poll below: the JSON
//! object [`ChallengeJson`], i.e. the fields of the challenge message plus
//! `"signature"` (the server key's signature). `purpose` is `sign_in` (a web sign-in to
//! `client_name`), `unlock` (unlocking the workstation `client_name`) or `enrol` (confirming a
//! new passkey or phone for the account, from a session at `client_name`). The challenge carries no
//! number: the sign-in page shows one (10 to 99) and the employee types it on the phone.
//! `expires` is after `created` by at most 600 s; `ip` and `place` may be empty strings;
//! `browser` and `os` are words of fixed vocabularies (`firefox`, `windows`, …, `unknown`): what
//! the server recognised, never the requester's own text. The phone refuses a challenge whose signature fails, whose
//! `device_id` is not its own, that it already answered, or that is outside
//! `[created - 30 s, expires + 30 s)` by its clock (30 s of allowed clock skew; the server's own
//! expiry check is the authoritative one).
//!
//! **Answer** — `POST <server>/api/authenticator/answer` with [`AnswerJson`]:
//! `{"device_id", "challenge_id", "decision", "number", "signature"}`, `decision` one of
//! `approve`, `deny`, `report_fraud`, `number` the number the employee typed (an integer from 10
//! to 99, required to approve) or `null`.
//! The server verifies the signature with the device's key over the answer message built with
//! *its own* stored nonce, accepts one answer per challenge before expiry, and treats an approval
//! with a number other than the one shown on the login page as a denial.
//!
//! **Poll** (when pushes are lost) — `GET <server>/api/authenticator/challenges` with the headers
//! `X-Hideez-Device: <device_id>`, `X-Hideez-Timestamp: <unix>`, `X-Hideez-Nonce: <16 random
//! bytes, base64url>`, `X-Hideez-Signature: <signature of the poll message>`. The server accepts
//! a timestamp within ±60 s of its clock and a nonce not seen in that window, and answers
//! `{"challenges": [ChallengeJson, ...]}` with the device's pending challenges.

use p256::ecdsa::VerifyingKey;
use serde::de::DeserializeOwned;

use crate::crypto::{b64url, from_b64url, parse_public_key, verify_fixed, SIGNATURE_LEN};
use crate::error::AuthError;

// The contract itself is shared with the server (crate `phone-protocol`).
pub use phone_protocol::{
    poll_message, push_token_message, registration_proof_message, unregister_message, AnswerJson,
    Canonical, ChallengeJson, PollResponseJson, Purpose, RegistrationRequestJson,
    RegistrationResponseJson, ANSWER_DOMAIN, ANSWER_PATH, CHALLENGES_PATH, CHALLENGE_DOMAIN,
    CLOCK_SKEW_SECS, HEADER_DEVICE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
    MAX_CHALLENGE_LIFETIME_SECS, NUMBERS, POLL_DOMAIN, POLL_NONCE_BYTES, POLL_WINDOW_SECS,
    PUSH_TOKEN_DOMAIN, PUSH_TOKEN_PATH, REGISTER_DOMAIN, REGISTER_PATH, UNREGISTER_DOMAIN,
    UNREGISTER_PATH,
};

const MAX_ID_LEN: usize = 128;
const MAX_NAME_LEN: usize = 256;
const MAX_TEXT_LEN: usize = 512;

/// The phone's platform, sent at registration (the server picks APNs or FCM by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Platform {
    Ios,
    Android,
    /// Tests and anything else; the server delivers to such devices through the poll only.
    Other,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ios => "ios",
            Self::Android => "android",
            Self::Other => "other",
        }
    }
}

/// The user's answer to a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Decision {
    Approve,
    Deny,
    /// "This was not me": the server denies and raises an alert.
    ReportFraud,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::ReportFraud => "report_fraud",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Self::Approve),
            "deny" => Some(Self::Deny),
            "report_fraud" => Some(Self::ReportFraud),
            _ => None,
        }
    }
}

/// What a challenge asks the employee to approve; the app words its prompt by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChallengePurpose {
    /// "Sign in to {client_name}?"
    SignIn,
    /// "Unlock {client_name}?" (a workstation).
    Unlock,
    /// "Add a passkey or a phone to your account at {client_name}?" (a confirmation before
    /// enrolling a new sign-in method).
    Enrol,
}

impl From<Purpose> for ChallengePurpose {
    fn from(p: Purpose) -> Self {
        match p {
            Purpose::SignIn => Self::SignIn,
            Purpose::Unlock => Self::Unlock,
            Purpose::Enrol => Self::Enrol,
        }
    }
}

impl From<ChallengePurpose> for Purpose {
    fn from(p: ChallengePurpose) -> Self {
        match p {
            ChallengePurpose::SignIn => Self::SignIn,
            ChallengePurpose::Unlock => Self::Unlock,
            ChallengePurpose::Enrol => Self::Enrol,
        }
    }
}

/// A sign-in request to approve, as the app displays it: the verified content of a challenge.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Challenge {
    /// The device (= the phone's account id) the challenge is for.
    pub device_id: String,
    pub challenge_id: String,
    /// Server-chosen random value, bound into the answer's signature.
    pub nonce: String,
    /// A web sign-in or a workstation unlock.
    pub purpose: ChallengePurpose,
    /// The employee signing in (display name or e-mail).
    pub employee: String,
    /// The application being signed in to, or the workstation being unlocked.
    pub client_name: String,
    /// The IP address the sign-in comes from (may be empty).
    pub ip: String,
    /// Where that IP address is, roughly, e.g. "Berlin, DE" (may be empty).
    pub place: String,
    /// The browser signing in, as the server recognised it (never the requester's text).
    pub browser: BrowserFamily,
    /// Its operating system, likewise.
    pub os: OsFamily,
    pub created_unix: i64,
    pub expires_unix: i64,
    /// Another prompt for the same account is open on this phone (seen and neither answered nor
    /// expired). Not part of what the server signed: the phone's own knowledge. While it is
    /// true the app says so and does not offer "Approve": the employee denies the one they did
    /// not start (the server refuses an approval while two are open, too).
    #[uniffi(default = false)]
    pub concurrent: bool,
}

/// The browser families the server names (the phone words them itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BrowserFamily {
    Chrome,
    Edge,
    Firefox,
    Safari,
    Opera,
    Other,
    Unknown,
}

/// The operating system families the server names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OsFamily {
    Windows,
    Macos,
    Linux,
    ChromeOs,
    Android,
    Ios,
    Other,
    Unknown,
}

macro_rules! mirror {
    ($local:ident, $wire:ident, [$($v:ident),*]) => {
        impl From<phone_protocol::$wire> for $local {
            fn from(w: phone_protocol::$wire) -> Self {
                match w { $(phone_protocol::$wire::$v => Self::$v),* }
            }
        }
        impl From<$local> for phone_protocol::$wire {
            fn from(l: $local) -> Self {
                match l { $($local::$v => Self::$v),* }
            }
        }
    };
}
mirror!(
    BrowserFamily,
    Browser,
    [Chrome, Edge, Firefox, Safari, Opera, Other, Unknown]
);
mirror!(
    OsFamily,
    Os,
    [Windows, Macos, Linux, ChromeOs, Android, Ios, Other, Unknown]
);

/// "Firefox on Windows" (English; apps with their own language word it from the two families).
#[uniffi::export]
pub fn describe_browser(browser: BrowserFamily, os: OsFamily) -> String {
    phone_protocol::describe_browser(browser.into(), os.into())
}

/// The outcome of checking an answer on the server side.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifiedAnswer {
    pub decision: Decision,
    pub number: Option<u32>,
}

impl VerifiedAnswer {
    /// The sign-in is approved only with the decision `approve` and the number the login page
    /// showed; any other number counts as a denial.
    pub fn approves(&self, shown_number: u32) -> bool {
        self.decision == Decision::Approve && self.number == Some(shown_number)
    }
}

/// The challenge message. Fails on a challenge that [`validate_challenge`] refuses (so negative
/// times never reach the encoding).
pub fn challenge_message(c: &Challenge) -> Result<Vec<u8>, AuthError> {
    validate_challenge(c)?;
    Ok(phone_protocol::challenge_message(&wire_challenge(c, &[])))
}

/// The answer message of `phone_protocol::answer_message`, with the decision typed.
pub fn answer_message(
    device_id: &str,
    challenge_id: &str,
    nonce: &str,
    decision: Decision,
    number: Option<u8>,
) -> Vec<u8> {
    phone_protocol::answer_message(device_id, challenge_id, nonce, decision.as_str(), number)
}

/// True for 1 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn check_id(field: &str, s: &str, err: fn(&str, String) -> AuthError) -> Result<(), AuthError> {
    if is_valid_id(s) {
        Ok(())
    } else {
        Err(err(
            field,
            "must be 1 to 128 characters of A-Z a-z 0-9 - . _ ~".into(),
        ))
    }
}

fn challenge_err(field: &str, reason: String) -> AuthError {
    AuthError::challenge(field, reason)
}

fn check_text(field: &str, s: &str, min: usize, max: usize) -> Result<(), AuthError> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(AuthError::challenge(
            field,
            format!("must be {min} to {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(AuthError::challenge(
            field,
            "must not hold control characters",
        ));
    }
    Ok(())
}

/// Checks the form of a challenge's fields (not its signature, device or times against a clock).
pub fn validate_challenge(c: &Challenge) -> Result<(), AuthError> {
    check_id("device_id", &c.device_id, challenge_err)?;
    check_id("challenge_id", &c.challenge_id, challenge_err)?;
    if c.nonce.len() < 16
        || c.nonce.len() > MAX_ID_LEN
        || !c
            .nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AuthError::challenge(
            "nonce",
            "must be 16 to 128 base64url characters",
        ));
    }
    check_text("employee", &c.employee, 1, MAX_NAME_LEN)?;
    check_text("client_name", &c.client_name, 1, MAX_NAME_LEN)?;
    check_text("ip", &c.ip, 0, MAX_TEXT_LEN)?;
    check_text("place", &c.place, 0, MAX_TEXT_LEN)?;
    if c.created_unix < 0 {
        return Err(AuthError::challenge("created", "must not be negative"));
    }
    if c.expires_unix <= c.created_unix {
        return Err(AuthError::challenge("expires", "must be after `created`"));
    }
    if c.expires_unix - c.created_unix > MAX_CHALLENGE_LIFETIME_SECS {
        return Err(AuthError::challenge(
            "expires",
            format!("at most {MAX_CHALLENGE_LIFETIME_SECS} s after `created`"),
        ));
    }
    Ok(())
}

/// Parses JSON, naming the member that was wrong: `err(field, reason)`.
pub(crate) fn parse_json<T: DeserializeOwned>(
    json: &str,
    err: impl Fn(&str, String) -> AuthError,
) -> Result<T, AuthError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        // serde reports a missing member at the parent's path; name the member itself.
        if let Some(rest) = msg.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or_default();
            let field = if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            return err(&field, "missing".into());
        }
        let field = if path == "." { "json" } else { path.as_str() };
        err(field, inner.to_string())
    })
}

/// The displayable content of a wire challenge (signature left out).
pub fn challenge_content(w: &ChallengeJson) -> Challenge {
    Challenge {
        device_id: w.device_id.clone(),
        challenge_id: w.challenge_id.clone(),
        nonce: w.nonce.clone(),
        purpose: w.purpose.into(),
        employee: w.employee.clone(),
        client_name: w.client_name.clone(),
        ip: w.ip.clone(),
        place: w.place.clone(),
        browser: w.browser.into(),
        os: w.os.into(),
        created_unix: w.created,
        expires_unix: w.expires,
        concurrent: false,
    }
}

/// The wire form of a challenge with its signature (fixed `r || s`).
pub fn wire_challenge(c: &Challenge, signature: &[u8]) -> ChallengeJson {
    ChallengeJson {
        device_id: c.device_id.clone(),
        challenge_id: c.challenge_id.clone(),
        nonce: c.nonce.clone(),
        purpose: c.purpose.into(),
        employee: c.employee.clone(),
        client_name: c.client_name.clone(),
        ip: c.ip.clone(),
        place: c.place.clone(),
        browser: c.browser.into(),
        os: c.os.into(),
        created: c.created_unix,
        expires: c.expires_unix,
        signature: b64url(signature),
    }
}

/// Phone side: checks a received challenge completely — form, the server's signature, that it is
/// for `device_id`, and its times against `now_unix` — and returns what to display.
/// (Whether it was already answered is the caller's business.)
pub fn verify_challenge(
    server_key: &VerifyingKey,
    device_id: &str,
    wire: &ChallengeJson,
    now_unix: i64,
) -> Result<Challenge, AuthError> {
    let c = challenge_content(wire);
    let message = challenge_message(&c)?;
    let signature = from_b64url(&wire.signature)
        .filter(|s| s.len() == SIGNATURE_LEN)
        .ok_or_else(|| AuthError::challenge("signature", "must be 64 bytes (r || s), base64url"))?;
    if !verify_fixed(server_key, &message, &signature) {
        return Err(AuthError::BadSignature);
    }
    if c.device_id != device_id {
        return Err(AuthError::challenge(
            "device_id",
            "the challenge is for another device",
        ));
    }
    check_times(&c, now_unix)?;
    Ok(c)
}

/// Phone side: is the challenge current by the phone's clock (with [`CLOCK_SKEW_SECS`])?
pub fn check_times(c: &Challenge, now_unix: i64) -> Result<(), AuthError> {
    if now_unix >= c.expires_unix.saturating_add(CLOCK_SKEW_SECS) {
        return Err(AuthError::ChallengeExpired {
            expires_unix: c.expires_unix,
            now_unix,
        });
    }
    if c.created_unix > now_unix.saturating_add(CLOCK_SKEW_SECS) {
        return Err(AuthError::ChallengeNotYetValid {
            created_unix: c.created_unix,
            now_unix,
        });
    }
    Ok(())
}

/// Server side (reference implementation): checks a registration request's form and key proof
/// and returns it with the device's key. The enrolment `secret` is the caller's to check.
pub fn verify_registration_request(
    body_json: &str,
) -> Result<(RegistrationRequestJson, VerifyingKey), AuthError> {
    let body: RegistrationRequestJson = parse_json(body_json, AuthError::invalid)?;
    check_id("id", &body.id, AuthError::invalid)?;
    let pk_bytes = from_b64url(&body.device_public_key)
        .ok_or_else(|| AuthError::invalid("device_public_key", "must be base64url"))?;
    let key = parse_public_key(&pk_bytes).ok_or_else(|| {
        AuthError::invalid("device_public_key", "must be an uncompressed P-256 point")
    })?;
    let proof = from_b64url(&body.key_proof)
        .ok_or_else(|| AuthError::invalid("key_proof", "must be base64url"))?;
    if !verify_fixed(
        &key,
        &registration_proof_message(&body.id, &pk_bytes),
        &proof,
    ) {
        return Err(AuthError::BadSignature);
    }
    Ok((body, key))
}

/// Server side (reference implementation): checks an answer to `challenge` (the server's own
/// stored copy, so its own nonce) from the device holding `device_key`.
pub fn verify_answer(
    device_key: &VerifyingKey,
    challenge: &Challenge,
    body_json: &str,
) -> Result<VerifiedAnswer, AuthError> {
    let body: AnswerJson = parse_json(body_json, AuthError::invalid)?;
    if body.device_id != challenge.device_id {
        return Err(AuthError::invalid(
            "device_id",
            "not the challenge's device",
        ));
    }
    if body.challenge_id != challenge.challenge_id {
        return Err(AuthError::invalid("challenge_id", "not this challenge"));
    }
    let decision = Decision::parse(&body.decision)
        .ok_or_else(|| AuthError::invalid("decision", "must be approve, deny or report_fraud"))?;
    let signature = from_b64url(&body.signature)
        .ok_or_else(|| AuthError::invalid("signature", "must be base64url"))?;
    let message = answer_message(
        &challenge.device_id,
        &challenge.challenge_id,
        &challenge.nonce,
        decision,
        body.number,
    );
    if !verify_fixed(device_key, &message, &signature) {
        return Err(AuthError::BadSignature);
    }
    Ok(VerifiedAnswer {
        decision,
        number: body.number.map(u32::from),
    })
}

/// Server side (reference implementation): checks the poll headers' signature and timestamp
/// window. Remembering nonces seen within the window is the caller's job.
pub fn verify_poll(
    device_key: &VerifyingKey,
    device_id: &str,
    timestamp: i64,
    nonce: &str,
    signature_b64: &str,
    now_unix: i64,
) -> Result<(), AuthError> {
    if timestamp < 0 || now_unix.abs_diff(timestamp) > POLL_WINDOW_SECS.unsigned_abs() {
        return Err(AuthError::invalid(
            "timestamp",
            "outside the accepted window",
        ));
    }
    if nonce.len() < 16 || nonce.len() > MAX_ID_LEN {
        return Err(AuthError::invalid("nonce", "must be 16 to 128 characters"));
    }
    let signature = from_b64url(signature_b64)
        .ok_or_else(|| AuthError::invalid("signature", "must be base64url"))?;
    if !verify_fixed(
        device_key,
        &poll_message(device_id, timestamp, nonce),
        &signature,
    ) {
        return Err(AuthError::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::encode_public_key;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};

    type Tamper = Box<dyn Fn(&mut ChallengeJson)>;
    type Edit = Box<dyn Fn(&mut Challenge)>;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The example challenge of docs/phone-protocol.md.
    pub(crate) fn example_challenge() -> Challenge {
        Challenge {
            device_id: "dev-1".into(),
            challenge_id: "ch-1".into(),
            nonce: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            employee: "Alice".into(),
            client_name: "Payroll".into(),
            ip: "203.0.113.7".into(),
            place: "Berlin, DE".into(),
            browser: BrowserFamily::Firefox,
            os: OsFamily::Windows,
            created_unix: 1_700_000_000,
            expires_unix: 1_700_000_060,
            concurrent: false,
            purpose: ChallengePurpose::SignIn,
        }
    }

    /// The fixed test key of docs/phone-protocol.md: scalar 0x01 repeated.
    pub(crate) fn test_key(byte: u8) -> SigningKey {
        SigningKey::from_slice(&[byte; 32]).unwrap()
    }

    #[test]
    fn challenge_message_vector() {
        let m = challenge_message(&example_challenge()).unwrap();
        let expected = concat!(
            "68696465657a2d617574682f6368616c6c656e67652f763300", // hideez-auth/challenge/v2\0
            "00000005",
            "6465762d31", // dev-1
            "00000004",
            "63682d31", // ch-1
            "00000016",
            "41414141414141414141414141414141414141414141", // nonce
            "00000007",
            "7369676e5f696e", // sign_in
            "00000005",
            "416c696365", // Alice
            "00000007",
            "506179726f6c6c", // Payroll
            "0000000b",
            "3230332e302e3131332e37", // 203.0.113.7
            "0000000a",
            "4265726c696e2c204445", // Berlin, DE
            "00000007",
            "66697265666f78", // firefox
            "00000007",
            "77696e646f7773",   // windows
            "000000006553f100", // created 1700000000
            "000000006553f13c", // expires 1700000060
        );
        assert_eq!(hex(&m), expected);
    }

    #[test]
    fn answer_and_poll_and_proof_vectors() {
        let m = answer_message(
            "dev-1",
            "ch-1",
            "AAAAAAAAAAAAAAAAAAAAAA",
            Decision::Approve,
            Some(47),
        );
        let expected = concat!(
            "68696465657a2d617574682f616e737765722f763100", // hideez-auth/answer/v1\0
            "00000005",
            "6465762d31",
            "00000004",
            "63682d31",
            "00000016",
            "41414141414141414141414141414141414141414141",
            "00000007",
            "617070726f7665", // approve
            "2f",             // 47
        );
        assert_eq!(hex(&m), expected);
        let deny = answer_message("d", "c", "n", Decision::ReportFraud, None);
        assert_eq!(
            hex(&deny),
            concat!(
                "68696465657a2d617574682f616e737765722f763100",
                "0000000164",
                "0000000163",
                "000000016e",
                "0000000c",
                "7265706f72745f6672617564", // report_fraud
                "00"
            )
        );
        let p = poll_message("dev-1", 1_700_000_000, "BBBBBBBBBBBBBBBBBBBBBB");
        assert_eq!(
            hex(&p),
            concat!(
                "68696465657a2d617574682f706f6c6c2f763100", // hideez-auth/poll/v1\0
                "00000005",
                "6465762d31",
                "000000006553f100",
                "00000016",
                "42424242424242424242424242424242424242424242",
            )
        );
        let r = registration_proof_message("enr1", &[4, 1, 2]);
        assert_eq!(
            hex(&r),
            concat!(
                "68696465657a2d617574682f72656769737465722f763100", // hideez-auth/register/v1\0
                "00000004",
                "656e7231",
                "00000003",
                "040102",
            )
        );
    }

    #[test]
    fn domains_differ_so_signatures_do_not_transfer() {
        let key = test_key(3);
        let answer = answer_message("d", "c", "n", Decision::Approve, Some(12));
        let sig: Signature = key.sign(&answer);
        let poll = poll_message("d", 0, "n");
        assert!(!verify_fixed(key.verifying_key(), &poll, &sig.to_bytes()));
    }

    fn signed(key: &SigningKey, c: &Challenge) -> ChallengeJson {
        let sig: Signature = key.sign(&challenge_message(c).unwrap());
        wire_challenge(c, &sig.to_bytes())
    }

    #[test]
    fn challenge_round_trip_and_tampering() {
        let server = test_key(1);
        let c = example_challenge();
        let wire = signed(&server, &c);
        let now = c.created_unix + 5;
        assert_eq!(
            verify_challenge(server.verifying_key(), "dev-1", &wire, now).unwrap(),
            c
        );
        // JSON round trip keeps it valid.
        let json = serde_json::to_string(&wire).unwrap();
        let back: ChallengeJson = serde_json::from_str(&json).unwrap();
        assert!(verify_challenge(server.verifying_key(), "dev-1", &back, now).is_ok());

        let tampers: Vec<Tamper> = vec![
            Box::new(|w| w.challenge_id.push('x')),
            Box::new(|w| w.nonce = "BAAAAAAAAAAAAAAAAAAAAA".into()),
            Box::new(|w| w.employee = "Mallory".into()),
            Box::new(|w| w.client_name = "Bank".into()),
            Box::new(|w| w.ip = "198.51.100.1".into()),
            Box::new(|w| w.place = "Paris, FR".into()),
            Box::new(|w| w.browser = phone_protocol::Browser::Chrome),
            Box::new(|w| w.os = phone_protocol::Os::Linux),
            Box::new(|w| w.created -= 1),
            Box::new(|w| w.expires += 1),
            // A sign-in passed off as a workstation unlock, or the reverse.
            Box::new(|w| w.purpose = Purpose::Unlock),
            Box::new(|w| w.device_id = "dev-2".into()),
            // Moving bytes between adjacent fields keeps the concatenation but not the encoding.
            Box::new(|w| {
                w.ip = "203.0.113.7Berlin".into();
                w.place = ", DE".into();
            }),
        ];
        for (i, t) in tampers.iter().enumerate() {
            let mut w = wire.clone();
            t(&mut w);
            let r = verify_challenge(server.verifying_key(), &w.device_id.clone(), &w, now);
            assert_eq!(r, Err(AuthError::BadSignature), "tamper #{i}");
        }
        // Signed by another key.
        let other = signed(&test_key(2), &c);
        assert_eq!(
            verify_challenge(server.verifying_key(), "dev-1", &other, now),
            Err(AuthError::BadSignature)
        );
        // Correctly signed, but for another device.
        assert!(matches!(
            verify_challenge(server.verifying_key(), "dev-9", &wire, now),
            Err(AuthError::InvalidChallenge { field, .. }) if field == "device_id"
        ));
    }

    #[test]
    fn challenge_times() {
        let server = test_key(1);
        let c = example_challenge();
        let wire = signed(&server, &c);
        let k = server.verifying_key();
        let last_ok = c.expires_unix + CLOCK_SKEW_SECS - 1;
        assert!(verify_challenge(k, "dev-1", &wire, last_ok).is_ok());
        assert_eq!(
            verify_challenge(k, "dev-1", &wire, last_ok + 1),
            Err(AuthError::ChallengeExpired {
                expires_unix: c.expires_unix,
                now_unix: last_ok + 1
            })
        );
        let first_ok = c.created_unix - CLOCK_SKEW_SECS;
        assert!(verify_challenge(k, "dev-1", &wire, first_ok).is_ok());
        assert!(matches!(
            verify_challenge(k, "dev-1", &wire, first_ok - 1),
            Err(AuthError::ChallengeNotYetValid { .. })
        ));
    }

    #[test]
    fn challenge_form_is_checked() {
        let bad: Vec<(&str, Edit)> = vec![
            ("device_id", Box::new(|c| c.device_id = "a b".into())),
            ("challenge_id", Box::new(|c| c.challenge_id = String::new())),
            ("nonce", Box::new(|c| c.nonce = "short".into())),
            ("employee", Box::new(|c| c.employee = String::new())),
            ("client_name", Box::new(|c| c.client_name = "x\ny".into())),
            ("created", Box::new(|c| c.created_unix = -1)),
            ("expires", Box::new(|c| c.expires_unix = c.created_unix)),
            (
                "expires",
                Box::new(|c| c.expires_unix = c.created_unix + 601),
            ),
        ];
        for (field, f) in bad {
            let mut c = example_challenge();
            f(&mut c);
            match validate_challenge(&c) {
                Err(AuthError::InvalidChallenge { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn json_errors_name_the_member() {
        let err = |f: &str, r: String| AuthError::challenge(f, r);
        let r: Result<ChallengeJson, _> = parse_json(r#"{"device_id":"d"}"#, err);
        assert!(
            matches!(r, Err(AuthError::InvalidChallenge { field, .. }) if field == "challenge_id")
        );
        let mut v = serde_json::to_value(signed(&test_key(1), &example_challenge())).unwrap();
        v["created"] = serde_json::json!("soon");
        let r: Result<ChallengeJson, _> = parse_json(&v.to_string(), err);
        assert!(
            matches!(&r, Err(AuthError::InvalidChallenge { field, .. }) if field == "created"),
            "{r:?}"
        );
        // A purpose this version does not know (a newer server) is refused, not shown as a sign-in.
        v["created"] = serde_json::json!(1_700_000_000);
        v["purpose"] = serde_json::json!("pay");
        let r: Result<ChallengeJson, _> = parse_json(&v.to_string(), err);
        assert!(
            matches!(&r, Err(AuthError::InvalidChallenge { field, .. }) if field == "purpose"),
            "{r:?}"
        );
        let r: Result<ChallengeJson, _> = parse_json("not json", err);
        assert!(matches!(r, Err(AuthError::InvalidChallenge { field, .. }) if field == "json"));
    }

    #[test]
    fn answer_verification() {
        let device = test_key(5);
        let c = example_challenge();
        let msg = answer_message(
            &c.device_id,
            &c.challenge_id,
            &c.nonce,
            Decision::Approve,
            Some(47),
        );
        let sig: Signature = device.sign(&msg);
        let body = AnswerJson {
            device_id: c.device_id.clone(),
            challenge_id: c.challenge_id.clone(),
            decision: "approve".into(),
            number: Some(47),
            signature: b64url(&sig.to_bytes()),
        };
        let json = serde_json::to_string(&body).unwrap();
        let v = verify_answer(device.verifying_key(), &c, &json).unwrap();
        assert!(v.approves(47));
        assert!(!v.approves(12), "a wrong number is a denial");
        // The decision or number changed in transit: the signature no longer verifies.
        let changed = json.replace("\"approve\"", "\"deny\"");
        assert_eq!(
            verify_answer(device.verifying_key(), &c, &changed),
            Err(AuthError::BadSignature)
        );
        let changed = json.replace("47", "12");
        assert_eq!(
            verify_answer(device.verifying_key(), &c, &changed),
            Err(AuthError::BadSignature)
        );
        // An answer made for another nonce (a replayed answer to an older challenge).
        let mut other = c.clone();
        other.nonce = "CCCCCCCCCCCCCCCCCCCCCC".into();
        assert_eq!(
            verify_answer(device.verifying_key(), &other, &json),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn registration_proof_verification() {
        let device = test_key(6);
        let pk = encode_public_key(device.verifying_key());
        let sig: Signature = device.sign(&registration_proof_message("enr1", &pk));
        let body = RegistrationRequestJson {
            id: "enr1".into(),
            secret: "s".into(),
            device_public_key: b64url(&pk),
            key_proof: b64url(&sig.to_bytes()),
            device_name: "Pixel".into(),
            push_token: None,
            platform: "android".into(),
        };
        let json = serde_json::to_string(&body).unwrap();
        assert!(!json.contains("push_token"));
        let (back, key) = verify_registration_request(&json).unwrap();
        assert_eq!(back, body);
        assert_eq!(encode_public_key(&key), pk);
        let other_id = json.replace("enr1", "enr2");
        assert_eq!(
            verify_registration_request(&other_id).map(|_| ()),
            Err(AuthError::BadSignature)
        );
    }

    /// The signature vectors of docs/phone-protocol.md. ECDSA with random nonces (ring, most
    /// HSMs) gives other signatures each time: implementations verify these, not compare.
    #[test]
    fn signature_vectors() {
        const SERVER_PK: &str = "BG_wO5SSQc4drdQ1GeaWDgqFtBppoFwygQOqK84VlMoWPE91OlW_AdxT9sCwx-7ni0DG_30lqW4igrmJzvccFEo";
        const CHALLENGE_SIG: &str = "XPG5lTpAmLvh3WBVZxoj0LwpRMPiRSwqDCpq2diEYucbZ3PxomnvkspEosL9u6WJ6HsiPGaEwykkxNFb04DRiw";
        const DEVICE_PK: &str = "BFUPRxAD89-Xw99QaseX9nIfsaH7e49vg9IkSYplyI4kE2CT1wEuUJpzcVy9CwCjzA_0tcAbP_oZarH7MnA2uOY";
        const ANSWER_SIG: &str = "cHb-KJLl0Q2HMUlaLuXQ9IyWMB74jTrp-CoIUuzQra9FSbYmaNmwf9wggMsNKMv9cLNqE8KhjE2-Kwfc5vUPKg";

        let server = test_key(1);
        assert_eq!(
            b64url(&encode_public_key(server.verifying_key())),
            SERVER_PK
        );
        let m = challenge_message(&example_challenge()).unwrap();
        let sig: Signature = server.sign(&m);
        assert_eq!(
            b64url(&sig.to_bytes()),
            CHALLENGE_SIG,
            "RFC 6979 is deterministic"
        );
        let key = parse_public_key(&from_b64url(SERVER_PK).unwrap()).unwrap();
        let wire = wire_challenge(&example_challenge(), &from_b64url(CHALLENGE_SIG).unwrap());
        assert!(verify_challenge(&key, "dev-1", &wire, 1_700_000_010).is_ok());

        let device = test_key(2);
        assert_eq!(
            b64url(&encode_public_key(device.verifying_key())),
            DEVICE_PK
        );
        let body = AnswerJson {
            device_id: "dev-1".into(),
            challenge_id: "ch-1".into(),
            decision: "approve".into(),
            number: Some(47),
            signature: ANSWER_SIG.into(),
        };
        let key = parse_public_key(&from_b64url(DEVICE_PK).unwrap()).unwrap();
        let v = verify_answer(
            &key,
            &example_challenge(),
            &serde_json::to_string(&body).unwrap(),
        );
        assert!(v.unwrap().approves(47));
    }
}
