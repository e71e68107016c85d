//! "Approve on your phone": the sign-in page asks for the account name, the server sends a
//! challenge to the employee's phone and shows one of its three numbers; when the phone approves
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
use crate::admin::session::ClientIp;
use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::employees::State as EmployeeState;
use crate::error::Result;
use crate::http::extract::ApiJson;
use crate::push::challenges::{self, Origin, MAX_PROMPTS_PER_10_MIN};
use crate::store::employees::EmployeeRow;
use crate::store::{self, Conn};

/// The one employee an account name means: an e-mail, `user@domain` (UPN), `DOMAIN\user` or a
/// plain account name.
pub async fn employee_named(conn: &mut Conn, typed: &str) -> Result<Option<EmployeeRow>> {
    let typed = typed.trim();
    if typed.is_empty() || typed.len() > 256 {
        return Ok(None);
    }
    if typed.contains('@') {
        if let Some(e) = store::employees::find_by_email(conn, typed).await? {
            return Ok(Some(e));
        }
    }
    let ids = if let Some((netbios, sam)) = typed.split_once('\\') {
        store::directory::identities_by_sam(conn, sam, Some(netbios)).await?
    } else if typed.contains('@') {
        store::directory::identities_by_upn(conn, typed).await?
    } else {
        store::directory::identities_by_sam(conn, typed, None).await?
    };
    let mut employees: Vec<String> = ids.into_iter().map(|i| i.employee_id).collect();
    employees.sort();
    employees.dedup();
    match employees.as_slice() {
        [one] => store::employees::get(conn, one).await,
        _ => Ok(None),
    }
}

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
            Some(p) => store::oidc::get_client(&mut conn, &p.client_id)
                .await?
                .map(|c| c.name)
                .unwrap_or_else(|| "SSO".into()),
            None => "SSO".into(),
        }
    };
    let target = {
        let mut conn = state.store.conn().await?;
        match employee_named(&mut conn, &body.username).await? {
            Some(e) if e.state == EmployeeState::Active.as_str() => {
                let blocked = store::push::is_blocked(&mut conn, &e.id).await?;
                let recent = store::push::count_recent(&mut conn, &e.id, now - 10 * 60_000).await?;
                let device = store::push::active_devices_of(&mut conn, &e.id)
                    .await?
                    .into_iter()
                    .next();
                match device {
                    Some(d) if !blocked && recent < MAX_PROMPTS_PER_10_MIN => Some((e, d)),
                    _ => {
                        audit::record(
                            &mut conn,
                            now,
                            &Actor::Anonymous {
                                ip: Some(ip.clone()),
                            },
                            "push.prompt_refused",
                            Some(Target {
                                kind: "employee",
                                id: &e.id,
                            }),
                            json!({ "blocked": blocked, "recent_prompts": recent }),
                        )
                        .await?;
                        None
                    }
                }
            }
            _ => None,
        }
    };
    let challenge = match target {
        Some((employee, device)) => {
            challenges::create(
                &state,
                &employee,
                &device,
                &Origin {
                    purpose: "sign-in",
                    client_name: &client_name,
                    ip: &ip,
                    user_agent: &user_agent,
                },
            )
            .await?
        }
        None => challenges::decoy(&state).await?,
    };
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "challenge": challenge.id,
            "number": challenge.shown_number,
            "expires_in": (challenge.expires_at - now) / 1000,
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
}

/// `pending`, `approved` (with the session cookie and where to go), `denied` or `expired`.
pub async fn status(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Response> {
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let Some(c) = store::push::get_challenge(&mut conn, &body.challenge).await? else {
        return Ok(Json(json!({ "state": "expired" })).into_response());
    };
    let state_now = match c.state.as_str() {
        "approved" if c.consumed_at.is_none() && c.purpose == "sign-in" => "approved",
        "approved" => "expired",
        "denied" | "fraud" => "denied",
        _ if c.expires_at <= now => "expired",
        _ => "pending",
    };
    if state_now != "approved" {
        return Ok((
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "state": state_now })),
        )
            .into_response());
    }
    if !store::push::consume_challenge(&mut conn, &c.id, now).await? {
        return Ok(Json(json!({ "state": "expired" })).into_response());
    }
    let active = store::employees::get(&mut conn, &c.employee_id)
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
        Some(Target {
            kind: "employee",
            id: &c.employee_id,
        }),
        json!({ "method": "push", "challenge": c.id, "session": session_row.id }),
    )
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        jar.add(cookie),
        Json(json!({ "state": "approved", "redirect": after_signin(&body.request) })),
    )
        .into_response())
}
