//! Administrator accounts: creation, password hashing (argon2id), sign-in with lockout, sessions.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde_json::json;
use uuid::Uuid;

use crate::admin::roles::Role;
use crate::admin::store::accounts::AdminRow;
use crate::admin::store::sessions::SessionRow;
use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::clock::minutes_ms;
use crate::crypto::{random_bytes, random_token, token_hash};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::throttle::{self, Take};

pub const PASSWORD_MIN: usize = 12;
const PASSWORD_MAX: usize = 1024;
/// Every failed sign-in answers no sooner than this, whatever the reason, so timing does not
/// tell a wrong password from an unknown user.
const FAILURE_DELAY: Duration = Duration::from_millis(250);

fn argon2() -> Argon2<'static> {
    // argon2id, 19 MiB, 2 passes: OWASP's recommended minimum.
    Argon2::default()
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| Error::Crypto(format!("salt encoding failed: {e}")))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Crypto(format!("password hashing failed: {e}")))?
        .to_string())
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Argon2 is deliberately slow: run it off the async workers.
async fn verify_blocking(hash: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the user is unknown so that both cases
/// cost the same.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        random_token()
            .and_then(|p| hash_password(&p))
            .unwrap_or_default()
    })
}

pub fn validate_username(username: &str) -> Result<String> {
    let u = username.trim();
    if u.len() < 3 || u.len() > 64 {
        return Err(Error::validation("username", "must be 3 to 64 characters"));
    }
    if !u
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
    {
        return Err(Error::validation(
            "username",
            "may contain only letters, digits and . _ @ -",
        ));
    }
    Ok(u.to_owned())
}

pub fn validate_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        return Err(Error::validation(
            "password",
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    }
    if n > PASSWORD_MAX {
        return Err(Error::validation(
            "password",
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    }
    Ok(())
}

pub async fn create_admin(
    store: &Store,
    now_ms: i64,
    actor: &Actor,
    username: &str,
    password: &str,
) -> Result<AdminRow> {
    create_admin_with_role(store, now_ms, actor, username, password, Role::Owner).await
}

/// Creates an administrator with `role`.
pub async fn create_admin_with_role(
    store: &Store,
    now_ms: i64,
    actor: &Actor,
    username: &str,
    password: &str,
    role: Role,
) -> Result<AdminRow> {
    let username = validate_username(username)?;
    validate_password(password)?;
    let hash = {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))??
    };
    let row = AdminRow {
        id: Uuid::new_v4().to_string(),
        username,
        password_hash: hash,
        failed_logins: 0,
        locked_until: None,
        created_at: now_ms,
        last_login_at: None,
        role: role.as_str().into(),
        disabled_at: None,
    };
    let mut tx = store.begin().await?;
    crate::admin::store::accounts::insert(&mut tx, &row)
        .await
        .map_err(Error::on_unique_violation(
            "username",
            "an administrator with this username already exists",
        ))?;
    audit::record(
        &mut tx,
        now_ms,
        actor,
        "admin.created",
        Some(Target::of("admin", &row.id)),
        json!({ "username": row.username, "role": row.role }),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// A new session: the cookie value (only its hash is stored) and the CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub admin_id: String,
    pub username: String,
    /// A fresh device token for this browser (see [`crate::throttle::trusted_device`]).
    pub device_token: String,
}

/// Checks the credentials, applies the lockout, and opens a session.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    ip: Option<String>,
    device: Option<&str>,
) -> Result<NewSession> {
    let started = tokio::time::Instant::now();
    let result = try_login(state, username, password, ip, device).await;
    if matches!(result, Err(Error::BadCredentials)) {
        tokio::time::sleep_until(started + FAILURE_DELAY).await;
    }
    result
}

