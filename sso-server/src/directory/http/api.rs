//! `/api/v1/directory`: the domains to sync, "test connection", sync runs (start, list, show).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::admin::api::params::{int_param, uuid_param};
use crate::admin::session::ApiAdmin;
use crate::app::AppState;
use crate::clock::from_ms;
use crate::directory::domain::ConnectionTest;
use crate::directory::identities::IdentityView;
use crate::directory::report::{Counts, RunReport};
use crate::directory::store::RunRow;
use crate::directory::sync::{Progress, RunOptions, Started, SyncMode, Trigger};
use crate::directory::{DomainInput, DomainView, Domains};
use crate::error::{Error, ErrorBody, Result};
use crate::http::extract::ApiJson;

fn domains(state: &AppState) -> Domains<'_> {
    Domains {
        store: &state.store,
        cipher: &state.cipher,
    }
}

#[utoipa::path(get, path = "/api/v1/directory/domains", operation_id = "list_domains", tag = "directory",
    responses((status = 200, body = Vec<DomainView>), (status = 401, body = ErrorBody)))]
pub async fn list_domains(
    State(state): State<AppState>,
    _admin: ApiAdmin,
) -> Result<Json<Vec<DomainView>>> {
    Ok(Json(domains(&state).list().await?))
}

#[utoipa::path(post, path = "/api/v1/directory/domains", operation_id = "create_domain", tag = "directory",
    request_body = DomainInput,
    responses(
        (status = 201, body = DomainView),
        (status = 400, description = "Invalid input; `field` names it", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    ))]
pub async fn create_domain(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(input): ApiJson<DomainInput>,
) -> Result<(StatusCode, Json<DomainView>)> {
    let d = domains(&state)
        .create(&admin.actor(), state.clock.now_ms(), &input)
        .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

#[utoipa::path(get, path = "/api/v1/directory/domains/{id}", operation_id = "get_domain", tag = "directory",
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = DomainView), (status = 404, body = ErrorBody)))]
pub async fn get_domain(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<DomainView>> {
    Ok(Json(domains(&state).get(&id).await?))
}

#[utoipa::path(put, path = "/api/v1/directory/domains/{id}", operation_id = "update_domain", tag = "directory",
    request_body = DomainInput, params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = DomainView),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn update_domain(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DomainInput>,
) -> Result<Json<DomainView>> {
    let id = uuid_param(&id)?;
    Ok(Json(
        domains(&state)
            .update(&admin.actor(), state.clock.now_ms(), id, &input)
            .await?,
    ))
}

/// The fields of a domain that `PATCH` may change: those of [`DomainInput`].
const PATCHABLE: &[&str] = &[
    "kind",
    "name",
    "urls",
    "tls_mode",
    "allow_plain",
    "ca_pem",
    "bind_dn",
    "bind_password",
    "base_dn",
    "netbios_name",
    "sync_group",
    "rotation_group",
    "invite_on_import",
    "max_removal_percent",
    "max_removal_count",
    "hold_all_when_refused",
    "timeout_seconds",
    "enabled",
    "tenant_id",
    "client_id",
    "client_secret",
    "client_certificate",
    "group_id",
    "authority_url",
    "graph_url",
];

#[utoipa::path(patch, path = "/api/v1/directory/domains/{id}", operation_id = "patch_domain", tag = "directory",
    request_body(content = Object, description = "Only the fields to change (those of the domain's input); the bind password and the client secret are kept unless sent"),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = DomainView),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn patch_domain(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(changes): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<DomainView>> {
    let id = uuid_param(&id)?;
    // The domain as it is, in the input's shape (secrets absent: kept unless sent), with the
    // changes laid over it.
    let current = domains(&state).get(&id.to_string()).await?;
    let mut now = crate::http::patch::current(&current, PATCHABLE)?;
    now.insert(
        "allow_plain".into(),
        serde_json::Value::Bool(current.tls_mode == crate::directory::ldap::TlsMode::Plain),
    );
    let input: DomainInput = crate::http::patch::overlay(now, PATCHABLE, changes)?;
    Ok(Json(
        domains(&state)
            .update(&admin.actor(), state.clock.now_ms(), id, &input)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/directory/domains/{id}", operation_id = "delete_domain", tag = "directory",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The domain has imported accounts", body = ErrorBody),
    ))]
