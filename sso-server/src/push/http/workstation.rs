//! Workstation unlock by phone approval: a workstation agent, authenticated as a confidential
//! OIDC client allowed the client-credentials grant (HTTP Basic or form credentials), asks for a
//! challenge to the employee's phone, shows the number, and reads the answer. An approval is
//! read once; only the client that asked can read it. Names that cannot get a push get a decoy,
//! as on the sign-in page.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::AppState;
use crate::http::extract::ClientIp;
use crate::oidc::clients::ClientKind;
use crate::oidc::errors::OAuthError;
use crate::push::challenge_state::Outcome;
use crate::push::challenges::{self, Origin, Reach};

pub(crate) fn form_or_json(headers: &HeaderMap, body: &Bytes) -> HashMap<String, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if json {
        serde_json::from_slice::<HashMap<String, serde_json::Value>>(body)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    }
}

pub(crate) async fn agent(
    state: &AppState,
    headers: &HeaderMap,
    p: &HashMap<String, String>,
) -> Result<crate::oidc::clients::Client, OAuthError> {
    let mut conn = state.store.conn().await.map_err(OAuthError::from)?;
    let client = crate::oidc::token::authenticate_client(state, &mut conn, headers, p).await?;
    if client.kind != ClientKind::Confidential || !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "workstation agents use a confidential client with the client_credentials grant",
        ));
    }
    Ok(client)
}

/// `POST /api/workstation/challenges` `{username, workstation}`.
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let p = form_or_json(&headers, &body);
        let client = agent(&state, &headers, &p).await?;
        let username = p
            .get("username")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("username is missing"))?;
        let workstation: String = p
            .get("workstation")
            .map(String::as_str)
            .unwrap_or("a workstation")
            .chars()
            .take(64)
            .collect();
        let now = state.clock.now_ms();
        let mut conn = state.store.conn().await.map_err(OAuthError::from)?;
        let target = match challenges::reach(&mut conn, username, now)
            .await
            .map_err(OAuthError::from)?
        {
            Reach::Ready(found) => Some(*found),
            Reach::Refused { .. } | Reach::Nobody => None,
        };
        drop(conn);
        // The agent runs on the workstation: its address is the workstation's.
        let ip = ip.clone().unwrap_or_default();
        let c = match target {
            Some((employee, device)) => challenges::create(
                &state.phones(),
                &employee,
                &device,
                &Origin {
                    session_id: None,
                    purpose: "workstation",
                    // The phone words it "Unlock PC-42" by the challenge's purpose.
                    client_name: &workstation,
                    ip: &ip,
                    user_agent: "",
                },
            )
            .await
            .map_err(OAuthError::from)?,
            None => challenges::decoy(&state.phones())
                .await
                .map_err(OAuthError::from)?,
        };
        let mut conn = state.store.conn().await.map_err(OAuthError::from)?;
        crate::push::store::set_requester(&mut conn, &c.id, &client.id)
            .await
            .map_err(OAuthError::from)?;
        Ok::<_, OAuthError>(Json(json!({ "challenge": c.id, "number": c.shown_number, "expires_in": (c.expires_at - now) / 1000 })).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /api/workstation/challenges/{id}`: `pending`, `approved` (once, with the employee),
/// `denied` or `expired`. POST so the client credentials travel in the body or the header.
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let p = form_or_json(&headers, &body);
        let client = agent(&state, &headers, &p).await?;
        let now = state.clock.now_ms();
        let mut conn = state.store.conn().await.map_err(OAuthError::from)?;
        let requester = crate::push::store::requester_of(&mut conn, &id)
            .await
            .map_err(OAuthError::from)?;
        let Some(c) = crate::push::store::get_challenge(&mut conn, &id)
            .await
            .map_err(OAuthError::from)?
        else {
            return Ok(Json(json!({ "state": "expired" })).into_response());
        };
        if requester.as_deref() != Some(client.id.as_str()) {
            return Ok(Json(json!({ "state": "expired" })).into_response());
        }
        let st = challenges::outcome(&c, "workstation", now);
        if st == Outcome::Approved {
            if !crate::push::store::consume_challenge(&mut conn, &c.id, now)
                .await
                .map_err(OAuthError::from)?
            {
                return Ok(Json(json!({ "state": "expired" })).into_response());
            }
            return Ok(
                Json(json!({ "state": "approved", "employee_id": c.employee_id })).into_response(),
            );
        }
        Ok::<_, OAuthError>(Json(json!({ "state": st })).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
