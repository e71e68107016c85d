//! The refresh token grant (rotation, reuse detection).

use std::collections::HashMap;

use axum::response::Response;

use crate::app::AppState;
use crate::crypto::token_hash;
use crate::oidc::clients::Client;
use crate::oidc::errors::{OAuthError, OAuthResult};
use crate::oidc::tokens::{self, has_scope};

use super::client_auth::param;
use super::{active_employee, respond, revoke_with_audit, ttls};

pub(super) async fn refresh(
    state: &AppState,
    mut conn: sqlx::pool::PoolConnection<sqlx::Any>,
    client: &Client,
    p: &HashMap<String, String>,
) -> OAuthResult<Response> {
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::unauthorized_client(
            "this client may not use refresh tokens",
        ));
    }
    let token = param(p, "refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
    let (gid, generation) = tokens::parse_refresh_token(token).ok_or_else(invalid)?;
    // The secret first: a token we did not make changes nothing, whatever grant it names.
    let genuine = tokens::refresh_secret_ok(&state.cipher, token);
    let now = state.clock.now_ms();
    let Some(grant) = crate::oidc::store::get_grant(&mut conn, gid)
        .await
        .map_err(OAuthError::from)?
    else {
        return Err(invalid());
    };
    let current = generation == grant.refresh_gen
        && grant.refresh_hash.as_deref().is_some_and(|h| {
            use subtle::ConstantTimeEq as _;
            bool::from(token_hash(token).ct_eq(h))
        });
    if !genuine && !current {
        return Err(invalid());
    }
    if grant.client_id != client.id || grant.revoked_at.is_some() || grant.expires_at <= now {
        return Err(invalid());
    }
    if generation < grant.refresh_gen {
        // A genuine older refresh token came back: it was stolen or replayed. Revoke the whole
        // family.
        revoke_with_audit(state, &mut conn, &grant.id, "refresh token reused").await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; the session's tokens are revoked",
        ));
    }
    if !current {
        return Err(invalid());
    }
    let Some(employee_id) = grant.employee_id.clone() else {
        return Err(invalid());
    };
    let Some(employee) = active_employee(&mut conn, &employee_id).await? else {
        revoke_with_audit(state, &mut conn, &grant.id, "employee no longer active").await?;
        return Err(OAuthError::invalid_grant("the user can no longer sign in"));
    };
    let mut issued_grant = grant.clone();
    if let Some(s) = param(p, "scope") {
        if let Some(bad) = s.split_whitespace().find(|x| !has_scope(&grant.scope, x)) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {bad} was not granted"
            )));
        }
        issued_grant.scope = s.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let (_, _, refresh_ttl) = ttls(state);
    let next = tokens::new_refresh_token(&state.cipher, &grant.id, generation + 1);
    // Each refresh extends the idle lifetime, never past the absolute one.
    let absolute =
        grant.created_at + i64::from(state.config.oidc.refresh_token_absolute_days) * 86_400_000;
    let permit = state.store.write_permit().await;
    let rotated = crate::oidc::store::rotate_refresh(
        &mut conn,
        &grant.id,
        generation,
        &token_hash(&next),
        (now + refresh_ttl).min(absolute),
    )
    .await
    .map_err(OAuthError::from)?;
    drop(permit);
    if !rotated {
        // Another request rotated this same token first: a reuse.
        revoke_with_audit(
            state,
            &mut conn,
            &grant.id,
            "refresh token reused concurrently",
        )
        .await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used",
        ));
    }
    drop(conn);
    respond(
        state,
        client,
        &issued_grant,
        Some(&employee),
        None,
        Some(next),
        now,
    )
    .await
}
