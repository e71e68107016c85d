//! The employee's own management of their sign-in methods on the account page: rename or remove a
//! passkey, remove the phone, sign out everywhere. Who may call: the signed-in employee; what proves it: the session
//! cookie and the page's CSRF token, and for a removal also a strong, recent sign-in (the step-up
//! rule: a phished password must not be enough to take the employee's phone or passkey away).
//! Every removal is audited and e-mailed to the employee. Forms work without JavaScript.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::{message, message_key, passkey::account_csrf_ok, session, step_up};
use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::error::{Error, Result};

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf_token: String,
}

/// The signed-in employee whose form carries the right token, or the answer to give.
async fn checked(
    state: &AppState,
    jar: &CookieJar,
    csrf: &str,
) -> Result<std::result::Result<session::Current, Response>> {
    let mut conn = state.store.conn().await?;
    let Some(cur) = session::current(state, &mut conn, jar).await? else {
        return Ok(Err(Redirect::to("/login").into_response()));
    };
    if !account_csrf_ok(&cur.session, csrf) {
        return Ok(Err(message_key(
            StatusCode::FORBIDDEN,
            "msg-nothing-changed",
            "msg-form-expired-account",
            true,
        )));
    }
    Ok(Ok(cur))
}

/// As [`checked`], and the session has the step-up a removal needs; with the time now.
async fn stepped_up(
    state: &AppState,
    jar: &CookieJar,
    csrf: &str,
) -> Result<std::result::Result<(session::Current, i64), Response>> {
    let cur = match checked(state, jar, csrf).await? {
        Ok(c) => c,
        Err(r) => return Ok(Err(r)),
    };
    let now = state.clock.now_ms();
    if !step_up::allowed(&cur.session, now) {
        return Ok(Err(message_key(
            StatusCode::FORBIDDEN,
            "msg-not-removed",
            "msg-removal-step-up",
            true,
        )));
    }
    Ok(Ok((cur, now)))
}

fn employee_actor() -> Actor {
    Actor::System {
        name: "the employee".into(),
    }
}

/// `POST /account/sign-out-everywhere`: ends the employee's sessions on every browser (this one
/// included) and every app's refresh tokens; a lost laptop or a shared computer stops being
/// signed in. No step-up: it only takes access away.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<ActionForm>,
) -> Result<Response> {
    let cur = match checked(&state, &jar, &form.csrf_token).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let mut tx = state.store.begin().await?;
    let done = crate::employees::lifecycle::sign_out_everywhere(
        &mut tx,
        state.clock.now_ms(),
        &employee_actor(),
        &cur.employee.id,
    )
    .await?;
    tx.commit().await?;
    let lang = crate::i18n::current();
    let apps = lang.tn(
        "msg-apps-ended",
        "count",
        i64::try_from(done.grants).unwrap_or(i64::MAX),
    );
    Ok((
        jar.remove(session::removal_cookie(&state)),
        message(
            StatusCode::OK,
            "msg-signed-out-everywhere-title",
            &format!("{} {apps}", lang.t("msg-signed-out-everywhere")),
            false,
        ),
    )
        .into_response())
}

/// `POST /account/passkeys/{id}/rename`.
pub async fn rename_passkey(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<RenameForm>,
) -> Result<Response> {
    let cur = match checked(&state, &jar, &form.csrf_token).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Ok(message_key(
            StatusCode::BAD_REQUEST,
            "msg-not-renamed",
            "msg-name-invalid",
            true,
        ));
    }
    let mut conn = state.store.conn().await?;
    if !crate::oidc::store::rename_passkey(&mut conn, &cur.employee.id, &id, name).await? {
        return Ok(message_key(
            StatusCode::NOT_FOUND,
            "msg-not-renamed",
            "msg-no-such-passkey",
            true,
        ));
    }
    Ok(Redirect::to("/account").into_response())
}

/// `POST /account/passkeys/{id}/remove` and `POST /account/phones/{id}/remove`: need the
/// step-up.
pub async fn remove(
    State(state): State<AppState>,
    jar: CookieJar,
    Path((what, id)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response> {
    let what = match what.as_str() {
        "passkeys" => Owned::Passkey,
        "phones" => Owned::Phone,
        _ => return Err(Error::NotFound("page")),
    };
    remove_owned(&state, &jar, &form, what, &id).await
}

/// What an employee may remove from their own account.
#[derive(Clone, Copy)]
enum Owned {
    Passkey,
    Phone,
}

/// Removes one of the employee's own passkeys or phones (only theirs: the store matches the
/// employee too), after the step-up.
async fn remove_owned(
    state: &AppState,
    jar: &CookieJar,
    form: &ActionForm,
    what: Owned,
    id: &str,
) -> Result<Response> {
    let (cur, now) = match stepped_up(state, jar, &form.csrf_token).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let lang = &state.config.default_language;
    let mut tx = state.store.begin().await?;
    let (found, missing) = match what {
        Owned::Passkey => (
            crate::oidc::store::delete_passkey(&mut tx, &cur.employee.id, id)
                .await?
                .map(|name| {
                    let detail = json!({ "passkey": id, "name": name, "session": cur.session.id });
                    let notice = lang.t1("mail-notice-passkey-removed", "name", &name);
                    ("passkey.removed", detail, notice)
                }),
            "msg-no-such-passkey",
        ),
        Owned::Phone => (
            crate::push::store::revoke_device(&mut tx, &cur.employee.id, id, now)
                .await?
                .then(|| {
                    let detail = json!({ "device": id, "session": cur.session.id });
                    let notice = lang.t("mail-notice-phone-removed");
                    ("device.removed_by_employee", detail, notice)
                }),
            "msg-no-such-phone",
        ),
    };
    let Some((event, detail, notice)) = found else {
        return Ok(message_key(
            StatusCode::NOT_FOUND,
            "msg-not-removed",
            missing,
            true,
        ));
    };
    removed(state, tx, &cur, now, event, detail, &notice).await
}

/// The end of every removal: the audit record in the removal's transaction, the commit, the
/// e-mail to the employee, back to the account page.
async fn removed(
    state: &AppState,
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    cur: &session::Current,
    now: i64,
    action: &str,
    detail: serde_json::Value,
    notice: &str,
) -> Result<Response> {
    audit::record(
        &mut tx,
        now,
        &employee_actor(),
        action,
        Some(Target::of("employee", &cur.employee.id)),
        detail,
    )
    .await?;
    tx.commit().await?;
    step_up::notify(
        &state.mailer,
        state.config.default_language,
        &cur.employee,
        notice,
    )
    .await;
    Ok(Redirect::to("/account").into_response())
}
