//! Who is calling the key-bridge API, proven by signatures (the wire rules are in the
//! `key-protocol` crate and `docs/key-bridge-protocol.md`).
//!
//! Every request carries the workstation's signature, checked here against the public key the
//! workstation enrolled; requests about a key also carry the key's own signature, checked by
//! the handler against the key's recorded public key ([`Caller::key_signature`]). The time must
//! be within [`MAX_SKEW_SECS`] of the server's clock and the nonce new: a request captured on
//! the wire cannot be sent again. Nonces live in the database, so every instance sees them.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse as _, Response};
use key_protocol::sign::{
    HEADER_KEY_SIGNATURE, HEADER_NONCE, HEADER_TIME, HEADER_USER_VERIFIED, HEADER_WORKSTATION,
    HEADER_WORKSTATION_SIGNATURE,
};
use key_protocol::{unb64, MAX_SKEW_SECS};

use super::workstations::{store, WorkstationRow, WorkstationState};
use crate::error::{Error, Result};
use crate::store::Conn;

/// A request as its signatures cover it: method, target, headers and the body as received.
pub struct Signed {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Signed {
    pub fn parts(&self) -> Incoming<'_> {
        Incoming {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Signed {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> std::result::Result<Self, Response> {
        let (method, uri, headers) = (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        );
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| e.into_response())?;
        Ok(Signed {
            method,
            uri,
            headers,
            body,
        })
    }
}

/// A request whose workstation signature checked out.
pub struct Caller {
    pub workstation: WorkstationRow,
    message: Vec<u8>,
    key_signature: Option<(Vec<u8>, bool)>,
}

/// The signed parts of a request as the server received it.
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads and checks the signed envelope (time, workstation signature with `public_key` or the
/// enrolled key, nonce). `enrolling` is the public key offered by an enrolment request, which
/// signs it; any other request must come from an active, enrolled workstation.
pub async fn check(
    conn: &mut Conn,
    now_ms: i64,
    req: &Incoming<'_>,
    enrolling: Option<&[u8]>,
) -> Result<Caller> {
    let missing = Error::BadSignature("the request is not signed by an enrolled workstation");
    let (Some(ws_id), Some(time), Some(nonce), Some(ws_sig)) = (
        header(req.headers, HEADER_WORKSTATION),
        header(req.headers, HEADER_TIME),
        header(req.headers, HEADER_NONCE),
        header(req.headers, HEADER_WORKSTATION_SIGNATURE),
    ) else {
        return Err(missing);
    };
    let time: u64 = time
        .parse()
        .map_err(|_| Error::BadSignature("the request's time is not a number"))?;
    let now = u64::try_from(now_ms / 1000).unwrap_or(0);
    if time.abs_diff(now) > MAX_SKEW_SECS {
        return Err(Error::BadSignature(
            "the request was signed too long ago (or the workstation's clock is wrong)",
        ));
    }
    if nonce.len() < 16 || nonce.len() > 128 {
        return Err(Error::BadSignature("the request's nonce is malformed"));
    }
    let ws_sig = unb64(ws_sig, "signature")
        .map_err(|_| Error::BadSignature("the workstation signature is malformed"))?;
    let key_signature = match header(req.headers, HEADER_KEY_SIGNATURE) {
        Some(sig) => Some((
            unb64(sig, "signature")
                .map_err(|_| Error::BadSignature("the key signature is malformed"))?,
            header(req.headers, HEADER_USER_VERIFIED) == Some("1"),
        )),
        None => None,
    };
    let path = req
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .trim_start_matches('/');
    let message = key_protocol::Request {
        method: req.method.as_str(),
        path_and_query: path,
        body: req.body,
        time,
        nonce,
        workstation_id: ws_id,
    }
    .message();
    let row = store::get(conn, ws_id).await?;
    let workstation = match enrolling {
        // Enrolment: the workstation row is still pending; the new key signs.
        Some(_) => row.ok_or(Error::Unauthorized)?,
        None => row
            .filter(|w| WorkstationState::parse(&w.state) == WorkstationState::Active)
            .ok_or(missing)?,
    };
    let public_key = match enrolling {
        Some(pk) => pk.to_vec(),
        None => workstation.public_key.clone().unwrap_or_default(),
    };
    if !key_protocol::verify(
        &public_key,
        &key_protocol::workstation_message(&message),
        &ws_sig,
    ) {
        return Err(Error::BadSignature(
            "the workstation signature does not verify",
        ));
    }
    // After the signature, so that junk cannot fill the table.
    let expires = now_ms + 2 * 1000 * i64::try_from(MAX_SKEW_SECS).unwrap_or(120);
    if !store::use_nonce(conn, &format!("{ws_id} {nonce}"), expires).await? {
        return Err(Error::BadSignature(
            "the request was already received (replay)",
        ));
    }
    // A write only when it changes something: polls come often.
    if enrolling.is_none() && workstation.last_seen_at.is_none_or(|t| t < now_ms - 60_000) {
        store::seen(conn, ws_id, now_ms).await?;
    }
    Ok(Caller {
        workstation,
        message,
        key_signature,
    })
}

impl Caller {
    /// Checks the key's signature with `public_key` (the one recorded at activation, or at
    /// activation the one offered); returns whether the key verified its PIN for this request.
    pub fn key_signed_by(&self, public_key: Option<&[u8]>) -> Result<bool> {
        let (Some(pk), Some((sig, user_verified))) = (public_key, &self.key_signature) else {
            return Err(Error::BadSignature("the request is not signed by the key"));
        };
        if key_protocol::verify(
            pk,
            &key_protocol::key_message(&self.message, *user_verified),
            sig,
        ) {
            Ok(*user_verified)
        } else {
            Err(Error::BadSignature("the key signature does not verify"))
        }
    }
}
