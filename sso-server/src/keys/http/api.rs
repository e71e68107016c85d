//! `/api/v1/keys`: the hardware key inventory (import by list or CSV, list, assign with an
//! activation code shown once, lifecycle actions) and `/api/v1/employees/{id}/domain-accounts`
//! and `.../password-rotations`: the passwords kept on keys and their rotation.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::admin::api::params::uuid_param;
use crate::admin::session::ApiAdmin;
use crate::app::AppState;
use crate::error::{Error, ErrorBody, Result};
use crate::http::extract::ApiJson;
use crate::keys::rotation::{self, AccountStatus, RotationStatus, ScanReport};
use crate::keys::{self, AdminAction, Assigned, ImportReport, KeyView, NewKey};

#[derive(Deserialize, ToSchema)]
pub struct ImportBody {
    pub keys: Vec<NewKey>,
}

#[utoipa::path(post, path = "/api/v1/keys", operation_id = "import_keys", tag = "keys",
    request_body = ImportBody,
    responses((status = 201, body = ImportReport), (status = 400, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(body): ApiJson<ImportBody>,
) -> Result<(StatusCode, Json<ImportReport>)> {
    let r = keys::import(&state.hardware_keys(), &admin.actor(), &body.keys).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[utoipa::path(post, path = "/api/v1/keys/import", operation_id = "import_keys_csv", tag = "keys",
    request_body(content = String, content_type = "text/csv", description = "`serial,model` lines; a header line is skipped"),
    responses((status = 201, body = ImportReport), (status = 400, body = ErrorBody)))]
pub async fn import_csv(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    body: String,
) -> Result<(StatusCode, Json<ImportReport>)> {
    keys::check_import_size("body", &body)?;
    let r = keys::import_csv(&state.hardware_keys(), &admin.actor(), &body).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only keys in this state.
    pub state: Option<String>,
    /// Only keys of this employee.
    pub employee: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/keys", operation_id = "list_keys", tag = "keys",
    params(ListQuery), responses((status = 200, body = Vec<KeyView>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<KeyView>>> {
    let query = keys::KeyQuery {
        state: keys::state_filter(q.state.as_deref())?,
        employee: q.employee.as_deref(),
        ..Default::default()
    };
    let mut conn = state.store.conn().await?;
    let (listed, _) = keys::search(&mut conn, query).await?;
    Ok(Json(listed.into_iter().map(|l| l.key).collect()))
}

#[utoipa::path(get, path = "/api/v1/keys/{id}", operation_id = "get_key", tag = "keys",
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = KeyView), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<KeyView>> {
    let id = uuid_param(&id)?.to_string();
    let mut conn = state.store.conn().await?;
    Ok(Json(keys::get(&mut conn, &id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct AssignBody {
    pub employee_id: String,
    /// E-mail the code to the employee instead of returning it.
    #[serde(default)]
    pub email: bool,
}

#[utoipa::path(post, path = "/api/v1/keys/{id}/assign", operation_id = "assign_key", tag = "keys",
    params(("id" = uuid::Uuid, Path)), request_body = AssignBody,
    responses(
        (status = 200, description = "The activation code, shown this once", body = Assigned),
        (status = 409, description = "The key is not ready (the message names its state)", body = ErrorBody),
    ))]
pub async fn assign(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<(
    StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    Json<Assigned>,
)> {
    let id = uuid_param(&id)?.to_string();
    let employee = uuid::Uuid::parse_str(body.employee_id.trim())
        .map_err(|_| Error::validation("employee_id", "must be a UUID"))?
        .to_string();
    let a = keys::assign(
        &state.hardware_keys(),
        &admin.actor(),
        &id,
        &employee,
        body.email,
    )
    .await?;
    Ok((
        StatusCode::OK,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(a),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ActionBody {
    pub action: AdminAction,
    #[serde(default)]
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/keys/{id}/actions", operation_id = "key_action", tag = "keys",
    params(("id" = uuid::Uuid, Path)), request_body = ActionBody,
    responses(
        (status = 200, body = KeyView),
        (status = 409, description = "Not allowed in the key's state (named in the message)", body = ErrorBody),
    ))]
pub async fn action(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActionBody>,
) -> Result<Json<KeyView>> {
    let id = uuid_param(&id)?.to_string();
    Ok(Json(
        keys::act(
            &state.hardware_keys(),
            &admin.actor(),
            &id,
            body.action,
            body.reason.as_deref(),
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/employees/{id}/domain-accounts", operation_id = "domain_accounts", tag = "keys",
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Vec<AccountStatus>)))]
pub async fn accounts(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<Vec<AccountStatus>>> {
    let id = uuid_param(&id)?.to_string();
    let mut conn = state.store.conn().await?;
    Ok(Json(rotation::accounts_of(&mut conn, &id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct RotateBody {
    /// The domain account (all of the employee's when absent).
    #[serde(default)]
    pub account_id: Option<String>,
    /// "Set this password" (checked against the complexity rules); generated when absent.
    #[serde(default)]
    pub password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/employees/{id}/password-rotations", operation_id = "rotate_password", tag = "keys",
    params(("id" = uuid::Uuid, Path)), request_body = RotateBody,
    responses(
        (status = 202, description = "Rotations started", body = Vec<RotationStatus>),
        (status = 409, description = "No active key, or a rotation is already in progress", body = ErrorBody),
    ))]
pub async fn rotate(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RotateBody>,
) -> Result<(StatusCode, Json<Vec<RotationStatus>>)> {
    let id = uuid_param(&id)?.to_string();
    let started = rotation::rotate_employee(
        &state.hardware_keys(),
        &admin.actor(),
        &id,
        body.account_id.as_deref(),
        body.password.as_deref(),
    )
    .await?
    .into_iter()
    .map(RotationStatus::from)
    .collect();
    Ok((StatusCode::ACCEPTED, Json(started)))
}

#[utoipa::path(post, path = "/api/v1/keys/rotation-scan", operation_id = "rotation_scan", tag = "keys",
    responses((status = 200, body = ScanReport)))]
pub async fn scan(State(state): State<AppState>, _admin: ApiAdmin) -> Result<Json<ScanReport>> {
    Ok(Json(
        rotation::scan(&state.hardware_keys(), None, "scheduled", false).await?,
    ))
}
