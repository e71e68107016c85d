//! Failed-attempt throttling that holds across instances: counters live in the database, keyed
//! by what is attacked (an employee, whatever spelling of their name was typed; an unknown typed
//! name; an admin user name; a client address), never in one process's memory.
//!
//! An attempt is *taken* before the credentials are checked, in one conditional statement
//! ([`take`]): concurrent guesses each get their own number, and no more are evaluated than the
//! policy allows, on SQLite and PostgreSQL alike. After a failure the key waits a growing delay
//! (1 s, 2 s, 4 s… up to a minute), and after `lock_after` failures it is locked for `lock_ms`
//! or until an admin lifts it ([`lift`]). A success forgets the key.
//!
//! **A lock must not lock the owner out** (OWASP's device cookies): a browser that signed in
//! successfully as an account carries a device token for it ([`device_token`], sealed under the
//! data key). Failures from browsers without one count against the account's key and lock only
//! *untrusted* browsers out; a browser with the token counts against a key of its own
//! ([`trusted_device`], [`Policy::trusted_device`]), so anonymous guessing from anywhere cannot
//! keep the owner from signing in from the browser they used before.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::config::Config;
use crate::crypto::Cipher;
use crate::error::{Error, Result};
use crate::store::Conn;

const DEVICE_AAD: &[u8] = b"sso-server device token v1";

/// How long a device token is kept by the browser, in seconds (it is renewed at every sign-in).
pub const DEVICE_TOKEN_SECS: i64 = 180 * 86_400;

/// A new device token for `account` (its throttle key, e.g. `employee:<id>`): the account and a
/// random nonce, sealed under the data key, so only this server makes or reads one.
pub fn device_token(cipher: &Cipher, account: &str) -> Result<String> {
    let nonce = crate::crypto::random_token()?;
    let plain = serde_json::to_vec(&serde_json::json!({ "a": account, "n": nonce }))
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(cipher.seal(&plain, DEVICE_AAD)?))
}

/// The throttle key of the trusted browser carrying `token`, when it is a device token for
/// `account`; `None` for anything else (absent, forged, another account's).
pub fn trusted_device(cipher: &Cipher, token: Option<&str>, account: &str) -> Option<String> {
    let sealed = URL_SAFE_NO_PAD.decode(token?).ok()?;
    let plain = cipher.open(&sealed, DEVICE_AAD).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&plain).ok()?;
    (v["a"].as_str() == Some(account))
        .then(|| v["n"].as_str().map(|n| format!("device:{n}")))
        .flatten()
}

/// How much a key may fail.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures that cost no delay.
    pub free: i64,
    /// Failures after which the key is locked.
    pub lock_after: i64,
    pub lock_ms: i64,
    /// Failures older than this (since the last attempt) are forgotten.
    pub window_ms: i64,
}

/// What a caller may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Check the credentials; this is the key's attempt number `n` in the window.
    Go { n: i64 },
    /// Do not check anything: the key is delayed or locked for this long.
    Wait { retry_after_secs: u64 },
}

