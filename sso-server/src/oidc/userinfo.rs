//! The userinfo endpoint (OIDC Core 5.3): GET or POST, the access token as a Bearer header or, for
//! POST, a form field (RFC 6750 2.2). Claims follow the granted scopes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::errors::{OAuthError, OAuthResult};
use super::tokens::{self, user_claims};
use crate::app::AppState;

fn bearer(headers: &HeaderMap, body: &Bytes) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(|t| t.trim().to_owned());
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if form {
        return url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.to_string());
    }
    None
}

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match inner(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn inner(state: &AppState, headers: &HeaderMap, body: &Bytes) -> OAuthResult<Response> {
    let token = bearer(headers, body).ok_or_else(|| OAuthError {
        error: "invalid_request",
        ..OAuthError::invalid_token("send the access token as a Bearer token")
    })?;
    let now = state.clock.now_ms();
    let ring = state
        .keys
        .ring(&state.key_ctx())
        .await
        .map_err(OAuthError::from)?;
    let claims = tokens::verify_access_token(&ring, &token, &state.config.issuer(), now)
        .ok_or_else(|| OAuthError::invalid_token("the access token is not valid or expired"))?;
    if !tokens::has_scope(&claims.scope, "openid") {
        return Err(OAuthError {
            error: "insufficient_scope",
            status: axum::http::StatusCode::FORBIDDEN,
            ..OAuthError::invalid_token("the token was not issued for openid")
        });
    }
    let mut conn = state.store.conn().await.map_err(OAuthError::from)?;
    // One round trip: the grant still alive, and its employee, active.
    let found = crate::oidc::store::grant_with_employee(&mut conn, &claims.gid)
        .await
        .map_err(OAuthError::from)?;
    let employee = match found {
        Some(g)
            if g.grant_revoked_at.is_none()
                && g.grant_expires_at > now
                && g.employee.state == crate::employees::State::Active.as_str()
                && g.employee.id == claims.sub =>
        {
            g.employee
        }
        _ => return Err(OAuthError::invalid_token("the access token was revoked")),
    };
    let mut r = Json(user_claims(&employee, &claims.scope)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
