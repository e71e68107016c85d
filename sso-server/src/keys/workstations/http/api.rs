//! `/api/v1/workstations`: the workstations key-bridge agents run on. Admins only (session and
//! CSRF token). Creating one returns its one-time enrolment token; revoking one makes every
//! request it signs fail at once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::admin::api::params::uuid_param;
use crate::admin::session::ApiAdmin;
use crate::app::AppState;
use crate::error::{ErrorBody, Result};
use crate::http::extract::ApiJson;
use crate::keys::workstations::{self, Created, WorkstationView};

#[derive(Deserialize, ToSchema)]
pub struct CreateBody {
    /// What the admin calls it, e.g. `PC-0413`.
    pub name: String,
}

#[utoipa::path(post, path = "/api/v1/workstations", operation_id = "create_workstation", tag = "keys",
    request_body = CreateBody,
    responses((status = 201, description = "The enrolment token, shown this once", body = Created), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(
    StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    Json<Created>,
)> {
    let c = workstations::create(
        &state.store,
        state.clock.as_ref(),
        &admin.actor(),
        &body.name,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(c),
    ))
}

#[utoipa::path(get, path = "/api/v1/workstations", operation_id = "list_workstations", tag = "keys",
    responses((status = 200, body = Vec<WorkstationView>)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: ApiAdmin,
) -> Result<Json<Vec<WorkstationView>>> {
    let mut conn = state.store.conn().await?;
    Ok(Json(workstations::list(&mut conn).await?))
}

#[utoipa::path(post, path = "/api/v1/workstations/{id}/revoke", operation_id = "revoke_workstation", tag = "keys",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = WorkstationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<WorkstationView>> {
    let id = uuid_param(&id)?.to_string();
    Ok(Json(
        workstations::revoke(&state.store, state.clock.as_ref(), &admin.actor(), &id).await?,
    ))
}
