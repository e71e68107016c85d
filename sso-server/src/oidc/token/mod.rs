//! The token endpoint (authorization code, refresh token, client credentials), revocation
//! (RFC 7009) and introspection (RFC 7662), with client authentication by `client_secret_basic`,
//! `client_secret_post`, or none for public clients.
//!
//! One file per grant, as rauthy does it: `authorization_code`, `refresh_token`,
//! `client_credentials`; `revoke` and `introspect` apart; `client_auth` is the client
//! authentication other capabilities call (`authenticate_client`).

mod authorization_code;
mod client_auth;
mod client_credentials;
mod introspect;
mod refresh_token;
mod revoke;

pub use client_auth::authenticate_client;
pub use introspect::introspect;
pub use revoke::revoke;

use authorization_code::authorization_code;
use client_auth::{param, parse_form};
use client_credentials::client_credentials;
use refresh_token::refresh;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::employees::store::EmployeeRow;
use crate::employees::State as EmployeeState;
use crate::oidc::clients::Client;
use crate::oidc::errors::{OAuthError, OAuthResult};
use crate::oidc::store::GrantRow;
use crate::oidc::tokens::{self, IssueInput};
use crate::store::Conn;

pub(super) fn no_store(v: impl serde::Serialize) -> Response {
    let mut r = Json(v).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match token_inner(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn token_inner(state: &AppState, headers: &HeaderMap, body: &Bytes) -> OAuthResult<Response> {
    let p = parse_form(headers, body)?;
    let mut conn = state.store.conn().await.map_err(OAuthError::from)?;
    let client = authenticate_client(state, &mut conn, headers, &p).await?;
    match param(&p, "grant_type") {
        Some("authorization_code") => authorization_code(state, conn, &client, &p).await,
        Some("refresh_token") => refresh(state, conn, &client, &p).await,
        Some("client_credentials") => client_credentials(state, conn, &client, &p).await,
        Some(other) => Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {other} is not supported"
        ))),
        None => Err(OAuthError::invalid_request("grant_type is missing")),
    }
}

pub(super) async fn active_employee(conn: &mut Conn, id: &str) -> OAuthResult<Option<EmployeeRow>> {
    Ok(crate::employees::store::get(conn, id)
        .await
        .map_err(OAuthError::from)?
        .filter(|e| e.state == EmployeeState::Active.as_str()))
}

pub(super) async fn revoke_with_audit(
    state: &AppState,
    conn: &mut Conn,
    grant_id: &str,
    why: &str,
) -> OAuthResult<()> {
    let now = state.clock.now_ms();
    if crate::oidc::store::revoke_grant(conn, grant_id, now)
        .await
        .map_err(OAuthError::from)?
    {
        audit::record(
            conn,
            now,
            &Actor::System {
                name: "token endpoint".into(),
            },
            "oidc.grant_revoked",
            Some(Target::of("grant", grant_id)),
            json!({ "reason": why }),
        )
        .await
        .map_err(OAuthError::from)?;
    }
    Ok(())
}

pub(super) fn ttls(state: &AppState) -> (i64, i64, i64) {
    let o = &state.config.oidc;
    (
        i64::from(o.access_token_ttl_seconds),
        i64::from(o.id_token_ttl_seconds),
        i64::from(o.refresh_token_ttl_days) * 86_400_000,
    )
}

/// Signs the tokens of `grant` and answers with them (never cached).
pub(super) async fn respond(
    state: &AppState,
    client: &Client,
    grant: &GrantRow,
    employee: Option<&EmployeeRow>,
    nonce: Option<&str>,
    refresh_token: Option<String>,
    now: i64,
) -> OAuthResult<Response> {
    let (access_ttl, id_ttl, _) = ttls(state);
    let ring = state
        .keys
        .ring(&state.key_ctx())
        .await
        .map_err(OAuthError::from)?;
    let resp = tokens::issue(
        &ring,
        IssueInput {
            issuer: &state.config.issuer(),
            client,
            grant,
            employee,
            nonce,
            refresh_token,
            now_ms: now,
            access_ttl_s: access_ttl,
            id_ttl_s: id_ttl,
        },
    )
    .map_err(OAuthError::from)?;
    Ok(no_store(resp))
}

/// What a token refers to: its grant, if it is one of ours and well formed.
pub(super) enum Resolved {
    Access(tokens::AccessClaims),
    Refresh { grant_id: String, generation: i64 },
    Unknown,
}

pub(super) async fn resolve(state: &AppState, token: &str) -> OAuthResult<Resolved> {
    if let Some((gid, generation)) = tokens::parse_refresh_token(token) {
        return Ok(Resolved::Refresh {
            grant_id: gid.to_owned(),
            generation,
        });
    }
    let ring = state
        .keys
        .ring(&state.key_ctx())
        .await
        .map_err(OAuthError::from)?;
    // Expired access tokens are resolved too: revoking one still revokes its grant.
    match crate::oidc::jws::verify(token, tokens::ACCESS_TOKEN_TYP, &ring.verifiers)
        .and_then(|v| serde_json::from_value::<tokens::AccessClaims>(v).ok())
    {
        Some(c) if c.iss == state.config.issuer() => Ok(Resolved::Access(c)),
        _ => Ok(Resolved::Unknown),
    }
}

/// A grant that is not revoked or expired, whose employee (if any) is active.
pub async fn live_grant(conn: &mut Conn, g: Option<&GrantRow>, now: i64) -> OAuthResult<bool> {
    let Some(g) = g else { return Ok(false) };
    if g.revoked_at.is_some() || g.expires_at <= now {
        return Ok(false);
    }
    match &g.employee_id {
        Some(e) => Ok(active_employee(conn, e).await?.is_some()),
        None => Ok(true),
    }
}
