//! The invitation page: the employee opens the e-mailed link and sets up a passkey there and
//! then, or scans the QR code with the phone app; the page notices by itself when the phone has
//! registered. The link is single use: once a passkey or a phone is registered through it, it is
//! spent.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;

use super::invitations;
use crate::app::AppState;
use crate::audit::Actor;
use crate::error::{Error, Result};
use crate::http::extract::ApiJson;
use crate::login::passkey::{finish_registration, start_registration, RegisterFinishBody};
use crate::login::{message_key, render};
use crate::push::enrol;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invite/{token}", get(page))
        .route("/invite/{token}/status", get(status))
        .route("/invite/{token}/passkey/options", post(passkey_options))
        .route("/invite/{token}/passkey", post(passkey_finish))
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage<'a> {
    lang: crate::i18n::Lang,
    name: &'a str,
    token: &'a str,
    link: &'a str,
    qr_svg: &'a str,
    qr_png_base64: &'a str,
    minutes: i64,
}

fn gone() -> Response {
    message_key(
        StatusCode::NOT_FOUND,
        "msg-invitation-invalid-title",
        "msg-invitation-invalid",
        true,
    )
}

async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Result<Response> {
    let (inv, employee) = {
        let mut conn = state.store.conn().await?;
        let Some(inv) = invitations::by_token(&state.invitations(), &mut conn, &token).await?
        else {
            return Ok(gone());
        };
        // A leaver's link (or any employee who may no longer sign in) is a dead link: the
        // page says so, in the employee's language; nothing is registered through it.
        let Some(employee) = crate::employees::store::get(&mut conn, &inv.employee_id)
            .await?
            .filter(|e| e.state == crate::employees::State::Active.as_str())
        else {
            return Ok(gone());
        };
        (inv, employee)
    };
    // A fresh, short-lived QR code each time the page is shown.
    let qr = enrol::create(
        &state.phones(),
        &Actor::System {
            name: "invitation page".into(),
        },
        &employee.id,
        Some(&inv.id),
    )
    .await?;
    let png = base64::engine::general_purpose::STANDARD.encode(enrol::qr_png(&qr.link)?);
    let page = render(&InvitationPage {
        lang: crate::i18n::current(),
        name: &employee.display_name,
        token: &token,
        link: &qr.link,
        qr_svg: &qr.qr_svg,
        qr_png_base64: &png,
        minutes: enrol::ENROLMENT_TTL_MS / 60_000,
    })?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response())
}

/// Whether the invitation has been used (a phone or a passkey registered through it).
async fn status(State(state): State<AppState>, Path(token): Path<String>) -> Result<Response> {
    let mut conn = state.store.conn().await?;
    let inv =
        crate::enrol::store::by_token_hash(&mut conn, &crate::crypto::token_hash(&token)).await?;
    let body = match inv {
        Some(i) => {
            json!({ "state": i.shown(state.clock.now_ms()).as_str() })
        }
        None => json!({ "state": "unknown" }),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

async fn invited(
    state: &AppState,
    token: &str,
) -> Result<(
    invitations::InvitationRow,
    crate::employees::store::EmployeeRow,
)> {
    let mut conn = state.store.conn().await?;
    let inv = invitations::by_token(&state.invitations(), &mut conn, token)
        .await?
        .ok_or(Error::NotFound("invitation"))?;
    let employee = crate::employees::store::get(&mut conn, &inv.employee_id)
        .await?
        .filter(|e| e.state == crate::employees::State::Active.as_str())
        .ok_or(Error::NotFound("invitation"))?;
    Ok((inv, employee))
}

async fn passkey_options(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ApiJson(_body): ApiJson<serde_json::Value>,
) -> Result<Response> {
    let (_, employee) = invited(&state, &token).await?;
    start_registration(&state, &employee).await
}

async fn passkey_finish(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<RegisterFinishBody>,
) -> Result<Response> {
    let (inv, employee) = invited(&state, &token).await?;
    let row = finish_registration(&state, &employee, &body).await?;
    let mut conn = state.store.conn().await?;
    crate::enrol::store::advance(
        &mut conn,
        &inv.id,
        crate::enrol::state::Event::Accept,
        state.clock.now_ms(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": row.id, "name": row.name })),
    )
        .into_response())
}
