//! Employee sign-in at the SSO server: the sign-in page the authorization endpoint sends people
//! to, domain password sign-in, passkeys, and the employee's own page (`/account`).
//!
//! - `session`: the employee's session cookie.
//! - `password`: bind to the employee's AD domain with the typed password.
//! - `passkey`: WebAuthn registration and sign-in (webauthn-rs).
//! - `code`: an offline code from the phone app (TOTP).
//! - `step_up`: what adding an authenticator needs; throttling is `crate::throttle`.
//! - `confirm`: stepping up by approving on the registered phone.

pub mod account;
pub mod code;
pub mod confirm;
pub mod passkey;
pub mod password;
pub mod phone;
pub mod push;
pub mod session;
pub mod step_up;

use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Actor, Target};
use crate::crypto::{constant_time_eq, random_token};
use crate::error::{Error, Result};
use crate::http::extract::ClientIp;
use crate::store;
use crate::throttle::{self, Take};

/// Double-submit cookie protecting the sign-in forms (there is no session yet).
/// The employee's device token (see [`throttle::trusted_device`]); `__Host-` behind https.
fn device_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_device"
    } else {
        "sso_device"
    }
}

fn device_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let secure = state.config.secure_cookies();
    Cookie::build((device_cookie_name(secure), token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(time::Duration::seconds(throttle::DEVICE_TOKEN_SECS))
        .build()
}

/// The sign-in form's double-submit cookie; `__Host-` (so Secure, path `/`, no Domain) behind
/// https.
fn signin_csrf_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_signin_csrf"
    } else {
        "sso_signin_csrf"
    }
}
/// Failed sign-ins answer no sooner than this, whatever failed, so timing tells nothing.
const FAILURE_FLOOR: Duration = Duration::from_millis(400);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(signin_page).post(signin_submit))
        .route("/login/password", post(submit_by::<false>))
        .route("/login/code", post(submit_by::<true>))
        .route("/login/signin.js", get(passkey::script))
        .route("/login/webauthn.js", get(passkey::webauthn_script))
        .route("/login/base.css", get(passkey::stylesheet))
        .route("/login/passkey/options", post(passkey::signin_options))
        .route("/login/passkey", post(passkey::signin_finish))
        .route("/login/push", post(push::start))
        .route("/login/push/status", post(push::status))
        .route("/account", get(passkey::account_page))
        .route("/account/passkeys/options", post(passkey::register_options))
        .route("/account/passkeys", post(passkey::register_finish))
        .route("/account/phone", post(phone::register_phone))
        .route("/account/logout", post(account_logout))
        .route("/account/confirm", post(confirm::start))
        .route(
            "/account/passkeys/{id}/rename",
            post(account::rename_passkey),
        )
        // passkeys or phones
        .route("/account/{what}/{id}/remove", post(account::remove))
        .route("/account/confirm/status", post(confirm::status))
        .route(
            "/account/sign-out-everywhere",
            post(account::sign_out_everywhere),
        )
}

/// Why a form sign-in failed, for the log and audit only: the answer to the user is the same for
/// all but an unreachable directory.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    UnknownAccount,
    WrongPassword,
    WrongCode,
    NotActive,
    /// No DC of the domain could be reached (shown as such: it is not the user's fault).
    DirectoryUnavailable(String),
    /// The deployment's daily budget of failed offline codes is spent: codes pause for everyone
    /// until the next day (the same answer for every account, so it tells nothing).
    CodesPaused,
}

pub fn render(t: &impl Template) -> Result<Html<String>> {
    t.render()
        .map(Html)
        .map_err(|e| Error::Internal(format!("template: {e}")))
}

pub struct ConfirmForm {
    pub action: String,
    pub csrf_token: String,
    pub fields: Vec<(String, String)>,
    pub button: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub lang: crate::i18n::Lang,
    pub title: &'a str,
    pub message: &'a str,
    pub is_error: bool,
    pub confirm: Option<ConfirmForm>,
}

