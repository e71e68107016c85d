//! The wire contract between the SSO server (`sso-server/src/push`) and the phone core
//! (`mobile-core`): endpoints, headers, JSON bodies and the canonical byte strings that are
//! signed. Both ends build their messages with this crate, so a change here changes both.
//! `docs/phone-protocol.md` is the same text with examples and test vectors.
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
//! made for one purpose can never be taken for another.

use serde::{Deserialize, Serialize};

/// Endpoint of the registration request, relative to the server base URL.
pub const REGISTER_PATH: &str = "api/authenticator/register";
/// Endpoint of challenge answers, relative to the server base URL.
pub const ANSWER_PATH: &str = "api/authenticator/answer";
/// Endpoint of the poll fallback, relative to the server base URL.
pub const CHALLENGES_PATH: &str = "api/authenticator/challenges";
/// `POST` here to change (or clear) the device's push token.
pub const PUSH_TOKEN_PATH: &str = "api/authenticator/push-token";
/// `POST` here to remove the device's registration (the employee removed the account on the
/// phone).
pub const UNREGISTER_PATH: &str = "api/authenticator/unregister";

pub const REGISTER_DOMAIN: &[u8] = b"hideez-auth/register/v1\0";
/// Version 2: the challenge names its purpose and carries no numbers (the employee types the
/// number the sign-in page shows).
pub const CHALLENGE_DOMAIN: &[u8] = b"hideez-auth/challenge/v3\0";
pub const ANSWER_DOMAIN: &[u8] = b"hideez-auth/answer/v1\0";
pub const POLL_DOMAIN: &[u8] = b"hideez-auth/poll/v1\0";
pub const PUSH_TOKEN_DOMAIN: &[u8] = b"hideez-auth/push-token/v1\0";
pub const UNREGISTER_DOMAIN: &[u8] = b"hideez-auth/unregister/v1\0";

pub const HEADER_DEVICE: &str = "X-Hideez-Device";
pub const HEADER_TIMESTAMP: &str = "X-Hideez-Timestamp";
pub const HEADER_NONCE: &str = "X-Hideez-Nonce";
pub const HEADER_SIGNATURE: &str = "X-Hideez-Signature";

/// Clock difference tolerated between phone and server when checking challenge times.
pub const CLOCK_SKEW_SECS: i64 = 30;
/// Longest challenge lifetime (`expires - created`) the phone accepts.
pub const MAX_CHALLENGE_LIFETIME_SECS: i64 = 600;
/// How far a poll timestamp may be from the server's clock.
pub const POLL_WINDOW_SECS: i64 = 60;
/// Random bytes in a poll nonce.
pub const POLL_NONCE_BYTES: usize = 16;
/// The number the sign-in page shows and the employee types on the phone: two digits.
pub const NUMBERS: std::ops::RangeInclusive<u8> = 10..=99;

/// Builder of a canonical byte string.
#[derive(Debug)]
pub struct Canonical(Vec<u8>);

impl Canonical {
    pub fn new(domain: &[u8]) -> Self {
        Self(domain.to_vec())
    }

    pub fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }

    pub fn bytes(mut self, b: &[u8]) -> Self {
        // Every input is length-checked long before 4 GiB.
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    /// Times: a negative one (refused by both ends before signing) encodes as 0.
    pub fn u64(mut self, n: i64) -> Self {
        self.0
            .extend_from_slice(&u64::try_from(n).unwrap_or(0).to_be_bytes());
        self
    }

    pub fn u8(mut self, n: u8) -> Self {
        self.0.push(n);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// What a challenge asks the employee to approve; the phone words its prompt by it ("Sign in to
/// Wiki" or "Unlock PC-0413").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A sign-in to the web application `client_name`.
    SignIn,
    /// Unlocking the workstation `client_name`.
    Unlock,
    /// Confirming, from a session at `client_name` (the SSO server), that the employee is adding
    /// a passkey or a phone to their account.
    Enrol,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::Unlock => "unlock",
            Self::Enrol => "enrol",
        }
    }
}

/// The browser a sign-in comes from, as the server recognised it from the request (a fixed
/// vocabulary: the requester's own text never reaches the phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Browser {
    Chrome,
    Edge,
    Firefox,
    Safari,
    Opera,
    /// A browser or program the server does not name.
    Other,
    /// No browser is involved (a workstation unlock) or it said nothing.
    Unknown,
}

