//! The REST API under `/api/v1`: JSON in and out, session cookie plus `X-CSRF-Token`, described
//! by an OpenAPI document generated from these handlers at `/api/v1/openapi.json`.

pub mod audit;
pub mod employees;
pub mod session;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "sso-server admin API", description = "Administration of the passwordless SSO server."),
    paths(
        session::login,
        session::current,
        session::logout,
        employees::list,
        employees::get_one,
        employees::create,
        employees::update,
        employees::delete,
        audit::list,
    ),
    components(schemas(crate::error::ErrorBody)),
    tags((name = "session"), (name = "employees"), (name = "audit"))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/openapi.json",
            get(|| async { Json(ApiDoc::openapi()) }),
        )
        .route(
            "/api/v1/session",
            get(session::current)
                .post(session::login)
                .delete(session::logout),
        )
        .route(
            "/api/v1/employees",
            get(employees::list).post(employees::create),
        )
        .route(
            "/api/v1/employees/{id}",
            get(employees::get_one)
                .put(employees::update)
                .delete(employees::delete),
        )
        .route("/api/v1/audit", get(audit::list))
}

/// Parses an optional integer query parameter, naming it when it is not one.
pub(crate) fn int_param(
    name: &str,
    value: Option<&String>,
    default: i64,
    min: i64,
    max: i64,
) -> crate::Result<i64> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let n: i64 = v
        .parse()
        .map_err(|_| crate::Error::validation(name, "must be a whole number"))?;
    if n < min || n > max {
        return Err(crate::Error::validation(
            name,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

pub(crate) fn uuid_param(value: &str) -> crate::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(value).map_err(|_| crate::Error::validation("id", "must be a UUID"))
}
