//! Administrators sign in with passkeys (WebAuthn, webauthn-rs), several per administrator.
//!
//! Who may call what:
//! - `POST /api/v1/session/passkeys/options`, `POST /api/v1/session/passkeys`,
//!   `GET /api/v1/session/passkeys`, `DELETE /api/v1/session/passkeys/{id}`: a signed-in
//!   administrator (its session and CSRF token), for its own passkeys.
//! - `POST /api/v1/session/passkey/options` and `POST /api/v1/session/passkey`: anyone; the
//!   assertion of a registered passkey (user verification required) opens a session. A
//!   discoverable credential needs no name, so the answers tell no names apart; failures are
//!   throttled per address.
//!
//! With `admin.require_passkey`, a password alone opens a session that can only register a
//! passkey and sign out (checked where the session resolves, `admin/session.rs`).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, PublicKeyCredential};

use crate::admin::session::{device_cookie, session_cookie, ApiAdmin};
use crate::admin::store::passkeys::AdminPasskeyRow;
use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::crypto::random_token;
use crate::error::{Error, Result};
use crate::http::extract::{ApiJson, ClientIp};

const CEREMONY_TTL_MS: i64 = 5 * 60_000;
const REGISTER: &str = "admin-register";
const SIGN_IN: &str = "admin-signin";

async fn ceremony(
    state: &AppState,
    kind: &str,
    owner: Option<&str>,
    ceremony_state: String,
    options: serde_json::Value,
) -> Result<Response> {
    let id = random_token()?;
    let mut conn = state.store.conn().await?;
    crate::oidc::store::put_webauthn_state(
        &mut conn,
        &id,
        kind,
        owner,
        &ceremony_state,
        state.clock.now_ms() + CEREMONY_TTL_MS,
    )
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "ceremony": id, "options": options })),
    )
        .into_response())
}

/// Where passkeys are required, a session opened with a password may add the administrator's
/// *first* passkey only (the way in for a new administrator); more need a passkey session, so a
/// phished password cannot add the attacker's passkey to an administrator who has one.
fn may_add(
    state: &AppState,
    admin: &crate::admin::session::AdminSession,
    existing: usize,
) -> Result<()> {
    if state.config.admin.require_passkey && admin.method != "passkey" && existing > 0 {
        return Err(Error::Forbidden(
            "sign in with one of your passkeys to add another".into(),
        ));
    }
    Ok(())
}

/// Starts registering a passkey for the signed-in administrator.
pub async fn register_options(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
) -> Result<Response> {
    let user = Uuid::parse_str(&admin.admin_id)
        .map_err(|_| Error::Internal("an admin id is not a UUID".into()))?;
    let mut conn = state.store.conn().await?;
    let existing = crate::admin::store::passkeys::of_admin(&mut conn, &admin.admin_id).await?;
    may_add(&state, &admin, existing.len())?;
    let exclude: Vec<_> = existing
        .iter()
        .filter_map(|p| serde_json::from_str::<Passkey>(&p.credential).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    drop(conn);
    let (options, st) = state
        .webauthn
        .start_passkey_registration(user, &admin.username, &admin.username, Some(exclude))
        .map_err(|e| Error::Internal(format!("webauthn: {e}")))?;
    let mut options = serde_json::to_value(&options).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(sel) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        sel.insert("residentKey".into(), json!("required"));
        sel.insert("requireResidentKey".into(), json!(true));
    }
    let st = serde_json::to_string::<PasskeyRegistration>(&st)
        .map_err(|e| Error::Internal(e.to_string()))?;
    ceremony(&state, REGISTER, Some(&admin.admin_id), st, options).await
}

