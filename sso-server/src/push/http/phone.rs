//! The endpoints the phone calls: register, poll for pending challenges (optionally waiting for
//! one: the feed), answer.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::http::extract::ApiJson;
use crate::push::challenges::{self, AnswerBody, Answered};
use crate::push::enrol::{self, RegisterBody};
use crate::push::wire;
use crate::store;
use phone_protocol::{PushTokenJson, UnregisterJson};

/// Poll timestamps are accepted this far from the server's clock (seconds).
const POLL_WINDOW_S: i64 = 60;
const MAX_WAIT_S: u64 = 30;

pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response> {
    let answer = enrol::register(&state.phones(), body).await?;
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
    let device = crate::push::store::get_device(&mut conn, device_id)
        .await?
        .filter(|d| d.state == "active")
        .ok_or_else(|| refused("unknown or revoked device"))?;
    let message = wire::poll_message(&device.id, ts, nonce);
    if !wire::verify_es256(&device.public_key, &message, &sig) {
        return Err(refused("the signature does not verify"));
    }
    if !crate::push::store::remember_nonce(
        &mut conn,
        &device.id,
        nonce,
        now + 2 * POLL_WINDOW_S * 1000,
    )
    .await?
    {
        return Err(refused("the nonce was already used"));
    }
    let wait = q
        .get("wait")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(0)
        .min(MAX_WAIT_S);
    let mut pending = crate::push::store::pending_for_device(&mut conn, &device.id, now).await?;
    drop(conn);
    // Long poll: wait for a challenge until the deadline (a wake-up can be stale: re-check).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    while pending.is_empty() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() || state.wake.is_closed() {
            break;
        }
        state.push.feed.wait(&device.id, left).await;
        let mut conn = state.store.conn().await?;
        pending =
            crate::push::store::pending_for_device(&mut conn, &device.id, state.clock.now_ms())
                .await?;
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
    let outcome = challenges::answer(&state.phones(), &body).await?;
    let result = match outcome {
        Answered::Recorded(s) => s,
        Answered::Repeated => "already recorded",
    };
    Ok((StatusCode::OK, Json(json!({ "result": result }))).into_response())
}

/// The checks every signed device request gets (push-token change, unregistration): the
/// timestamp within the window, a fresh nonce, an active device, its key's signature over
/// `message`. Returns the device.
async fn signed_by_device(
    conn: &mut store::Conn,
    now: i64,
    device_id: &str,
    timestamp: i64,
    nonce: &str,
    signature: &str,
    message: &[u8],
) -> Result<crate::push::store::DeviceRow> {
    if (timestamp - now / 1000).abs() > POLL_WINDOW_S {
        return Err(Error::validation(
            "timestamp",
            "too far from the server's clock",
        ));
    }
    if nonce.len() < 16 || nonce.len() > 128 {
        return Err(Error::validation("nonce", "must be 16 to 128 characters"));
    }
    let sig = wire::unb64(signature)
        .ok_or_else(|| Error::validation("signature", "must be base64url"))?;
    let device = crate::push::store::get_device(conn, device_id)
        .await?
        .filter(|d| d.state == "active")
        .ok_or(Error::NotFound("device"))?;
    if !wire::verify_es256(&device.public_key, message, &sig) {
        return Err(Error::Forbidden(
            "the signature does not verify with this device's key".into(),
        ));
    }
    if !crate::push::store::remember_nonce(conn, &device.id, nonce, now + 2 * POLL_WINDOW_S * 1000)
        .await?
    {
        return Err(Error::Forbidden("the nonce was already used".into()));
    }
    Ok(device)
}

/// `POST /api/authenticator/push-token`: the phone changes (or clears) its push token. Who: the
/// phone; what proves it: the device key's signature over a fresh timestamp and nonce.
pub async fn push_token(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PushTokenJson>,
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
    let message = wire::push_token_message(
        &body.device_id,
        body.timestamp,
        &body.nonce,
        body.push_token.as_deref().unwrap_or(""),
    );
    let mut conn = state.store.conn().await?;
    let device = signed_by_device(
        &mut conn,
        now,
        &body.device_id,
        body.timestamp,
        &body.nonce,
        &body.signature,
        &message,
    )
    .await?;
    crate::push::store::set_push_token(&mut conn, &device.id, body.push_token.as_deref()).await?;
    crate::audit::record(
        &mut conn,
        now,
        &phone_actor(&device),
        "push.token_updated",
        Some(crate::audit::Target::of("employee", &device.employee_id)),
        json!({ "device": device.id, "cleared": body.push_token.is_none() }),
    )
    .await?;
    Ok(Json(json!({ "result": "updated" })).into_response())
}

fn phone_actor(device: &crate::push::store::DeviceRow) -> crate::audit::Actor {
    crate::audit::Actor::System {
        name: format!("phone {}", device.name),
    }
}

/// `POST /api/authenticator/unregister`: the employee removed the account on the phone, and the
/// phone asks the server to forget it. Who: the phone; what proves it: the device key's
/// signature over a fresh timestamp and nonce (a poll's signature does not pass: another domain
/// tag). The device is revoked (audited, the employee e-mailed); 404 once it is gone.
pub async fn unregister(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UnregisterJson>,
) -> Result<Response> {
    let now = state.clock.now_ms();
    let message = wire::unregister_message(&body.device_id, body.timestamp, &body.nonce);
    let mut tx = state.store.begin().await?;
    let device = signed_by_device(
        &mut tx,
        now,
        &body.device_id,
        body.timestamp,
        &body.nonce,
        &body.signature,
        &message,
    )
    .await?;
    if !crate::push::store::revoke_device(&mut tx, &device.employee_id, &device.id, now).await? {
        return Err(Error::NotFound("device"));
    }
    crate::audit::record(
        &mut tx,
        now,
        &phone_actor(&device),
        "device.unregistered",
        Some(crate::audit::Target::of("employee", &device.employee_id)),
        json!({ "device": device.id, "name": device.name }),
    )
    .await?;
    let employee = crate::employees::store::get(&mut tx, &device.employee_id).await?;
    tx.commit().await?;
    if let Some(e) = employee {
        crate::login::step_up::notify(
            &state.mailer,
            state.config.default_language,
            &e,
            &state.config.default_language.t1(
                "mail-notice-phone-unregistered",
                "name",
                &device.name,
            ),
        )
        .await;
    }
    Ok(Json(json!({ "result": "unregistered" })).into_response())
}
