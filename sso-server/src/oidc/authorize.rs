//! The authorization endpoint (OIDC Core 3.1.2; RFC 6749 4.1; PKCE, RFC 7636).
//!
//! An unknown client or a redirect URI that is not registered gets an error page and never a
//! redirect. Once both are known good, other errors go back to the client per the spec, with
//! `state` and `iss` (RFC 9207). A request that needs the employee to sign in is kept in the
//! database and the browser goes to `/login?request=…`; after sign-in, `/oauth2/authorize/resume`
//! finishes it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use url::Url;

use super::clients::{Client, ClientKind};
use crate::app::AppState;
use crate::crypto::random_token;
use crate::error::Result;
use crate::login::{self, session};
use crate::store::Conn;

const PENDING_TTL_MS: i64 = 30 * 60_000;

/// A validated authorization request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// Set when the request waits for a sign-in: the sign-in must be after this.
    #[serde(default)]
    pub fresh_after: Option<i64>,
}

fn error_page(status: StatusCode, text: &str) -> Response {
    // The detail is for the app's developers and stays in English.
    login::message(status, "msg-sign-in-not-accepted", text, true)
}

fn redirect_error(
    req_redirect: &str,
    state: Option<&str>,
    issuer: &str,
    error: &str,
    description: &str,
) -> Response {
    let Ok(mut u) = Url::parse(req_redirect) else {
        return error_page(StatusCode::BAD_REQUEST, "The redirect URI is not valid.");
    };
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    Redirect::to(u.as_str()).into_response()
}

pub async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response> {
    authorize(state, jar, params).await
}

pub async fn authorize_post(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(params): Form<HashMap<String, String>>,
) -> Result<Response> {
    authorize(state, jar, params).await
}

/// Validates the request. `Err(response)` is what to answer: an error page, or an error redirect.
async fn validate(
    state: &AppState,
    p: &HashMap<String, String>,
) -> Result<std::result::Result<(Client, AuthRequest), Response>> {
    let issuer = state.config.issuer();
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(client_id) = get("client_id") else {
        return Ok(Err(error_page(
            StatusCode::BAD_REQUEST,
            "The request names no client (client_id is missing).",
        )));
    };
    let client = {
        let mut conn = state.store.conn().await?;
        crate::oidc::store::get_client(&mut conn, client_id).await?
    };
    let Some(client) = client else {
        return Ok(Err(error_page(
            StatusCode::BAD_REQUEST,
            "The application asking you to sign in is not registered here.",
        )));
    };
    let client = Client::from_row(client)?;
    let redirect_uri = match get("redirect_uri") {
        Some(r) if client.redirect_uris.iter().any(|u| u == r) => r.to_owned(),
        Some(_) => {
            return Ok(Err(error_page(
                StatusCode::BAD_REQUEST,
                "The application sent a redirect URI that is not registered for it.",
            )));
        }
        None => {
            return Ok(Err(error_page(
                StatusCode::BAD_REQUEST,
                "The request has no redirect_uri.",
            )));
        }
    };
    let st = get("state").map(str::to_owned);
    let fail = |error: &str, d: &str| {
        Ok(Err(redirect_error(
            &redirect_uri,
            st.as_deref(),
            &issuer,
            error,
            d,
        )))
    };
    for single in ["request", "request_uri"] {
        if get(single).is_some() {
            let code = if single == "request" {
                "request_not_supported"
            } else {
                "request_uri_not_supported"
            };
            return fail(code, "request objects are not supported");
        }
    }
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            )
        }
        None => return fail("invalid_request", "response_type is missing"),
    }
    if !client.allows_grant("authorization_code") {
        return fail(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }
    let requested: Vec<&str> = get("scope").unwrap_or("").split_whitespace().collect();
    if !requested.contains(&"openid") {
        return fail("invalid_scope", "the openid scope is required");
    }
    if let Some(bad) = requested
        .iter()
        .find(|s| !client.allowed_scopes.iter().any(|a| a == *s))
    {
        return fail(
            "invalid_scope",
            &format!("scope {bad} is not allowed for this client"),
        );
    }
    let mut scope: Vec<&str> = Vec::new();
    for s in requested {
        if !scope.contains(&s) {
            scope.push(s);
        }
    }
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) => {
            if c.len() != 43
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return fail(
                    "invalid_request",
                    "code_challenge must be the base64url SHA-256 of the verifier",
                );
            }
            Some(c.to_owned())
        }
        (Some(_), _) => return fail("invalid_request", "code_challenge_method must be S256"),
        (None, Some(_)) => return fail("invalid_request", "code_challenge is missing"),
        (None, None) if client.kind == ClientKind::Public => {
            return fail(
                "invalid_request",
                "public clients must use PKCE (code_challenge with S256)",
            )
        }
        (None, None) if client.pkce_required => {
            return fail(
                "invalid_request",
                "this client must use PKCE (code_challenge with S256)",
            )
        }
        (None, None) => None,
    };
    let prompt = get("prompt").map(str::to_owned);
    if let Some(pr) = &prompt {
        let values: Vec<&str> = pr.split_whitespace().collect();
        if values.contains(&"none") && values.len() > 1 {
            return fail(
                "invalid_request",
                "prompt=none cannot be combined with other values",
            );
        }
        if values
            .iter()
            .any(|v| !matches!(*v, "none" | "login" | "consent" | "select_account"))
        {
            return fail("invalid_request", "unknown prompt value");
        }
    }
    let max_age = match get("max_age") {
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return fail("invalid_request", "max_age must be a non-negative integer"),
        },
        None => None,
    };
    let nonce = get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) || st.as_ref().is_some_and(|s| s.len() > 2048)
    {
        return fail("invalid_request", "nonce or state is too long");
    }
    Ok(Ok((
        client.clone(),
        AuthRequest {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            scope: scope.join(" "),
            state: st.clone(),
            nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint: get("login_hint").map(|h| h.chars().take(256).collect()),
            fresh_after: None,
        },
    )))
}

