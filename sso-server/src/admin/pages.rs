//! Console sign-in and sign-out. The console's pages are in `admin::console`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use askama::Template;

use crate::admin::accounts;
use crate::admin::session::{removal_cookie, session_cookie, MaybeAdmin};
use crate::app::AppState;
use crate::crypto::{constant_time_eq, random_token};
use crate::error::{Error, Result};
use crate::http::extract::ClientIp;

/// Double-submit cookie that protects the sign-in form, which has no session yet; `__Host-`
/// (so Secure, path `/`, no Domain) behind https, like every cookie of the server.
fn login_csrf_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_login_csrf"
    } else {
        "sso_login_csrf"
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(login_page).post(login_submit))
        .route("/admin/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    /// The console is in English.
    lang: crate::i18n::Lang,
    csrf_token: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    no_admin: bool,
}

fn render(t: &impl Template) -> Result<Html<String>> {
    t.render()
        .map(Html)
        .map_err(|e| Error::Internal(format!("template: {e}")))
}

async fn login_form(
    state: &AppState,
    jar: CookieJar,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response> {
    let token = random_token()?;
    let mut conn = state.store.conn().await?;
    let no_admin = crate::admin::store::accounts::count(&mut conn).await? == 0;
    let cookie = Cookie::build((
        login_csrf_cookie(state.config.secure_cookies()),
        token.clone(),
    ))
    .http_only(true)
    .same_site(SameSite::Strict)
    .secure(state.config.secure_cookies())
    .path("/")
    .build();
    let page = render(&LoginPage {
        lang: crate::i18n::Lang::En,
        csrf_token: &token,
        username,
        error,
        no_admin,
    })?;
    Ok((status, jar.add(cookie), page).into_response())
}

async fn login_page(
    State(state): State<AppState>,
    MaybeAdmin(admin): MaybeAdmin,
    jar: CookieJar,
) -> Result<Response> {
    if admin.is_some() {
        return Ok(Redirect::to("/admin").into_response());
    }
    login_form(&state, jar, "", None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response> {
    let expected = jar
        .get(login_csrf_cookie(state.config.secure_cookies()))
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(&expected, &form.csrf_token) {
        let msg = "The form expired or came from another site. Please sign in again.";
        return login_form(
            &state,
            jar,
            &form.username,
            Some(msg),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let device = jar
        .get(crate::admin::session::device_cookie_name(
            state.config.secure_cookies(),
        ))
        .map(|c| c.value().to_owned());
    match accounts::login(
        &state,
        &form.username,
        &form.password,
        ip,
        device.as_deref(),
    )
    .await
    {
        Ok(s) => {
            let jar = jar
                .remove(Cookie::build(login_csrf_cookie(state.config.secure_cookies())).path("/"))
                .add(session_cookie(&state, s.token))
                .add(crate::admin::session::device_cookie(&state, s.device_token));
            Ok((jar, Redirect::to("/admin")).into_response())
        }
        Err(e @ (Error::BadCredentials | Error::TooManyRequests { .. })) => {
            let status = if matches!(e, Error::BadCredentials) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            let msg = match e {
                Error::BadCredentials => "Wrong username or password.".to_owned(),
                _ => "Too many failed sign-ins. Try again later.".to_owned(),
            };
            login_form(&state, jar, &form.username, Some(&msg), status).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

async fn logout(
    State(state): State<AppState>,
    MaybeAdmin(admin): MaybeAdmin,
    jar: CookieJar,
    Form(form): Form<LogoutForm>,
) -> Result<Response> {
    if let Some(admin) = admin {
        admin.check_csrf(&form.csrf_token)?;
        accounts::logout(&state, &admin.actor(), &admin.token_hash).await?;
    }
    Ok((
        jar.remove(removal_cookie(&state)),
        Redirect::to("/admin/login"),
    )
        .into_response())
}
