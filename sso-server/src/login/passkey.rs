//! Passkeys (WebAuthn, webauthn-rs): registered by a signed-in employee on `/account`, used to
//! sign in without a name (discoverable credentials, user verification required).
//!
//! Ceremony states live in the database, keyed by a random id the page sends back, single use and
//! short lived (webauthn-rs does neither by itself). A credential id can belong to one employee
//! only.

use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential,
};

use super::{after_signin, render, session};
use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::crypto::{constant_time_eq, random_token};
use crate::employees::store::EmployeeRow;
use crate::employees::State as EmployeeState;
use crate::error::{Error, Result};
use crate::http::extract::ApiJson;
use crate::http::extract::ClientIp;
use crate::oidc::store::{PasskeyRow, SessionRow};
use crate::store::Conn;

const CEREMONY_TTL_MS: i64 = 5 * 60_000;
const FAILURE_FLOOR: Duration = Duration::from_millis(400);

/// The account page's CSRF token, derived from the session (whose token only the browser has).
pub fn account_csrf(s: &SessionRow) -> String {
    let mut input = b"sso account csrf v1".to_vec();
    input.extend_from_slice(&s.token_hash);
    let d = ring::digest::digest(&ring::digest::SHA256, &input);
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

pub fn account_csrf_ok(s: &SessionRow, presented: &str) -> bool {
    constant_time_eq(&account_csrf(s), presented)
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../templates/signin.js"),
    )
}

/// The WebAuthn plumbing shared by `signin.js` and the console's script (served once, for both).
pub async fn webauthn_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../templates/webauthn.js"),
    )
}

/// The employee pages' stylesheet (a file, not inline: the CSP allows no inline style or script).
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../templates/base.css"),
    )
}

fn cred_id_text(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SigninOptionsBody {
    #[serde(default)]
    pub request: String,
}

/// Starts a username-less passkey sign-in.
pub async fn signin_options(
    State(state): State<AppState>,
    ApiJson(_body): ApiJson<SigninOptionsBody>,
) -> Result<Response> {
    let (options, st) = state
        .webauthn
        .start_discoverable_authentication()
        .map_err(|e| Error::Internal(format!("webauthn: {e}")))?;
    let id = random_token()?;
    let state_json = serde_json::to_string(&st).map_err(|e| Error::Internal(e.to_string()))?;
    let mut conn = state.store.conn().await?;
    ceremony(&state, &mut conn, &id, "signin", None, &state_json, options).await
}

/// Keeps a ceremony's state (until it expires) for its finish, and hands the browser the
/// options to pass to `navigator.credentials`.
async fn ceremony(
    state: &AppState,
    conn: &mut Conn,
    id: &str,
    kind: &str,
    employee: Option<&str>,
    ceremony_state: &str,
    options: impl serde::Serialize,
) -> Result<Response> {
    crate::oidc::store::put_webauthn_state(
        conn,
        id,
        kind,
        employee,
        ceremony_state,
        state.clock.now_ms() + CEREMONY_TTL_MS,
    )
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "ceremony": id, "options": options })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigninFinishBody {
    pub ceremony: String,
    pub credential: PublicKeyCredential,
    #[serde(default)]
    pub request: String,
}

fn failed() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(
            json!({ "error": "passkey_failed", "message": crate::i18n::current().t("signin-error-passkey") }),
        ),
    )
        .into_response()
}

