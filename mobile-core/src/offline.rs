//! Offline codes (RFC 6238 TOTP) for when the phone has no network: the server sends a secret
//! with the registration answer, the app keeps it in the key store and shows a code the employee
//! types on the sign-in page.

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder};

use crate::crypto::from_b64url;
use crate::error::AuthError;

/// The offline-code parameters in the registration answer (`totp` member).
pub use phone_protocol::TotpJson;

/// What the accounts file keeps about an account's offline codes (the secret stays in the key
/// store, under `alias`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTotp {
    pub alias: String,
    pub algorithm: String,
    pub digits: u8,
    pub period: u64,
}

/// A code to show, and when it stops being the current one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OfflineCode {
    pub code: String,
    /// Unix seconds at which the next code starts.
    pub valid_until_unix: i64,
    /// Seconds per code.
    pub period_seconds: u64,
}

fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "SHA1" => Some(Algorithm::SHA1),
        "SHA256" => Some(Algorithm::SHA256),
        "SHA512" => Some(Algorithm::SHA512),
        _ => None,
    }
}

fn bad(field: &str, reason: &str) -> AuthError {
    AuthError::server_response(&format!("totp.{field}"), reason)
}

/// Checks the server's parameters; returns the secret.
pub fn check(t: &TotpJson) -> Result<Vec<u8>, AuthError> {
    if algorithm(&t.algorithm).is_none() {
        return Err(bad("algorithm", "must be SHA1, SHA256 or SHA512"));
    }
    if !(6..=8).contains(&t.digits) {
        return Err(bad("digits", "must be 6 to 8"));
    }
    if !(15..=120).contains(&t.period) {
        return Err(bad("period", "must be 15 to 120 seconds"));
    }
    from_b64url(&t.secret)
        .filter(|s| (16..=64).contains(&s.len()))
        .ok_or_else(|| bad("secret", "must be 16 to 64 bytes, base64url"))
}

/// The code at `now_unix`.
pub fn code(t: &StoredTotp, secret: &[u8], now_unix: i64) -> Result<OfflineCode, AuthError> {
    let now = u64::try_from(now_unix)
        .map_err(|_| AuthError::invalid("now_unix", "must not be before 1970"))?;
    let totp = Builder::new()
        .with_algorithm(algorithm(&t.algorithm).ok_or_else(|| AuthError::Storage {
            reason: format!("unknown offline-code algorithm `{}`", t.algorithm),
        })?)
        .with_digits(t.digits)
        .with_skew(0)
        .with_step_duration(t.period)
        .with_secret(secret)
        .build()
        .map_err(|e| AuthError::key_store(format!("the offline-code secret is unusable: {e}")))?;
    let next = (now / t.period + 1) * t.period;
    Ok(OfflineCode {
        code: totp.generate(now).to_string(),
        valid_until_unix: i64::try_from(next).unwrap_or(i64::MAX),
        period_seconds: t.period,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(alg: &str, digits: u8) -> StoredTotp {
        StoredTotp {
            alias: "a".into(),
            algorithm: alg.into(),
            digits,
            period: 30,
        }
    }

    /// RFC 6238 appendix B.
    #[test]
    fn rfc6238_vectors() {
        let sha1 = b"12345678901234567890";
        let sha256 = b"12345678901234567890123456789012";
        for (t, c1, c256) in [
            (59, "94287082", "46119246"),
            (1111111109, "07081804", "68084774"),
            (1234567890, "89005924", "91819424"),
            (20000000000, "65353130", "77737706"),
        ] {
            assert_eq!(code(&stored("SHA1", 8), sha1, t).unwrap().code, c1);
            assert_eq!(code(&stored("SHA256", 8), sha256, t).unwrap().code, c256);
            assert_eq!(
                code(&stored("SHA256", 6), sha256, t).unwrap().code,
                c256[2..]
            );
        }
        let c = code(&stored("SHA256", 6), sha256, 59).unwrap();
        assert_eq!((c.valid_until_unix, c.period_seconds), (60, 30));
        assert!(code(&stored("MD5", 6), sha256, 59).is_err());
        assert!(matches!(
            code(&stored("SHA256", 6), sha256, -1),
            Err(AuthError::InvalidField { field, .. }) if field == "now_unix"
        ));
    }

    #[test]
    fn server_parameters_are_checked() {
        let ok = TotpJson {
            secret: crate::crypto::b64url(&[1u8; 32]),
            algorithm: "SHA256".into(),
            digits: 6,
            period: 30,
        };
        assert_eq!(check(&ok).unwrap(), vec![1u8; 32]);
        let field = |t: TotpJson| match check(&t) {
            Err(AuthError::InvalidServerResponse { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(TotpJson {
                algorithm: "MD5".into(),
                ..ok.clone()
            }),
            "totp.algorithm"
        );
        assert_eq!(
            field(TotpJson {
                digits: 9,
                ..ok.clone()
            }),
            "totp.digits"
        );
        assert_eq!(
            field(TotpJson {
                period: 5,
                ..ok.clone()
            }),
            "totp.period"
        );
        assert_eq!(
            field(TotpJson {
                secret: "AAAA".into(),
                ..ok.clone()
            }),
            "totp.secret"
        );
        assert_eq!(
            field(TotpJson {
                secret: "!!".into(),
                ..ok
            }),
            "totp.secret"
        );
    }
}
