//! Revocation (RFC 7009).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::crypto::token_hash;
use crate::oidc::errors::OAuthError;
use crate::oidc::tokens;

use super::client_auth::{authenticate_client, param, parse_form};
use super::{no_store, resolve, revoke_with_audit, Resolved};

/// RFC 7009. Revoking either kind of token revokes its grant: the refresh token family and every
/// access token issued under it. Always 200, also for unknown tokens.
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let p = parse_form(&headers, &body)?;
        let mut conn = state.store.conn().await.map_err(OAuthError::from)?;
        let client = authenticate_client(&state, &mut conn, &headers, &p).await?;
        let token =
            param(&p, "token").ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let grant_id = match resolve(&state, token).await? {
            Resolved::Access(c) if c.client_id == client.id => Some(c.gid),
            Resolved::Refresh {
                grant_id,
                generation,
            } => {
                let g = crate::oidc::store::get_grant(&mut conn, &grant_id)
                    .await
                    .map_err(OAuthError::from)?;
                // Revocation needs the token, not only the grant id it names (RFC 7009 §2.2:
                // an invalid token is answered like a revoked one).
                let genuine = tokens::refresh_secret_ok(&state.cipher, token)
                    || g.as_ref().is_some_and(|g| {
                        use subtle::ConstantTimeEq as _;
                        g.refresh_gen == generation
                            && g.refresh_hash
                                .as_deref()
                                .is_some_and(|h| bool::from(token_hash(token).ct_eq(h)))
                    });
                g.filter(|g| genuine && g.client_id == client.id)
                    .map(|g| g.id)
            }
            _ => None,
        };
        if let Some(g) = grant_id {
            revoke_with_audit(&state, &mut conn, &g, "revoked by the client").await?;
        }
        Ok::<_, OAuthError>(no_store(json!({})))
    };
    match run.await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
