//! Delivery of challenges to phones. A challenge lives on the server whether or not a delivery
//! worked: the phone can always fetch its pending challenges (the poll), so delivery failures
//! are logged and never fail the sign-in.
//!
//! `Feed` wakes phones that long-poll `GET /api/authenticator/challenges?wait=N`; APNs and FCM
//! senders implement the same trait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::store::push::DeviceRow;

#[async_trait::async_trait]
pub trait PushGateway: Send + Sync {
    fn name(&self) -> &'static str;
    /// Delivers the challenge JSON (docs/phone-protocol.md, section 2) to the device.
    async fn deliver(&self, device: &DeviceRow, challenge: &Value) -> Result<(), String>;
}

/// Wakes the long polls of a device.
#[derive(Default)]
pub struct Feed {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Feed {
    fn notify_of(&self, device_id: &str) -> Option<Arc<Notify>> {
        let mut m = self.waiters.lock().ok()?;
        Some(m.entry(device_id.to_owned()).or_default().clone())
    }

    /// Waits until a challenge for the device arrives or `max` passes.
    pub async fn wait(&self, device_id: &str, max: Duration) {
        if let Some(n) = self.notify_of(device_id) {
            let _ = tokio::time::timeout(max, n.notified()).await;
        }
    }
}

#[async_trait::async_trait]
impl PushGateway for Feed {
    fn name(&self) -> &'static str {
        "feed"
    }

    async fn deliver(&self, device: &DeviceRow, _challenge: &Value) -> Result<(), String> {
        if let Some(n) = self.notify_of(&device.id) {
            n.notify_waiters();
            // A poll that starts a moment later still sees the challenge in the database.
            n.notify_one();
        }
        Ok(())
    }
}
