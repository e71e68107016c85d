//! The endpoints the phone calls: register, poll for pending challenges (optionally waiting for
//! one: the feed), answer.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::challenges::{self, AnswerBody, Answered};
use super::enrol::{self, RegisterBody};
use super::wire;
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::http::extract::ApiJson;
use crate::store;

/// Poll timestamps are accepted this far from the server's clock (seconds).
const POLL_WINDOW_S: i64 = 60;
const MAX_WAIT_S: u64 = 30;

pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response> {
    let answer = enrol::register(&state, body).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response())
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `GET /api/authenticator/challenges[?wait=N]`, signed with the device key in headers.
pub async fn poll(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let now = state.clock.now_ms();
    let refused = |why: &str| Error::Forbidden(format!("poll refused: {why}"));
    let device_id = header_str(&headers, "x-hideez-device")
        .ok_or_else(|| refused("X-Hideez-Device is missing"))?;
    let ts: i64 = header_str(&headers, "x-hideez-timestamp")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| refused("X-Hideez-Timestamp is missing or not a number"))?;
    let nonce = header_str(&headers, "x-hideez-nonce")
        .ok_or_else(|| refused("X-Hideez-Nonce is missing"))?;
    let sig = header_str(&headers, "x-hideez-signature")
        .and_then(wire::unb64)
        .ok_or_else(|| refused("X-Hideez-Signature is missing or not base64url"))?;
    if (ts - now / 1000).abs() > POLL_WINDOW_S {
        return Err(refused("the timestamp is too far from the server's clock"));
    }
    if nonce.len() < 16 || nonce.len() > 128 {
        return Err(refused("the nonce must be 16 to 128 characters"));
    }
    let mut conn = state.store.conn().await?;
    let device = store::push::get_device(&mut conn, device_id)
        .await?
        .filter(|d| d.state == "active")
        .ok_or_else(|| refused("unknown or revoked device"))?;
    let message = wire::poll_message(&device.id, ts, nonce);
    if !wire::verify_es256(&device.public_key, &message, &sig) {
        return Err(refused("the signature does not verify"));
    }
    if !store::push::remember_nonce(&mut conn, &device.id, nonce, now + 2 * POLL_WINDOW_S * 1000)
        .await?
    {
        return Err(refused("the nonce was already used"));
    }
    let wait = q
        .get("wait")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(0)
        .min(MAX_WAIT_S);
    let mut pending = store::push::pending_for_device(&mut conn, &device.id, now).await?;
    drop(conn);
    // Long poll: wait for a challenge until the deadline (a wake-up can be stale: re-check).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    while pending.is_empty() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        state.push.feed.wait(&device.id, left).await;
        let mut conn = state.store.conn().await?;
        pending =
            store::push::pending_for_device(&mut conn, &device.id, state.clock.now_ms()).await?;
    }
    let list: Vec<_> = pending.iter().map(challenges::challenge_json).collect();
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "challenges": list })),
    )
        .into_response())
}

pub async fn answer(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<Response> {
    let outcome = challenges::answer(&state, &body).await?;
    let result = match outcome {
        Answered::Recorded(s) => s,
        Answered::Repeated => "already recorded",
    };
    Ok((StatusCode::OK, Json(json!({ "result": result }))).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTokenBody {
    pub device_id: String,
    pub push_token: Option<String>,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: String,
}

/// `POST /api/authenticator/push-token`: the phone changes (or clears) its push token, signed
/// with the device key over a fresh timestamp and nonce.
pub async fn push_token(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PushTokenBody>,
) -> Result<Response> {
    let now = state.clock.now_ms();
    if body
        .push_token
        .as_ref()
        .is_some_and(|t| t.is_empty() || t.len() > 4096 || t.chars().any(char::is_control))
    {
        return Err(Error::validation(
            "push_token",
            "1 to 4096 characters, or null to clear",
        ));
    }
    if (body.timestamp - now / 1000).abs() > POLL_WINDOW_S {
        return Err(Error::validation(
            "timestamp",
            "too far from the server's clock",
        ));
    }
    if body.nonce.len() < 16 || body.nonce.len() > 128 {
        return Err(Error::validation("nonce", "must be 16 to 128 characters"));
    }
    let sig = wire::unb64(&body.signature)
        .ok_or_else(|| Error::validation("signature", "must be base64url"))?;
    let mut conn = state.store.conn().await?;
    let device = store::push::get_device(&mut conn, &body.device_id)
        .await?
        .filter(|d| d.state == "active")
        .ok_or(Error::NotFound("device"))?;
    let message = wire::push_token_message(
        &device.id,
        body.timestamp,
        &body.nonce,
        body.push_token.as_deref().unwrap_or(""),
    );
    if !wire::verify_es256(&device.public_key, &message, &sig) {
        return Err(Error::Forbidden(
            "the signature does not verify with this device's key".into(),
        ));
    }
    if !store::push::remember_nonce(
        &mut conn,
        &device.id,
        &body.nonce,
        now + 2 * POLL_WINDOW_S * 1000,
    )
    .await?
    {
        return Err(Error::Forbidden("the nonce was already used".into()));
    }
    store::push::set_push_token(&mut conn, &device.id, body.push_token.as_deref()).await?;
    crate::audit::record(
        &mut conn,
        now,
        &crate::audit::Actor::System {
            name: format!("phone {}", device.name),
        },
        "push.token_updated",
        Some(crate::audit::Target {
            kind: "employee",
            id: &device.employee_id,
        }),
        json!({ "device": device.id, "cleared": body.push_token.is_none() }),
    )
    .await?;
    Ok(Json(json!({ "result": "updated" })).into_response())
}
