//! Apple Push Notification service (HTTP/2 provider API, token-based authentication): a provider
//! JWT (ES256 with the team's .p8 key, `kid` the key id, `iss` the team id, refreshed every 40
//! minutes as Apple asks), `POST /3/device/<token>` with `apns-topic`, `apns-push-type: alert`,
//! `apns-priority: 10`, `apns-expiration` and `apns-collapse-id`; the challenge rides in the
//! payload beside `aps`. A token Apple reports as gone (410, or 400 BadDeviceToken) is dropped.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::gateway::PushGateway;
use crate::clock::SharedClock;
use crate::config::ApnsConfig;
use crate::error::{Error, Result};
use crate::oidc::jws::{Alg, Signer};
use crate::push::store::DeviceRow;
use crate::store::Store;

pub struct Apns {
    config: ApnsConfig,
    signer: Signer,
    http: reqwest::Client,
    clock: SharedClock,
    store: Store,
    token: Mutex<Option<(String, i64)>>,
}

const TOKEN_REFRESH_MS: i64 = 40 * 60_000;

impl Apns {
    pub fn new(config: ApnsConfig, clock: SharedClock, store: Store) -> Result<Self> {
        let pem = std::fs::read_to_string(&config.key_file).map_err(|e| {
            Error::Config(format!(
                "invalid configuration: key `push.apns.key_file` ({}): {e}",
                config.key_file.display()
            ))
        })?;
        let signer = Signer::from_pkcs8_pem(&config.key_id, Alg::ES256, &pem).map_err(|e| {
            Error::Config(format!(
                "invalid configuration: key `push.apns.key_file`: {e}"
            ))
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            signer,
            http,
            clock,
            store,
            token: Mutex::new(None),
        })
    }

    fn provider_token(&self) -> std::result::Result<String, String> {
        let now = self.clock.now_ms();
        if let Ok(guard) = self.token.lock() {
            if let Some((t, at)) = guard.as_ref() {
                if now - at < TOKEN_REFRESH_MS {
                    return Ok(t.clone());
                }
            }
        }
        let t = self
            .signer
            .sign(
                "JWT",
                &json!({ "iss": self.config.team_id, "iat": now / 1000 }),
            )
            .map_err(|e| e.to_string())?;
        if let Ok(mut guard) = self.token.lock() {
            *guard = Some((t.clone(), now));
        }
        Ok(t)
    }
}

#[async_trait::async_trait]
impl PushGateway for Apns {
    fn name(&self) -> &'static str {
        "apns"
    }

    async fn deliver(
        &self,
        device: &DeviceRow,
        challenge: &Value,
    ) -> std::result::Result<(), String> {
        if device.platform != "ios" {
            return Ok(());
        }
        let Some(token) = &device.push_token else {
            return Ok(());
        };
        let jwt = self.provider_token()?;
        let client = challenge["client_name"]
            .as_str()
            .unwrap_or("An application");
        let payload = json!({
            "aps": {
                "alert": { "title": "Sign-in request", "body": format!("{client} asks you to approve a sign-in") },
                "sound": "default",
                "mutable-content": 1,
            },
            "challenge": challenge,
        });
        let url = format!(
            "{}/3/device/{}",
            self.config.endpoint.trim_end_matches('/'),
            token
        );
        let resp = self
            .http
            .post(url)
            .bearer_auth(jwt)
            .header("apns-topic", &self.config.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header(
                "apns-expiration",
                challenge["expires"].as_i64().unwrap_or(0).to_string(),
            )
            .header(
                "apns-collapse-id",
                challenge["challenge_id"].as_str().unwrap_or(""),
            )
            .json(&payload)
            .send()
            .await
            .map_err(|e| format!("APNs unreachable: {e}"))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = resp
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if status.as_u16() == 410 || reason == "BadDeviceToken" || reason == "Unregistered" {
            if let Ok(mut conn) = self.store.conn().await {
                let _ = crate::push::store::clear_push_token(&mut conn, &device.id).await;
            }
        }
        Err(format!("APNs answered {status}: {reason}"))
    }
}
