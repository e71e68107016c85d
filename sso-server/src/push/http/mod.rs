//! Phones' HTTP surfaces: the admin REST API (`api`), and the routes of the phone's own API
//! (`push::api`) and the workstation's (`push::workstation`).

pub mod api;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/authenticator/register",
            post(crate::push::api::register),
        )
        .route("/api/authenticator/challenges", get(crate::push::api::poll))
        .route("/api/authenticator/answer", post(crate::push::api::answer))
        .route(
            "/api/authenticator/push-token",
            post(crate::push::api::push_token),
        )
        .route(
            "/api/authenticator/unregister",
            post(crate::push::api::unregister),
        )
        .route(
            "/api/workstation/challenges",
            post(crate::push::workstation::create),
        )
        .route(
            "/api/workstation/challenges/{id}",
            post(crate::push::workstation::status),
        )
}
