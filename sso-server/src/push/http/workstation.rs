//! Workstation unlock by phone approval. Who may call: an **enrolled workstation**, proven by
//! the key-bridge's signed requests (`keys::signed`: the workstation's own P-256 key, enrolled
//! once with an admin's one-time token and revocable on its page; time and nonce against
//! replays), never a shared client secret. It asks for a challenge to the employee's phone,
//! shows the number, and reads the answer. The phone shows the workstation's **enrolled name**
//! (the caller writes nothing the phone shows). An approval is read once, and only by the
//! workstation that asked. Names that cannot get a push get a decoy, and every start takes at
//! least the same time, so neither the answer nor its timing tells whether the account exists
//! or has a phone.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::http::extract::ClientIp;
use crate::keys::signed::{self, Caller, Signed};
use crate::push::challenge_state::Outcome;
use crate::push::challenges::{self, Origin, Reach};

/// The least time a start takes, real or decoy (as the sign-in page's push start).
const START_FLOOR: std::time::Duration = std::time::Duration::from_millis(150);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// The account name typed at the logon screen (e-mail, UPN, `DOMAIN\name` or a name).
    username: String,
}

/// The enrolled workstation that signed the request.
async fn workstation(state: &AppState, request: &Signed) -> Result<Caller> {
    let mut conn = state.store.conn().await?;
    signed::check(&mut conn, state.clock.now_ms(), &request.parts(), None).await
}

/// `POST /api/workstation/challenges` `{username}`, signed by an enrolled workstation.
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Signed,
) -> Result<Response> {
    let started = tokio::time::Instant::now();
    let caller = workstation(&state, &request).await?;
    let de = &mut serde_json::Deserializer::from_slice(&request.body);
    let body: StartBody = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        Error::validation(
            if field == "." { "body".into() } else { field },
            e.inner().to_string(),
        )
    })?;
    if body.username.trim().is_empty() {
        return Err(Error::validation("username", "is missing"));
    }
    let now = state.clock.now_ms();
    let target = {
        let mut conn = state.store.conn().await?;
        match challenges::reach(&mut conn, &body.username, now).await? {
            Reach::Ready(found) => Some(*found),
            Reach::Refused { .. } | Reach::Nobody => None,
        }
    };
    // The agent runs on the workstation: its address is the workstation's.
    let ip = ip.unwrap_or_default();
    let c = match target {
        Some((employee, device)) => {
            challenges::create(
                &state.phones(),
                &employee,
                &device,
                &Origin {
                    session_id: None,
                    purpose: "workstation",
                    // The phone words it "Unlock PC-0413" with the name the admin enrolled.
                    client_name: &caller.workstation.name,
                    ip: &ip,
                    user_agent: "",
                },
            )
            .await?
        }
        None => challenges::decoy(&state.phones()).await?,
    };
    {
        let mut conn = state.store.conn().await?;
        crate::push::store::set_requester(&mut conn, &c.id, &requester(&caller)).await?;
    }
    tokio::time::sleep_until(started + START_FLOOR).await;
    Ok(Json(json!({ "challenge": c.id, "number": c.shown_number, "expires_in": (c.expires_at - now + 999).div_euclid(1000) })).into_response())
}

/// Who may read a challenge's answer: the workstation that asked.
fn requester(caller: &Caller) -> String {
    format!("workstation:{}", caller.workstation.id)
}

/// `POST /api/workstation/challenges/{id}` (signed, empty body): `pending`, `approved` (once,
/// with the employee), `denied` or `expired`; another workstation learns nothing (`expired`).
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> Result<Response> {
    let caller = workstation(&state, &request).await?;
    let run = async {
        let now = state.clock.now_ms();
        let mut conn = state.store.conn().await?;
        let asked_by = crate::push::store::requester_of(&mut conn, &id).await?;
        let Some(c) = crate::push::store::get_challenge(&mut conn, &id).await? else {
            return Ok(Json(json!({ "state": "expired" })).into_response());
        };
        if asked_by.as_deref() != Some(requester(&caller).as_str()) {
            return Ok(Json(json!({ "state": "expired" })).into_response());
        }
        let st = challenges::outcome(&c, "workstation", now);
        if st == Outcome::Approved {
            if !crate::push::store::consume_challenge(&mut conn, &c.id, now).await? {
                return Ok(Json(json!({ "state": "expired" })).into_response());
            }
            return Ok(
                Json(json!({ "state": "approved", "employee_id": c.employee_id })).into_response(),
            );
        }
        Ok::<_, Error>(Json(json!({ "state": st })).into_response())
    };
    run.await
}