impl Browser {
    pub const ALL: [Self; 7] = [
        Self::Chrome,
        Self::Edge,
        Self::Firefox,
        Self::Safari,
        Self::Opera,
        Self::Other,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chrome => "chrome",
            Self::Edge => "edge",
            Self::Firefox => "firefox",
            Self::Safari => "safari",
            Self::Opera => "opera",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }

    /// The English name the phone shows ("Firefox"); `None` for `unknown`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::Chrome => "Chrome",
            Self::Edge => "Edge",
            Self::Firefox => "Firefox",
            Self::Safari => "Safari",
            Self::Opera => "Opera",
            Self::Other => "another browser",
            Self::Unknown => return None,
        })
    }
}

/// The operating system a sign-in comes from, as the server recognised it (fixed vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Os {
    Windows,
    Macos,
    Linux,
    ChromeOs,
    Android,
    Ios,
    Other,
    Unknown,
}

impl Os {
    pub const ALL: [Self; 8] = [
        Self::Windows,
        Self::Macos,
        Self::Linux,
        Self::ChromeOs,
        Self::Android,
        Self::Ios,
        Self::Other,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Windows => "windows",
            Self::Macos => "macos",
            Self::Linux => "linux",
            Self::ChromeOs => "chrome_os",
            Self::Android => "android",
            Self::Ios => "ios",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }

    /// The English name the phone shows ("Windows"); `None` for `unknown`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::Windows => "Windows",
            Self::Macos => "macOS",
            Self::Linux => "Linux",
            Self::ChromeOs => "ChromeOS",
            Self::Android => "Android",
            Self::Ios => "iOS",
            Self::Other => "another system",
            Self::Unknown => return None,
        })
    }
}

/// "Firefox on Windows", "Safari", "a computer on Linux", or "" when nothing is known: the line
/// the phone shows, made only of the two fixed vocabularies.
pub fn describe_browser(browser: Browser, os: Os) -> String {
    match (browser.name(), os.name()) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("a computer on {o}"),
        (None, None) => String::new(),
    }
}

/// A challenge as JSON on the wire (push payload or poll response item): the fields of the
/// challenge message plus the server's signature of it. Every field the phone shows is the
/// server's: registered names (`employee`, `client_name`), the address the request came from and
/// what the server derived from it (`place`), and fixed vocabularies (`purpose`, `browser`,
/// `os`). Nothing the requester typed is among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeJson {
    pub device_id: String,
    pub challenge_id: String,
    pub nonce: String,
    pub purpose: Purpose,
    pub employee: String,
    pub client_name: String,
    pub ip: String,
    pub place: String,
    pub browser: Browser,
    pub os: Os,
    pub created: i64,
    pub expires: i64,
    /// ES256 (`r || s`, base64url) of [`challenge_message`] with the server's key.
    pub signature: String,
}

/// `hideez-auth/challenge/v3\0 || str(device_id) || str(challenge_id) || str(nonce) ||
/// str(purpose) || str(employee) || str(client_name) || str(ip) || str(place) ||
/// str(browser) || str(os) || u64(created) || u64(expires)` (the signature member is not
/// covered).
pub fn challenge_message(c: &ChallengeJson) -> Vec<u8> {
    Canonical::new(CHALLENGE_DOMAIN)
        .str(&c.device_id)
        .str(&c.challenge_id)
        .str(&c.nonce)
        .str(c.purpose.as_str())
        .str(&c.employee)
        .str(&c.client_name)
        .str(&c.ip)
        .str(&c.place)
        .str(c.browser.as_str())
        .str(c.os.as_str())
        .u64(c.created)
        .u64(c.expires)
        .finish()
}

/// The poll response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResponseJson {
    pub challenges: Vec<ChallengeJson>,
}

/// The body of `POST api/authenticator/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRequestJson {
    /// The enrolment id from the link.
    pub id: String,
    /// The secret from the link, base64url as it was in the link.
    pub secret: String,
    /// SEC1 uncompressed, base64url.
    pub device_public_key: String,
    /// ES256 of [`registration_proof_message`] with the device key, base64url.
    pub key_proof: String,
    pub device_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_token: Option<String>,
    /// `ios`, `android` or `other`.
    pub platform: String,
}

