//! `/.well-known/openid-configuration` and the JWKS.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::clients::SUPPORTED_SCOPES;
use super::*;
use crate::app::AppState;
use crate::error::Result;

pub async fn configuration(State(state): State<AppState>) -> impl IntoResponse {
    let iss = state.config.issuer();
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}{AUTHORIZE_PATH}"),
            "token_endpoint": format!("{iss}{TOKEN_PATH}"),
            "userinfo_endpoint": format!("{iss}{USERINFO_PATH}"),
            "jwks_uri": format!("{iss}{JWKS_PATH}"),
            "revocation_endpoint": format!("{iss}{REVOKE_PATH}"),
            "introspection_endpoint": format!("{iss}{INTROSPECT_PATH}"),
            "end_session_endpoint": format!("{iss}{LOGOUT_PATH}"),
            "scopes_supported": SUPPORTED_SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "userinfo_signing_alg_values_supported": ["none"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid",
                "at_hash", "name", "given_name", "family_name", "email", "email_verified",
                "phone_number", "phone_number_verified", "updated_at"],
            "prompt_values_supported": ["none", "login"],
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "claims_parameter_supported": false,
        })),
    )
}

pub async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse> {
    let ring = state.keys.ring(&state.key_ctx()).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(ring.jwks.clone()),
    ))
}
