//! The phone authenticator, server side (protocol: docs/phone-protocol.md).
//!
//! - `wire`: the canonical byte strings signatures cover, and ES256 checks.
//! - `key`: the server's long-lived P-256 key that signs challenges (phones pin it at
//!   registration, so it does not rotate with the OIDC keys).
//! - `enrol`: enrolments (the QR code) and device registration.
//! - `devices`: an admin revoking a phone.
//! - `challenges`: sign-in challenges, answers, the poll fallback; `browser`: what the phone
//!   shows of the requester's browser (a fixed vocabulary, never its text).
//! - `gateway`: delivery (the feed the phone long-polls; APNs and FCM senders plug in here).
//! - `api`: the endpoints the phone calls.

pub mod apns;
pub mod browser;
pub mod challenge_state;
pub mod challenges;
pub mod devices;
pub mod enrol;
pub mod fcm;
pub mod gateway;
pub mod http;
pub mod key;
pub mod place;
pub mod store;
pub mod totp;
pub mod wire;

use std::sync::Arc;

/// What the phone services use: the app builds one (`AppState::phones`).
#[derive(Clone)]
pub struct Phones {
    pub store: crate::store::Store,
    pub cipher: Arc<crate::crypto::Cipher>,
    pub clock: crate::clock::SharedClock,
    pub config: Arc<crate::config::Config>,
    pub push: Arc<PushState>,
    pub mailer: Arc<crate::mail::Mailer>,
    pub wake: Arc<crate::wake::Wakeups>,
}

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