/// Finishes a passkey sign-in and starts the session.
pub async fn signin_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    ApiJson(body): ApiJson<SigninFinishBody>,
) -> Result<Response> {
    let started = Instant::now();
    let now = state.clock.now_ms();
    let ip_key = super::address_key(ip.as_deref());
    {
        let mut conn = state.store.conn().await?;
        let policy = crate::throttle::Policy::address(&state.config);
        if let crate::throttle::Take::Wait { .. } =
            crate::throttle::take(&mut conn, &ip_key, &policy, now).await?
        {
            return Ok((StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": "too_many_requests", "message": "Too many failed sign-ins from your network; try again later."}))).into_response());
        }
    }
    let outcome = finish(&state, &body).await?;
    match outcome {
        Some(employee_id) => {
            let mut conn = state.store.conn().await?;
            crate::throttle::release(&mut conn, &ip_key).await?;
            drop(conn);
            let (cookie, session) = session::start(&state, &employee_id, &["hwk", "user"]).await?;
            let app = super::pending_info(&state, &body.request).await?.0;
            let mut conn = state.store.conn().await?;
            audit::record(
                &mut conn,
                now,
                &Actor::Anonymous { ip },
                "employee.signed_in",
                Some(Target::of("employee", &employee_id)),
                json!({ "method": "passkey", "session": session.id, "app": app }),
            )
            .await?;
            Ok((
                jar.add(cookie).add(session::last_method_cookie(
                    &state,
                    session::Method::Passkey,
                )),
                Json(json!({ "redirect": after_signin(&body.request) })),
            )
                .into_response())
        }
        None => {
            if let Some(rest) = FAILURE_FLOOR.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
            Ok(failed())
        }
    }
}

/// Who an assertion of a discoverable credential says it is: the user handle and the credential
/// id (base64url), before anything is verified; `None` for a malformed one.
pub fn claimed(
    webauthn: &webauthn_rs::Webauthn,
    credential: &PublicKeyCredential,
) -> Option<(Uuid, String)> {
    webauthn
        .identify_discoverable_authentication(credential)
        .ok()
        .map(|(user, cred_id)| (user, cred_id_text(cred_id)))
}

/// Verifies a discoverable assertion against the ceremony's state (`ceremony`, as stored) and
/// the stored passkey (`stored`, JSON) of `owner`, whom the assertion's user handle must name;
/// the passkey's updated JSON (counters) when it is good, shared by employees and admins.
pub fn verified(
    webauthn: &webauthn_rs::Webauthn,
    ceremony: &str,
    credential: &PublicKeyCredential,
    claimed_user: Uuid,
    owner: &str,
    stored: &str,
) -> Result<Option<String>> {
    if Uuid::parse_str(owner).ok() != Some(claimed_user) {
        return Ok(None);
    }
    let (Ok(st), Ok(mut passkey)) = (
        serde_json::from_str::<DiscoverableAuthentication>(ceremony),
        serde_json::from_str::<Passkey>(stored),
    ) else {
        return Ok(None);
    };
    let Ok(result) = webauthn.finish_discoverable_authentication_v2(credential, st, &passkey)
    else {
        return Ok(None);
    };
    passkey.update_credential(&result);
    serde_json::to_string(&passkey)
        .map(Some)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// The employee id when the assertion is good and the employee active.
async fn finish(state: &AppState, body: &SigninFinishBody) -> Result<Option<String>> {
    let now = state.clock.now_ms();
    let mut conn = state.store.conn().await?;
    let Some((_, st)) =
        crate::oidc::store::take_webauthn_state(&mut conn, &body.ceremony, "signin", now).await?
    else {
        return Ok(None);
    };
    let Some((user, cred_id)) = claimed(&state.webauthn, &body.credential) else {
        return Ok(None);
    };
    let Some(row) = crate::oidc::store::passkey_by_credential(&mut conn, &cred_id).await? else {
        return Ok(None);
    };
    let Some(updated) = verified(
        &state.webauthn,
        &st,
        &body.credential,
        user,
        &row.employee_id,
        &row.credential,
    )?
    else {
        return Ok(None);
    };
    crate::oidc::store::update_passkey_use(&mut conn, &row.id, &updated, now).await?;
    let employee = crate::employees::store::get(&mut conn, &row.employee_id).await?;
    Ok(employee
        .filter(|e| e.state == EmployeeState::Active.as_str())
        .map(|e| e.id))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    lang: crate::i18n::Lang,
    name: &'a str,
    csrf_token: &'a str,
    passkeys: Vec<PasskeyLine>,
    phones: Vec<PhoneLine>,
    /// The last sign-ins: (when, how, from where).
    sign_ins: Vec<(String, String, String)>,
    /// Adding a passkey or a phone needs a step-up first (this session is not strong and recent).
    needs_step_up: bool,
}

struct PasskeyLine {
    id: String,
    name: String,
    created: String,
    last_used: String,
}

struct PhoneLine {
    id: String,
    name: String,
    platform: String,
    registered: String,
    last_seen: String,
}

fn day(ms: i64) -> String {
    crate::clock::from_ms(ms).date().to_string()
}

pub async fn account_page(State(state): State<AppState>, jar: CookieJar) -> Result<Response> {
    let lang = crate::i18n::current();
    let mut conn = state.store.conn().await?;
    let Some(cur) = session::current(&state, &mut conn, &jar).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let passkeys = crate::oidc::store::passkeys_of_employee(&mut conn, &cur.employee.id)
        .await?
        .into_iter()
        .map(|p| PasskeyLine {
            id: p.id,
            name: p.name,
            created: day(p.created_at),
            last_used: p
                .last_used_at
                .map_or_else(|| lang.t("account-never"), crate::clock::when),
        })
        .collect();
    let phones = crate::push::store::active_devices_of(&mut conn, &cur.employee.id)
        .await?
        .into_iter()
        .map(|d| PhoneLine {
            id: d.id,
            name: d.name,
            platform: match d.platform.as_str() {
                "ios" => "iPhone".into(),
                "android" => "Android".into(),
                other => other.to_owned(),
            },
            registered: day(d.created_at),
            last_seen: d
                .last_used_at
                .map_or_else(|| lang.t("account-not-yet"), crate::clock::when),
        })
        .collect();
    let sign_ins = crate::audit::store::list(
        &mut conn,
        &crate::audit::store::AuditFilter {
            action: Some("employee.signed_in".into()),
            target_id: Some(cur.employee.id.clone()),
        },
        None,
        10,
    )
    .await?
    .into_iter()
    .map(|a| {
        let detail: serde_json::Value = serde_json::from_str(&a.detail).unwrap_or_default();
        let how = match detail["method"].as_str().unwrap_or("") {
            "passkey" => lang.t("account-method-passkey"),
            "push" => lang.t("account-method-phone"),
            "offline_code" => lang.t("account-method-code"),
            "password" => lang.t("account-method-password"),
            other => other.to_owned(),
        };
        let how = match detail["app"].as_str() {
            Some(app) => lang.t2("account-sign-in-to", &("method", &how), &("app", app)),
            None => how,
        };
        let ip = a.ip.unwrap_or_default();
        let place = match state.push.places.locate(&ip) {
            Some(crate::push::place::Where::ThisComputer) => lang.t("place-this-computer"),
            Some(crate::push::place::Where::CompanyNetwork) => lang.t("place-company-network"),
            Some(crate::push::place::Where::Internet) => lang.t("place-internet"),
            Some(crate::push::place::Where::Named(n)) => n,
            None => String::new(),
        };
        let from = if place.is_empty() {
            ip
        } else {
            format!("{place} ({ip})")
        };
        (crate::clock::when(a.at), how, from)
    })
    .collect();
    let page = render(&AccountPage {
        lang,
        name: &cur.employee.display_name,
        csrf_token: &account_csrf(&cur.session),
        passkeys,
        phones,
        sign_ins,
        needs_step_up: !super::step_up::allowed(&cur.session, state.clock.now_ms()),
    })?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

pub async fn signed_in(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
) -> Result<session::Current> {
    let mut conn = state.store.conn().await?;
    let cur = session::current(state, &mut conn, jar)
        .await?
        .ok_or(Error::Unauthorized)?;
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !account_csrf_ok(&cur.session, presented) {
        return Err(Error::Forbidden("missing or wrong X-CSRF-Token".into()));
    }
    Ok(cur)
}

/// Starts registering a passkey for the signed-in employee.
pub async fn register_options(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    _body: std::result::Result<ApiJson<serde_json::Value>, Error>,
) -> Result<Response> {
    let cur = signed_in(&state, &jar, &headers).await?;
    super::step_up::require(&cur.session, state.clock.now_ms())?;
    start_registration(&state, &cur.employee).await
}

/// Starts a passkey registration for `e`: the options for the browser and the ceremony id.
pub async fn start_registration(state: &AppState, e: &EmployeeRow) -> Result<Response> {
    let user = Uuid::parse_str(&e.id).map_err(|_| Error::Internal("bad employee id".into()))?;
    let mut conn = state.store.conn().await?;
    let existing = crate::oidc::store::passkeys_of_employee(&mut conn, &e.id).await?;
    let exclude: Vec<_> = existing
        .iter()
        .filter_map(|p| serde_json::from_str::<Passkey>(&p.credential).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    let login_name = e.email.clone().unwrap_or_else(|| e.display_name.clone());
    let (options, st) = state
        .webauthn
        .start_passkey_registration(user, &login_name, &e.display_name, Some(exclude))
        .map_err(|e| Error::Internal(format!("webauthn: {e}")))?;
    // Discoverable credentials, so sign-in needs no name (the state does not depend on this).
    let mut options = serde_json::to_value(&options).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(sel) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        sel.insert("residentKey".into(), json!("required"));
        sel.insert("requireResidentKey".into(), json!(true));
    }
    let id = random_token()?;
    let st: String = serde_json::to_string::<PasskeyRegistration>(&st)
        .map_err(|e| Error::Internal(e.to_string()))?;
    ceremony(state, &mut conn, &id, "register", Some(&e.id), &st, options).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishBody {
    pub ceremony: String,
    pub credential: RegisterPublicKeyCredential,
    #[serde(default)]
    pub name: Option<String>,
}

/// Finishes registering a passkey.
pub async fn register_finish(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    // Parsed after the step-up check: a refused session learns nothing from its body.
    body: std::result::Result<ApiJson<RegisterFinishBody>, Error>,
) -> Result<Response> {
    let cur = signed_in(&state, &jar, &headers).await?;
    super::step_up::require(&cur.session, state.clock.now_ms())?;
    let ApiJson(body) = body?;
    let row = finish_registration(&state, &cur.employee, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": row.id, "name": row.name })),
    )
        .into_response())
}

/// The name an owner gives a passkey: trimmed, "Passkey" when none, up to 64 characters and no
/// control characters (shared by employees and admins).
pub fn passkey_name(name: Option<&str>) -> Result<String> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Passkey")
        .to_owned();
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::validation("name", "up to 64 characters"));
    }
    Ok(name)
}

/// Finishes the registration ceremony `(id, kind)` that `owner` started (its state is taken from
/// the store: once) with the credential the browser made; the checked passkey (shared by
/// employees and admins).
pub async fn registered(
    conn: &mut Conn,
    webauthn: &webauthn_rs::Webauthn,
    (ceremony, kind): (&str, &str),
    owner: &str,
    credential: &RegisterPublicKeyCredential,
    now: i64,
) -> Result<Passkey> {
    let taken = crate::oidc::store::take_webauthn_state(conn, ceremony, kind, now).await?;
    let Some((Some(started_by), st)) = taken else {
        return Err(Error::validation(
            "ceremony",
            "expired or already used; start again",
        ));
    };
    if started_by != owner {
        return Err(Error::validation("ceremony", "belongs to another session"));
    }
    let st: PasskeyRegistration =
        serde_json::from_str(&st).map_err(|e| Error::Internal(e.to_string()))?;
    webauthn
        .finish_passkey_registration(credential, &st)
        .map_err(|e| Error::validation("credential", format!("not accepted: {e}")))
}

/// Finishes a registration started for `employee`; stores the passkey.
pub async fn finish_registration(
    state: &AppState,
    employee: &EmployeeRow,
    body: &RegisterFinishBody,
) -> Result<PasskeyRow> {
    let now = state.clock.now_ms();
    let name = passkey_name(body.name.as_deref())?;
    let mut tx = state.store.begin().await?;
    let passkey = registered(
        &mut tx,
        &state.webauthn,
        (&body.ceremony, "register"),
        &employee.id,
        &body.credential,
        now,
    )
    .await?;
    let cred_id = cred_id_text(passkey.cred_id().as_ref());
    if crate::oidc::store::passkey_by_credential(&mut tx, &cred_id)
        .await?
        .is_some()
    {
        return Err(Error::conflict(
            Some("credential"),
            "this passkey is already registered",
        ));
    }
    let row = PasskeyRow {
        id: Uuid::new_v4().to_string(),
        employee_id: employee.id.clone(),
        credential_id: cred_id,
        credential: serde_json::to_string(&passkey).map_err(|e| Error::Internal(e.to_string()))?,
        name: name.clone(),
        created_at: now,
        last_used_at: None,
    };
    crate::oidc::store::insert_passkey(&mut tx, &row)
        .await
        .map_err(Error::on_unique_violation(
            "credential",
            "this passkey is already registered",
        ))?;
    audit::record(
        &mut tx,
        now,
        &Actor::System {
            name: format!("employee {}", employee.display_name),
        },
        "employee.passkey_added",
        Some(Target::of("employee", &employee.id)),
        json!({ "passkey": row.id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    super::step_up::notify(
        &state.mailer,
        state.config.default_language,
        employee,
        &state
            .config
            .default_language
            .t1("mail-notice-passkey-added", "name", &name),
    )
    .await;
    Ok(row)
}
