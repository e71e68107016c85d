//! Client authentication (`client_secret_basic`, `client_secret_post`, or none for public
//! clients), and the form parsing the token, revocation and introspection endpoints share.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::app::AppState;
use crate::oidc::clients::{Client, ClientKind};
use crate::oidc::errors::{OAuthError, OAuthResult};
use crate::store::Conn;

/// Form parameters; a parameter sent twice is an error (RFC 6749 3.2).
pub(super) fn parse_form(
    headers: &HeaderMap,
    body: &Bytes,
) -> OAuthResult<HashMap<String, String>> {
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

pub(super) fn param<'a>(p: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    p.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

/// Authenticates the calling client.
pub async fn authenticate_client(
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
    let row = crate::oidc::store::get_client(conn, &id)
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
