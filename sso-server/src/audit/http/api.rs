//! `/api/v1/audit`: the audit log, newest first, filterable by action and target.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::admin::api::params::int_param;
use crate::admin::session::ApiAdmin;
use crate::app::AppState;
use crate::audit::store::{AuditFilter, AuditRow};
use crate::clock::from_ms;
use crate::error::{ErrorBody, Result};

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// `admin`, `system` or `anonymous`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_name: String,
    /// e.g. `employee.created`, `admin.login_failed`.
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub ip: Option<String>,
}

impl From<AuditRow> for AuditEventView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: from_ms(r.at),
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            ip: r.ip,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_events", tag = "audit",
    params(
        ("action" = Option<String>, Query, description = "Only this action, e.g. `employee.updated`"),
        ("target_id" = Option<String>, Query, description = "Only events about this object"),
        ("before" = Option<i64>, Query, description = "Events older than this id"),
        ("limit" = Option<i64>, Query, description = "1 to 500 (default 100)"),
    ),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>> {
    let limit = int_param("limit", params.get("limit"), 100, 1, 500)?;
    let before = match params.get("before") {
        Some(_) => Some(int_param("before", params.get("before"), 0, 1, i64::MAX)?),
        None => None,
    };
    let filter = AuditFilter {
        action: params.get("action").filter(|s| !s.is_empty()).cloned(),
        target_id: params.get("target_id").filter(|s| !s.is_empty()).cloned(),
    };
    let mut conn = state.store.conn().await?;
    let rows = crate::audit::store::list(&mut conn, &filter, before, limit).await?;
    let next_before = if rows.len() as i64 == limit {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_before,
    }))
}