/// Takes an attempt for `key`: one statement that counts it unless the key is delayed or locked.
pub async fn take(conn: &mut Conn, key: &str, policy: &Policy, now: i64) -> Result<Take> {
    let n: Option<i64> = sqlx::query_scalar(
        "INSERT INTO sign_in_throttle (key, failures, locked_until, updated_at) \
         VALUES ($1, 1, NULL, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN sign_in_throttle.updated_at < $3 THEN 1 \
                    ELSE sign_in_throttle.failures + 1 END, \
         updated_at = $2 \
         WHERE sign_in_throttle.locked_until IS NULL OR sign_in_throttle.locked_until <= $2 \
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(now - policy.window_ms)
    .fetch_optional(&mut *conn)
    .await?;
    match n {
        // Attempts beyond the limit that raced past the lock: locked now, not evaluated.
        Some(n) if n > policy.lock_after => {
            lock(conn, key, now + policy.lock_ms).await?;
            Ok(Take::Wait {
                retry_after_secs: secs(policy.lock_ms),
            })
        }
        Some(n) => Ok(Take::Go { n }),
        None => {
            let until: Option<i64> =
                sqlx::query_scalar("SELECT locked_until FROM sign_in_throttle WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *conn)
                    .await?
                    .flatten();
            Ok(Take::Wait {
                retry_after_secs: secs(until.unwrap_or(now + 1000) - now),
            })
        }
    }
}

fn secs(ms: i64) -> u64 {
    u64::try_from(ms.max(1000)).unwrap_or(1000).div_ceil(1000)
}

/// Locks the key until `until`; its count starts afresh once the lock is over.
async fn lock(conn: &mut Conn, key: &str, until: i64) -> Result<()> {
    sqlx::query("UPDATE sign_in_throttle SET locked_until = $2, failures = 0 WHERE key = $1")
        .bind(key)
        .bind(until)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes the key wait until `until` (a growing delay; the count goes on).
async fn delay(conn: &mut Conn, key: &str, until: i64) -> Result<()> {
    sqlx::query("UPDATE sign_in_throttle SET locked_until = $2 WHERE key = $1")
        .bind(key)
        .bind(until)
        .execute(conn)
        .await?;
    Ok(())
}

/// Attempt `n` failed: the delay (or lock) that follows. Returns whether the key is now locked.
pub async fn failed(conn: &mut Conn, key: &str, n: i64, policy: &Policy, now: i64) -> Result<bool> {
    let (wait, locked) = delay_after(n, policy);
    if locked {
        lock(conn, key, now + wait).await?;
    } else if wait > 0 {
        delay(conn, key, now + wait).await?;
    }
    Ok(locked)
}

/// The wait after failure number `n` (pure), and whether it is the lock.
pub fn delay_after(n: i64, policy: &Policy) -> (i64, bool) {
    if n >= policy.lock_after {
        (policy.lock_ms, true)
    } else if n > policy.free {
        let steps = u32::try_from(n - policy.free - 1)
            .unwrap_or(u32::MAX)
            .min(6);
        ((1000_i64 << steps).min(60_000), false)
    } else {
        (0, false)
    }
}

/// The attempt succeeded: the key starts afresh.
pub async fn succeeded(conn: &mut Conn, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM sign_in_throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives back an attempt that was taken but not failed (a success on a shared key such as an
/// address, or an attempt refused before any check): only failures count against the key.
pub async fn release(conn: &mut Conn, key: &str) -> Result<()> {
    sqlx::query(
        "UPDATE sign_in_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0",
    )
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the key is locked now (for the admin's view).
pub async fn locked(conn: &mut Conn, key: &str, now: i64) -> Result<bool> {
    let until: Option<i64> =
        sqlx::query_scalar("SELECT locked_until FROM sign_in_throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?
            .flatten();
    Ok(until.is_some_and(|u| u > now))
}

/// The admin lifts a lock (and forgets the failures). Returns whether there was anything.
pub async fn lift(conn: &mut Conn, key: &str) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM sign_in_throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?
        .rows_affected()
        > 0)
}

/// Deletes rows nobody has tried for a day (maintenance).
pub async fn purge(conn: &mut Conn, now: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM sign_in_throttle WHERE updated_at < $1 \
         AND (locked_until IS NULL OR locked_until < $2)",
    )
    .bind(now - 86_400_000)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}

/// The throttle key of the deployment's offline-code budget for the UTC day of `now`, and when
/// that day ends.
pub fn offline_codes_key(now: i64) -> (String, i64) {
    let day = now.div_euclid(86_400_000);
    (format!("offline-codes:{day}"), (day + 1) * 86_400_000)
}

/// The throttle key of an employee's password and offline-code sign-ins.
pub fn employee_key(employee_id: &str) -> String {
    format!("employee:{employee_id}")
}

/// An admin lifts an employee's sign-in lock (audited). Returns whether there was one.
pub async fn unlock_employee(
    store: &crate::store::Store,
    now: i64,
    actor: &crate::audit::Actor,
    employee_id: &str,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let lifted = lift(&mut tx, &employee_key(employee_id)).await?;
    crate::audit::record(
        &mut tx,
        now,
        actor,
        "employee.sign_in_unlocked",
        Some(crate::audit::Target::of("employee", employee_id)),
        serde_json::json!({ "had_failures": lifted }),
    )
    .await?;
    tx.commit().await?;
    Ok(lifted)
}

impl Policy {
    /// The throttle of one employee's password and offline-code sign-ins.
    pub fn employee(config: &Config) -> Self {
        let o = &config.oidc;
        Self {
            free: i64::from(o.sign_in_free_failures),
            lock_after: i64::from(o.sign_in_lockout_after),
            lock_ms: i64::from(o.sign_in_lockout_minutes) * 60_000,
            window_ms: 3_600_000,
        }
    }

    /// The throttle of one admin user name.
    pub fn admin(config: &Config) -> Self {
        Self {
            free: i64::from(config.admin.max_failed_logins),
            lock_after: i64::from(config.admin.max_failed_logins),
            lock_ms: i64::from(config.admin.lockout_minutes) * 60_000,
            window_ms: 3_600_000,
        }
    }

    /// The throttle of one trusted browser (a device token) of an account: a small budget of
    /// its own, so a stolen token is worth a few guesses, and the owner keeps signing in while
    /// the account's untrusted key is locked. The same numbers as the employee's throttle,
    /// counted under the device's own key.
    pub fn trusted_device(config: &Config) -> Self {
        Self::employee(config)
    }

    /// The deployment's budget of failed offline codes in one UTC day, scaled to the number of
    /// registered phones: `max(5, phones / 1250)`. A code is 6 digits with one step of clock
    /// drift either way, so a guess succeeds 3 times in a million; at this budget 10,000 phones
    /// allow 8 failures a day, 2,920 a year, for at most 0.0088 expected hijacks a year
    /// whatever the number of addresses an attacker has (docs/architecture.md).
    pub fn offline_codes(phones: i64) -> Self {
        let per_day = (phones / 1250).max(5);
        Self {
            free: per_day,
            lock_after: per_day,
            lock_ms: 86_400_000,
            window_ms: 86_400_000,
        }
    }

    /// The throttle of one client address, across every kind of sign-in.
    pub fn address(config: &Config) -> Self {
        let limit = i64::from(config.oidc.sign_in_address_limit);
        Self {
            free: limit,
            lock_after: limit,
            lock_ms: 15 * 60_000,
            window_ms: 15 * 60_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        free: 3,
        lock_after: 10,
        lock_ms: 3_600_000,
        window_ms: 3_600_000,
    };

    #[test]
    fn a_device_token_names_its_account_only() {
        let cipher = Cipher::new(&crate::crypto::keyfile::DataKey::generate().unwrap());
        let t = device_token(&cipher, "employee:e1").unwrap();
        let key = trusted_device(&cipher, Some(&t), "employee:e1").unwrap();
        assert!(key.starts_with("device:"));
        assert_eq!(trusted_device(&cipher, Some(&t), "employee:e2"), None);
        assert_eq!(trusted_device(&cipher, Some("forged"), "employee:e1"), None);
        assert_eq!(trusted_device(&cipher, None, "employee:e1"), None);
        let other = Cipher::new(&crate::crypto::keyfile::DataKey::generate().unwrap());
        assert_eq!(trusted_device(&other, Some(&t), "employee:e1"), None);
        assert_ne!(
            device_token(&cipher, "employee:e1").unwrap(),
            t,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn delays_grow_then_the_key_locks() {
        assert_eq!(delay_after(1, &P), (0, false));
        assert_eq!(delay_after(3, &P), (0, false));
        assert_eq!(delay_after(4, &P), (1000, false));
        assert_eq!(delay_after(5, &P), (2000, false));
        assert_eq!(delay_after(9, &P), (32_000, false));
        assert_eq!(delay_after(10, &P), (3_600_000, true));
    }
}
