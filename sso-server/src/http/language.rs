//! The language middleware: picks each request's language and carries it in `i18n::CURRENT`.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::app::AppState;
use crate::i18n::{cookie_name, switch, Lang};

/// The middleware: picks the request's language and remembers a switch in a cookie (a
/// preference, not a secret: readable by nobody else, changing nothing but text).
pub async fn layer(
    State(state): State<AppState>,
    jar: CookieJar,
    req: Request,
    next: Next,
) -> Response {
    let secure = state.config.secure_cookies();
    let switched = switch(req.uri().query());
    let lang = switched
        .or_else(|| {
            jar.get(cookie_name(secure))
                .and_then(|c| Lang::parse(c.value()))
        })
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(state.config.default_language);
    let resp = crate::i18n::with(lang, next.run(req)).await;
    match switched {
        Some(l) => {
            let c = Cookie::build((cookie_name(secure), l.code()))
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(secure)
                .path("/")
                .max_age(time::Duration::days(400))
                .build();
            (jar.add(c), resp).into_response()
        }
        None => resp,
    }
}