async fn try_login(
    state: &AppState,
    username: &str,
    password: &str,
    ip: Option<String>,
    device: Option<&str>,
) -> Result<NewSession> {
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    // Throttled per address and per typed name (known or not, alike), in the database, before
    // any password is checked.
    let ip_key = crate::login::address_key(ip.as_deref());
    if let Take::Wait { retry_after_secs } = throttle::take(
        &mut conn,
        &ip_key,
        &throttle::Policy::address(&state.config),
        now,
    )
    .await?
    {
        return Err(Error::TooManyRequests { retry_after_secs });
    }
    let name_key = format!("admin:{}", username.trim().to_lowercase());
    // The browser this admin signed in with before has a budget of its own: guessing from
    // anywhere else cannot lock the owner out.
    let (name_key, policy) = match throttle::trusted_device(&state.cipher, device, &name_key) {
        Some(trusted) => (trusted, throttle::Policy::trusted_device(&state.config)),
        None => (name_key, throttle::Policy::admin(&state.config)),
    };
    let n = match throttle::take(&mut conn, &name_key, &policy, now).await? {
        Take::Go { n } => n,
        Take::Wait { retry_after_secs } => {
            throttle::release(&mut conn, &ip_key).await?;
            return Err(Error::TooManyRequests { retry_after_secs });
        }
    };
    // A bounded number of argon2 checks at once; beyond it, 429 now rather than a queue.
    let Some(_permit) = state.password_checks.try_start() else {
        throttle::release(&mut conn, &name_key).await?;
        throttle::release(&mut conn, &ip_key).await?;
        return Err(Error::TooManyRequests {
            retry_after_secs: 1,
        });
    };
    let admin = crate::admin::store::accounts::find_by_username(&mut conn, username.trim()).await?;
    // An unknown name costs the same hash as a known one.
    let (hash, actor, target_id) = match &admin {
        Some(a) => (
            a.password_hash.clone(),
            Actor::Admin {
                id: a.id.clone(),
                username: a.username.clone(),
                ip: ip.clone(),
            },
            Some(a.id.clone()),
        ),
        None => (
            dummy_hash().to_owned(),
            Actor::Anonymous { ip: ip.clone() },
            None,
        ),
    };
    let ok = verify_blocking(hash, password.to_owned()).await;
    // A disabled administrator gets a wrong password's answer (after the same hash).
    let Some(admin) = admin.filter(|a| ok && a.disabled_at.is_none()) else {
        let locked = throttle::failed(&mut conn, &name_key, n, &policy, now).await?;
        audit::record(
            &mut conn,
            now,
            &actor,
            "admin.login_failed",
            target_id.as_deref().map(|id| Target::of("admin", id)),
            json!({ "username": username.trim(), "reason": "bad credentials", "failures": n, "locked": locked }),
        )
        .await?;
        return Err(Error::BadCredentials);
    };
    throttle::succeeded(&mut conn, &name_key).await?;
    throttle::release(&mut conn, &ip_key).await?;
    open_session(state, &admin, "password", &actor, now).await
}

/// Opens a session for `admin` after a password or a passkey (`method`), records the sign-in,
/// and hands back the cookie value, the CSRF token and a fresh device token.
pub(crate) async fn open_session(
    state: &AppState,
    admin: &AdminRow,
    method: &str,
    actor: &Actor,
    now: i64,
) -> Result<NewSession> {
    let cfg = &state.config.admin;
    let target = Some(Target::of("admin", &admin.id));
    let token = random_token()?;
    let session = SessionRow {
        token_hash: token_hash(&token),
        admin_id: admin.id.clone(),
        csrf_token: random_token()?,
        created_at: now,
        expires_at: now + minutes_ms(cfg.session_ttl_minutes),
        last_seen_at: now,
        method: method.to_owned(),
    };
    let mut tx = state.store.begin().await?;
    crate::admin::store::sessions::delete_expired(&mut tx, now).await?;
    crate::admin::store::sessions::insert(&mut tx, &session).await?;
    crate::admin::store::accounts::record_success(&mut tx, &admin.id, now).await?;
    audit::record(
        &mut tx,
        now,
        actor,
        "admin.login",
        target,
        json!({ "method": method }),
    )
    .await?;
    tx.commit().await?;
    let account_key = format!("admin:{}", admin.username.to_lowercase());
    Ok(NewSession {
        token,
        csrf_token: session.csrf_token,
        admin_id: admin.id.clone(),
        username: admin.username.clone(),
        device_token: throttle::device_token(&state.cipher, &account_key)?,
    })
}

/// Ends the session; idempotent.
pub async fn logout(state: &AppState, actor: &Actor, token_hash: &[u8]) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    if crate::admin::store::sessions::delete(&mut tx, token_hash).await? {
        audit::record(&mut tx, now, actor, "admin.logout", None, json!({})).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hash_verifies() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "wrong horse battery"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn username_rules() {
        assert!(validate_username("admin").is_ok());
        assert!(validate_username("ad").is_err());
        assert!(validate_username("a b c").is_err());
    }
}

