//! Offline codes: when the phone has no network, the app shows a time-based one-time code
//! (RFC 6238) from a secret the server gave it at registration, and the employee types it on the
//! sign-in page. HMAC-SHA-256, 6 digits, 30-second steps; one step of clock drift either way is
//! accepted, and a step works once per device (the last used step is stored).
//!
//! The secret is drawn from the OS CSPRNG, sent once in the registration answer (over TLS), kept
//! sealed with the data key (AAD: the device id) and never returned again.

use serde::Serialize;
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, Builder, Totp};

use super::Phones;
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::store::Conn;

pub const DIGITS: u8 = 6;
pub const PERIOD_SECONDS: u64 = 30;
pub const ALGORITHM: &str = "SHA256";
const SECRET_LEN: usize = 32;

/// What the phone needs to make codes (part of the registration answer).
#[derive(Debug, Clone, Serialize)]
pub struct TotpParams {
    /// base64url, no padding.
    pub secret: String,
    pub algorithm: &'static str,
    pub digits: u8,
    pub period: u64,
}

fn aad(device_id: &str) -> Vec<u8> {
    format!("totp:{device_id}").into_bytes()
}

fn generator(secret: &[u8], digits: u8) -> Result<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA256)
        .with_digits(digits)
        .with_skew(0)
        .with_step_duration(PERIOD_SECONDS)
        .with_secret(secret)
        .build()
        .map_err(|e| Error::Internal(format!("offline code secret rejected: {e}")))
}

/// The code for time step `step` (`unix seconds / 30`).
pub fn code_at_step(secret: &[u8], step: u64) -> Result<String> {
    Ok(generator(secret, DIGITS)?
        .generate(step * PERIOD_SECONDS)
        .to_string())
}

/// The time step whose code `code` is, among the current one and one either side.
pub fn matching_step(secret: &[u8], code: &str, now_ms: i64) -> Result<Option<u64>> {
    let code = code.trim();
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let now_step = u64::try_from(now_ms / 1000).unwrap_or(0) / PERIOD_SECONDS;
    let mut found = None;
    // All three are computed and compared in constant time, so timing does not tell which.
    for step in [now_step.saturating_sub(1), now_step, now_step + 1] {
        let expected = code_at_step(secret, step)?;
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    Ok(found)
}

/// Draws a device's secret, stores it sealed and returns what the phone needs.
pub async fn provision(state: &Phones, conn: &mut Conn, device_id: &str) -> Result<TotpParams> {
    let secret = zeroize::Zeroizing::new(random_bytes::<SECRET_LEN>()?);
    let sealed = state.cipher.seal(secret.as_ref(), &aad(device_id))?;
    crate::push::store::set_totp_secret(conn, device_id, &sealed).await?;
    Ok(TotpParams {
        secret: super::wire::b64(secret.as_ref()),
        algorithm: ALGORITHM,
        digits: DIGITS,
        period: PERIOD_SECONDS,
    })
}

/// Checks `code` against the employee's active phone and uses it up. `false`: wrong, expired,
/// already used, or no phone with offline codes.
pub async fn check(state: &Phones, employee_id: &str, code: &str) -> Result<bool> {
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    for (device_id, sealed) in crate::push::store::totp_secrets_of(&mut conn, employee_id).await? {
        let secret = zeroize::Zeroizing::new(state.cipher.open(&sealed, &aad(&device_id))?);
        if let Some(step) = matching_step(&secret, code, now)? {
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            return crate::push::store::use_totp_step(&mut conn, &device_id, step, now).await;
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-256 (8-digit codes; our 6 digits are their last six).
    #[test]
    fn rfc6238_sha256_vectors() {
        let secret = b"12345678901234567890123456789012";
        for (t, code) in [
            (59u64, "46119246"),
            (1111111109, "68084774"),
            (1111111111, "67062674"),
            (1234567890, "91819424"),
            (2000000000, "90698825"),
            (20000000000, "77737706"),
        ] {
            assert_eq!(
                generator(secret, 8).unwrap().generate(t).to_string(),
                code,
                "t = {t}"
            );
            assert_eq!(code_at_step(secret, t / 30).unwrap(), code[2..], "t = {t}");
        }
    }

    #[test]
    fn drift_of_one_step_is_accepted_and_no_more() {
        let secret = [7u8; 32];
        let now_ms = 1_700_000_000_000i64;
        let step = (now_ms / 1000) as u64 / 30;
        for (s, ok) in [
            (step - 2, false),
            (step - 1, true),
            (step, true),
            (step + 1, true),
            (step + 2, false),
        ] {
            let code = code_at_step(&secret, s).unwrap();
            let found = matching_step(&secret, &code, now_ms).unwrap();
            assert_eq!(
                found.is_some(),
                ok,
                "step offset {}",
                s as i64 - step as i64
            );
            if ok {
                // A code of another step may collide by chance (1 in a million); the step
                // matched is the one asked for unless they collide.
                assert!(found == Some(s) || code_at_step(&secret, found.unwrap()).unwrap() == code);
            }
        }
        assert_eq!(matching_step(&secret, "12345", now_ms).unwrap(), None);
        assert_eq!(matching_step(&secret, "12a456", now_ms).unwrap(), None);
        assert_eq!(matching_step(&secret, "", now_ms).unwrap(), None);
    }
}
