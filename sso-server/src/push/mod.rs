//! The phone authenticator, server side (protocol: docs/phone-protocol.md).
//!
//! - `wire`: the canonical byte strings signatures cover, and ES256 checks.
//! - `key`: the server's long-lived P-256 key that signs challenges (phones pin it at
//!   registration, so it does not rotate with the OIDC keys).
//! - `enrol`: enrolments (the QR code) and device registration.
//! - `challenges`: sign-in challenges, answers, the poll fallback.
//! - `gateway`: delivery (the feed the phone long-polls; APNs and FCM senders plug in here).
//! - `api`: the endpoints the phone calls.

pub mod api;
pub mod challenges;
pub mod enrol;
pub mod gateway;
pub mod key;
pub mod wire;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// Push state shared by the handlers.
pub struct PushState {
    pub key: key::PushKey,
    pub feed: Arc<gateway::Feed>,
    pub gateways: Vec<Arc<dyn gateway::PushGateway>>,
}

impl Default for PushState {
    fn default() -> Self {
        let feed = Arc::new(gateway::Feed::default());
        Self {
            key: key::PushKey::default(),
            gateways: vec![feed.clone()],
            feed,
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/authenticator/register", post(api::register))
        .route("/api/authenticator/challenges", get(api::poll))
        .route("/api/authenticator/answer", post(api::answer))
}
