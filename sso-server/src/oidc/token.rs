//! The token endpoint (authorization code, refresh token, client credentials), revocation
//! (RFC 7009) and introspection (RFC 7662), with client authentication by `client_secret_basic`,
//! `client_secret_post`, or none for public clients.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;

use super::clients::{Client, ClientKind};
use super::errors::{OAuthError, OAuthResult};
use super::tokens::{self, has_scope, IssueInput};
use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::crypto::token_hash;
use crate::employees::State as EmployeeState;
use crate::store::employees::EmployeeRow;
use crate::store::oidc::GrantRow;
use crate::store::{self, Conn};

/// Form parameters; a parameter sent twice is an error (RFC 6749 3.2).
fn parse_form(headers: &HeaderMap, body: &Bytes) -> OAuthResult<HashMap<String, String>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {k} is repeated"
            )));
        }
    }
    Ok(out)
}

fn param<'a>(p: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    p.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

/// Authenticates the calling client.
pub(crate) async fn authenticate_client(
    state: &AppState,
    conn: &mut Conn,
    headers: &HeaderMap,
    p: &HashMap<String, String>,
) -> OAuthResult<Client> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let (id, secret, used_basic) = match basic {
        Some(b) => {
            if param(p, "client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method",
                ));
            }
            let decoded = STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials", true))?;
            let (i, s) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials", true))?;
            let dec = |x: &str| {
                url::form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            };
            let (i, s) = (dec(i), dec(s));
            if let Some(form_id) = param(p, "client_id") {
                if form_id != i {
                    return Err(OAuthError::invalid_request(
                        "client_id does not match the credentials",
                    ));
                }
            }
            (i, Some(s), true)
        }
        None => (
            param(p, "client_id")
                .ok_or_else(|| {
                    OAuthError::invalid_client("client authentication is missing", false)
                })?
                .to_owned(),
            param(p, "client_secret").map(str::to_owned),
            false,
        ),
    };
    let _ = state;
    let row = store::oidc::get_client(conn, &id)
        .await
        .map_err(OAuthError::from)?
        .ok_or_else(|| OAuthError::invalid_client("unknown client or wrong secret", used_basic))?;
    let client = Client::from_row(row).map_err(OAuthError::from)?;
    match (client.kind, secret) {
        (ClientKind::Confidential, Some(s)) if client.secret_matches(&s) => Ok(client),
        (ClientKind::Public, None) => Ok(client),
        (ClientKind::Public, Some(_)) => Err(OAuthError::invalid_client(
            "a public client has no secret",
            used_basic,
        )),
        _ => Err(OAuthError::invalid_client(
            "unknown client or wrong secret",
            used_basic,
        )),
    }
}

fn no_store(v: impl serde::Serialize) -> Response {
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

async fn active_employee(conn: &mut Conn, id: &str) -> OAuthResult<Option<EmployeeRow>> {
    Ok(store::employees::get(conn, id)
        .await
        .map_err(OAuthError::from)?
        .filter(|e| e.state == EmployeeState::Active.as_str()))
}

async fn revoke_with_audit(
    state: &AppState,
    conn: &mut Conn,
    grant_id: &str,
    why: &str,
) -> OAuthResult<()> {
    let now = state.clock.now_ms();
    if store::oidc::revoke_grant(conn, grant_id, now)
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
            Some(Target {
                kind: "grant",
                id: grant_id,
            }),
            json!({ "reason": why }),
        )
        .await
        .map_err(OAuthError::from)?;
    }
    Ok(())
}

fn ttls(state: &AppState) -> (i64, i64, i64) {
    let o = &state.config.oidc;
    (
        i64::from(o.access_token_ttl_seconds),
        i64::from(o.id_token_ttl_seconds),
        i64::from(o.refresh_token_ttl_days) * 86_400_000,
    )
}

/// Signs the tokens of `grant` and answers with them (never cached).
async fn respond(
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

async fn authorization_code(
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
    let Some(data) = super::code::open(&state.cipher, code) else {
        return Err(OAuthError::invalid_grant("the code is not valid"));
    };
    if data.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    let hash = token_hash(code);
    if let Some(first) = store::oidc::grant_by_code(&mut conn, &hash)
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
        store::oidc::insert_grant(&mut conn, &grant).await
    };
    if let Err(e) = inserted {
        if e.as_database_error()
            .is_some_and(|d| d.is_unique_violation())
        {
            // A concurrent exchange of the same code won: this one is the replay.
            if let Some(first) = store::oidc::grant_by_code(&mut conn, &hash)
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

async fn refresh(
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
    let Some(grant) = store::oidc::get_grant(&mut conn, gid)
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
    let rotated = store::oidc::rotate_refresh(
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

async fn client_credentials(
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
    store::oidc::insert_grant(&mut conn, &grant)
        .await
        .map_err(OAuthError::from)?;
    drop(permit);
    drop(conn);
    respond(state, client, &grant, None, None, None, now).await
}

/// What a token refers to: its grant, if it is one of ours and well formed.
enum Resolved {
    Access(tokens::AccessClaims),
    Refresh { grant_id: String, generation: i64 },
    Unknown,
}

async fn resolve(state: &AppState, token: &str) -> OAuthResult<Resolved> {
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
    match super::jws::verify(token, tokens::ACCESS_TOKEN_TYP, &ring.verifiers)
        .and_then(|v| serde_json::from_value::<tokens::AccessClaims>(v).ok())
    {
        Some(c) if c.iss == state.config.issuer() => Ok(Resolved::Access(c)),
        _ => Ok(Resolved::Unknown),
    }
}

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
                let g = store::oidc::get_grant(&mut conn, &grant_id)
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

/// RFC 7662, for confidential clients (resource servers).
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
                let g = store::oidc::get_grant(&mut conn, &c.gid)
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
                let g = store::oidc::get_grant(&mut conn, &grant_id)
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
        Ok(no_store(body))
    };
    match run.await {
        Ok(r) => r,
        Err(e) => e.into_response(),
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