/// [`message`] with both texts from the catalogue.
pub fn message_key(status: StatusCode, title: &str, text: &str, is_error: bool) -> Response {
    message(status, title, &crate::i18n::current().t(text), is_error)
}

/// A plain page: an error (never a redirect to an unverified URI) or a notice, in the request's
/// language: `title` is a catalogue key, `text` is already in that language.
pub fn message(status: StatusCode, title: &str, text: &str, is_error: bool) -> Response {
    let lang = crate::i18n::current();
    match render(&MessagePage {
        lang,
        title: &lang.t(title),
        message: text,
        is_error,
        confirm: None,
    }) {
        Ok(page) => (status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage<'a> {
    lang: crate::i18n::Lang,
    csrf_token: &'a str,
    request: &'a str,
    username: &'a str,
    client_name: Option<&'a str>,
    error: Option<&'a str>,
    /// How this browser signed in last time (`phone`, `passkey`, `code`, `password`), or "".
    last: &'a str,
    /// "Other ways to sign in" shown open: after a failed code or password, or when one of them
    /// (or a passkey) was used last time.
    others_open: bool,
}

#[derive(Deserialize, Default)]
pub struct SigninQuery {
    #[serde(default)]
    request: String,
}

/// The pending authorization request's client name and login hint, if the id is live.
pub(super) async fn pending_info(
    state: &AppState,
    request: &str,
) -> Result<(Option<String>, Option<String>)> {
    if request.is_empty() {
        return Ok((None, None));
    }
    let mut conn = state.store.conn().await?;
    let Some(p) =
        crate::oidc::authorize::load_pending(&mut conn, request, state.clock.now_ms()).await?
    else {
        return Ok((None, None));
    };
    let client = crate::oidc::store::get_client(&mut conn, &p.client_id).await?;
    Ok((client.map(|c| c.name), p.login_hint))
}

async fn signin_form(
    state: &AppState,
    jar: CookieJar,
    request: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response> {
    let token = random_token()?;
    let (client_name, hint) = pending_info(state, request).await?;
    let username = if username.is_empty() {
        hint.unwrap_or_default()
    } else {
        username.to_owned()
    };
    let secure = state.config.secure_cookies();
    let cookie = Cookie::build((signin_csrf_cookie(secure), token.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .build();
    let last = session::last_method(state, &jar);
    let page = render(&SigninPage {
        lang: crate::i18n::current(),
        csrf_token: &token,
        request,
        username: &username,
        client_name: client_name.as_deref(),
        error,
        last: last.map_or("", session::Method::as_str),
        others_open: error.is_some() || last.is_some_and(|m| m != session::Method::Phone),
    })?;
    Ok((
        status,
        [(header::CACHE_CONTROL, "no-store")],
        jar.add(cookie),
        page,
    )
        .into_response())
}

async fn signin_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<SigninQuery>,
) -> Result<Response> {
    signin_form(&state, jar, &q.request, "", None, StatusCode::OK).await
}

/// Where to go once signed in: back to the pending authorization request, or the account page.
pub fn after_signin(request: &str) -> String {
    if request.is_empty() {
        "/account".to_owned()
    } else {
        format!(
            "/oauth2/authorize/resume?request={}",
            url::form_urlencoded::byte_serialize(request.as_bytes()).collect::<String>()
        )
    }
}

pub fn csrf_ok(state: &AppState, jar: &CookieJar, presented: &str) -> bool {
    let expected = jar
        .get(signin_csrf_cookie(state.config.secure_cookies()))
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    !expected.is_empty() && constant_time_eq(&expected, presented)
}

/// The sign-in page's one form: the account field and, under "Other ways to sign in", the code
/// and the password, each with its own button (`method`). Enter in a field presses the first
/// button (the phone's), so without a chosen method the filled field decides. The phone request
/// itself needs the page's script (it waits for the answer); without it the page says so.
#[derive(Deserialize)]
struct SigninForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    method: String,
}

async fn signin_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Form(form): Form<SigninForm>,
) -> Result<Response> {
    let method = match session::Method::parse(&form.method) {
        Some(m @ (session::Method::Code | session::Method::Password)) => m,
        _ if !form.code.trim().is_empty() => session::Method::Code,
        _ if !form.password.is_empty() => session::Method::Password,
        _ => {
            return signin_form(
                &state,
                jar,
                &form.request,
                &form.username,
                Some(&crate::i18n::current().t("signin-needs-js")),
                StatusCode::OK,
            )
            .await
        }
    };
    sign_in_with(&state, ip, jar, method, &form).await
}

/// `POST /login/code` (`CODE`) and `POST /login/password`: the form of the page without script,
/// one way each.
async fn submit_by<const CODE: bool>(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Form(form): Form<SigninForm>,
) -> Result<Response> {
    let method = if CODE {
        session::Method::Code
    } else {
        session::Method::Password
    };
    sign_in_with(&state, ip, jar, method, &form).await
}

/// Signs in with the form's offline code or its password, as `method` says.
async fn sign_in_with(
    state: &AppState,
    ip: Option<String>,
    jar: CookieJar,
    method: session::Method,
    form: &SigninForm,
) -> Result<Response> {
    let attempt = Attempt::new(method, &form.request, &form.username, &form.csrf_token);
    form_signin(state, ip, jar, attempt, || async {
        if method == session::Method::Code {
            code::verify(&state.phones(), &form.username, &form.code).await
        } else {
            let domains = crate::directory::domain::Domains {
                store: &state.store,
                cipher: &state.cipher,
            };
            password::verify(
                &domains,
                state.clock.as_ref(),
                &form.username,
                &form.password,
            )
            .await
        }
    })
    .await
}

/// A sign-in form's common fields.
struct Attempt<'a> {
    /// For the audit record.
    method: &'static str,
    /// For the cookie remembering it.
    last: session::Method,
    /// RFC 8176 authentication method reference of the session.
    amr: &'static str,
    request: &'a str,
    username: &'a str,
    csrf_token: &'a str,
}

impl<'a> Attempt<'a> {
    fn new(
        last: session::Method,
        request: &'a str,
        username: &'a str,
        csrf_token: &'a str,
    ) -> Self {
        // A form signs in by offline code or by password; the audit name and the RFC 8176 amr
        // follow from which.
        let (method, amr) = match last {
            session::Method::Code => ("offline_code", "otp"),
            _ => ("password", "pwd"),
        };
        Attempt {
            method,
            last,
            amr,
            request,
            username,
            csrf_token,
        }
    }
}

/// The part every form sign-in shares: CSRF check, throttling per name and per address, the
/// failure floor, one message for every failure, audit, and the session on success.
async fn form_signin<F, Fut>(
    state: &AppState,
    ip: Option<String>,
    jar: CookieJar,
    attempt: Attempt<'_>,
    verify: F,
) -> Result<Response>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<std::result::Result<String, Failure>>>,
{
    if !csrf_ok(state, &jar, attempt.csrf_token) {
        let msg = crate::i18n::current().t("signin-error-csrf");
        return signin_form(
            state,
            jar,
            attempt.request,
            attempt.username,
            Some(&msg),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let started = Instant::now();
    let now = state.clock.now_ms();
    let ip_key = address_key(ip.as_deref());
    let mut conn = state.store.conn().await?;
    if let Take::Wait { retry_after_secs } = throttle::take(
        &mut conn,
        &ip_key,
        &throttle::Policy::address(&state.config),
        now,
    )
    .await?
    {
        drop(conn);
        let msg = crate::i18n::current().t1(
            "signin-error-throttled",
            "seconds",
            &retry_after_secs.to_string(),
        );
        let mut resp = signin_form(
            state,
            jar,
            attempt.request,
            attempt.username,
            Some(&msg),
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await?;
        if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    // Counted per employee, whatever spelling of their name was typed: a name that several
    // employees share (the same account name in two domains) counts against each of them, so no
    // spelling gives anyone more guesses. An unknown name is counted as typed (and throttled
    // alike, so the answers cannot tell them apart).
    let named = crate::push::challenges::employees_named(&mut conn, attempt.username).await?;
    let account_keys: Vec<String> = if named.is_empty() {
        vec![format!("name:{}", attempt.username.trim().to_lowercase())]
    } else {
        named
            .iter()
            .map(|e| throttle::employee_key(&e.id))
            .collect()
    };
    let account_key = account_keys[0].clone();
    // A browser that signed in as this employee before has its own budget: guessing from
    // elsewhere locks only untrusted browsers.
    let secure = state.config.secure_cookies();
    let trusted = match account_keys.as_slice() {
        [only] => throttle::trusted_device(
            &state.cipher,
            jar.get(device_cookie_name(secure)).map(|c| c.value()),
            only,
        ),
        _ => None,
    };
    let (keys, policy) = match trusted {
        Some(device) => (
            vec![device],
            throttle::Policy::trusted_device(&state.config),
        ),
        None => (
            account_keys.clone(),
            throttle::Policy::employee(&state.config),
        ),
    };
    // An attempt on every key, or on none.
    let mut taken = Vec::with_capacity(keys.len());
    for key in &keys {
        match throttle::take(&mut conn, key, &policy, now).await? {
            Take::Go { n } => taken.push(n),
            Take::Wait { .. } => {
                for given_back in &keys[..taken.len()] {
                    throttle::release(&mut conn, given_back).await?;
                }
                taken.clear();
                break;
            }
        }
    }
    drop(conn);
    let outcome = if taken.is_empty() {
        // Delayed or locked: nothing is checked, and the answer is a failure's.
        None
    } else {
        Some(verify().await?)
    };
    match outcome {
        Some(Ok(employee_id)) => {
            let mut conn = state.store.conn().await?;
            let own = throttle::employee_key(&employee_id);
            for key in &keys {
                if *key == own || keys.len() == 1 {
                    throttle::succeeded(&mut conn, key).await?;
                } else {
                    // Another employee of the same name: this attempt was no failure of theirs.
                    throttle::release(&mut conn, key).await?;
                }
            }
            throttle::release(&mut conn, &ip_key).await?;
            drop(conn);
            let device = device_cookie(state, throttle::device_token(&state.cipher, &account_key)?);
            let (cookie, session) = session::start(state, &employee_id, &[attempt.amr]).await?;
            let app = pending_info(state, attempt.request).await?.0;
            let mut conn = state.store.conn().await?;
            audit::record(
                &mut conn,
                now,
                &Actor::Anonymous { ip: ip.clone() },
                "employee.signed_in",
                Some(Target::of("employee", &employee_id)),
                json!({ "method": attempt.method, "session": session.id, "app": app }),
            )
            .await?;
            let jar = jar
                .remove(Cookie::build(signin_csrf_cookie(state.config.secure_cookies())).path("/"))
                .add(cookie)
                .add(device)
                .add(session::last_method_cookie(state, attempt.last));
            Ok((jar, Redirect::to(&after_signin(attempt.request))).into_response())
        }
        failed => {
            let mut conn = state.store.conn().await?;
            let (reason, locked) = match &failed {
                Some(Err(failure)) => {
                    let mut locked = false;
                    for (key, n) in keys.iter().zip(&taken) {
                        locked |= throttle::failed(&mut conn, key, *n, &policy, now).await?;
                    }
                    (failure_kind(failure), locked)
                }
                _ => {
                    // Not checked: the address's attempt is given back, the key stays as it is.
                    throttle::release(&mut conn, &ip_key).await?;
                    ("throttled", false)
                }
            };
            tracing::info!(method = attempt.method, reason, "employee sign-in failed");
            let target_id = account_key.strip_prefix("employee:").map(str::to_owned);
            audit::record(
                &mut conn,
                now,
                &Actor::Anonymous { ip },
                if locked {
                    "employee.sign_in_locked"
                } else {
                    "employee.sign_in_failed"
                },
                target_id.as_deref().map(|id| Target::of("employee", id)),
                json!({ "method": attempt.method, "account": attempt.username.trim(), "reason": reason }),
            )
            .await?;
            drop(conn);
            if let Some(rest) = FAILURE_FLOOR.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
            let msg = crate::i18n::current().t(match (&failed, attempt.method) {
                // An unreachable domain answers like a wrong password: a known name must not
                // get another answer than an unknown one (the audit and the log say why).
                (Some(Err(Failure::DirectoryUnavailable(_))), _) => "signin-error-password",
                (Some(Err(Failure::CodesPaused)), _) => "signin-error-codes-paused",
                (_, "offline_code") => "signin-error-code",
                _ => "signin-error-password",
            });
            signin_form(
                state,
                jar,
                attempt.request,
                attempt.username,
                Some(&msg),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
    }
}

/// The throttle key of a client address.
/// The throttle key of a client address: the address itself for IPv4, its /64 for IPv6 (one
/// subscriber gets a whole /64 and can pick a new address from it for every request).
pub fn address_key(ip: Option<&str>) -> String {
    match ip.and_then(|i| i.parse::<std::net::IpAddr>().ok()) {
        Some(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(std::net::IpAddr::V6(v6)) => format!(
            "ip:{}",
            v6.to_ipv4_mapped()
                .map_or_else(|| v6.to_string(), |v4| v4.to_string())
        ),
        _ => format!("ip:{}", ip.unwrap_or("-")),
    }
}

#[cfg(test)]
mod address_tests {
    use super::address_key;

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(
            address_key(Some("2001:db8:1:2:aaaa::1")),
            address_key(Some("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            address_key(Some("2001:db8:1:2::1")),
            address_key(Some("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(Some("2001:db8:1:2::9")), "ip:2001:db8:1:2::/64");
        assert_eq!(address_key(Some("198.51.100.7")), "ip:198.51.100.7");
        assert_eq!(address_key(Some("::ffff:198.51.100.7")), "ip:198.51.100.7");
        assert_ne!(
            address_key(Some("198.51.100.7")),
            address_key(Some("198.51.100.8"))
        );
        assert_eq!(address_key(None), "ip:-");
    }
}

fn failure_kind(f: &Failure) -> &'static str {
    match f {
        Failure::UnknownAccount => "unknown_account",
        Failure::WrongPassword => "wrong_password",
        Failure::WrongCode => "wrong_code",
        Failure::NotActive => "not_active",
        Failure::DirectoryUnavailable(_) => "directory_unavailable",
        Failure::CodesPaused => "offline_codes_paused",
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// Signs out from the account page (the OIDC logout endpoint does the same for relying parties).
async fn account_logout(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<LogoutForm>,
) -> Result<Response> {
    let mut conn = state.store.conn().await?;
    if let Some(cur) = session::current(&state, &mut conn, &jar).await? {
        if !passkey::account_csrf_ok(&cur.session, &form.csrf_token) {
            return Ok(message_key(
                StatusCode::FORBIDDEN,
                "msg-not-signed-out",
                "msg-form-expired",
                true,
            ));
        }
        end_session(&state, &mut conn, &cur.session.id, &cur.employee.id).await?;
    }
    Ok((
        jar.remove(session::removal_cookie(&state)),
        message_key(
            StatusCode::OK,
            "msg-signed-out-title",
            "msg-signed-out",
            false,
        ),
    )
        .into_response())
}

/// Ends a session and revokes what was issued under it.
pub async fn end_session(
    state: &AppState,
    conn: &mut store::Conn,
    session_id: &str,
    employee_id: &str,
) -> Result<()> {
    let now = state.clock.now_ms();
    crate::oidc::store::delete_session(conn, session_id).await?;
    crate::oidc::store::revoke_grants_of_session(conn, session_id, now).await?;
    audit::record(
        conn,
        now,
        &Actor::System {
            name: "sign-out".into(),
        },
        "employee.signed_out",
        Some(Target::of("employee", employee_id)),
        json!({ "session": session_id }),
    )
    .await
}
