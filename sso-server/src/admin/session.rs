//! The admin session cookie and the extractors that resolve it.
//!
//! The cookie holds a 256-bit random token; the database holds its SHA-256. Each session has its
//! own CSRF token: API calls that change something send it in `X-CSRF-Token`, console forms in a
//! hidden `csrf_token` field.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::app::AppState;
use crate::audit::Actor;
use crate::clock::minutes_ms;
use crate::crypto::{constant_time_eq, token_hash};
use crate::error::{Error, Result};
use crate::http::extract::client_ip;

pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions are touched at most this often, so browsing does not write on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// `__Host-` pins the cookie to this host and path `/`, and needs `Secure`: only over https.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_admin"
    } else {
        "sso_admin"
    }
}

pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let secure = state.config.secure_cookies();
    Cookie::build((cookie_name(secure), token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .build()
}

/// The admin's device token (see [`crate::throttle::trusted_device`]); `__Host-` behind https.
pub fn device_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_admin_device"
    } else {
        "sso_admin_device"
    }
}

pub fn device_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let secure = state.config.secure_cookies();
    Cookie::build((device_cookie_name(secure), token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(time::Duration::seconds(crate::throttle::DEVICE_TOKEN_SECS))
        .build()
}

pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let secure = state.config.secure_cookies();
    Cookie::build((cookie_name(secure), ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .build()
}

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub admin_id: String,
    pub username: String,
    /// What this administrator may do (checked on every request where the session resolves).
    pub role: crate::admin::roles::Role,
    /// How the session was opened: `password` or `passkey`.
    pub method: String,
    pub csrf_token: String,
    pub token_hash: Vec<u8>,
    pub ip: Option<String>,
}

impl AdminSession {
    pub fn actor(&self) -> Actor {
        Actor::Admin {
            id: self.admin_id.clone(),
            username: self.username.clone(),
            ip: self.ip.clone(),
        }
    }

    /// For console forms, which carry the token in a field.
    pub fn check_csrf(&self, presented: &str) -> Result<()> {
        if constant_time_eq(presented, &self.csrf_token) {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "missing or wrong CSRF token; reload the page and try again".into(),
            ))
        }
    }
}

/// Resolves the cookie to a live session, or `None`.
pub async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<AdminSession>> {
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(cookie) = jar.get(cookie_name(state.config.secure_cookies())) else {
        return Ok(None);
    };
    let hash = token_hash(cookie.value());
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let Some(row) = crate::admin::store::sessions::find(&mut conn, &hash).await? else {
        return Ok(None);
    };
    let idle_limit = row.last_seen_at + minutes_ms(state.config.admin.session_idle_minutes);
    if row.expires_at <= now || idle_limit <= now {
        crate::admin::store::sessions::delete(&mut conn, &hash).await?;
        return Ok(None);
    }
    let Some(admin) = crate::admin::store::accounts::get(&mut conn, &row.admin_id)
        .await?
        .filter(|a| a.disabled_at.is_none())
    else {
        return Ok(None);
    };
    // Where passkeys are required, a session opened with a password alone may only register
    // one (and sign out).
    if state.config.admin.require_passkey
        && row.method != "passkey"
        && !crate::admin::roles::own_session(&parts.method, parts.uri.path())
    {
        return Err(Error::Forbidden(
            "a passkey is required: register one (POST /api/v1/session/passkeys/options, then \
             /api/v1/session/passkeys) and sign in with it"
                .into(),
        ));
    }
    // The role is checked here, for every console page and API call alike.
    let role = crate::admin::roles::Role::parse(&admin.role);
    if !crate::admin::roles::allows(role, &parts.method, parts.uri.path()) {
        return Err(Error::Forbidden(format!(
            "an administrator with the {} role may not do this",
            role.as_str()
        )));
    }
    if now - row.last_seen_at >= TOUCH_EVERY_MS {
        crate::admin::store::sessions::touch(&mut conn, &hash, now).await?;
    }
    Ok(Some(AdminSession {
        admin_id: admin.id,
        username: admin.username,
        role,
        method: row.method.clone(),
        csrf_token: row.csrf_token,
        token_hash: hash,
        ip: client_ip(parts, &state.config.trusted_proxies),
    }))
}

/// API extractor: 401 without a session; for methods that change state, 403 unless the
/// `X-CSRF-Token` header matches the session's token.
pub struct ApiAdmin(pub AdminSession);

impl FromRequestParts<AppState> for ApiAdmin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let session = resolve(parts, state).await?.ok_or(Error::Unauthorized)?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            session.check_csrf(presented).map_err(|_| {
                Error::Forbidden(format!("missing or wrong CSRF token: send the session's token in the {CSRF_HEADER} header"))
            })?;
        }
        Ok(Self(session))
    }
}

/// Page extractor: the session if there is one (pages redirect to sign-in otherwise).
pub struct MaybeAdmin(pub Option<AdminSession>);

impl FromRequestParts<AppState> for MaybeAdmin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        Ok(Self(resolve(parts, state).await?))
    }
}
