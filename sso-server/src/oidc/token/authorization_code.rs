//! The authorization code grant (with PKCE).

use std::collections::HashMap;

use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use uuid::Uuid;

use crate::app::AppState;
use crate::crypto::token_hash;
use crate::oidc::clients::Client;
use crate::oidc::errors::{OAuthError, OAuthResult};
use crate::oidc::store::GrantRow;
use crate::oidc::tokens;

use super::client_auth::param;
use super::{active_employee, respond, revoke_with_audit, ttls};

fn pkce_ok(challenge: &str, verifier: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !valid {
        return false;
    }
    let d = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    crate::crypto::constant_time_eq(&URL_SAFE_NO_PAD.encode(d.as_ref()), challenge)
}

pub(super) async fn authorization_code(
    state: &AppState,
    mut conn: sqlx::pool::PoolConnection<sqlx::Any>,
    client: &Client,
    p: &HashMap<String, String>,
) -> OAuthResult<Response> {
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "this client may not use authorization codes",
        ));
    }
    let code = param(p, "code").ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let now = state.clock.now_ms();
    let Some(data) = crate::oidc::code::open(&state.cipher, code) else {
        return Err(OAuthError::invalid_grant("the code is not valid"));
    };
    if data.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    let hash = token_hash(code);
    if let Some(first) = crate::oidc::store::grant_by_code(&mut conn, &hash)
        .await
        .map_err(OAuthError::from)?
    {
        // A replayed code: whatever the first exchange issued is revoked (RFC 6749 4.1.2).
        revoke_with_audit(state, &mut conn, &first.id, "authorization code reused").await?;
        return Err(OAuthError::invalid_grant(
            "the code was already used; the tokens it issued are revoked",
        ));
    }
    if data.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code expired"));
    }
    if param(p, "redirect_uri") != Some(data.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&data.code_challenge, param(p, "code_verifier")) {
        (Some(c), Some(v)) if pkce_ok(c, v) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the PKCE code_verifier does not match",
            ))
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "no code_challenge was sent for this code",
            ))
        }
        (None, None) => {}
    }
    let Some(employee) = active_employee(&mut conn, &data.employee_id).await? else {
        return Err(OAuthError::invalid_grant("the user can no longer sign in"));
    };
    // The sign-in the code came from must still stand: a code minted just before a sign-out
    // (here, or "everywhere") is worth nothing after it.
    if !crate::oidc::store::session_is_live(&mut conn, &data.session_id, now)
        .await
        .map_err(OAuthError::from)?
    {
        return Err(OAuthError::invalid_grant(
            "the sign-in this code came from has ended",
        ));
    }
    let (access_ttl, _, refresh_ttl) = ttls(state);
    let grant_id = Uuid::new_v4().to_string();
    // A refresh token only when the app asked for offline access (and may use one).
    let refresh_token = (client.allows_grant("refresh_token")
        && tokens::has_scope(&data.scope, "offline_access"))
    .then(|| tokens::new_refresh_token(&state.cipher, &grant_id, 0));
    let grant = GrantRow {
        id: grant_id.clone(),
        client_id: client.id.clone(),
        employee_id: Some(employee.id.clone()),
        session_id: Some(data.session_id.clone()),
        scope: data.scope.clone(),
        auth_time: Some(data.auth_time),
        amr: Some(data.amr.clone()),
        refresh_hash: refresh_token.as_deref().map(token_hash),
        refresh_gen: 0,
        created_at: now,
        expires_at: now
            + if refresh_token.is_some() {
                refresh_ttl
            } else {
                access_ttl * 1000
            },
        revoked_at: None,
        code_hash: Some(hash.clone()),
    };
    let inserted = {
        let _permit = state.store.write_permit().await;
        crate::oidc::store::insert_grant(&mut conn, &grant).await
    };
    if let Err(e) = inserted {
        if e.as_database_error()
            .is_some_and(|d| d.is_unique_violation())
        {
            // A concurrent exchange of the same code won: this one is the replay.
            if let Some(first) = crate::oidc::store::grant_by_code(&mut conn, &hash)
                .await
                .map_err(OAuthError::from)?
            {
                revoke_with_audit(state, &mut conn, &first.id, "authorization code reused").await?;
            }
            return Err(OAuthError::invalid_grant("the code was already used"));
        }
        return Err(OAuthError::from(crate::Error::from(e)));
    }
    drop(conn);
    respond(
        state,
        client,
        &grant,
        Some(&employee),
        data.nonce.as_deref(),
        refresh_token,
        now,
    )
    .await
}
