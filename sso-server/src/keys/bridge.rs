//! The API the key-bridge agent calls from the employee's workstation. The agent authenticates
//! as a confidential OIDC client allowed the client-credentials grant (HTTP Basic or form
//! credentials, like the workstation unlock API). Bodies are JSON.
//!
//! - `POST /api/keys/activate` `{serial, code}`: the activation code the employee typed.
//! - `GET /api/keys/{serial}/tasks?wait=N`: the key's pending tasks in order (long poll up to
//!   30 s). An active key gets all of them; a withdrawn, compromised or locked one only a wipe;
//!   a suspended or reserved one nothing.
//! - `POST /api/keys/{serial}/tasks/{id}` `{result: applied|failed, error?}`: confirms a task
//!   once; sending the same result again is a no-op, so the agent may retry freely.
//! - `POST /api/keys/{serial}/password` `{scope: key_and_directory|key_only, password?}`: the
//!   employee changes their domain password through the key-bridge.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::rotation::{self, Scope};
use super::tasks::{self, Operation};
use super::{Action, Activation, KeyState};
use crate::app::AppState;
use crate::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::oidc::clients::Client;
use crate::push::workstation::{agent, form_or_json};
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/keys/activate", post(activate))
        .route("/api/keys/{serial}/tasks", get(pending))
        .route("/api/keys/{serial}/tasks/{id}", post(confirm))
        .route("/api/keys/{serial}/password", post(change_password))
}

const MAX_WAIT_SECS: u64 = 30;

/// First-rotation scans after activations running at once (each opens an LDAPS connection).
static ACTIVATION_SCANS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

fn bridge_actor(client: &Client) -> Actor {
    Actor::System {
        name: format!("key-bridge ({})", client.id),
    }
}

async fn authenticated(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> std::result::Result<Client, Response> {
    let p = form_or_json(headers, body);
    agent(state, headers, &p)
        .await
        .map_err(IntoResponse::into_response)
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        Error::validation(
            if field == "." { "body".into() } else { field },
            e.inner().to_string(),
        )
    })
}

#[derive(Deserialize)]
struct ActivateBody {
    serial: String,
    code: String,
}

async fn activate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let client = match authenticated(&state, &headers, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let run = async {
        let b: ActivateBody = parse(&body)?;
        let outcome =
            super::activate(&state, &bridge_actor(&client), b.serial.trim(), &b.code).await?;
        Ok::<_, Error>(match outcome {
            Activation::Activated { employee_id } => {
                // First activation: the accounts whose password will live on the key get one
                // at once (in the background: AD may be slow; the agent's task poll picks it up).
                let st = state.clone();
                let employee = employee_id.clone();
                tokio::spawn(async move {
                    // A burst of activations must not open a connection to the DC each at once.
                    let _turn = ACTIVATION_SCANS.acquire().await;
                    if let Err(e) = rotation::scan(&st, Some(&employee), "activation", true).await {
                        tracing::warn!(error = %e, "first rotation after activation failed");
                    }
                });
                (StatusCode::OK, Json(json!({ "state": "active" }))).into_response()
            }
            Activation::WrongCode { attempts_left } => (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "wrong_code", "message": "wrong activation code", "attempts_left": attempts_left })),
            )
                .into_response(),
            Activation::Locked => (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "locked", "message": "too many wrong codes: the key is locked; ask your administrator", "attempts_left": 0 })),
            )
                .into_response(),
            Activation::Expired => (
                StatusCode::GONE,
                Json(json!({ "error": "expired", "message": "the activation code expired; ask your administrator for a new one" })),
            )
                .into_response(),
        })
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
}

/// Which tasks a key in `state` may receive.
fn deliverable(state: KeyState, op: Option<Operation>) -> bool {
    match state {
        KeyState::Active => true,
        KeyState::Deactivated | KeyState::Compromised | KeyState::Locked => {
            op == Some(Operation::Wipe)
        }
        _ => false,
    }
}

