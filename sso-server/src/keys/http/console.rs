//! Hardware keys: the inventory (state filter, serial search), import (serials or CSV), one
//! key's page with the lifecycle actions its state allows, and assignment to an employee with
//! the activation code shown once. All through the `keys` service, as the API.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::IntoResponse as _;
use axum::routing::{get, post};
use axum::Router;

use askama::Template;

use crate::admin::api::params::uuid_param;
use crate::admin::console::forms::{Field, FormError, FormPage};
use crate::admin::console::shell::{
    done, or_page, page, when_opt, Console, Flash, Nav, PageResult, Posted,
};
use crate::admin::session::AdminSession;
use crate::app::AppState;
use crate::employees::Employees;
use crate::error::{Error, Result};
use crate::keys::state::{next, Action};
use crate::keys::workstations::{self, WorkstationState, WorkstationView};
use crate::keys::{self, AdminAction, KeyState, KeyView};
use crate::store;

/// Rows on one list page; the search narrows it down.
const LIST_LIMIT: i64 = 200;

pub const STATES: [KeyState; 7] = [
    KeyState::Ready,
    KeyState::Reserved,
    KeyState::Active,
    KeyState::Locked,
    KeyState::Suspended,
    KeyState::Deactivated,
    KeyState::Compromised,
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/keys", get(list))
        .route("/admin/keys/import", get(import_form).post(import))
        .route("/admin/keys/{id}", get(show))
        .route("/admin/keys/{id}/actions", post(action))
        .route(
            "/admin/keys/{id}/revoke-workstation",
            post(revoke_workstation),
        )
        .route("/admin/keys/{id}/assign", get(assign_form).post(assign))
}

/// One key as a row or a page shows it.
pub struct KeyRow {
    pub id: String,
    pub serial: String,
    pub model: String,
    pub state: &'static str,
    pub reason: String,
    pub employee_id: Option<String>,
    pub employee: String,
    pub activated: String,
    pub activation_expires: String,
    pub attempts_left: Option<i64>,
}

impl KeyRow {
    pub fn new(listed: keys::ListedKey) -> Self {
        let k = listed.key;
        let employee = listed
            .employee_name
            .or_else(|| k.employee_id.clone())
            .unwrap_or_default();
        Self {
            id: k.id,
            serial: k.serial,
            model: k.model,
            state: k.state.as_str(),
            reason: k.reason.unwrap_or_default(),
            employee_id: k.employee_id,
            employee,
            activated: when_opt(k.activated_at),
            activation_expires: when_opt(k.activation_expires_at),
            attempts_left: k.activation_attempts_left,
        }
    }
}

/// Key counts per state, every state listed (the dashboard and the list's filter show them).
pub async fn counts(conn: &mut store::Conn) -> Result<Vec<(&'static str, i64)>> {
    let stored: HashMap<String, i64> = crate::keys::store::count_by_state(conn)
        .await?
        .into_iter()
        .collect();
    Ok(STATES
        .iter()
        .map(|s| (s.as_str(), stored.get(s.as_str()).copied().unwrap_or(0)))
        .collect())
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct ListPage {
    nav: Nav,
    state: String,
    q: String,
    counts: Vec<(&'static str, i64)>,
    rows: Vec<KeyRow>,
    total: i64,
    shown: usize,
}

async fn list(
    Console { state, admin, jar }: Console,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let filter = or_page(keys::state_filter(params.get("state").map(String::as_str)))?;
    let q = params.get("q").map(|s| s.trim()).unwrap_or("").to_owned();
    let gathered = async {
        let mut conn = state.store.conn().await?;
        let query = keys::KeyQuery {
            state: filter,
            serial: Some(q.as_str()),
            limit: Some(LIST_LIMIT),
            ..Default::default()
        };
        let (listed, total) = keys::search(&mut conn, query).await?;
        let counts = counts(&mut conn).await?;
        Ok::<_, Error>((
            listed.into_iter().map(KeyRow::new).collect::<Vec<_>>(),
            total,
            counts,
        ))
    }
    .await;
    let (rows, total, counts) = or_page(gathered)?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "keys");
    page(
        jar,
        &ListPage {
            nav,
            state: filter.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            shown: rows.len(),
            q,
            counts,
            rows,
            total,
        },
    )
}

fn import_page(nav: Nav, typed: &str) -> FormPage {
    FormPage {
        nav,
        title: "Import keys".into(),
        intro: Some(
            "New keys go into the inventory as ready, each with its factory certificate checked \
             against the vendor CA the server trusts; serials already there are skipped."
                .into(),
        ),
        form_error: None,
        action: "/admin/keys/import".into(),
        submit: "Import",
        cancel: "/admin/keys".into(),
        fields: vec![Field::new("keys", "Vendor inventory (CSV)", "textarea")
            .value(typed)
            .required()
            .upload()
            .hint("One key per line, as the vendor ships them: serial,model,certificate (the key's factory certificate, its DER in base64; a header line naming serial is skipped).")],
    }
}

async fn import_form(Console { state, admin, jar }: Console) -> PageResult {
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "keys");
    page(jar, &import_page(nav, ""))
}

