//! Firebase Cloud Messaging, HTTP v1 API: an OAuth 2.0 access token from the service account
//! (a JWT bearer assertion signed RS256 with its private key, scope `firebase.messaging`,
//! cached until shortly before it expires), then `POST /v1/projects/<project>/messages:send`
//! with a high-priority data message carrying the challenge. A token FCM reports as unregistered
//! (404 `UNREGISTERED`) is dropped.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::gateway::PushGateway;
use crate::clock::SharedClock;
use crate::config::FcmConfig;
use crate::error::{Error, Result};
use crate::oidc::jws::{Alg, Signer};
use crate::push::store::DeviceRow;
use crate::store::Store;

#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    token_uri: String,
}

pub struct Fcm {
    config: FcmConfig,
    account: ServiceAccount,
    signer: Signer,
    http: reqwest::Client,
    clock: SharedClock,
    store: Store,
    token: Mutex<Option<(String, i64)>>,
}

impl Fcm {
    pub fn new(config: FcmConfig, clock: SharedClock, store: Store) -> Result<Self> {
        let bad = |e: String| {
            Error::Config(format!(
                "invalid configuration: key `push.fcm.service_account_file`: {e}"
            ))
        };
        let text = std::fs::read_to_string(&config.service_account_file)
            .map_err(|e| bad(e.to_string()))?;
        let account: ServiceAccount =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let signer =
            Signer::from_pkcs8_pem(&account.private_key_id, Alg::RS256, &account.private_key)
                .map_err(|e| bad(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            account,
            signer,
            http,
            clock,
            store,
            token: Mutex::new(None),
        })
    }

    async fn access_token(&self) -> std::result::Result<String, String> {
        let now = self.clock.now_ms();
        let mut guard = self.token.lock().await;
        if let Some((t, until)) = guard.as_ref() {
            if now < *until {
                return Ok(t.clone());
            }
        }
        let iat = now / 1000;
        let assertion = self
            .signer
            .sign(
                "JWT",
                &json!({
                    "iss": self.account.client_email,
                    "scope": "https://www.googleapis.com/auth/firebase.messaging",
                    "aud": self.account.token_uri,
                    "iat": iat,
                    "exp": iat + 3600,
                }),
            )
            .map_err(|e| e.to_string())?;
        let resp = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("Google OAuth unreachable: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("Google OAuth answered {}", resp.status()));
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|e| format!("Google OAuth: {e}"))?;
        let token = v["access_token"]
            .as_str()
            .ok_or("Google OAuth: no access_token")?
            .to_owned();
        let expires_in = v["expires_in"].as_i64().unwrap_or(3600);
        *guard = Some((token.clone(), now + (expires_in - 60).max(0) * 1000));
        Ok(token)
    }
}

#[async_trait::async_trait]
impl PushGateway for Fcm {
    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn deliver(
        &self,
        device: &DeviceRow,
        challenge: &Value,
    ) -> std::result::Result<(), String> {
        if device.platform != "android" {
            return Ok(());
        }
        let Some(token) = &device.push_token else {
            return Ok(());
        };
        let access = self.access_token().await?;
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.config.endpoint.trim_end_matches('/'),
            self.config.project_id
        );
        let ttl = (challenge["expires"].as_i64().unwrap_or(0) - self.clock.now_ms() / 1000).max(1);
        let body = json!({
            "message": {
                "token": token,
                // Data messages: the app verifies the challenge before it shows anything.
                "data": { "type": "challenge", "challenge": challenge.to_string() },
                "android": { "priority": "HIGH", "ttl": format!("{ttl}s") },
            }
        });
        let resp = self
            .http
            .post(url)
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("FCM unreachable: {e}"))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        let code = v["error"]["details"][0]["errorCode"]
            .as_str()
            .or_else(|| v["error"]["status"].as_str())
            .unwrap_or("")
            .to_owned();
        if status.as_u16() == 404 || code == "UNREGISTERED" {
            if let Ok(mut conn) = self.store.conn().await {
                let _ = crate::push::store::clear_push_token(&mut conn, &device.id).await;
            }
        }
        Err(format!("FCM answered {status}: {code}"))
    }
}
