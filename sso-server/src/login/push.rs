//! "Approve on your phone": the sign-in page asks for the account name, the server sends a
//! challenge to the employee's phone and shows a two-digit number; when the phone approves
//! with that number, the page's next status check starts the session.
//!
//! A name that cannot receive a push (unknown, no phone, blocked, too many prompts) gets a decoy
//! that looks the same and never completes, so the page reveals nothing about the account.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::{after_signin, session};
use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::employees::State as EmployeeState;
use crate::error::Result;
use crate::http::extract::ApiJson;
use crate::http::extract::ClientIp;
use crate::push::challenge_state::Outcome;
use crate::push::challenges::{self, Origin, Reach};

/// The least time a push start takes, real or decoy.
const START_FLOOR: std::time::Duration = std::time::Duration::from_millis(150);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    #[serde(default)]
    pub request: String,
    pub username: String,
}

pub async fn start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Response> {
    let started = tokio::time::Instant::now();
    let now = state.clock.now_ms();
    let ip = ip.unwrap_or_default();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let client_name = {
        let mut conn = state.store.conn().await?;
        let pending = crate::oidc::authorize::load_pending(&mut conn, &body.request, now).await?;
        match pending {
            Some(p) => crate::oidc::store::get_client(&mut conn, &p.client_id)
                .await?
                .map(|c| c.name)
                .unwrap_or_else(|| "SSO".into()),
            None => "SSO".into(),
        }
    };
    let target = {
        let mut conn = state.store.conn().await?;
        match challenges::reach(&mut conn, &body.username, now).await? {
            Reach::Ready(found) => Some(*found),
            Reach::Refused {
                employee_id,
                blocked,
                recent_prompts,
            } => {
                audit::record(
                    &mut conn,
                    now,
                    &Actor::Anonymous {
                        ip: Some(ip.clone()),
                    },
                    "push.prompt_refused",
                    Some(Target::of("employee", &employee_id)),
                    json!({ "blocked": blocked, "recent_prompts": recent_prompts }),
                )
                .await?;
                None
            }
            Reach::Nobody => None,
        }
    };
    let challenge = match target {
        Some((employee, device)) => {
            challenges::create(
                &state.phones(),
                &employee,
                &device,
                &Origin {
                    session_id: None,
                    purpose: "sign-in",
                    client_name: &client_name,
                    ip: &ip,
                    user_agent: &user_agent,
                },
            )
            .await?
        }
        None => challenges::decoy(&state.phones()).await?,
    };
    // A real challenge is signed, stored and audited; a decoy only stored: both answer no sooner
    // than the floor, so the time taken does not tell them apart either.
    tokio::time::sleep_until(started + START_FLOOR).await;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "challenge": challenge.id,
            "number": challenge.shown_number,
            // Rounded up: the challenge's whole-second expiry leaves a fraction either way.
            "expires_in": (challenge.expires_at - now + 999).div_euclid(1000),
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub challenge: String,
    #[serde(default)]
    pub request: String,
    /// Seconds to hold the answer while the challenge is pending (a long poll; at most 25):
    /// the phone's answer wakes it at once, on whichever instance it lands.
    #[serde(default)]
    pub wait: u64,
}

/// The longest a status request is held.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(25);

/// `pending`, `approved` (with the session cookie and where to go), `denied` or `expired`.
pub async fn status(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Response> {
    let deadline =
        tokio::time::Instant::now() + MAX_WAIT.min(std::time::Duration::from_secs(body.wait));
    let topic = crate::wake::challenge(&body.challenge);
    let (mut conn, c, state_now, now) = loop {
        let now = state.clock.now_ms();
        let mut conn = state.store.conn().await?;
        let Some(c) = crate::push::store::get_challenge(&mut conn, &body.challenge).await? else {
            return Ok(Json(json!({ "state": "expired" })).into_response());
        };
        let state_now = challenges::outcome(&c, "sign-in", now);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if state_now != Outcome::Pending || left.is_zero() || state.wake.is_closed() {
            break (conn, c, state_now, now);
        }
        drop(conn);
        // Woken by the answer; the expiry is re-checked at least every few seconds.
        state
            .wake
            .wait(&topic, left.min(std::time::Duration::from_secs(5)))
            .await;
    };
    if state_now != Outcome::Approved {
        return Ok((
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "state": state_now })),
        )
            .into_response());
    }
    if !crate::push::store::consume_challenge(&mut conn, &c.id, now).await? {
        return Ok(Json(json!({ "state": "expired" })).into_response());
    }
    let active = crate::employees::store::get(&mut conn, &c.employee_id)
        .await?
        .is_some_and(|e| e.state == EmployeeState::Active.as_str());
    if !active {
        return Ok(Json(json!({ "state": "denied" })).into_response());
    }
    drop(conn);
    let (cookie, session_row) = session::start(&state, &c.employee_id, &["pop", "user"]).await?;
    let mut conn = state.store.conn().await?;
    audit::record(
        &mut conn,
        now,
        &Actor::Anonymous { ip },
        "employee.signed_in",
        Some(Target::of("employee", &c.employee_id)),
        json!({ "method": "push", "challenge": c.id, "session": session_row.id, "app": c.client_name }),
    )
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        jar.add(cookie)
            .add(session::last_method_cookie(&state, session::Method::Phone)),
        Json(json!({ "state": "approved", "redirect": after_signin(&body.request) })),
    )
        .into_response())
}
