//! Administration: admin accounts and sign-in, the REST API under `/api/v1`, and the console
//! pages under `/admin`.

pub mod accounts;
pub mod api;
pub mod console;
pub mod pages;
pub mod passkeys;
pub mod password_checks;
pub mod roles;
pub mod session;
pub mod store;

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(api::router())
        .merge(pages::router())
        .merge(console::router())
}
