//! Phones' HTTP surfaces: the admin REST API (`api`), the phone's own API (`phone`) and the
//! workstation's (`workstation`), whose routes are here.

pub mod api;
pub mod phone;
pub mod workstation;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/authenticator/register", post(phone::register))
        .route("/api/authenticator/challenges", get(phone::poll))
        .route("/api/authenticator/answer", post(phone::answer))
        .route("/api/authenticator/push-token", post(phone::push_token))
        .route("/api/authenticator/unregister", post(phone::unregister))
        .route("/api/workstation/challenges", post(workstation::create))
        .route(
            "/api/workstation/challenges/{id}",
            post(workstation::status),
        )
}