/// What the command line changes about an administrator.
#[derive(Debug, Clone)]
pub enum Change {
    Role(Role),
    Disable,
    Enable,
    /// A new password (its sessions end).
    Password(String),
}

/// Every administrator: name, role, whether disabled, last sign-in (no hashes).
pub async fn list_admins(store: &Store) -> Result<Vec<AdminRow>> {
    let mut conn = store.conn().await?;
    crate::admin::store::accounts::list(&mut conn).await
}

/// Changes an administrator (command line); audited. Disabling or a new password ends the
/// administrator's sessions; the last enabled owner can neither be disabled nor lose the role.
pub async fn change_admin(
    store: &Store,
    now_ms: i64,
    actor: &Actor,
    username: &str,
    change: Change,
) -> Result<AdminRow> {
    let mut tx = store.begin().await?;
    let admin = crate::admin::store::accounts::find_by_username(&mut tx, username.trim())
        .await?
        .ok_or(Error::NotFound("administrator"))?;
    let owners_left = crate::admin::store::accounts::list(&mut tx)
        .await?
        .iter()
        .filter(|a| a.id != admin.id && a.disabled_at.is_none() && a.role == "owner")
        .count();
    let takes_the_last_owner = matches!(
        change,
        Change::Disable | Change::Role(Role::Helpdesk | Role::Auditor)
    ) && admin.role == "owner"
        && owners_left == 0;
    if takes_the_last_owner {
        return Err(Error::conflict(
            None,
            "this is the last enabled owner: make another administrator owner first",
        ));
    }
    let detail = match &change {
        Change::Role(r) => {
            crate::admin::store::accounts::set_role(&mut tx, &admin.id, r.as_str()).await?;
            json!({ "role": r.as_str() })
        }
        Change::Disable => {
            crate::admin::store::accounts::set_disabled(&mut tx, &admin.id, Some(now_ms)).await?;
            let ended = crate::admin::store::sessions::delete_of_admin(&mut tx, &admin.id).await?;
            json!({ "disabled": true, "sessions_ended": ended })
        }
        Change::Enable => {
            crate::admin::store::accounts::set_disabled(&mut tx, &admin.id, None).await?;
            json!({ "disabled": false })
        }
        Change::Password(p) => {
            validate_password(p)?;
            let hash = {
                let p = p.clone();
                tokio::task::spawn_blocking(move || hash_password(&p))
                    .await
                    .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))??
            };
            crate::admin::store::accounts::set_password_hash(&mut tx, &admin.id, &hash).await?;
            let ended = crate::admin::store::sessions::delete_of_admin(&mut tx, &admin.id).await?;
            json!({ "password_reset": true, "sessions_ended": ended })
        }
    };
    audit::record(
        &mut tx,
        now_ms,
        actor,
        "admin.changed",
        Some(Target::of("admin", &admin.id)),
        detail,
    )
    .await?;
    let after = crate::admin::store::accounts::get(&mut tx, &admin.id)
        .await?
        .ok_or(Error::NotFound("administrator"))?;
    tx.commit().await?;
    Ok(after)
}

/// An administrator's passkeys (command line): id, name, when added and last used.
pub async fn passkeys_of(
    store: &Store,
    username: &str,
) -> Result<Vec<crate::admin::store::passkeys::AdminPasskeyRow>> {
    let mut conn = store.conn().await?;
    let admin = crate::admin::store::accounts::find_by_username(&mut conn, username.trim())
        .await?
        .ok_or(Error::NotFound("administrator"))?;
    crate::admin::store::passkeys::of_admin(&mut conn, &admin.id).await
}

/// Removes an administrator's passkey (a lost key; command line); audited.
pub async fn remove_passkey(
    store: &Store,
    now_ms: i64,
    actor: &Actor,
    username: &str,
    passkey_id: &str,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let admin = crate::admin::store::accounts::find_by_username(&mut tx, username.trim())
        .await?
        .ok_or(Error::NotFound("administrator"))?;
    if !crate::admin::store::passkeys::delete(&mut tx, &admin.id, passkey_id).await? {
        return Err(Error::NotFound("passkey"));
    }
    audit::record(
        &mut tx,
        now_ms,
        actor,
        "admin.passkey_removed",
        Some(Target::of("admin", &admin.id)),
        json!({ "passkey": passkey_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