fn has_prompt(req: &AuthRequest, value: &str) -> bool {
    req.prompt
        .as_deref()
        .is_some_and(|p| p.split_whitespace().any(|v| v == value))
}

async fn authorize(
    state: AppState,
    jar: CookieJar,
    params: HashMap<String, String>,
) -> Result<Response> {
    let (client, mut req) = match validate(&state, &params).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let current = session::current(&state, &mut conn, &jar).await?;
    let too_old = |auth_time: i64| req.max_age.is_some_and(|m| auth_time + m * 1000 < now);
    let needs_login = match &current {
        None => true,
        Some(c) => has_prompt(&req, "login") || too_old(c.session.auth_time),
    };
    if needs_login {
        if has_prompt(&req, "none") {
            let issuer = state.config.issuer();
            return Ok(redirect_error(
                &req.redirect_uri,
                req.state.as_deref(),
                &issuer,
                "login_required",
                "the user is not signed in",
            ));
        }
        if has_prompt(&req, "login") || req.max_age.is_some() {
            req.fresh_after = Some(now);
        }
        let id = random_token()?;
        let params =
            serde_json::to_string(&req).map_err(|e| crate::Error::Internal(e.to_string()))?;
        crate::oidc::store::insert_auth_request(&mut conn, &id, &params, now, now + PENDING_TTL_MS)
            .await?;
        let to = format!(
            "/login?request={}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        );
        return Ok(Redirect::to(&to).into_response());
    }
    let Some(current) = current else {
        return Ok(error_page(StatusCode::INTERNAL_SERVER_ERROR, "No session."));
    };
    issue_code(&state, &mut conn, &client, &req, &current).await
}

pub async fn load_pending(conn: &mut Conn, id: &str, now: i64) -> Result<Option<AuthRequest>> {
    Ok(crate::oidc::store::get_auth_request(conn, id, now)
        .await?
        .and_then(|p| serde_json::from_str(&p).ok()))
}

#[derive(Deserialize)]
pub struct ResumeQuery {
    #[serde(default)]
    request: String,
}

/// After sign-in: finishes the pending request with the new session.
pub async fn resume(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ResumeQuery>,
) -> Result<Response> {
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let Some(req) = load_pending(&mut conn, &q.request, now).await? else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request expired. Go back to the application and start again.",
        ));
    };
    let Some(current) = session::current(&state, &mut conn, &jar).await? else {
        return Ok(Redirect::to(&format!(
            "/login?request={}",
            url::form_urlencoded::byte_serialize(q.request.as_bytes()).collect::<String>()
        ))
        .into_response());
    };
    if req
        .fresh_after
        .is_some_and(|t| current.session.auth_time < t)
    {
        return Ok(Redirect::to(&format!(
            "/login?request={}",
            url::form_urlencoded::byte_serialize(q.request.as_bytes()).collect::<String>()
        ))
        .into_response());
    }
    crate::oidc::store::delete_auth_request(&mut conn, &q.request).await?;
    let Some(client) = crate::oidc::store::get_client(&mut conn, &req.client_id).await? else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The application is no longer registered.",
        ));
    };
    let client = Client::from_row(client)?;
    if !client.redirect_uris.contains(&req.redirect_uri) {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The application's redirect URI is no longer registered.",
        ));
    }
    issue_code(&state, &mut conn, &client, &req, &current).await
}

async fn issue_code(
    state: &AppState,
    _conn: &mut Conn,
    client: &Client,
    req: &AuthRequest,
    current: &session::Current,
) -> Result<Response> {
    let now = state.clock.now_ms();
    let code = super::code::seal(
        &state.cipher,
        super::code::CodeData {
            client_id: client.id.clone(),
            employee_id: current.employee.id.clone(),
            session_id: current.session.id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            scope: req.scope.clone(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            auth_time: current.session.auth_time,
            amr: current.session.amr.clone(),
            expires_at: now + i64::from(state.config.oidc.auth_code_ttl_seconds) * 1000,
            jti: String::new(),
        },
    )?;
    let mut u = Url::parse(&req.redirect_uri)
        .map_err(|_| crate::Error::Internal("bad stored redirect URI".into()))?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(s) = &req.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &state.config.issuer());
    }
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Redirect::to(u.as_str()),
    )
        .into_response())
}