/// Finishes registering the administrator's passkey.
pub async fn register(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(body): ApiJson<crate::login::passkey::RegisterFinishBody>,
) -> Result<Response> {
    let now = state.clock.now_ms();
    let name = crate::login::passkey::passkey_name(body.name.as_deref())?;
    let mut tx = state.store.begin().await?;
    let existing = crate::admin::store::passkeys::of_admin(&mut tx, &admin.admin_id).await?;
    may_add(&state, &admin, existing.len())?;
    let passkey = crate::login::passkey::registered(
        &mut tx,
        &state.webauthn,
        (&body.ceremony, REGISTER),
        &admin.admin_id,
        &body.credential,
        now,
    )
    .await?;
    let row = AdminPasskeyRow {
        id: Uuid::new_v4().to_string(),
        admin_id: admin.admin_id.clone(),
        credential_id: URL_SAFE_NO_PAD.encode::<&[u8]>(passkey.cred_id().as_ref()),
        credential: serde_json::to_string(&passkey).map_err(|e| Error::Internal(e.to_string()))?,
        name: name.clone(),
        created_at: now,
        last_used_at: None,
    };
    crate::admin::store::passkeys::insert(&mut tx, &row)
        .await
        .map_err(Error::on_unique_violation(
            "credential",
            "this passkey is already registered",
        ))?;
    audit::record(
        &mut tx,
        now,
        &admin.actor(),
        "admin.passkey_added",
        Some(Target::of("admin", &admin.admin_id)),
        json!({ "passkey": row.id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": row.id, "name": row.name })),
    )
        .into_response())
}

/// The signed-in administrator's passkeys.
pub async fn list(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
) -> Result<Json<serde_json::Value>> {
    let mut conn = state.store.conn().await?;
    let rows = crate::admin::store::passkeys::of_admin(&mut conn, &admin.admin_id).await?;
    Ok(Json(json!(rows
        .iter()
        .map(|p| json!({ "id": p.id, "name": p.name, "created_at": p.created_at, "last_used_at": p.last_used_at }))
        .collect::<Vec<_>>())))
}

/// Removes one of the signed-in administrator's passkeys.
pub async fn remove(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    if !crate::admin::store::passkeys::delete(&mut tx, &admin.admin_id, &id).await? {
        return Err(Error::NotFound("passkey"));
    }
    audit::record(
        &mut tx,
        now,
        &admin.actor(),
        "admin.passkey_removed",
        Some(Target::of("admin", &admin.admin_id)),
        json!({ "passkey": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a passkey sign-in (no name: a discoverable credential).
pub async fn signin_options(State(state): State<AppState>) -> Result<Response> {
    let (options, st) = state
        .webauthn
        .start_discoverable_authentication()
        .map_err(|e| Error::Internal(format!("webauthn: {e}")))?;
    let options = serde_json::to_value(&options).map_err(|e| Error::Internal(e.to_string()))?;
    let st = serde_json::to_string(&st).map_err(|e| Error::Internal(e.to_string()))?;
    ceremony(&state, SIGN_IN, None, st, options).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    pub ceremony: String,
    pub credential: PublicKeyCredential,
}

/// Finishes a passkey sign-in: a session like a password's, opened by `passkey`.
pub async fn signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    ApiJson(body): ApiJson<SignInBody>,
) -> Result<Response> {
    let now = state.clock.now_ms();
    let ip_key = crate::login::address_key(ip.as_deref());
    {
        let mut conn = state.store.conn().await?;
        if let crate::throttle::Take::Wait { retry_after_secs } = crate::throttle::take(
            &mut conn,
            &ip_key,
            &crate::throttle::Policy::address(&state.config),
            now,
        )
        .await?
        {
            return Err(Error::TooManyRequests { retry_after_secs });
        }
    }
    let Some(admin) = verify(&state, &body, now).await? else {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        return Err(Error::BadCredentials);
    };
    {
        let mut conn = state.store.conn().await?;
        crate::throttle::release(&mut conn, &ip_key).await?;
    }
    let actor = Actor::Admin {
        id: admin.id.clone(),
        username: admin.username.clone(),
        ip,
    };
    let s = crate::admin::accounts::open_session(&state, &admin, "passkey", &actor, now).await?;
    let jar = jar
        .add(session_cookie(&state, s.token))
        .add(device_cookie(&state, s.device_token));
    Ok((
        jar,
        Json(json!({ "username": s.username, "csrf_token": s.csrf_token })),
    )
        .into_response())
}

/// The administrator whose registered passkey made this assertion (enabled), if any.
async fn verify(
    state: &AppState,
    body: &SignInBody,
    now: i64,
) -> Result<Option<crate::admin::store::accounts::AdminRow>> {
    let mut conn = state.store.conn().await?;
    let Some((_, st)) =
        crate::oidc::store::take_webauthn_state(&mut conn, &body.ceremony, SIGN_IN, now).await?
    else {
        return Ok(None);
    };
    let Some((user, cred_id)) = crate::login::passkey::claimed(&state.webauthn, &body.credential)
    else {
        return Ok(None);
    };
    let Some(row) = crate::admin::store::passkeys::by_credential(&mut conn, &cred_id).await? else {
        return Ok(None);
    };
    let Some(updated) = crate::login::passkey::verified(
        &state.webauthn,
        &st,
        &body.credential,
        user,
        &row.admin_id,
        &row.credential,
    )?
    else {
        return Ok(None);
    };
    crate::admin::store::passkeys::used(&mut conn, &row.id, &updated, now).await?;
    Ok(crate::admin::store::accounts::get(&mut conn, &row.admin_id)
        .await?
        .filter(|a| a.disabled_at.is_none()))
}

#[derive(askama::Template)]
#[template(path = "console/passkeys.html")]
struct PasskeysPage {
    nav: crate::admin::console::shell::Nav,
    /// Name, added, last used.
    passkeys: Vec<(String, String, String)>,
    /// `admin.require_passkey` is set.
    required: bool,
}

/// `GET /admin/passkeys`: the signed-in administrator's passkeys and "Add a passkey".
pub async fn page(
    crate::admin::console::shell::Console { state, admin, jar }: crate::admin::console::shell::Console,
) -> crate::admin::console::shell::PageResult {
    use crate::admin::console::shell::{or_page, page, when, when_opt, Nav};
    let rows = or_page(
        async {
            let mut conn = state.store.conn().await?;
            crate::admin::store::passkeys::of_admin(&mut conn, &admin.admin_id).await
        }
        .await,
    )?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "passkeys");
    page(
        jar,
        &PasskeysPage {
            nav,
            passkeys: rows
                .into_iter()
                .map(|p| (p.name, when(p.created_at), when_opt(p.last_used_at)))
                .collect(),
            required: state.config.admin.require_passkey,
        },
    )
}
