//! `/api/v1/employees/{id}/...`: phone enrolment (the QR code), the employee's phones, and
//! lifting a push block.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;

use crate::admin::api::params::uuid_param;
use crate::admin::session::ApiAdmin;
use crate::app::AppState;
use crate::audit::{self, Target};
use crate::error::{Error, ErrorBody, Result};
use crate::push::devices::PhonesView;
use crate::push::enrol::{self, EnrolmentCreated};

#[utoipa::path(post, path = "/api/v1/employees/{id}/enrolments", operation_id = "create_enrolment", tag = "employees",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 201, description = "The QR code and its link (single use, 10 minutes)", body = EnrolmentCreated),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The employee is not active", body = ErrorBody),
    ))]
pub async fn create_enrolment(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<EnrolmentCreated>)> {
    let id = uuid_param(&id)?.to_string();
    let e = enrol::create(&state.phones(), &admin.actor(), &id, None).await?;
    Ok((StatusCode::CREATED, Json(e)))
}

#[utoipa::path(get, path = "/api/v1/employees/{id}/devices", operation_id = "employee_devices", tag = "employees",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = PhonesView), (status = 404, body = ErrorBody)))]
pub async fn devices(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<PhonesView>> {
    let id = uuid_param(&id)?.to_string();
    let mut conn = state.store.conn().await?;
    crate::employees::store::get(&mut conn, &id)
        .await?
        .ok_or(Error::NotFound("employee"))?;
    Ok(Json(
        crate::push::devices::of_employee(&mut conn, &id).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/employees/{id}/push-block", operation_id = "unblock_push", tag = "employees",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Push sign-in allowed again"), (status = 404, body = ErrorBody)))]
pub async fn unblock(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = uuid_param(&id)?.to_string();
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    if !crate::push::store::unblock(&mut tx, &id).await? {
        return Err(Error::NotFound("push block"));
    }
    audit::record(
        &mut tx,
        now,
        &admin.actor(),
        "push.unblocked",
        Some(Target::of("employee", &id)),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/employees/{id}/devices/{device_id}", operation_id = "revoke_device", tag = "employees",
    params(("id" = uuid::Uuid, Path), ("device_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody)))]
pub async fn revoke_device(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path((id, device_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let id = uuid_param(&id)?.to_string();
    let device_id = uuid_param(&device_id)?.to_string();
    crate::push::devices::revoke(&state.phones(), &admin.actor(), &id, &device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