/// The offline-code parameters in the registration answer (`totp` member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpJson {
    /// base64url, 16 to 64 bytes.
    pub secret: String,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// 6 to 8.
    pub digits: u8,
    /// Seconds per code, 15 to 120.
    pub period: u64,
}

/// The server's answer to the registration request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationResponseJson {
    pub device_id: String,
    /// SEC1 uncompressed, base64url: the key that signs this device's challenges.
    pub server_public_key: String,
    /// What the app shows for the account, e.g. the employee's e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// The offline-code secret and parameters; absent if the server offers no offline codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpJson>,
}

/// The body of `POST api/authenticator/answer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerJson {
    pub device_id: String,
    pub challenge_id: String,
    /// `approve`, `deny` or `report_fraud`.
    pub decision: String,
    /// The number the employee typed (10 to 99; required to approve), or `null`.
    pub number: Option<u8>,
    /// ES256 of [`answer_message`] with the device key, base64url.
    pub signature: String,
}

/// The body of `POST api/authenticator/push-token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTokenJson {
    pub device_id: String,
    pub timestamp: i64,
    pub nonce: String,
    /// The new token; absent or `null` clears it.
    #[serde(default)]
    pub push_token: Option<String>,
    /// ES256 of [`push_token_message`] with the device key, base64url.
    pub signature: String,
}

/// The body of `POST api/authenticator/unregister`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnregisterJson {
    pub device_id: String,
    pub timestamp: i64,
    pub nonce: String,
    /// ES256 of [`unregister_message`] with the device key, base64url.
    pub signature: String,
}

/// `hideez-auth/unregister/v1\0 || str(device_id) || u64(timestamp) || str(nonce)`.
pub fn unregister_message(device_id: &str, timestamp: i64, nonce: &str) -> Vec<u8> {
    Canonical::new(UNREGISTER_DOMAIN)
        .str(device_id)
        .u64(timestamp)
        .str(nonce)
        .finish()
}

/// `hideez-auth/register/v1\0 || str(id) || bytes(device_public_key)`.
pub fn registration_proof_message(enrolment_id: &str, device_public_key: &[u8]) -> Vec<u8> {
    Canonical::new(REGISTER_DOMAIN)
        .str(enrolment_id)
        .bytes(device_public_key)
        .finish()
}

/// `hideez-auth/answer/v1\0 || str(device_id) || str(challenge_id) || str(nonce) ||
/// str(decision) || u8(number or 0)`.
pub fn answer_message(
    device_id: &str,
    challenge_id: &str,
    nonce: &str,
    decision: &str,
    number: Option<u8>,
) -> Vec<u8> {
    Canonical::new(ANSWER_DOMAIN)
        .str(device_id)
        .str(challenge_id)
        .str(nonce)
        .str(decision)
        .u8(number.unwrap_or(0))
        .finish()
}

/// `hideez-auth/poll/v1\0 || str(device_id) || u64(timestamp) || str(nonce)`.
pub fn poll_message(device_id: &str, timestamp: i64, nonce: &str) -> Vec<u8> {
    Canonical::new(POLL_DOMAIN)
        .str(device_id)
        .u64(timestamp)
        .str(nonce)
        .finish()
}

