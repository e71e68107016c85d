//! One-time messages carried across a redirect (post/redirect/get): a notice, an error, or a
//! secret to show once (a new client secret). The cookie is sealed with the data-encryption key
//! and bound to the admin, so it is unreadable in the browser's cookie store and useless to
//! anyone else; it is removed by the page that shows it, so a reload shows nothing.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::admin::session::AdminSession;
use crate::app::AppState;

/// `__Host-` (so Secure, path `/`, no Domain) behind https, like every cookie of the server.
fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_console_flash"
    } else {
        "sso_console_flash"
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub notice: Option<String>,
    pub error: Option<String>,
    /// Shown once, then gone.
    pub secret: Option<String>,
}

impl Flash {
    pub fn notice(s: impl Into<String>) -> Self {
        Self {
            notice: Some(s.into()),
            ..Self::default()
        }
    }

    pub fn error(s: impl Into<String>) -> Self {
        Self {
            error: Some(s.into()),
            ..Self::default()
        }
    }
}

fn aad(admin: &AdminSession) -> Vec<u8> {
    let mut a = b"sso-server console flash v1:".to_vec();
    a.extend_from_slice(&admin.token_hash);
    a
}

fn cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((cookie_name(state.config.secure_cookies()), value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.secure_cookies())
        .path("/")
        .build()
}

pub fn set(state: &AppState, admin: &AdminSession, jar: CookieJar, f: &Flash) -> CookieJar {
    let sealed = serde_json::to_vec(f)
        .ok()
        .and_then(|json| state.cipher.seal(&json, &aad(admin)).ok());
    match sealed {
        Some(s) => jar.add(cookie(state, URL_SAFE_NO_PAD.encode(s))),
        // Sealing does not fail in practice; losing a notice is better than failing the action.
        None => jar,
    }
}

/// Reads and removes the flash; an absent or unreadable cookie is an empty flash.
pub fn take(state: &AppState, admin: &AdminSession, jar: CookieJar) -> (Flash, CookieJar) {
    let Some(c) = jar.get(cookie_name(state.config.secure_cookies())) else {
        return (Flash::default(), jar);
    };
    let flash = URL_SAFE_NO_PAD
        .decode(c.value())
        .ok()
        .and_then(|b| state.cipher.open(&b, &aad(admin)).ok())
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or_default();
    (flash, jar.remove(cookie(state, String::new())))
}
