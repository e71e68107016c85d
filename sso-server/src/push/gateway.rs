//! Delivery of challenges to phones. A challenge lives on the server whether or not a delivery
//! worked: the phone can always fetch its pending challenges (the poll), so delivery failures
//! are logged and never fail the sign-in.
//!
//! `Feed` wakes phones that long-poll `GET /api/authenticator/challenges?wait=N`; APNs and FCM
//! senders implement the same trait.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::push::store::DeviceRow;

#[async_trait::async_trait]
pub trait PushGateway: Send + Sync {
    fn name(&self) -> &'static str;
    /// Delivers the challenge JSON (docs/phone-protocol.md, section 2) to the device.
    async fn deliver(&self, device: &DeviceRow, challenge: &Value) -> Result<(), String>;
}

/// Wakes the long polls of a device, on whichever instance they wait.
pub struct Feed {
    wake: Arc<crate::wake::Wakeups>,
}

impl Feed {
    pub fn new(wake: Arc<crate::wake::Wakeups>) -> Self {
        Self { wake }
    }

    /// Waits until a challenge for the device arrives or `max` passes.
    pub async fn wait(&self, device_id: &str, max: Duration) {
        self.wake.wait(&crate::wake::device(device_id), max).await;
    }
}

#[async_trait::async_trait]
impl PushGateway for Feed {
    fn name(&self) -> &'static str {
        "feed"
    }

    async fn deliver(&self, device: &DeviceRow, _challenge: &Value) -> Result<(), String> {
        // A poll that starts a moment later still sees the challenge in the database.
        self.wake.publish(&crate::wake::device(&device.id)).await;
        Ok(())
    }
}
