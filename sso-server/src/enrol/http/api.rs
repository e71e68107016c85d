//! `/api/v1/invitations` and `/api/v1/employees/{id}/invitations`: invite (one or many), resend,
//! revoke, and the list (with the outbox: links to copy when no SMTP server is configured).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::api::params::{int_param, uuid_param};
use crate::admin::session::ApiAdmin;
use crate::app::AppState;
use crate::enrol::invitations::{self, InvitationView};
use crate::error::{Error, ErrorBody, Result};
use crate::http::extract::ApiJson;

#[utoipa::path(post, path = "/api/v1/employees/{id}/invitations", operation_id = "invite_employee", tag = "invitations",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 201, body = InvitationView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "No e-mail address, or not active", body = ErrorBody),
    ))]
pub async fn invite(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<InvitationView>)> {
    let id = uuid_param(&id)?.to_string();
    let v = invitations::invite(&state.invitations(), &admin.actor(), &id).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/api/v1/employees/{id}/invitations", operation_id = "employee_invitations", tag = "invitations",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<InvitationView>)))]
pub async fn of_employee(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<Vec<InvitationView>>> {
    let id = uuid_param(&id)?.to_string();
    Ok(Json(
        invitations::of_employee(&state.invitations(), &id, 100).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/invitations", operation_id = "list_invitations", tag = "invitations",
    params(
        ("delivery" = Option<String>, Query, description = "Only these: outbox, failed, queued or sent"),
        ("limit" = Option<i64>, Query, description = "1 to 500 (default 100)"),
    ),
    responses((status = 200, body = Vec<InvitationView>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<InvitationView>>> {
    let limit = int_param("limit", q.get("limit"), 100, 1, 500)?;
    let delivery = q.get("delivery").filter(|d| !d.is_empty());
    if let Some(d) = delivery {
        if !matches!(d.as_str(), "outbox" | "failed" | "queued" | "sent") {
            return Err(Error::validation(
                "delivery",
                "must be outbox, failed, queued or sent",
            ));
        }
    }
    let mut conn = state.store.conn().await?;
    let rows = crate::enrol::store::list(&mut conn, None, limit).await?;
    Ok(Json(
        rows.iter()
            .map(|r| invitations::view(&state.invitations(), r))
            .filter(|v| delivery.is_none_or(|d| &v.delivery == d))
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInvite {
    pub employee_ids: Vec<uuid::Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    pub invited: Vec<InvitationView>,
    /// Employee id → why it was not invited.
    pub refused: HashMap<String, String>,
}

#[utoipa::path(post, path = "/api/v1/invitations", operation_id = "invite_many", tag = "invitations",
    request_body = BulkInvite,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody)))]
pub async fn invite_many(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(body): ApiJson<BulkInvite>,
) -> Result<Json<BulkResult>> {
    if body.employee_ids.is_empty() || body.employee_ids.len() > 1000 {
        return Err(Error::validation(
            "employee_ids",
            "give 1 to 1000 employee ids",
        ));
    }
    let mut out = BulkResult {
        invited: Vec::new(),
        refused: HashMap::new(),
    };
    for id in body.employee_ids {
        match invitations::invite(&state.invitations(), &admin.actor(), &id.to_string()).await {
            Ok(v) => out.invited.push(v),
            Err(e @ (Error::NotFound(_) | Error::Conflict { .. })) => {
                out.refused.insert(id.to_string(), e.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Json(out))
}

#[utoipa::path(post, path = "/api/v1/invitations/{id}/resend", operation_id = "resend_invitation", tag = "invitations",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = InvitationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resend(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<InvitationView>> {
    let id = uuid_param(&id)?.to_string();
    Ok(Json(
        invitations::resend(&state.invitations(), &admin.actor(), &id).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/invitations/{id}", operation_id = "revoke_invitation", tag = "invitations",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = uuid_param(&id)?.to_string();
    invitations::revoke(&state.invitations(), &admin.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
