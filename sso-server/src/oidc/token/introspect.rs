//! Introspection (RFC 7662).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::app::AppState;
use crate::crypto::token_hash;
use crate::oidc::clients::ClientKind;
use crate::oidc::errors::OAuthError;

use super::client_auth::{authenticate_client, param, parse_form};
use super::{live_grant, no_store, resolve, Resolved};

/// RFC 7662. Who may call: a confidential client (its secret). It learns about its own tokens;
/// a client marked as a resource server (`resource_server`) about any client's. A token of
/// another client is "not active" to everyone else, as an unknown one is.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let p = parse_form(&headers, &body)?;
        let mut conn = state.store.conn().await.map_err(OAuthError::from)?;
        let client = authenticate_client(&state, &mut conn, &headers, &p).await?;
        if client.kind != ClientKind::Confidential {
            return Err(OAuthError::invalid_client(
                "introspection needs a confidential client",
                false,
            ));
        }
        let token =
            param(&p, "token").ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let now = state.clock.now_ms();
        let inactive = json!({ "active": false });
        let body: Value = match resolve(&state, token).await? {
            Resolved::Access(c) => {
                let g = crate::oidc::store::get_grant(&mut conn, &c.gid)
                    .await
                    .map_err(OAuthError::from)?;
                let alive = c.exp > now / 1000 && live_grant(&mut conn, g.as_ref(), now).await?;
                if alive {
                    json!({ "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id,
                        "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti })
                } else {
                    inactive
                }
            }
            Resolved::Refresh {
                grant_id,
                generation,
            } => {
                let g = crate::oidc::store::get_grant(&mut conn, &grant_id)
                    .await
                    .map_err(OAuthError::from)?;
                let current = g.as_ref().is_some_and(|g| {
                    use subtle::ConstantTimeEq as _;
                    g.refresh_gen == generation
                        && g.refresh_hash
                            .as_deref()
                            .is_some_and(|h| bool::from(token_hash(token).ct_eq(h)))
                });
                match g {
                    Some(g) if current && live_grant(&mut conn, Some(&g), now).await? => json!({
                        "active": true, "token_type": "refresh_token", "scope": g.scope,
                        "client_id": g.client_id, "sub": g.employee_id, "exp": g.expires_at / 1000,
                        "iat": g.created_at / 1000, "iss": state.config.issuer(),
                    }),
                    _ => inactive,
                }
            }
            Resolved::Unknown => inactive,
        };
        let theirs = body["client_id"]
            .as_str()
            .is_some_and(|owner| owner != client.id);
        if theirs && !client.resource_server {
            return Ok(no_store(json!({ "active": false })));
        }
        Ok(no_store(body))
    };
    match run.await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
