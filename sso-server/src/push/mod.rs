//! The phone authenticator, server side (protocol: docs/phone-protocol.md).
//!
//! - `wire`: the canonical byte strings signatures cover, and ES256 checks.
//! - `key`: the server's long-lived P-256 key that signs challenges (phones pin it at
//!   registration, so it does not rotate with the OIDC keys).
//! - `enrol`: enrolments (the QR code) and device registration.
//! - `devices`: an admin revoking a phone.
//! - `challenges`: sign-in challenges, answers, the poll fallback.
//! - `gateway`: delivery (the feed the phone long-polls; APNs and FCM senders plug in here).
//! - `api`: the endpoints the phone calls.

pub mod api;
pub mod apns;
pub mod challenges;
pub mod devices;
pub mod enrol;
pub mod fcm;
pub mod gateway;
pub mod key;
pub mod place;
pub mod totp;
pub mod wire;
pub mod workstation;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// Push state shared by the handlers.
pub struct PushState {
    pub key: key::PushKey,
    pub feed: Arc<gateway::Feed>,
    pub gateways: Vec<Arc<dyn gateway::PushGateway>>,
    /// Where sign-ins come from (GeoIP), shown on the phone.
    pub places: place::Places,
}

impl PushState {
    /// The feed always; APNs and FCM when configured.
    pub fn new(
        config: &crate::config::PushConfig,
        clock: crate::clock::SharedClock,
        store: crate::store::Store,
        wake: Arc<crate::wake::Wakeups>,
    ) -> crate::Result<Self> {
        let feed = Arc::new(gateway::Feed::new(wake));
        let mut gateways: Vec<Arc<dyn gateway::PushGateway>> = vec![feed.clone()];
        if let Some(c) = &config.apns {
            gateways.push(Arc::new(apns::Apns::new(
                c.clone(),
                clock.clone(),
                store.clone(),
            )?));
        }
        if let Some(c) = &config.fcm {
            gateways.push(Arc::new(fcm::Fcm::new(c.clone(), clock, store)?));
        }
        let places = match &config.geoip_database {
            Some(path) => place::Places::open(path)?,
            None => place::Places::none(),
        };
        Ok(Self {
            key: key::PushKey::default(),
            gateways,
            feed,
            places,
        })
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/authenticator/register", post(api::register))
        .route("/api/authenticator/challenges", get(api::poll))
        .route("/api/authenticator/answer", post(api::answer))
        .route("/api/authenticator/push-token", post(api::push_token))
        .route("/api/authenticator/unregister", post(api::unregister))
        .route("/api/workstation/challenges", post(workstation::create))
        .route(
            "/api/workstation/challenges/{id}",
            post(workstation::status),
        )
}
