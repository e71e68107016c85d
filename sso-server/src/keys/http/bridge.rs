//! The API the key-bridge agent calls from a workstation. Who may call what, and what proves it
//! (signatures: [`crate::keys::signed`]; wire types: the `key-protocol` crate):
//!
//! - `POST /api/workstations/enrol` `{token, public_key}`: an agent holding the one-time token
//!   the admin created for this workstation, signing with the new workstation key it registers.
//! - `POST /api/keys/activate` `{serial, code, public_key, attestation}`: an enrolled
//!   workstation *and* the key being activated, which signs with the identity it registers and
//!   must have verified its PIN for this request; the identity must be attested by the factory
//!   key the inventory holds for that serial (else 403 `not_genuine`, nothing counted); then the
//!   code the employee typed is checked (attempts counted in one conditional statement).
//! - `GET /api/keys/{serial}/tasks?wait=N`: an enrolled workstation and the key itself (its
//!   recorded identity). The key's pending tasks in order (long poll up to 30 s); passwords are
//!   sealed to the key (HPKE), never in clear. An active key gets all of them; a withdrawn,
//!   compromised or locked one only a wipe; a suspended or reserved one nothing.
//! - `POST /api/keys/{serial}/tasks/{id}` `{result: applied|failed, error?, proof?}`: the same
//!   callers; confirms a task once; the same result again is a no-op, so the agent may retry
//!   freely. A stored password counts as stored only with the key's proof (computed inside the
//!   key from the password), else 403 and the task stays pending: a key that did not store it
//!   (a stolen key without its PIN) cannot move AD.
//! - `POST /api/keys/{serial}/password` `{scope: key_and_directory|key_only, password?}`: the
//!   same callers, and the key must have verified its PIN for this very request: the employee
//!   changes their own domain password.
//!
//! A workstation's credential plus a key's serial is worth nothing without the key: every
//! request about a key needs a signature only the key can make.

use crate::keys::task_state::{TaskEnd, TaskState};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use key_protocol::{
    ActivateKey, ChangePassword, ConfirmTask, EnrolWorkstation, Operation, TaskList, TaskResult,
    WorkstationEnrolled,
};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::keys::rotation::{self, Scope};
use crate::keys::signed::{self, Caller, Signed};
use crate::keys::store::KeyRow;
use crate::keys::{tasks, workstations, Activation, KeyState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/workstations/enrol", post(enrol))
        .route("/api/keys/activate", post(activate))
        .route("/api/keys/{serial}/tasks", get(pending))
        .route("/api/keys/{serial}/tasks/{id}", post(confirm))
        .route("/api/keys/{serial}/password", post(change_password))
}

const MAX_WAIT_SECS: u64 = 30;

/// First-rotation scans after activations running at once (each opens an LDAPS connection).
static ACTIVATION_SCANS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

