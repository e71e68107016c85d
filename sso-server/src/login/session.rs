//! The employee's sign-in session at the SSO server: a cookie holding a 256-bit random token, the
//! database holding its SHA-256. A session is only honoured while its employee is active; a
//! deactivated employee's sessions are deleted with the deactivation.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use uuid::Uuid;

use crate::app::AppState;
use crate::crypto::{random_token, token_hash};
use crate::employees::store::EmployeeRow;
use crate::employees::State as EmployeeState;
use crate::error::Result;
use crate::oidc::store::SessionRow;
use crate::store::Conn;

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_session"
    } else {
        "sso_session"
    }
}

fn cookie(state: &AppState, value: String) -> Cookie<'static> {
    let secure = state.config.secure_cookies();
    Cookie::build((cookie_name(secure), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .build()
}

pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = cookie(state, String::new());
    c.make_removal();
    c
}

/// A live session and its (active) employee.
#[derive(Debug, Clone)]
pub struct Current {
    pub session: SessionRow,
    pub employee: EmployeeRow,
}

/// The session the cookie names, if it is live and its employee active.
pub async fn current(
    state: &AppState,
    conn: &mut Conn,
    jar: &CookieJar,
) -> Result<Option<Current>> {
    let Some(c) = jar.get(cookie_name(state.config.secure_cookies())) else {
        return Ok(None);
    };
    let Some(found) =
        crate::oidc::store::session_with_employee(conn, &token_hash(c.value())).await?
    else {
        return Ok(None);
    };
    let session = found.session();
    let employee = found.employee;
    if session.expires_at <= state.clock.now_ms() {
        return Ok(None);
    }
    if employee.state != EmployeeState::Active.as_str() {
        return Ok(None);
    }
    Ok(Some(Current { session, employee }))
}

/// Starts a session for `employee_id` signed in with the methods `amr` (RFC 8176 values).
pub async fn start(
    state: &AppState,
    employee_id: &str,
    amr: &[&str],
) -> Result<(Cookie<'static>, SessionRow)> {
    let token = random_token()?;
    let now = state.clock.now_ms();
    let row = SessionRow {
        token_hash: token_hash(&token),
        id: Uuid::new_v4().to_string(),
        employee_id: employee_id.to_owned(),
        auth_time: now,
        amr: amr.join(" "),
        created_at: now,
        expires_at: now + i64::from(state.config.oidc.session_ttl_hours) * 3_600_000,
        last_seen_at: now,
    };
    let mut conn = state.store.conn().await?;
    crate::oidc::store::insert_session(&mut conn, &row).await?;
    Ok((cookie(state, token), row))
}

/// How an employee signed in, remembered per browser so the sign-in page can offer it first next
/// time. The cookie names the method only, never the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Phone,
    Passkey,
    Code,
    Password,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Passkey => "passkey",
            Self::Code => "code",
            Self::Password => "password",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "phone" => Self::Phone,
            "passkey" => Self::Passkey,
            "code" => Self::Code,
            "password" => Self::Password,
            _ => return None,
        })
    }
}

fn last_method_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_last_method"
    } else {
        "sso_last_method"
    }
}

/// The cookie remembering `method` on this browser (400 days, the longest browsers keep).
pub fn last_method_cookie(state: &AppState, method: Method) -> Cookie<'static> {
    let secure = state.config.secure_cookies();
    Cookie::build((last_method_cookie_name(secure), method.as_str()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(time::Duration::days(400))
        .build()
}

/// The method this browser last signed in with, if it says a known one.
pub fn last_method(state: &AppState, jar: &CookieJar) -> Option<Method> {
    jar.get(last_method_cookie_name(state.config.secure_cookies()))
        .and_then(|c| Method::parse(c.value()))
}
