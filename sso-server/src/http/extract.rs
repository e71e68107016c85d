//! Extractors: JSON bodies that turn malformed input into a 400 naming the field, and the
//! client's address behind trusted proxies.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::error::Error;

/// Like `axum::Json`, but a body that does not fit `T` answers 400 with the path of the field at
/// fault (`serde_path_to_error`), e.g. `{"field": "email", "message": "invalid type: …"}`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !is_json {
            // Also what keeps cross-site forms out: browsers cannot send JSON cross-origin
            // without a CORS preflight, which we never grant.
            return Err(Error::validation(
                "body",
                "send a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::validation("body", e.body_text()))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(Self(v)),
            Err(err) => {
                let path = err.path().to_string();
                let inner = err.into_inner();
                let message = inner.to_string();
                // The path already ends at an unknown field; at the top level it is ".".
                let field = match (path.as_str(), unknown_field(&message)) {
                    (".", Some(f)) => f.to_owned(),
                    (".", None) => "body".to_owned(),
                    _ => path,
                };
                Err(Error::validation(field, message))
            }
        }
    }
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The client's address: the peer, or, when the peer is a trusted reverse proxy, the right-most
/// address in `X-Forwarded-For` that is not a trusted proxy (the left part of the header is
/// whatever the client claimed, so it is never believed).
pub fn client_ip(parts: &Parts, trusted: &[ipnet::IpNet]) -> Option<String> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer.to_string());
    }
    let mut client = peer;
    for value in parts.headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else { break };
        for hop in value.rsplit(',') {
            match hop.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !is_trusted(&ip) {
                        return Some(client.to_string());
                    }
                }
                // Garbage from the client side of the header: stop at the last good hop.
                Err(_) => return Some(client.to_string()),
            }
        }
    }
    Some(client.to_string())
}

/// The caller's address, for audit records of unauthenticated actions.
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts, &state.config.trusted_proxies)))
    }
}
