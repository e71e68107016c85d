//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With a valid `id_token_hint` for
//! the current session the employee is signed out at once; otherwise they confirm first (so a
//! link on another site cannot sign them out). The post-logout redirect must be registered for the
//! client, or there is no redirect at all.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use url::Url;

use super::clients::Client;
use super::jws;
use crate::app::AppState;
use crate::error::Result;
use crate::login::passkey::{account_csrf, account_csrf_ok};
use crate::login::{self, end_session, session, ConfirmForm, MessagePage};

pub async fn logout_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response> {
    logout(state, jar, p, false).await
}

pub async fn logout_post(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(p): Form<HashMap<String, String>>,
) -> Result<Response> {
    logout(state, jar, p, true).await
}

fn bad(text: &str) -> Response {
    login::message(
        StatusCode::BAD_REQUEST,
        "msg-sign-out-not-accepted",
        text,
        true,
    )
}

async fn logout(
    state: AppState,
    jar: CookieJar,
    p: HashMap<String, String>,
    posted: bool,
) -> Result<Response> {
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let ring = state.keys.ring(&state.key_ctx()).await?;
    let hint = match get("id_token_hint") {
        Some(t) => match jws::verify(t, "JWT", &ring.verifiers) {
            Some(c) if c["iss"] == state.config.issuer() => Some(c),
            _ => {
                return Ok(bad(
                    "The id_token_hint is not a valid ID token from this server.",
                ))
            }
        },
        None => None,
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c["aud"].as_str().map(str::to_owned));
    let client_id = match (get("client_id"), hinted_client.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Ok(bad("client_id does not match the id_token_hint."))
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b.map(str::to_owned),
    };
    let mut conn = state.store.conn().await?;
    let client = match &client_id {
        Some(id) => match crate::oidc::store::get_client(&mut conn, id).await? {
            Some(c) => Some(Client::from_row(c)?),
            None => return Ok(bad("The application is not registered here.")),
        },
        None => None,
    };
    let redirect = match get("post_logout_redirect_uri") {
        Some(uri) => match &client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri.to_owned()),
            Some(_) => {
                return Ok(bad(
                    "The post-logout redirect URI is not registered for this application.",
                ))
            }
            None => {
                return Ok(bad(
                    "A post-logout redirect needs the client_id or an id_token_hint.",
                ))
            }
        },
        None => None,
    };
    let current = session::current(&state, &mut conn, &jar).await?;
    if let Some(cur) = &current {
        let hinted_here = hint
            .as_ref()
            .is_some_and(|c| c["sid"].as_str() == Some(cur.session.id.as_str()));
        let confirmed =
            posted && get("csrf_token").is_some_and(|t| account_csrf_ok(&cur.session, t));
        if !hinted_here && !confirmed {
            let mut fields: Vec<(String, String)> = p
                .iter()
                .filter(|(k, _)| k.as_str() != "csrf_token")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            fields.sort();
            let lang = crate::i18n::current();
            let page = login::render(&MessagePage {
                lang,
                title: &lang.t("msg-sign-out-confirm-title"),
                message: &lang.t1("msg-sign-out-confirm", "name", &cur.employee.display_name),
                is_error: false,
                confirm: Some(ConfirmForm {
                    action: super::LOGOUT_PATH.to_owned(),
                    csrf_token: account_csrf(&cur.session),
                    fields,
                    button: lang.t("account-sign-out"),
                }),
            })?;
            return Ok(page.into_response());
        }
        end_session(&state, &mut conn, &cur.session.id, &cur.employee.id).await?;
    }
    let jar = jar.remove(session::removal_cookie(&state));
    match redirect {
        Some(uri) => {
            let mut u =
                Url::parse(&uri).map_err(|_| crate::Error::Internal("bad stored URI".into()))?;
            if let Some(s) = get("state") {
                u.query_pairs_mut().append_pair("state", s);
            }
            Ok((jar, Redirect::to(u.as_str())).into_response())
        }
        None => Ok((
            jar,
            login::message_key(
                StatusCode::OK,
                "msg-signed-out-title",
                "msg-signed-out",
                false,
            ),
        )
            .into_response()),
    }
}
