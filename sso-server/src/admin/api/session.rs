//! Sign-in for API clients: `POST` opens a session (cookie + CSRF token), `GET` shows it,
//! `DELETE` ends it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::accounts;
use crate::admin::session::{
    device_cookie, device_cookie_name, removal_cookie, session_cookie, ApiAdmin,
};
use crate::app::AppState;
use crate::error::{ErrorBody, Result};
use crate::http::extract::ApiJson;
use crate::http::extract::ClientIp;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub username: String,
    /// Send this in the `X-CSRF-Token` header with every request that changes something.
    pub csrf_token: String,
}

#[utoipa::path(post, path = "/api/v1/session", operation_id = "create_session", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SessionView),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 429, description = "Locked after too many failures", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<(CookieJar, Json<SessionView>)> {
    let device = jar
        .get(device_cookie_name(state.config.secure_cookies()))
        .map(|c| c.value().to_owned());
    let s = accounts::login(&state, &req.username, &req.password, ip, device.as_deref()).await?;
    let jar = jar
        .add(session_cookie(&state, s.token))
        .add(device_cookie(&state, s.device_token));
    Ok((
        jar,
        Json(SessionView {
            username: s.username,
            csrf_token: s.csrf_token,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/session", operation_id = "get_session", tag = "session",
    responses((status = 200, body = SessionView), (status = 401, body = ErrorBody)))]
pub async fn current(ApiAdmin(s): ApiAdmin) -> Json<SessionView> {
    Json(SessionView {
        username: s.username,
        csrf_token: s.csrf_token,
    })
}

#[utoipa::path(delete, path = "/api/v1/session", operation_id = "delete_session", tag = "session",
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    ApiAdmin(s): ApiAdmin,
    jar: CookieJar,
) -> Result<(CookieJar, StatusCode)> {
    accounts::logout(&state, &s.actor(), &s.token_hash).await?;
    Ok((jar.remove(removal_cookie(&state)), StatusCode::NO_CONTENT))
}