fn bridge_actor(caller: &Caller) -> Actor {
    Actor::System {
        name: format!("key-bridge on {}", caller.workstation.name),
    }
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

fn public_key(text: &str) -> Result<Vec<u8>> {
    let pk = key_protocol::unb64(text, "public_key")
        .map_err(|_| Error::validation("public_key", "not base64url"))?;
    key_protocol::sign::check_public_key(&pk, "public_key")
        .map_err(|_| Error::validation("public_key", "not an uncompressed P-256 public key"))?;
    Ok(pk)
}

/// The request is signed by an enrolled workstation and by the key `serial` (its recorded
/// identity). Returns the caller, the key and whether the key verified its PIN. An unknown
/// serial answers like a wrong signature: serials are not secret, but the answer need not help.
async fn key_request(
    state: &AppState,
    request: &Signed,
    serial: &str,
) -> Result<(Caller, KeyRow, bool)> {
    let mut conn = state.store.conn().await?;
    let caller = signed::check(&mut conn, state.clock.now_ms(), &request.parts(), None).await?;
    let key = crate::keys::store::by_serial(&mut conn, serial).await?;
    let user_verified = caller.key_signed_by(key.as_ref().and_then(|k| k.public_key.as_deref()))?;
    let key = key.ok_or(Error::BadSignature("the request is not signed by the key"))?;
    if key.workstation_id.as_deref() != Some(caller.workstation.id.as_str()) {
        crate::keys::store::set_workstation(&mut conn, &key.id, &caller.workstation.id).await?;
    }
    Ok((caller, key, user_verified))
}

async fn enrol(
    State(state): State<AppState>,
    request: Signed,
) -> Result<Json<WorkstationEnrolled>> {
    let b: EnrolWorkstation = parse(&request.body)?;
    let pk = public_key(&b.public_key)?;
    let (id, secret) = key_protocol::split_enrolment_token(&b.token).ok_or(Error::Unauthorized)?;
    {
        let mut conn = state.store.conn().await?;
        let caller =
            signed::check(&mut conn, state.clock.now_ms(), &request.parts(), Some(&pk)).await?;
        if caller.workstation.id != id {
            return Err(Error::Unauthorized);
        }
    }
    let w = workstations::enrol(&state.store, state.clock.as_ref(), id, secret, &pk).await?;
    Ok(Json(WorkstationEnrolled {
        workstation_id: w.id,
        name: w.name,
    }))
}

async fn activate(State(state): State<AppState>, request: Signed) -> Response {
    let run = async {
        let mut conn = state.store.conn().await?;
        let caller = signed::check(&mut conn, state.clock.now_ms(), &request.parts(), None).await?;
        drop(conn);
        let b: ActivateKey = parse(&request.body)?;
        let pk = public_key(&b.public_key)?;
        // The key proves it holds the identity it registers, and that its PIN was checked.
        if !caller.key_signed_by(Some(&pk))? {
            return Err(Error::Forbidden(
                "the key must verify its PIN to be activated".into(),
            ));
        }
        let attestation = key_protocol::unb64(&b.attestation, "attestation")
            .map_err(|_| Error::validation("attestation", "not base64url"))?;
        let outcome = crate::keys::activate(
            &state.hardware_keys(),
            &bridge_actor(&caller),
            b.serial.trim(),
            &b.code,
            &pk,
            &attestation,
            &caller.workstation.id,
        )
        .await?;
        Ok::<_, Error>(match outcome {
            Activation::Activated { employee_id } => {
                // First activation: the accounts whose password will live on the key get one
                // at once (in the background: AD may be slow; the agent's task poll picks it up).
                let st = state.clone();
                let employee = employee_id.clone();
                tokio::spawn(async move {
                    // A burst of activations must not open a connection to the DC each at once.
                    let _turn = ACTIVATION_SCANS.acquire().await;
                    if let Err(e) = rotation::scan(&st.hardware_keys(), Some(&employee), "activation", true).await {
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
            Activation::NotGenuine => (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "not_genuine", "message": "this is not the key the inventory names: its factory identity does not vouch for it" })),
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
    request: Signed,
) -> Result<Response> {
    let (_, key, _) = key_request(&state, &request, &serial).await?;
    let public_key = key.public_key.clone().unwrap_or_default();
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (key_state, tasks) = {
            let mut conn = state.store.conn().await?;
            let key = crate::keys::store::get(&mut conn, &key.id)
                .await?
                .ok_or(Error::NotFound("key"))?;
            let ks = KeyState::parse(&key.state).unwrap_or(KeyState::Deactivated);
            let tasks: Vec<_> = crate::keys::store::pending_tasks(&mut conn, &key.id)
                .await?
                .into_iter()
                .filter(|t| deliverable(ks, Operation::parse(&t.operation)))
                .collect();
            (ks, tasks)
        };
        // A stopping instance answers at once (the agent polls again, elsewhere or later).
        if !tasks.is_empty() || tokio::time::Instant::now() >= deadline || state.wake.is_closed() {
            let tasks = tasks
                .iter()
                .map(|t| tasks::view(&state.cipher, t, &serial, &public_key))
                .collect::<Result<Vec<_>>>()?;
            return Ok((
                [(axum::http::header::CACHE_CONTROL, "no-store")],
                Json(TaskList {
                    state: key_state.as_str().into(),
                    tasks,
                }),
            )
                .into_response());
        }
        // Waiting for work is wall-clock time, not the business clock.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn confirm(
    State(state): State<AppState>,
    Path((serial, id)): Path<(String, String)>,
    request: Signed,
) -> Result<Response> {
    let (caller, _, _) = key_request(&state, &request, &serial).await?;
    let b: ConfirmTask = parse(&request.body)?;
    let error: Option<String> = b
        .error
        .as_deref()
        .map(|e| e.chars().filter(|c| !c.is_control()).take(512).collect());
    let applied = b.result == TaskResult::Applied;
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let mut key = crate::keys::store::by_serial(&mut tx, &serial)
        .await?
        .ok_or(Error::NotFound("key"))?;
    let task = crate::keys::store::get_task(&mut tx, &id)
        .await?
        .filter(|t| t.key_id == key.id)
        .ok_or(Error::NotFound("task"))?;
    let end = if applied {
        TaskEnd::Applied
    } else {
        TaskEnd::Failed
    };
    let wanted = TaskState::Pending.next(end);
    let current = TaskState::parse(&task.state);
    if current != Some(TaskState::Pending) {
        // A retry of a confirmation that landed: fine. Anything else is a conflict.
        return if current == wanted {
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
    if applied && task.operation == Operation::WritePassword.as_str() {
        let proof = b
            .proof
            .as_deref()
            .and_then(|p| key_protocol::unb64(p, "proof").ok());
        let proven = match proof {
            Some(p) => tasks::proves_stored(&state.cipher, &task, &key.serial, &p)?,
            None => false,
        };
        if !proven {
            audit::record(
                &mut tx,
                now,
                &bridge_actor(&caller),
                "key.task_unproven",
                key.employee_id
                    .as_deref()
                    .map(|id| audit::Target::of("employee", id)),
                json!({ "key": serial, "task": task.id, "operation": task.operation }),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Forbidden(
                "the key did not prove that it stored the password (is its PIN verified?): \
                 the task stays pending"
                    .into(),
            ));
        }
    }
    crate::keys::store::finish_task(&mut tx, &task.id, end, error.as_deref(), now).await?;
    if applied && task.operation == Operation::Wipe.as_str() {
        let from = key.state.clone();
        crate::keys::wiped(&mut key, ks, now)?;
        if !crate::keys::store::update_state(&mut tx, &key, &from).await? {
            return Err(Error::conflict(Some("state"), "the key changed meanwhile"));
        }
    }
    audit::record(
        &mut tx,
        now,
        &bridge_actor(&caller),
        "key.task_finished",
        None,
        json!({ "key": serial, "task": task.id, "operation": task.operation, "result": wanted.map(TaskState::as_str), "error": error }),
    )
    .await?;
    tx.commit().await?;
    rotation::on_task_finished(&state.hardware_keys(), &task, applied, error.as_deref()).await?;
    Ok(Json(json!({ "result": "recorded" })).into_response())
}

/// The employee changes their domain password through the key-bridge: on the key only (they
/// changed it in AD themselves) or on the key and in AD (generated unless given). The key must
/// have verified its PIN for this request: a workstation and a serial are not the employee.
async fn change_password(
    State(state): State<AppState>,
    Path(serial): Path<String>,
    request: Signed,
) -> Result<Response> {
    let (caller, key, user_verified) = key_request(&state, &request, &serial).await?;
    if !user_verified {
        return Err(Error::Forbidden(
            "the key must verify its PIN for a password change".into(),
        ));
    }
    let b: ChangePassword = parse(&request.body)?;
    let scope = match b.scope {
        key_protocol::Scope::KeyOnly => Scope::KeyOnly,
        key_protocol::Scope::KeyAndDirectory => Scope::KeyAndDirectory,
    };
    if scope == Scope::KeyOnly && b.password.is_none() {
        return Err(Error::validation(
            "password",
            "required to change the password on the key only",
        ));
    }
    if key.state != KeyState::Active.as_str() {
        return Err(Error::conflict(
            Some("state"),
            format!("the key is {}", key.state),
        ));
    }
    let accounts = {
        let mut conn = state.store.conn().await?;
        let employee_id = key.employee_id.clone().unwrap_or_default();
        crate::keys::store::accounts_of(&mut conn, &employee_id).await?
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
        &state.hardware_keys(),
        &bridge_actor(&caller),
        &account.id,
        "employee",
        scope,
        b.password.as_deref().map(String::as_str),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "rotation": r.id, "state": r.state })),
    )
        .into_response())
}