fn form_rejected(e: Error, form: impl FnOnce() -> FormPage) -> crate::admin::console::shell::Stop {
    match FormError::from_error(e) {
        Ok(fe) => form().rejected(fe).into(),
        Err(e) => crate::admin::console::shell::page_error(e).into(),
    }
}

async fn import(Posted { state, admin, form }: Posted) -> PageResult {
    let text = form.get("keys");
    let result = async {
        if text.trim().is_empty() {
            return Err(Error::validation("keys", "give at least one key"));
        }
        keys::check_import_size("keys", text)?;
        keys::import_csv(&state.hardware_keys(), &admin.actor(), text).await
    }
    .await;
    let report =
        result.map_err(|e| form_rejected(e, || import_page(Nav::plain(&admin, "keys"), text)))?;
    let summary = format!(
        "Imported {} key{}; {} already in the inventory.",
        report.added,
        if report.added == 1 { "" } else { "s" },
        report.skipped
    );
    if report.errors.is_empty() {
        return Ok(done(&state, &admin, "/admin/keys", Flash::notice(summary)));
    }
    // The good lines are in; the form comes back with only the bad ones, named by their line
    // in what was sent, to be fixed and sent again.
    let message = report
        .errors
        .iter()
        .map(|e| format!("line {}: {}", e.line, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    let lines: Vec<&str> = text.lines().collect();
    let left = report
        .errors
        .iter()
        .filter_map(|e| lines.get(e.line.saturating_sub(1)).copied())
        .collect::<Vec<_>>()
        .join("\n");
    let mut nav = Nav::plain(&admin, "keys");
    nav.notice = Some(format!(
        "{summary} The lines below were not imported: fix them and import again."
    ));
    Err(import_page(nav, &left)
        .rejected(FormError::Field {
            field: "keys".into(),
            message,
        })
        .into())
}

async fn load(
    state: &AppState,
    id: &str,
) -> std::result::Result<KeyView, crate::admin::console::shell::Stop> {
    let id = or_page(uuid_param(id))?.to_string();
    let r = async {
        let mut conn = state.store.conn().await?;
        keys::get(&mut conn, &id).await.map(KeyView::from)
    }
    .await;
    or_page(r)
}

/// An action the key page offers: its value, its button, and a confirmation for the ones that
/// end the key's use.
pub struct ActionButton {
    pub value: &'static str,
    pub label: &'static str,
    pub danger: bool,
    pub confirm: Option<&'static str>,
}

/// The actions the key's state allows (the service checks again).
fn actions_for(s: KeyState) -> Vec<ActionButton> {
    let all = [
        (Action::Suspend, "suspend", "Suspend", false, None),
        (Action::Resume, "resume", "Resume", false, None),
        (
            Action::Withdraw,
            "withdraw",
            "Withdraw",
            true,
            Some("Withdraw this key from its employee? It stops working at once."),
        ),
        (
            Action::MarkCompromised,
            "mark_compromised",
            "Mark compromised",
            true,
            Some("Mark this key lost or stolen? It stops working at once."),
        ),
        (
            Action::Wiped,
            "wipe",
            "Wipe",
            true,
            Some("Queue a wipe of this key? It returns to stock once the key-bridge wipes it."),
        ),
    ];
    all.into_iter()
        .filter(|(a, ..)| next(s, *a).is_ok())
        .map(|(_, value, label, danger, confirm)| ActionButton {
            value,
            label,
            danger,
            confirm,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/key.html")]
struct ShowPage {
    nav: Nav,
    k: KeyRow,
    assignable: bool,
    actions: Vec<ActionButton>,
    code: Option<String>,
    /// The workstation whose key-bridge serves this key.
    workstation: Option<WorkstationView>,
    workstation_seen: String,
    workstation_revocable: bool,
}

async fn show(Console { state, admin, jar }: Console, Path(id): Path<String>) -> PageResult {
    let k = load(&state, &id).await?;
    let (employee_name, workstation) = or_page(
        async {
            let mut conn = state.store.conn().await?;
            let name = match &k.employee_id {
                Some(e) => crate::employees::store::get(&mut conn, e)
                    .await?
                    .map(|e| e.display_name),
                None => None,
            };
            let ws = match &k.workstation_id {
                Some(w) => workstations::get(&mut conn, w).await.ok(),
                None => None,
            };
            Ok::<_, Error>((name, ws))
        }
        .await,
    )?;
    let (nav, flash, jar) = Nav::new(&state, &admin, jar, "keys");
    page(
        jar,
        &ShowPage {
            nav,
            assignable: k.state == KeyState::Ready,
            actions: actions_for(k.state),
            // Only the assignment puts a secret in the flash, and only for this key's page.
            code: flash.secret,
            k: KeyRow::new(keys::ListedKey {
                key: k,
                employee_name,
            }),
            workstation_seen: when_opt(workstation.as_ref().and_then(|w| w.last_seen_at)),
            workstation_revocable: workstation
                .as_ref()
                .is_some_and(|w| w.state != WorkstationState::Revoked),
            workstation,
        },
    )
}

/// Revokes the workstation that serves this key: every request it signs is refused from now on
/// (for every key it serves).
async fn revoke_workstation(
    Path(id): Path<String>,
    Posted { state, admin, .. }: Posted,
) -> PageResult {
    let k = load(&state, &id).await?;
    let r = async {
        let ws = k
            .workstation_id
            .as_deref()
            .ok_or(Error::NotFound("workstation"))?;
        let w =
            workstations::revoke(&state.store, state.clock.as_ref(), &admin.actor(), ws).await?;
        Ok(format!("Workstation {} revoked.", w.name))
    }
    .await;
    outcome(&state, &admin, &back_to(&k.id), r)
}

fn back_to(id: &str) -> String {
    format!("/admin/keys/{id}")
}

/// A refusal (the state moved on, a bad reason) is a message on the key's page, not a crash.
fn outcome(state: &AppState, admin: &AdminSession, to: &str, r: Result<String>) -> PageResult {
    match r {
        Ok(notice) => Ok(done(state, admin, to, Flash::notice(notice))),
        Err(e @ (Error::Conflict { .. } | Error::NotFound(_) | Error::Validation { .. })) => {
            Ok(done(state, admin, to, Flash::error(e.to_string())))
        }
        Err(e) => Err(crate::admin::console::shell::page_error(e).into()),
    }
}

async fn action(Path(id): Path<String>, Posted { state, admin, form }: Posted) -> PageResult {
    let k = load(&state, &id).await?;
    let r = async {
        let (act, done_text) = match form.get("action") {
            "suspend" => (AdminAction::Suspend, "suspended"),
            "resume" => (AdminAction::Resume, "resumed"),
            "mark_compromised" => (AdminAction::MarkCompromised, "marked compromised"),
            "withdraw" => (AdminAction::Withdraw, "withdrawn"),
            "wipe" => (AdminAction::Wipe, "queued for a wipe"),
            _ => {
                return Err(Error::validation(
                    "action",
                    "one of suspend, resume, mark_compromised, withdraw, wipe",
                ))
            }
        };
        let after = keys::act(
            &state.hardware_keys(),
            &admin.actor(),
            &k.id,
            act,
            form.opt("reason").as_deref(),
        )
        .await?;
        Ok(format!(
            "Key {} {done_text} (now {}).",
            after.serial,
            after.state.as_str()
        ))
    }
    .await;
    outcome(&state, &admin, &back_to(&k.id), r)
}

pub struct Candidate {
    pub id: String,
    pub name: String,
    pub email: String,
    pub state: &'static str,
}

#[derive(Template)]
#[template(path = "console/key_assign.html")]
struct AssignPage {
    nav: Nav,
    k: KeyView,
    q: String,
    candidates: Vec<Candidate>,
    employee_id: String,
    error: Option<String>,
}

async fn candidates(state: &AppState, q: &str) -> Result<Vec<Candidate>> {
    if q.is_empty() {
        return Ok(Vec::new());
    }
    let found = Employees {
        store: &state.store,
    }
    .list(Some(q), 20, 0)
    .await?;
    Ok(found
        .items
        .into_iter()
        .map(|e| Candidate {
            id: e.id.to_string(),
            name: e.fields.display_name,
            email: e.fields.email.unwrap_or_default(),
            state: e.state.as_str(),
        })
        .collect())
}

async fn assign_form(
    Console { state, admin, jar }: Console,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let k = load(&state, &id).await?;
    let q = params.get("q").map(|s| s.trim()).unwrap_or("").to_owned();
    let candidates = or_page(candidates(&state, &q).await)?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "keys");
    page(
        jar,
        &AssignPage {
            nav,
            k,
            q,
            candidates,
            employee_id: String::new(),
            error: None,
        },
    )
}

async fn assign(Path(id): Path<String>, Posted { state, admin, form }: Posted) -> PageResult {
    let k = load(&state, &id).await?;
    let typed = form.get("employee_id").trim().to_owned();
    let email = form.checked("email");
    let r = async {
        let employee = uuid::Uuid::parse_str(&typed)
            .map_err(|_| Error::validation("employee_id", "must be an employee id (a UUID)"))?;
        keys::assign(
            &state.hardware_keys(),
            &admin.actor(),
            &k.id,
            &employee.to_string(),
            email,
        )
        .await
    }
    .await;
    match r {
        Ok(a) => Ok(done(
            &state,
            &admin,
            &back_to(&a.key.id),
            Flash {
                notice: Some(match &a.emailed_to {
                    Some(to) => format!(
                        "Key {} assigned; the activation code was e-mailed to {to}.",
                        a.key.serial
                    ),
                    None => format!("Key {} assigned.", a.key.serial),
                }),
                error: None,
                secret: a.activation_code,
            },
        )),
        // The employee was the problem: the form again, the message next to the field.
        Err(Error::Validation { message, .. }) => {
            let page = AssignPage {
                nav: Nav::plain(&admin, "keys"),
                k,
                q: String::new(),
                candidates: Vec::new(),
                employee_id: typed,
                error: Some(message),
            };
            match crate::admin::console::shell::render(&page) {
                Ok(html) => Ok((axum::http::StatusCode::BAD_REQUEST, html).into_response()),
                Err(e) => Err(crate::admin::console::shell::page_error(e).into()),
            }
        }
        // The key is not ready (any more): said on its page.
        Err(e) => outcome(&state, &admin, &back_to(&k.id), Err(e)),
    }
}
