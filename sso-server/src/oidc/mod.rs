//! The OpenID Connect provider: discovery and JWKS, the authorization endpoint (code flow with
//! PKCE), the token endpoint (authorization code, refresh token, client credentials), userinfo,
//! revocation (RFC 7009), introspection (RFC 7662) and RP-initiated logout.
//!
//! Employee sign-in (the pages the authorization endpoint sends people to) lives in `login/`.

pub mod authorize;
pub mod clients;
pub mod code;
pub mod discovery;
pub mod errors;
pub mod http;
pub mod jws;
pub mod keys;
pub mod logout;
pub mod store;
pub mod token;
pub mod tokens;
pub mod userinfo;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const USERINFO_PATH: &str = "/oauth2/userinfo";
pub const JWKS_PATH: &str = "/oauth2/jwks";
pub const REVOKE_PATH: &str = "/oauth2/revoke";
pub const INTROSPECT_PATH: &str = "/oauth2/introspect";
pub const LOGOUT_PATH: &str = "/oauth2/logout";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::configuration),
        )
        .route(JWKS_PATH, get(discovery::jwks))
        .route(
            AUTHORIZE_PATH,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/oauth2/authorize/resume", get(authorize::resume))
        .route(TOKEN_PATH, post(token::token))
        .route(
            USERINFO_PATH,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(REVOKE_PATH, post(token::revoke))
        .route(INTROSPECT_PATH, post(token::introspect))
        .route(
            LOGOUT_PATH,
            get(logout::logout_get).post(logout::logout_post),
        )
}

impl AppState {
    pub fn key_ctx(&self) -> keys::KeyCtx<'_> {
        keys::KeyCtx {
            store: &self.store,
            cipher: &self.cipher,
            clock: &self.clock,
        }
    }
}
