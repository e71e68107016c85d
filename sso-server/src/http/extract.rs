//! Extractors that turn malformed input into a 400 JSON error naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

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
