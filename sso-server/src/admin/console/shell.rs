//! The console's shell: the layout's navigation, the admin-session and CSRF-checked form
//! extractors, and the page and error responses every console page uses.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;

use askama::Template;

use crate::admin::session::{resolve, AdminSession};
use crate::app::AppState;
use crate::error::{Error, Result};

pub use super::flash::{self, Flash};
pub use super::forms::FormData;

/// The parts of the layout every page shows: who is signed in, the sign-out form's token, the
/// current section, and a one-time notice.
pub struct Nav {
    pub username: String,
    pub csrf_token: String,
    pub section: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The sections this administrator's role may open (the others are not shown).
    pub links: Vec<NavLink>,
}

/// One section of the console's navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub section: &'static str,
}

/// Every section, in the order shown: `(href, label, section)`.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("/admin", "Dashboard", "dashboard"),
    ("/admin/employees", "Employees", "employees"),
    ("/admin/sync", "Sync", "sync"),
    ("/admin/keys", "Keys", "keys"),
    ("/admin/domains", "Domains", "domains"),
    ("/admin/clients", "OIDC clients", "clients"),
    ("/admin/audit", "Audit log", "audit"),
];

/// The sections `admin`'s role may open (the same rule that answers the request).
fn links_for(admin: &AdminSession) -> Vec<NavLink> {
    SECTIONS
        .iter()
        .filter(|(href, _, _)| {
            crate::admin::roles::allows(admin.role, &axum::http::Method::GET, href)
        })
        .map(|&(href, label, section)| NavLink {
            href,
            label,
            section,
        })
        .collect()
}

impl Nav {
    /// Also takes the flash cookie: return the jar with the page.
    pub fn new(
        state: &AppState,
        admin: &AdminSession,
        jar: CookieJar,
        section: &'static str,
    ) -> (Self, Flash, CookieJar) {
        let (flash, jar) = flash::take(state, admin, jar);
        (
            Self {
                username: admin.username.clone(),
                csrf_token: admin.csrf_token.clone(),
                section,
                notice: flash.notice.clone(),
                error: flash.error.clone(),
                links: links_for(admin),
            },
            flash,
            jar,
        )
    }

    /// For pages rendered straight from a POST (a form with errors): no flash to take.
    pub fn plain(admin: &AdminSession, section: &'static str) -> Self {
        Self {
            username: admin.username.clone(),
            csrf_token: admin.csrf_token.clone(),
            section,
            notice: None,
            error: None,
            links: links_for(admin),
        }
    }
}

/// A page request from a signed-in admin; anyone else is sent to sign-in.
pub struct Console {
    pub state: AppState,
    pub admin: AdminSession,
    /// The request's cookies (the flash is taken from them).
    pub jar: CookieJar,
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match resolve(parts, state).await {
            Ok(Some(admin)) => Ok(Self {
                state: state.clone(),
                admin,
                jar: CookieJar::from_headers(&parts.headers),
            }),
            Ok(None) => Err(Redirect::to("/admin/login").into_response()),
            Err(e) => Err(page_error(e)),
        }
    }
}

/// A form POST from a signed-in admin carrying the session's CSRF token, with its fields.
/// Without a session: back to sign-in; with a missing or wrong token: 403, nothing done.
pub struct Posted {
    pub state: AppState,
    pub admin: AdminSession,
    pub form: FormData,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let admin = match resolve(&parts, state).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(Redirect::to("/admin/login").into_response()),
            Err(e) => return Err(page_error(e)),
        };
        let req = Request::from_parts(parts, body);
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|_| {
                message_page(
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    "The form could not be read.",
                )
            })?;
        let form = FormData(fields);
        if admin.check_csrf(form.get("csrf_token")).is_err() {
            return Err(message_page(
                StatusCode::FORBIDDEN,
                "Form refused",
                "The form expired or came from another site, so nothing was changed. Go back, \
                 reload the page and try again.",
            ));
        }
        Ok(Self {
            state: state.clone(),
            admin,
            form,
        })
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    /// The console is in English.
    lang: crate::i18n::Lang,
    title: &'a str,
    message: &'a str,
    is_error: bool,
    confirm: Option<ConfirmForm>,
}

struct ConfirmForm {
    action: String,
    csrf_token: String,
    fields: Vec<(String, String)>,
    button: String,
}

/// A small standalone page (no console layout) for refusals and failures.
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = MessagePage {
        lang: crate::i18n::Lang::En,
        title,
        message,
        is_error: true,
        confirm: None::<ConfirmForm>,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message.to_owned()).into_response(),
    }
}

/// An error from a service, as a page: the same statuses and messages as the API's JSON.
pub fn page_error(e: Error) -> Response {
    let status = e.status();
    let message = match &e {
        Error::Validation { field, message } => format!("{field}: {message}"),
        Error::Conflict { message, .. } => message.clone(),
        Error::Directory(d) => d.to_string(),
        _ if status.is_server_error() => {
            tracing::error!(error = %e, "console page failed");
            "Internal error; see the server log.".to_owned()
        }
        _ => e.to_string(),
    };
    let title = if status == StatusCode::NOT_FOUND {
        "Not found"
    } else {
        "Something went wrong"
    };
    message_page(status, title, &message)
}

pub fn render(t: &impl Template) -> Result<Html<String>> {
    t.render()
        .map(Html)
        .map_err(|e| Error::Internal(format!("template: {e}")))
}

/// A page that ends early: an error page or a redirect. Boxed, as responses are large.
pub struct Stop(Box<Response>);

impl From<Response> for Stop {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A page result: rendered HTML with the cookie jar (the flash taken), or an early stop.
pub type PageResult = std::result::Result<Response, Stop>;

pub fn page(jar: CookieJar, t: &impl Template) -> PageResult {
    let html = render(t).map_err(|e| Stop::from(page_error(e)))?;
    Ok((jar, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// Turns any service error into its error page (for `?`).
pub fn or_page<T>(r: Result<T>) -> std::result::Result<T, Stop> {
    r.map_err(|e| page_error(e).into())
}

/// After a successful POST: back to a page, with a one-time notice (post/redirect/get, so a
/// reload does not repeat the action).
pub fn done(state: &AppState, admin: &AdminSession, to: &str, f: Flash) -> Response {
    let jar = flash::set(state, admin, CookieJar::new(), &f);
    (jar, Redirect::to(to)).into_response()
}

pub use crate::clock::{when, when_opt};
