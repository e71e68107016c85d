//! Confirming on the phone before enrolling: an employee signed in with only a password or an
//! offline code (what a phishing page collects) steps up by approving an `enrol` challenge on
//! their registered phone, typing the number the account page shows. The approval makes this
//! session strong for the step-up window, and only this session: the challenge is bound to it.
//!
//! Who may call: the signed-in employee. What proves it: the session cookie with the account
//! page's `X-CSRF-Token`, then an approval signed by the registered phone's key.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::passkey::signed_in;
use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::error::{Error, Result};
use crate::http::extract::ApiJson;
use crate::http::extract::ClientIp;
use crate::push::challenge_state::Outcome;
use crate::push::challenges::{self, Origin, MAX_PROMPTS_PER_10_MIN};

const PURPOSE: &str = "enrol";

/// `POST /account/confirm`: sends the confirmation to the employee's phone; answers the number
/// to show. 409 when the employee has no phone, or push is blocked or over its prompt limit.
pub async fn start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response> {
    let cur = signed_in(&state, &jar, &headers).await?;
    let now = state.clock.now_ms();
    let device = {
        let mut conn = state.store.conn().await?;
        let blocked = crate::push::store::is_blocked(&mut conn, &cur.employee.id).await?;
        let recent =
            crate::push::store::count_recent(&mut conn, &cur.employee.id, now - 10 * 60_000)
                .await?;
        if blocked || recent >= MAX_PROMPTS_PER_10_MIN {
            return Err(Error::conflict(
                None,
                "your phone cannot be asked now (too many requests, or push sign-in is blocked)",
            ));
        }
        crate::push::store::active_devices_of(&mut conn, &cur.employee.id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::conflict(
                    None,
                    "no phone is registered: sign in again with a passkey, or use your invitation",
                )
            })?
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let c = challenges::create(
        &state.phones(),
        &cur.employee,
        &device,
        &Origin {
            purpose: PURPOSE,
            session_id: Some(&cur.session.id),
            client_name: "SSO",
            ip: ip.as_deref().unwrap_or(""),
            user_agent,
        },
    )
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "challenge": c.id,
            "number": c.shown_number,
            "expires_in": (c.expires_at - now + 999).div_euclid(1000),
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub challenge: String,
}

/// `POST /account/confirm/status`: `pending`, `denied`, `expired`, or `approved` (once; the
/// session is then strong for the step-up window).
pub async fn status(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Response> {
    let cur = signed_in(&state, &jar, &headers).await?;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let mine = crate::push::store::get_challenge(&mut tx, &body.challenge)
        .await?
        .filter(|c| c.session_id.as_deref() == Some(cur.session.id.as_str()));
    let Some(c) = mine else {
        return Ok(Json(json!({ "state": "expired" })).into_response());
    };
    let outcome = challenges::outcome(&c, PURPOSE, now);
    if outcome == Outcome::Approved {
        if !crate::push::store::consume_challenge(&mut tx, &c.id, now).await? {
            return Ok(Json(json!({ "state": "expired" })).into_response());
        }
        let mut amr: Vec<&str> = cur.session.amr.split_whitespace().collect();
        for m in ["pop", "mfa"] {
            if !amr.contains(&m) {
                amr.push(m);
            }
        }
        crate::oidc::store::strengthen_session(&mut tx, &cur.session.id, &amr.join(" "), now)
            .await?;
        audit::record(
            &mut tx,
            now,
            &Actor::System {
                name: "the employee".into(),
            },
            "employee.confirmed_on_phone",
            Some(Target::of("employee", &cur.employee.id)),
            json!({ "challenge": c.id, "session": cur.session.id }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "state": outcome })),
    )
        .into_response())
}
