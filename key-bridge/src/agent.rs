//! The key-bridge agent: talks to the SSO server for one workstation. It activates a key with
//! the code the employee types, then fetches the key's tasks (long poll), applies them to the
//! key in order and confirms each. Confirmations are idempotent on the server (task ids), so
//! the agent retries them freely; a task the key could not be reached for stays pending and is
//! fetched again.
//!
//! The agent authenticates as a confidential OIDC client with the client-credentials grant
//! (HTTP Basic). The wire protocol is documented in `sso-server/src/keys/bridge.rs`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::device::{Credential, KeyDevice};
use crate::error::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid agent configuration: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("cannot reach the SSO server: {0}")]
    Unreachable(String),
    /// The server refused the request; `message` is its explanation.
    #[error("the server refused: {message} (HTTP {status})")]
    Refused {
        status: u16,
        code: String,
        message: String,
        attempts_left: Option<i64>,
    },
    #[error("the server's answer could not be read: {0}")]
    BadResponse(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Where the server is and who the agent is.
#[derive(Clone)]
pub struct AgentConfig {
    /// The server's base URL, e.g. `https://sso.example.com`.
    pub server: String,
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
    /// Extra CA certificates (PEM) to trust for the server, e.g. a company CA.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("server", &self.server)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A task as the server sends it.
#[derive(Deserialize)]
pub struct Task {
    pub id: String,
    pub operation: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub password: Option<Zeroizing<String>>,
    #[serde(default)]
    pub from: Option<String>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TaskList {
    state: String,
    tasks: Vec<Task>,
}

/// What one round of work did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// The key's state on the server.
    pub key_state: String,
    pub applied: usize,
    pub failed: usize,
    /// The key could not be reached: the remaining tasks wait for the next round.
    pub key_unreachable: bool,
}

pub struct Agent {
    base: url::Url,
    http: reqwest::Client,
    client_id: String,
    client_secret: Zeroizing<String>,
}

impl Agent {
    pub fn new(config: AgentConfig) -> Result<Self, AgentError> {
        let mut base = url::Url::parse(&config.server).map_err(|e| AgentError::Config {
            field: "server",
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "https" | "http") {
            return Err(AgentError::Config {
                field: "server",
                reason: "must be an https:// URL".into(),
            });
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(45))
            .connect_timeout(Duration::from_secs(10));
        if let Some(pem) = &config.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                AgentError::Config {
                    field: "ca_pem",
                    reason: e.to_string(),
                }
            })? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| AgentError::Config {
            field: "http",
            reason: e.to_string(),
        })?;
        if config.client_id.is_empty() {
            return Err(AgentError::Config {
                field: "client_id",
                reason: "must not be empty".into(),
            });
        }
        Ok(Self {
            base,
            http,
            client_id: config.client_id,
            client_secret: config.client_secret,
        })
    }

    fn url(&self, path: &str) -> Result<url::Url, AgentError> {
        self.base.join(path).map_err(|e| AgentError::Config {
            field: "server",
            reason: e.to_string(),
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<serde_json::Value, AgentError> {
        let resp = req
            .basic_auth(&self.client_id, Some(self.client_secret.as_str()))
            .send()
            .await
            .map_err(|e| AgentError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| AgentError::BadResponse(e.without_url().to_string()))?;
        if status.is_success() {
            return Ok(body);
        }
        let text = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        Err(AgentError::Refused {
            status: status.as_u16(),
            code: text("error"),
            message: match text("message") {
                m if m.is_empty() => text("error_description"),
                m => m,
            },
            attempts_left: body.get("attempts_left").and_then(|v| v.as_i64()),
        })
    }

    /// Activates the key with the code the employee typed: the server checks it (wrong codes
    /// count down to a locked key), then the key is linked with it.
    pub async fn activate(&self, key: &mut dyn KeyDevice, code: &str) -> Result<(), AgentError> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AgentError::Config {
                field: "code",
                reason: "the activation code has 6 digits".into(),
            });
        }
        let serial = key.serial();
        self.send(
            self.http
                .post(self.url("api/keys/activate")?)
                .json(&json!({ "serial": serial, "code": code })),
        )
        .await?;
        match key.link(code) {
            Ok(()) | Err(KeyError::AlreadyLinked) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The key's pending tasks, waiting up to `wait` for some.
    pub async fn fetch(
        &self,
        serial: &str,
        wait: Duration,
    ) -> Result<(String, Vec<Task>), AgentError> {
        let mut url = self.url(&format!("api/keys/{serial}/tasks"))?;
        url.query_pairs_mut()
            .append_pair("wait", &wait.as_secs().to_string());
        let body = self.send(self.http.get(url)).await?;
        let list: TaskList =
            serde_json::from_value(body).map_err(|e| AgentError::BadResponse(e.to_string()))?;
        Ok((list.state, list.tasks))
    }

    /// Confirms a task, retrying a few times if the server cannot be reached (the server takes
    /// the same confirmation twice without harm).
    pub async fn confirm(
        &self,
        serial: &str,
        task_id: &str,
        outcome: Result<(), &KeyError>,
    ) -> Result<(), AgentError> {
        let body = match outcome {
            Ok(()) => json!({ "result": "applied" }),
            Err(e) => json!({ "result": "failed", "error": e.to_string() }),
        };
        let url = self.url(&format!("api/keys/{serial}/tasks/{task_id}"))?;
        let mut last = None;
        for attempt in 0..3u64 {
            match self.send(self.http.post(url.clone()).json(&body)).await {
                Ok(_) => return Ok(()),
                Err(AgentError::Unreachable(e)) => {
                    last = Some(AgentError::Unreachable(e));
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| AgentError::Unreachable("no answer".into())))
    }

    /// Fetches the key's tasks (waiting up to `wait`), applies them in order and confirms each.
    /// Stops at the first task the key cannot be reached for: it stays pending on the server.
    pub async fn run_once(
        &self,
        key: &mut dyn KeyDevice,
        wait: Duration,
    ) -> Result<Round, AgentError> {
        let serial = key.serial();
        let (key_state, tasks) = self.fetch(&serial, wait).await?;
        let mut round = Round {
            key_state,
            ..Round::default()
        };
        for task in tasks {
            let outcome = apply(key, &task);
            match &outcome {
                Err(KeyError::NotConnected | KeyError::Transport(_)) => {
                    round.key_unreachable = true;
                    break;
                }
                Ok(()) => round.applied += 1,
                Err(_) => round.failed += 1,
            }
            self.confirm(&serial, &task.id, outcome.as_ref().map(|_| ()))
                .await?;
        }
        Ok(round)
    }

    /// The employee changes their domain password through the key-bridge: `key_only` stores
    /// `password` on the key (they changed it in AD themselves); `key_and_directory` rotates it
    /// on the key and in AD (generated by the server unless given). Returns the rotation id.
    pub async fn change_password(
        &self,
        serial: &str,
        key_only: bool,
        password: Option<&str>,
    ) -> Result<String, AgentError> {
        let body = json!({
            "scope": if key_only { "key_only" } else { "key_and_directory" },
            "password": password,
        });
        let answer = self
            .send(
                self.http
                    .post(self.url(&format!("api/keys/{serial}/password"))?)
                    .json(&body),
            )
            .await?;
        Ok(answer
            .get("rotation")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned())
    }
}

fn required<'a>(v: &'a Option<String>, what: &'static str) -> Result<&'a str, KeyError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(KeyError::InvalidInput(what))
}

/// Applies one task to the key. Every operation is safe to apply twice.
pub fn apply(key: &mut dyn KeyDevice, task: &Task) -> Result<(), KeyError> {
    match task.operation.as_str() {
        "write_password" => {
            let name = required(&task.name, "the task names no credential")?;
            let login = required(&task.login, "the task has no login")?;
            let password = task
                .password
                .as_ref()
                .filter(|p| !p.is_empty())
                .ok_or(KeyError::InvalidInput("the task has no password"))?;
            key.write_credential(&Credential::new(name, login, password.as_str()))
        }
        "promote_password" => {
            let name = required(&task.name, "the task names no credential")?;
            let from = required(&task.from, "the task names no source credential")?;
            match key.read_credential(from) {
                Ok(next) => {
                    key.write_credential(&Credential::new(
                        name,
                        next.login.clone(),
                        next.password.clone(),
                    ))?;
                    match key.delete_credential(from) {
                        Ok(()) | Err(KeyError::NoSuchCredential(_)) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
                // Already promoted by an earlier attempt whose confirmation was lost.
                Err(KeyError::NoSuchCredential(_)) => key.read_credential(name).map(drop),
                Err(e) => Err(e),
            }
        }
        "discard_password" => {
            let name = required(&task.name, "the task names no credential")?;
            match key.delete_credential(name) {
                Ok(()) | Err(KeyError::NoSuchCredential(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        "wipe" => key.wipe(),
        _ => Err(KeyError::InvalidInput("unknown task operation")),
    }
}
