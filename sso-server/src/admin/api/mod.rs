//! The REST API under `/api/v1`: JSON in and out, session cookie plus `X-CSRF-Token`, described
//! by an OpenAPI document generated from these handlers at `/api/v1/openapi.json`.

pub mod params;
pub mod session;

// The handlers live with their capabilities; this table and the OpenAPI document gather them.
use crate::audit::http::api as audit;
use crate::directory::http::api as directory;
use crate::employees::http::api as employees;
use crate::enrol::http::api as invitations;
use crate::keys::http::api as keys;
use crate::keys::workstations::http::api as workstations;
use crate::oidc::http::api as clients;
use crate::push::http::api as phones;

use axum::routing::{get, post};
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
        employees::patch,
        employees::delete,
        employees::unlock,
        employees::sign_out_everywhere,
        audit::list,
        directory::list_domains,
        directory::create_domain,
        directory::get_domain,
        directory::update_domain,
        directory::patch_domain,
        directory::delete_domain,
        directory::test_domain,
        directory::start_sync,
        directory::list_runs,
        directory::get_run,
        directory::employee_identities,
        clients::list,
        clients::create,
        clients::get_one,
        clients::update,
        clients::patch,
        clients::delete,
        clients::rotate_secret,
        clients::rotate_key,
        phones::create_enrolment,
        phones::devices,
        phones::unblock,
        phones::revoke_device,
        invitations::invite,
        invitations::of_employee,
        invitations::list,
        invitations::invite_many,
        invitations::resend,
        invitations::revoke,
        keys::import,
        keys::import_csv,
        keys::list,
        keys::get_one,
        keys::assign,
        keys::action,
        keys::accounts,
        keys::rotate,
        keys::scan,
        workstations::create,
        workstations::list,
        workstations::revoke,
    ),
    components(schemas(crate::error::ErrorBody)),
    tags((name = "session"), (name = "employees"), (name = "directory"), (name = "oidc"), (name = "invitations"), (name = "keys"), (name = "audit"))
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
            "/api/v1/session/passkey/options",
            post(crate::admin::passkeys::signin_options),
        )
        .route(
            "/api/v1/session/passkey",
            post(crate::admin::passkeys::signin),
        )
        .route(
            "/api/v1/session/passkeys/options",
            post(crate::admin::passkeys::register_options),
        )
        .route(
            "/api/v1/session/passkeys",
            get(crate::admin::passkeys::list).post(crate::admin::passkeys::register),
        )
        .route(
            "/api/v1/session/passkeys/{id}",
            axum::routing::delete(crate::admin::passkeys::remove),
        )
        .route(
            "/api/v1/employees",
            get(employees::list).post(employees::create),
        )
        .route(
            "/api/v1/employees/{id}",
            get(employees::get_one)
                .put(employees::update)
                .patch(employees::patch)
                .delete(employees::delete),
        )
        .route(
            "/api/v1/employees/{id}/sign-in-lock",
            axum::routing::delete(employees::unlock),
        )
        .route(
            "/api/v1/employees/{id}/sessions",
            axum::routing::delete(employees::sign_out_everywhere),
        )
        .route("/api/v1/audit", get(audit::list))
        .route(
            "/api/v1/directory/domains",
            get(directory::list_domains).post(directory::create_domain),
        )
        .route(
            "/api/v1/directory/domains/{id}",
            get(directory::get_domain)
                .put(directory::update_domain)
                .patch(directory::patch_domain)
                .delete(directory::delete_domain),
        )
        .route(
            "/api/v1/directory/domains/{id}/test",
            post(directory::test_domain),
        )
        .route("/api/v1/directory/sync", post(directory::start_sync))
        .route("/api/v1/directory/runs", get(directory::list_runs))
        .route("/api/v1/directory/runs/{id}", get(directory::get_run))
        .route(
            "/api/v1/oidc/clients",
            get(clients::list).post(clients::create),
        )
        .route(
            "/api/v1/oidc/clients/{id}",
            get(clients::get_one)
                .put(clients::update)
                .patch(clients::patch)
                .delete(clients::delete),
        )
        .route(
            "/api/v1/oidc/clients/{id}/secret",
            post(clients::rotate_secret),
        )
        .route("/api/v1/oidc/keys/rotate", post(clients::rotate_key))
        .route(
            "/api/v1/employees/{id}/enrolments",
            post(phones::create_enrolment),
        )
        .route("/api/v1/employees/{id}/devices", get(phones::devices))
        .route("/api/v1/keys", get(keys::list).post(keys::import))
        .route("/api/v1/keys/import", post(keys::import_csv))
        .route("/api/v1/keys/rotation-scan", post(keys::scan))
        .route("/api/v1/keys/{id}", get(keys::get_one))
        .route("/api/v1/keys/{id}/assign", post(keys::assign))
        .route("/api/v1/keys/{id}/actions", post(keys::action))
        .route(
            "/api/v1/workstations",
            get(workstations::list).post(workstations::create),
        )
        .route(
            "/api/v1/workstations/{id}/revoke",
            post(workstations::revoke),
        )
        .route(
            "/api/v1/employees/{id}/domain-accounts",
            get(keys::accounts),
        )
        .route(
            "/api/v1/employees/{id}/password-rotations",
            post(keys::rotate),
        )
        .route(
            "/api/v1/employees/{id}/devices/{device_id}",
            axum::routing::delete(phones::revoke_device),
        )
        .route(
            "/api/v1/employees/{id}/invitations",
            get(invitations::of_employee).post(invitations::invite),
        )
        .route(
            "/api/v1/invitations",
            get(invitations::list).post(invitations::invite_many),
        )
        .route("/api/v1/invitations/{id}/resend", post(invitations::resend))
        .route(
            "/api/v1/invitations/{id}",
            axum::routing::delete(invitations::revoke),
        )
        .route(
            "/api/v1/employees/{id}/push-block",
            axum::routing::delete(phones::unblock),
        )
        .route(
            "/api/v1/employees/{id}/identities",
            get(directory::employee_identities),
        )
}