async fn pending(
    State(state): State<AppState>,
    Path(serial): Path<String>,
    Query(q): Query<WaitQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authenticated(&state, &headers, &Bytes::new()).await {
        return r;
    }
    let run = async {
        let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (key_state, tasks) = {
                let mut conn = state.store.conn().await?;
                let key = store::keys::by_serial(&mut conn, &serial)
                    .await?
                    .ok_or(Error::NotFound("key"))?;
                let ks = KeyState::parse(&key.state).unwrap_or(KeyState::Deactivated);
                let tasks: Vec<_> = store::keys::pending_tasks(&mut conn, &key.id)
                    .await?
                    .into_iter()
                    .filter(|t| deliverable(ks, Operation::parse(&t.operation)))
                    .collect();
                (ks, tasks)
            };
            if !tasks.is_empty() || tokio::time::Instant::now() >= deadline {
                let views = tasks
                    .iter()
                    .map(|t| tasks::view(&state.cipher, t))
                    .collect::<Result<Vec<_>>>()?;
                return Ok::<_, Error>(
                    (
                        [(axum::http::header::CACHE_CONTROL, "no-store")],
                        Json(json!({ "state": key_state, "tasks": views })),
                    )
                        .into_response(),
                );
            }
            // Waiting for work is wall-clock time, not the business clock.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum TaskResult {
    Applied,
    Failed,
}

#[derive(Deserialize)]
struct ConfirmBody {
    result: TaskResult,
    #[serde(default)]
    error: Option<String>,
}

async fn confirm(
    State(state): State<AppState>,
    Path((serial, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = match authenticated(&state, &headers, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let run = async {
        let b: ConfirmBody = parse(&body)?;
        let error: Option<String> = b
            .error
            .as_deref()
            .map(|e| e.chars().filter(|c| !c.is_control()).take(512).collect());
        let applied = matches!(b.result, TaskResult::Applied);
        let now = state.clock.now_ms();
        let mut tx = state.store.begin().await?;
        let mut key = store::keys::by_serial(&mut tx, &serial)
            .await?
            .ok_or(Error::NotFound("key"))?;
        let task = store::keys::get_task(&mut tx, &id)
            .await?
            .filter(|t| t.key_id == key.id)
            .ok_or(Error::NotFound("task"))?;
        let wanted = if applied { "applied" } else { "failed" };
        if task.state != "pending" {
            // A retry of a confirmation that landed: fine. Anything else is a conflict.
            return if task.state == wanted {
                Ok(Json(json!({ "result": "already recorded" })).into_response())
            } else {
                Err(Error::conflict(
                    Some("result"),
                    format!("the task is already {}", task.state),
                ))
            };
        }
        let ks = KeyState::parse(&key.state).unwrap_or(KeyState::Deactivated);
        if !deliverable(ks, Operation::parse(&task.operation)) {
            return Err(Error::conflict(
                Some("state"),
                format!("the key is {}: it takes no such task", ks.as_str()),
            ));
        }
        store::keys::finish_task(&mut tx, &task.id, wanted, error.as_deref(), now).await?;
        if applied && task.operation == Operation::Wipe.as_str() {
            let from = key.state.clone();
            let to = super::state::next(ks, Action::Wiped)?;
            key.state = to.as_str().into();
            key.employee_id = None;
            key.reason = None;
            key.activation_hash = None;
            key.activation_expires = None;
            key.activation_attempts = None;
            key.activated_at = None;
            key.updated_at = now;
            if !store::keys::update_state(&mut tx, &key, &from).await? {
                return Err(Error::conflict(Some("state"), "the key changed meanwhile"));
            }
        }
        audit::record(
            &mut tx,
            now,
            &bridge_actor(&client),
            "key.task_finished",
            None,
            json!({ "key": serial, "task": task.id, "operation": task.operation, "result": wanted, "error": error }),
        )
        .await?;
        tx.commit().await?;
        rotation::on_task_finished(&state, &task, applied, error.as_deref()).await?;
        Ok(Json(json!({ "result": "recorded" })).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct ChangeBody {
    scope: Scope,
    #[serde(default)]
    password: Option<String>,
    /// The domain (id or name); needed only when the employee has accounts in several.
    #[serde(default)]
    domain: Option<String>,
}

/// The employee changes their domain password through the key-bridge: on the key only (they
/// changed it in AD themselves) or on the key and in AD (generated unless given).
async fn change_password(
    State(state): State<AppState>,
    Path(serial): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = match authenticated(&state, &headers, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let run = async {
        let b: ChangeBody = parse(&body)?;
        if b.scope == Scope::KeyOnly && b.password.is_none() {
            return Err(Error::validation(
                "password",
                "required to change the password on the key only",
            ));
        }
        let accounts = {
            let mut conn = state.store.conn().await?;
            let key = store::keys::by_serial(&mut conn, &serial)
                .await?
                .ok_or(Error::NotFound("key"))?;
            if key.state != KeyState::Active.as_str() {
                return Err(Error::conflict(
                    Some("state"),
                    format!("the key is {}", key.state),
                ));
            }
            let employee_id = key.employee_id.clone().unwrap_or_default();
            store::keys::accounts_of(&mut conn, &employee_id).await?
        };
        let account = match (&b.domain, accounts.as_slice()) {
            (None, [one]) => one.clone(),
            (None, []) => {
                return Err(Error::conflict(
                    None,
                    "no domain account of this employee is kept on a key",
                ))
            }
            (None, _) => {
                return Err(Error::validation(
                    "domain",
                    "the employee has accounts in several domains: name one",
                ))
            }
            (Some(d), _) => {
                let mut conn = state.store.conn().await?;
                let row = crate::directory::domain::Domains::find_row(&mut conn, d).await?;
                accounts
                    .iter()
                    .find(|a| a.domain_id == row.id)
                    .cloned()
                    .ok_or_else(|| {
                        Error::validation("domain", "no account of this employee in that domain")
                    })?
            }
        };
        let r = rotation::start(
            &state,
            &bridge_actor(&client),
            &account.id,
            "employee",
            b.scope,
            b.password.as_deref(),
        )
        .await?;
        Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "rotation": r.id, "state": r.state })),
        )
            .into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
