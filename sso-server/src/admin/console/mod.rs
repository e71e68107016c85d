//! The admin console: server-rendered pages behind admin sign-in.
//!
//! Pages read and forms act through the same services as the REST API (`employees`,
//! `directory`, `oidc::clients`, `enrol::invitations`, `push::devices`, `keys`); nothing here writes the
//! database itself. Every POST goes through [`Posted`], which checks the session's CSRF token
//! (a hidden field) before the handler runs. Sign-in and sign-out live in `admin::pages`.

pub mod assets;
pub mod dashboard;
pub mod flash;
pub mod forms;
pub mod shell;

// The pages live with their capabilities; the console's router gathers them.
use crate::audit::http::console as audit;
use crate::directory::http::console::domains;
use crate::directory::http::console::sync;
use crate::employees::http::console as employees;
use crate::keys::http::console as keys;
use crate::keys::workstations::http::console as workstations;
use crate::oidc::http::console as clients;

use axum::routing::get;
use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard::show))
        .route("/admin/console.css", get(assets::css))
        .route("/admin/console.js", get(assets::js))
        .merge(employees::router())
        .merge(sync::router())
        .merge(domains::router())
        .merge(clients::router())
        .merge(keys::router())
        .merge(workstations::router())
        .route("/admin/audit", get(audit::show))
        .route("/admin/passkeys", get(crate::admin::passkeys::page))
}