/// `hideez-auth/push-token/v1\0 || str(device_id) || u64(timestamp) || str(nonce) ||
/// str(push_token)`, the empty string clearing the token.
pub fn push_token_message(
    device_id: &str,
    timestamp: i64,
    nonce: &str,
    push_token: &str,
) -> Vec<u8> {
    Canonical::new(PUSH_TOKEN_DOMAIN)
        .str(device_id)
        .u64(timestamp)
        .str(nonce)
        .str(push_token)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The example challenge of docs/phone-protocol.md.
    fn example() -> ChallengeJson {
        ChallengeJson {
            device_id: "dev-1".into(),
            challenge_id: "ch-1".into(),
            nonce: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            purpose: Purpose::SignIn,
            employee: "Alice".into(),
            client_name: "Payroll".into(),
            ip: "203.0.113.7".into(),
            place: "Berlin, DE".into(),
            browser: Browser::Firefox,
            os: Os::Windows,
            created: 1_700_000_000,
            expires: 1_700_000_060,
            signature: String::new(),
        }
    }

    /// The test vectors of docs/phone-protocol.md, section "Test vectors".
    #[test]
    fn messages_match_the_documented_vectors() {
        let expected = concat!(
            "68696465657a2d617574682f6368616c6c656e67652f763300",
            "000000056465762d31",
            "0000000463682d31",
            "0000001641414141414141414141414141414141414141414141",
            "000000077369676e5f696e",
            "00000005416c696365",
            "00000007506179726f6c6c",
            "0000000b3230332e302e3131332e37",
            "0000000a4265726c696e2c204445",
            "0000000766697265666f78",
            "0000000777696e646f7773",
            "000000006553f100",
            "000000006553f13c",
        );
        assert_eq!(hex(&challenge_message(&example())), expected);
        let a = answer_message(
            "dev-1",
            "ch-1",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "approve",
            Some(47),
        );
        let expected = concat!(
            "68696465657a2d617574682f616e737765722f763100",
            "000000056465762d31",
            "0000000463682d31",
            "0000001641414141414141414141414141414141414141414141",
            "00000007617070726f7665",
            "2f",
        );
        assert_eq!(hex(&a), expected);
    }

    #[test]
    fn unregister_is_not_a_poll() {
        // Same fields as a poll: only the domain tag keeps a poll signature from unregistering.
        let u = unregister_message("dev-1", 1_700_000_000, "BBBBBBBBBBBBBBBBBBBBBB");
        let p = poll_message("dev-1", 1_700_000_000, "BBBBBBBBBBBBBBBBBBBBBB");
        assert_ne!(u, p);
        assert_eq!(
            hex(&u),
            concat!(
                "68696465657a2d617574682f756e72656769737465722f763100",
                "000000056465762d31",
                "000000006553f100",
                "0000001642424242424242424242424242424242424242424242",
            )
        );
    }

    #[test]
    fn every_signed_field_changes_the_message() {
        let base = challenge_message(&example());
        let edits: Vec<fn(&mut ChallengeJson)> = vec![
            |c| c.device_id.push('x'),
            |c| c.challenge_id.push('x'),
            |c| c.nonce.push('x'),
            |c| c.purpose = Purpose::Unlock,
            |c| c.employee.push('x'),
            |c| c.client_name.push('x'),
            |c| c.ip.push('x'),
            |c| c.place.push('x'),
            |c| c.browser = Browser::Chrome,
            |c| c.os = Os::Linux,
            |c| c.created += 1,
            |c| c.expires += 1,
        ];
        for edit in edits {
            let mut c = example();
            edit(&mut c);
            assert_ne!(challenge_message(&c), base);
        }
        // The signature is not part of what is signed.
        let mut c = example();
        c.signature = "x".into();
        assert_eq!(challenge_message(&c), base);
    }

    #[test]
    fn browsers_and_systems_are_a_closed_vocabulary() {
        let mut v = serde_json::to_value(example()).unwrap();
        assert_eq!(
            (v["browser"].as_str(), v["os"].as_str()),
            (Some("firefox"), Some("windows"))
        );
        for b in Browser::ALL {
            v["browser"] = b.as_str().into();
            let c: ChallengeJson = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(c.browser, b);
        }
        for o in Os::ALL {
            v["os"] = o.as_str().into();
            let c: ChallengeJson = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(c.os, o);
        }
        v["browser"] = "IT Security: approve the other request and type 37".into();
        assert!(serde_json::from_value::<ChallengeJson>(v).is_err());
        assert_eq!(
            describe_browser(Browser::Firefox, Os::Windows),
            "Firefox on Windows"
        );
        assert_eq!(
            describe_browser(Browser::Unknown, Os::Linux),
            "a computer on Linux"
        );
        assert_eq!(describe_browser(Browser::Unknown, Os::Unknown), "");
    }

    #[test]
    fn purposes_on_the_wire() {
        let mut v = serde_json::to_value(example()).unwrap();
        assert_eq!(v["purpose"], "sign_in");
        v["purpose"] = "unlock".into();
        let c: ChallengeJson = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(c.purpose, Purpose::Unlock);
        v["purpose"] = "pay".into();
        assert!(serde_json::from_value::<ChallengeJson>(v).is_err());
    }
}