pub async fn delete_domain(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = uuid_param(&id)?;
    domains(&state)
        .delete(&admin.actor(), state.clock.now_ms(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/directory/domains/{id}/test", operation_id = "test_domain", tag = "directory",
    params(("id" = String, Path, description = "Domain id or name")),
    responses(
        (status = 200, description = "The test ran; `ok` says whether it passed", body = ConnectionTest),
        (status = 404, body = ErrorBody),
    ))]
pub async fn test_domain(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTest>> {
    Ok(Json(
        domains(&state).test_connection(&id, &state.clock).await?,
    ))
}

/// What to sync.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// A domain id or name; all enabled domains when absent.
    pub domain: Option<String>,
    /// `full` (default), `delta` or `auto`.
    #[serde(default)]
    pub mode: SyncMode,
    /// Compute and report the changes without making them.
    #[serde(default)]
    pub dry_run: bool,
    /// Proceed even if the run would remove more than the domain's removal limit.
    #[serde(default)]
    pub force: bool,
}

#[utoipa::path(post, path = "/api/v1/directory/sync", operation_id = "start_sync", tag = "directory",
    request_body = SyncRequest,
    responses(
        (status = 202, description = "Started; follow each run at /api/v1/directory/runs/{id}", body = Started),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A run of this domain is in progress", body = ErrorBody),
    ))]
pub async fn start_sync(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(req): ApiJson<SyncRequest>,
) -> Result<(StatusCode, Json<Started>)> {
    let options = RunOptions {
        mode: req.mode,
        dry_run: req.dry_run,
        force: req.force,
        trigger: Trigger::Api,
        actor: admin.actor(),
    };
    let out = state
        .syncer()
        .start_selected(req.domain.as_deref(), &options)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// A sync run as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub domain_id: String,
    /// `full` or `delta`.
    pub kind: String,
    /// `api`, `schedule` or `cli`.
    pub trigger: String,
    pub dry_run: bool,
    pub forced: bool,
    /// `running`, `succeeded`, `failed` or `refused` (the removal guard stopped it).
    pub state: String,
    pub dc_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    pub counts: Counts,
    /// Why the run failed or was refused, or a note.
    pub message: Option<String>,
    /// The per-object changes and errors (only when showing one run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RunReport>,
    /// Where a running run is (only in the process running it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

fn n(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub fn run_view(r: RunRow, with_report: bool) -> RunView {
    let report =
        with_report.then(|| serde_json::from_str::<RunReport>(&r.report).unwrap_or_default());
    RunView {
        counts: Counts {
            added: n(r.added),
            updated: n(r.updated),
            unchanged: n(r.unchanged),
            removed: n(r.removed),
            reactivated: n(r.reactivated),
            merged: n(r.merged),
            taken_over: n(r.taken_over),
            errors: n(r.errors),
        },
        id: r.id,
        domain_id: r.domain_id,
        kind: r.kind,
        trigger: r.trigger,
        dry_run: r.dry_run != 0,
        forced: r.forced != 0,
        state: r.state,
        dc_url: r.dc_url,
        started_at: from_ms(r.started_at),
        finished_at: r.finished_at.map(from_ms),
        message: r.message,
        report,
        progress: None,
    }
}

#[utoipa::path(get, path = "/api/v1/directory/runs", operation_id = "list_runs", tag = "directory",
    params(
        ("domain" = Option<String>, Query, description = "Domain id or name"),
        ("limit" = Option<i64>, Query, description = "1 to 500 (default 50)"),
    ),
    responses((status = 200, body = Vec<RunView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_runs(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<RunView>>> {
    let limit = int_param("limit", params.get("limit"), 50, 1, 500)?;
    let mut conn = state.store.conn().await?;
    let domain_id = match params.get("domain").filter(|d| !d.is_empty()) {
        Some(d) => Some(Domains::find_row(&mut conn, d).await?.id),
        None => None,
    };
    let rows = crate::directory::store::list_runs(&mut conn, domain_id.as_deref(), limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| {
                let progress = state.live_runs.of(&r);
                let mut v = run_view(r, false);
                v.progress = progress;
                v
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/directory/runs/{id}", operation_id = "get_run", tag = "directory",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<RunView>> {
    let id = uuid_param(&id)?.to_string();
    let mut conn = state.store.conn().await?;
    let row = crate::directory::store::get_run(&mut conn, &id)
        .await?
        .ok_or(Error::NotFound("sync run"))?;
    let progress = state.live_runs.of(&row);
    let mut v = run_view(row, true);
    v.progress = progress;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/api/v1/employees/{id}/identities", operation_id = "employee_identities", tag = "employees",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<IdentityView>), (status = 404, body = ErrorBody)))]
pub async fn employee_identities(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<Vec<IdentityView>>> {
    let id = uuid_param(&id)?.to_string();
    let mut conn = state.store.conn().await?;
    crate::employees::store::get(&mut conn, &id)
        .await?
        .ok_or(Error::NotFound("employee"))?;
    let now = state.clock.now_ms();
    Ok(Json(
        crate::directory::identities::of_employee(&mut conn, &id, now).await?,
    ))
}
