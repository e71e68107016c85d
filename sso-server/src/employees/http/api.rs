//! `/api/v1/employees`: list with paging and search, get, and create/edit/delete of manual
//! employees. Imported employees are read-only (409).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::admin::api::params::{int_param, uuid_param};
use crate::admin::session::ApiAdmin;
use crate::app::AppState;
use crate::employees::{
    Employee, EmployeeFields, Employees, Source, State as EmployeeState, ValidEmployee,
};
use crate::error::{ErrorBody, Result};
use crate::http::extract::ApiJson;

/// An employee as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct EmployeeView {
    pub id: Uuid,
    #[serde(flatten)]
    pub fields: ValidEmployee,
    /// `directory` employees are imported and read-only.
    pub source: Source,
    pub state: EmployeeState,
    /// False for imported employees: change them in the directory.
    pub editable: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<Employee> for EmployeeView {
    fn from(e: Employee) -> Self {
        Self {
            id: e.id,
            editable: e.source == Source::Manual,
            fields: e.fields,
            source: e.source,
            state: e.state,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EmployeePage {
    pub items: Vec<EmployeeView>,
    /// Employees matching the search, over all pages.
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

#[utoipa::path(get, path = "/api/v1/employees", operation_id = "list_employees", tag = "employees",
    params(
        ("q" = Option<String>, Query, description = "Case-insensitive substring of a name, e-mail, phone, department or title"),
        ("page" = Option<i64>, Query, description = "1-based page number (default 1)"),
        ("per_page" = Option<i64>, Query, description = "Page size, 1 to 200 (default 50)"),
    ),
    responses((status = 200, body = EmployeePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<EmployeePage>> {
    let page = int_param("page", params.get("page"), 1, 1, 1_000_000)?;
    let per_page = int_param("per_page", params.get("per_page"), 50, 1, 200)?;
    let q = params.get("q").map(|s| s.trim()).filter(|s| !s.is_empty());
    let result = Employees {
        store: &state.store,
    }
    .list(q, per_page, (page - 1) * per_page)
    .await?;
    Ok(Json(EmployeePage {
        items: result.items.into_iter().map(Into::into).collect(),
        total: result.total,
        page,
        per_page,
    }))
}

#[utoipa::path(get, path = "/api/v1/employees/{id}", operation_id = "get_employee", tag = "employees",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = EmployeeView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<EmployeeView>> {
    let id = uuid_param(&id)?;
    Ok(Json(
        Employees {
            store: &state.store,
        }
        .get(id)
        .await?
        .into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/employees", operation_id = "create_employee", tag = "employees", request_body = EmployeeFields,
    responses(
        (status = 201, body = EmployeeView),
        (status = 400, description = "Invalid input; `field` names it", body = ErrorBody),
        (status = 409, description = "The e-mail address is taken", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(fields): ApiJson<EmployeeFields>,
) -> Result<(StatusCode, Json<EmployeeView>)> {
    let valid = fields.validate()?;
    let e = Employees {
        store: &state.store,
    }
    .create_manual(&admin.actor(), state.clock.now_ms(), valid)
    .await?;
    Ok((StatusCode::CREATED, Json(e.into())))
}

#[utoipa::path(put, path = "/api/v1/employees/{id}", operation_id = "update_employee", tag = "employees", request_body = EmployeeFields,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = EmployeeView),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Imported from a directory, or the e-mail address is taken", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(fields): ApiJson<EmployeeFields>,
) -> Result<Json<EmployeeView>> {
    let id = uuid_param(&id)?;
    let valid = fields.validate()?;
    let e = Employees {
        store: &state.store,
    }
    .update_manual(&admin.actor(), state.clock.now_ms(), id, valid)
    .await?;
    Ok(Json(e.into()))
}

/// The fields a `PATCH` may send (those of [`EmployeeFields`]).
const PATCHABLE: &[&str] = &[
    "given_name",
    "family_name",
    "display_name",
    "email",
    "phone",
    "department",
    "title",
];

#[utoipa::path(patch, path = "/api/v1/employees/{id}", operation_id = "patch_employee", tag = "employees",
    request_body(content = Object, description = "Only the fields to change (those of `EmployeeFields`); `null` clears one. A display name that was the given and family names joined follows them unless sent"),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = EmployeeView),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Imported from a directory, or the e-mail address is taken", body = ErrorBody),
    ))]
pub async fn patch(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(changes): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<EmployeeView>> {
    let id = uuid_param(&id)?;
    let employees = Employees {
        store: &state.store,
    };
    let e = employees.get(id).await?;
    let mut now = crate::http::patch::current(&e.fields, PATCHABLE)?;
    // A display name derived from the names follows a change of them (as on create).
    let derived = [
        e.fields.given_name.as_deref(),
        e.fields.family_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let renamed = changes.contains_key("given_name") || changes.contains_key("family_name");
    if renamed && !changes.contains_key("display_name") && e.fields.display_name == derived {
        now.remove("display_name");
    }
    let fields: EmployeeFields = crate::http::patch::overlay(now, PATCHABLE, changes)?;
    let valid = fields.validate()?;
    let e = employees
        .update_manual(&admin.actor(), state.clock.now_ms(), id, valid)
        .await?;
    Ok(Json(e.into()))
}

#[utoipa::path(delete, path = "/api/v1/employees/{id}", operation_id = "delete_employee", tag = "employees",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Imported from a directory", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = uuid_param(&id)?;
    Employees {
        store: &state.store,
    }
    .delete_manual(&admin.actor(), state.clock.now_ms(), id)
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SignedOutBody {
    pub sessions_ended: u64,
    pub grants_revoked: u64,
    /// Unused new-phone links and QR codes that no longer work.
    pub enrolments_ended: u64,
    /// Phone prompts that were open and are withdrawn.
    pub prompts_withdrawn: u64,
}

/// Signs the employee out everywhere: every SSO session (and the authorization codes minted from
/// them), every app's refresh tokens, pending new-phone links and open phone prompts. Who: an
/// admin (session or API token with CSRF, as every admin call).
#[utoipa::path(delete, path = "/api/v1/employees/{id}/sessions", operation_id = "sign_out_employee_everywhere", tag = "employees",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SignedOutBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<SignedOutBody>> {
    let id = uuid_param(&id)?.to_string();
    let done = sign_out(&state, &admin.actor(), &id).await?;
    Ok(Json(SignedOutBody {
        sessions_ended: done.sessions,
        grants_revoked: done.grants,
        enrolments_ended: done.enrolments,
        prompts_withdrawn: done.prompts,
    }))
}

/// The admin's "sign out everywhere" (API and console): 404 for an unknown employee.
pub async fn sign_out(
    state: &AppState,
    actor: &crate::audit::Actor,
    id: &str,
) -> Result<crate::employees::lifecycle::SignedOut> {
    let mut tx = state.store.begin().await?;
    if crate::employees::store::get(&mut tx, id).await?.is_none() {
        return Err(crate::error::Error::NotFound("employee"));
    }
    let done =
        crate::employees::lifecycle::sign_out_everywhere(&mut tx, state.clock.now_ms(), actor, id)
            .await?;
    tx.commit().await?;
    Ok(done)
}

#[utoipa::path(delete, path = "/api/v1/employees/{id}/sign-in-lock", operation_id = "unlock_employee_sign_in", tag = "employees",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Unlocked (also when it was not locked)"), (status = 400, body = ErrorBody)))]
pub async fn unlock(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = uuid_param(&id)?.to_string();
    crate::throttle::unlock_employee(&state.store, state.clock.now_ms(), &admin.actor(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
