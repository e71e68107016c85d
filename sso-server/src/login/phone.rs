//! The employee registers a new phone from their account page (a replaced phone). Only a session
//! that was started with a passkey or an approval on the (old) phone may: a password or an
//! offline code alone is not enough to bind a new authenticator. Otherwise the admin re-invites.

use askama::Template;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::passkey::account_csrf_ok;
use super::{message_key, render, session};
use crate::app::AppState;
use crate::audit::Actor;
use crate::error::Result;
use crate::push::enrol;

#[derive(Template)]
#[template(path = "account_phone.html")]
struct PhonePage<'a> {
    lang: crate::i18n::Lang,
    link: &'a str,
    qr_svg: &'a str,
    minutes: i64,
    has_phone: bool,
}

#[derive(Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    csrf_token: String,
}

pub async fn register_phone(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<PhoneForm>,
) -> Result<Response> {
    let mut conn = state.store.conn().await?;
    let Some(cur) = session::current(&state, &mut conn, &jar).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !account_csrf_ok(&cur.session, &form.csrf_token) {
        return Ok(message_key(
            StatusCode::FORBIDDEN,
            "msg-not-done",
            "msg-form-expired",
            true,
        ));
    }
    if !super::step_up::allowed(&cur.session, state.clock.now_ms()) {
        return Ok(message_key(
            StatusCode::FORBIDDEN,
            "msg-sign-in-first",
            "msg-phone-step-up",
            true,
        ));
    }
    let has_phone = !crate::push::store::active_devices_of(&mut conn, &cur.employee.id)
        .await?
        .is_empty();
    drop(conn);
    let qr = enrol::create(
        &state.phones(),
        &Actor::System {
            name: "account page".into(),
        },
        &cur.employee.id,
        None,
    )
    .await?;
    let page = render(&PhonePage {
        lang: crate::i18n::current(),
        link: &qr.link,
        qr_svg: &qr.qr_svg,
        minutes: enrol::ENROLMENT_TTL_MS / 60_000,
        has_phone,
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
