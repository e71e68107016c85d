//! The client credentials grant.

use std::collections::HashMap;

use axum::response::Response;
use uuid::Uuid;

use crate::app::AppState;
use crate::oidc::clients::{Client, ClientKind};
use crate::oidc::errors::{OAuthError, OAuthResult};
use crate::oidc::store::GrantRow;

use super::client_auth::param;
use super::{respond, ttls};

pub(super) async fn client_credentials(
    state: &AppState,
    mut conn: sqlx::pool::PoolConnection<sqlx::Any>,
    client: &Client,
    p: &HashMap<String, String>,
) -> OAuthResult<Response> {
    if client.kind != ClientKind::Confidential || !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "this client may not use client credentials",
        ));
    }
    let requested: Vec<&str> = param(p, "scope").unwrap_or("").split_whitespace().collect();
    if let Some(bad) = requested.iter().find(|s| {
        matches!(**s, "openid" | "offline_access") || !client.allowed_scopes.iter().any(|a| a == *s)
    }) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {bad} is not available to client credentials"
        )));
    }
    let now = state.clock.now_ms();
    let (access_ttl, _, _) = ttls(state);
    let grant = GrantRow {
        id: Uuid::new_v4().to_string(),
        client_id: client.id.clone(),
        employee_id: None,
        session_id: None,
        scope: requested.join(" "),
        auth_time: None,
        amr: None,
        refresh_hash: None,
        refresh_gen: 0,
        created_at: now,
        expires_at: now + access_ttl * 1000,
        revoked_at: None,
        code_hash: None,
    };
    let permit = state.store.write_permit().await;
    crate::oidc::store::insert_grant(&mut conn, &grant)
        .await
        .map_err(OAuthError::from)?;
    drop(permit);
    drop(conn);
    respond(state, client, &grant, None, None, None, now).await
}
