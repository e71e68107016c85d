//! The key-bridge agent: talks to the SSO server for one workstation. It enrols the workstation
//! once (its own P-256 key, with a one-time token from the admin), activates a key with the code
//! the employee types, then fetches the key's tasks (long poll), applies them to the key in order
//! and confirms each. Confirmations are idempotent on the server (task ids), so the agent retries
//! them freely; a task the key could not be reached for stays pending and is fetched again.
//!
//! Every request is signed by the workstation and, when it is about a key, by the key itself
//! ([`key_protocol::sign`]); passwords arrive sealed to the key and are opened only inside it.
//! The wire contract is the `key-protocol` crate, shared with the server.

use std::sync::Arc;
use std::time::Duration;

use key_protocol::sign::new_nonce;
use key_protocol::{
    b64, ActivateKey, ChangePassword, ConfirmTask, EnrolWorkstation, IdentityKey, Operation,
    Request, Scope, SignedHeaders, Task, TaskList, TaskResult, WorkstationEnrolled,
};
use reqwest::Method;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::device::{Credential, KeyDevice, StoredProof};
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

/// The workstation's identity: the id the server gave it and its private key (kept by the
/// caller in sealed storage).
#[derive(Clone, Debug)]
pub struct Workstation {
    pub id: String,
    pub key: IdentityKey,
}

/// Unix seconds now.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// Where the server is and who the agent is.
#[derive(Clone)]
pub struct AgentConfig {
    /// The server's base URL, e.g. `https://sso.example.com`. `http://` only for loopback.
    pub server: String,
    /// Extra CA certificates (PEM) to trust for the server, e.g. a company CA.
    pub ca_pem: Option<String>,
    /// The workstation's identity; `None` until [`Agent::enrol`].
    pub workstation: Option<Workstation>,
    /// The time requests are signed with ([`system_clock`] in production).
    pub clock: Clock,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("server", &self.server)
            .field("workstation", &self.workstation.as_ref().map(|w| &w.id))
            .finish_non_exhaustive()
    }
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

/// Who signs a request besides the workstation: a key, and the PIN it must check first.
pub struct KeySigner<'a> {
    pub key: &'a mut dyn KeyDevice,
    pub pin: Option<&'a str>,
}

pub struct Agent {
    base: url::Url,
    http: reqwest::Client,
    workstation: Option<Workstation>,
    clock: Clock,
}

/// `http://` is only for a server on this machine; anything else must be `https://`.
fn check_server(url: &url::Url) -> Result<(), AgentError> {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(AgentError::Config {
            field: "server",
            reason: "must be an https:// URL (http:// only for a server on this machine)".into(),
        }),
    }
}

impl Agent {
    pub fn new(config: AgentConfig) -> Result<Self, AgentError> {
        let mut base = url::Url::parse(&config.server).map_err(|e| AgentError::Config {
            field: "server",
            reason: e.to_string(),
        })?;
        check_server(&base)?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(45))
            .connect_timeout(Duration::from_secs(10))
            // A redirect would carry a signed request somewhere else.
            .redirect(reqwest::redirect::Policy::none());
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
        Ok(Self {
            base,
            http,
            workstation: config.workstation,
            clock: config.clock,
        })
    }

    /// The enrolled workstation, if any.
    pub fn workstation(&self) -> Option<&Workstation> {
        self.workstation.as_ref()
    }

    /// The signature headers for one request (`path` is relative to the server's base URL, with
    /// its query). Public so that tools and tests can send exactly what the agent sends.
    pub fn sign(
        &self,
        method: &Method,
        path: &str,
        body: &[u8],
        key: Option<KeySigner<'_>>,
    ) -> Result<SignedHeaders, AgentError> {
        let ws = self.workstation.as_ref().ok_or(AgentError::Config {
            field: "workstation",
            reason: "this workstation is not enrolled: run `key-bridge enrol` first".into(),
        })?;
        sign_as(ws, &self.clock, method, path, body, key)
    }

    fn url(&self, path: &str) -> Result<url::Url, AgentError> {
        self.base.join(path).map_err(|e| AgentError::Config {
            field: "server",
            reason: e.to_string(),
        })
    }

    /// Sends a request with the given signature headers; the answer's JSON, or the refusal.
    pub async fn send_signed(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        headers: &SignedHeaders,
    ) -> Result<serde_json::Value, AgentError> {
        let mut req = self.http.request(method, self.url(path)?);
        for (name, value) in headers.pairs() {
            req = req.header(name, value);
        }
        if !body.is_empty() {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = req
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

    async fn call<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        key: Option<KeySigner<'_>>,
    ) -> Result<serde_json::Value, AgentError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| AgentError::Config {
                field: "body",
                reason: e.to_string(),
            })?,
            None => Vec::new(),
        };
        let headers = self.sign(&method, path, &bytes, key)?;
        self.send_signed(method, path, bytes, &headers).await
    }

    /// Enrols this workstation with the one-time token the admin created for it: makes the
    /// workstation's key pair and registers its public half. The caller keeps the returned
    /// identity in sealed storage.
    pub async fn enrol(&mut self, token: &str) -> Result<Workstation, AgentError> {
        let token = token.trim();
        let (id, _) =
            key_protocol::split_enrolment_token(token).ok_or_else(|| AgentError::Config {
                field: "token",
                reason: "not an enrolment token (<workstation id>.<secret>)".into(),
            })?;
        let ws = Workstation {
            id: id.to_owned(),
            key: IdentityKey::generate().map_err(|e| AgentError::Config {
                field: "workstation",
                reason: e.to_string(),
            })?,
        };
        let body = serde_json::to_vec(&EnrolWorkstation {
            token: token.to_owned(),
            public_key: b64(&ws.key.public_key()),
        })
        .map_err(|e| AgentError::BadResponse(e.to_string()))?;
        let path = "api/workstations/enrol";
        let headers = sign_as(&ws, &self.clock, &Method::POST, path, &body, None)?;
        let answer = self.send_signed(Method::POST, path, body, &headers).await?;
        let enrolled: WorkstationEnrolled =
            serde_json::from_value(answer).map_err(|e| AgentError::BadResponse(e.to_string()))?;
        let ws = Workstation {
            id: enrolled.workstation_id,
            key: ws.key,
        };
        self.workstation = Some(ws.clone());
        Ok(ws)
    }

    /// Activates the key with the code the employee typed: the server checks it (wrong codes
    /// count down to a locked key) and records the key's public key, which the key proves it
    /// holds by signing the request after checking `pin` (so a PIN is set from the start, and
    /// nobody can set one later without wiping the key); then the key is linked with the code.
    pub async fn activate(
        &self,
        key: &mut dyn KeyDevice,
        code: &str,
        pin: &str,
    ) -> Result<(), AgentError> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AgentError::Config {
                field: "code",
                reason: "the activation code has 6 digits".into(),
            });
        }
        let body = ActivateKey {
            serial: key.serial(),
            code: code.to_owned(),
            public_key: b64(&key.public_key()?),
            attestation: b64(&key.attest_identity()?),
        };
        self.call(
            Method::POST,
            "api/keys/activate",
            Some(&body),
            Some(KeySigner {
                key: &mut *key,
                pin: Some(pin),
            }),
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
        key: &mut dyn KeyDevice,
        wait: Duration,
    ) -> Result<(String, Vec<Task>), AgentError> {
        let path = format!("api/keys/{}/tasks?wait={}", key.serial(), wait.as_secs());
        let body = self
            .call::<()>(Method::GET, &path, None, Some(KeySigner { key, pin: None }))
            .await?;
        let list: TaskList =
            serde_json::from_value(body).map_err(|e| AgentError::BadResponse(e.to_string()))?;
        Ok((list.state, list.tasks))
    }

    /// Confirms a task, retrying a few times if the server cannot be reached (the server takes
    /// the same confirmation twice without harm).
    pub async fn confirm(
        &self,
        key: &mut dyn KeyDevice,
        task_id: &str,
        outcome: Result<Option<StoredProof>, &KeyError>,
    ) -> Result<(), AgentError> {
        let body = match outcome {
            Ok(proof) => ConfirmTask {
                result: TaskResult::Applied,
                error: None,
                proof: proof.map(|p| b64(&p)),
            },
            Err(e) => ConfirmTask {
                result: TaskResult::Failed,
                error: Some(e.to_string()),
                proof: None,
            },
        };
        let path = format!("api/keys/{}/tasks/{task_id}", key.serial());
        let mut last = None;
        for attempt in 0..3u64 {
            // Each attempt is signed anew: a resent signature would be a replay.
            match self
                .call(
                    Method::POST,
                    &path,
                    Some(&body),
                    Some(KeySigner {
                        key: &mut *key,
                        pin: None,
                    }),
                )
                .await
            {
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
        let (key_state, tasks) = match self.fetch(key, wait).await {
            Ok(fetched) => fetched,
            // The key must sign the fetch: out of reach, nothing can be asked for it.
            Err(AgentError::Key(KeyError::NotConnected | KeyError::Transport(_))) => {
                return Ok(Round {
                    key_unreachable: true,
                    ..Round::default()
                })
            }
            Err(e) => return Err(e),
        };
        let mut round = Round {
            key_state,
            ..Round::default()
        };
        for task in tasks {
            if task.operation == Operation::Wipe {
                match self.wipe(key, &serial, &task).await? {
                    Some(true) => round.applied += 1,
                    Some(false) => round.failed += 1,
                    None => {
                        round.key_unreachable = true;
                        break;
                    }
                }
                continue;
            }
            let outcome = apply(key, &task);
            match &outcome {
                Err(KeyError::NotConnected | KeyError::Transport(_)) => {
                    round.key_unreachable = true;
                    break;
                }
                Ok(_) => round.applied += 1,
                Err(_) => round.failed += 1,
            }
            self.confirm(key, &task.id, outcome.as_ref().map(|p| *p))
                .await?;
        }
        Ok(round)
    }

    /// Applies a wipe task. A wiped key has a new identity that the server does not know, so
    /// the confirmation is signed by the key *before* the wipe and sent after it (resent as is
    /// only while the server cannot be reached). `None`: the key could not be reached.
    async fn wipe(
        &self,
        key: &mut dyn KeyDevice,
        serial: &str,
        task: &Task,
    ) -> Result<Option<bool>, AgentError> {
        let path = format!("api/keys/{serial}/tasks/{}", task.id);
        let body = serde_json::to_vec(&ConfirmTask {
            result: TaskResult::Applied,
            error: None,
            proof: None,
        })
        .map_err(|e| AgentError::BadResponse(e.to_string()))?;
        let headers = self.sign(
            &Method::POST,
            &path,
            &body,
            Some(KeySigner {
                key: &mut *key,
                pin: None,
            }),
        )?;
        match key.wipe() {
            Ok(()) => {}
            Err(KeyError::NotConnected | KeyError::Transport(_)) => return Ok(None),
            Err(e) => {
                self.confirm(key, &task.id, Err(&e)).await?;
                return Ok(Some(false));
            }
        }
        let mut last = None;
        for attempt in 0..3u64 {
            match self
                .send_signed(Method::POST, &path, body.clone(), &headers)
                .await
            {
                Ok(_) => return Ok(Some(true)),
                Err(AgentError::Unreachable(e)) => {
                    last = Some(AgentError::Unreachable(e));
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| AgentError::Unreachable("no answer".into())))
    }

    /// The employee changes their domain password through the key-bridge: `KeyOnly` stores
    /// `password` on the key (they changed it in AD themselves); `KeyAndDirectory` rotates it on
    /// the key and in AD (generated by the server unless given). The key checks `pin` for this
    /// request (a wrong one costs an attempt; the last wipes the key). Returns the rotation id.
    pub async fn change_password(
        &self,
        key: &mut dyn KeyDevice,
        pin: &str,
        scope: Scope,
        password: Option<&str>,
        domain: Option<&str>,
    ) -> Result<String, AgentError> {
        let body = ChangePassword {
            scope,
            password: password.map(|p| Zeroizing::new(p.to_owned())),
            domain: domain.map(str::to_owned),
        };
        let path = format!("api/keys/{}/password", key.serial());
        let answer = self
            .call(
                Method::POST,
                &path,
                Some(&body),
                Some(KeySigner {
                    key,
                    pin: Some(pin),
                }),
            )
            .await?;
        Ok(answer
            .get("rotation")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned())
    }
}

fn sign_as(
    ws: &Workstation,
    clock: &Clock,
    method: &Method,
    path: &str,
    body: &[u8],
    key: Option<KeySigner<'_>>,
) -> Result<SignedHeaders, AgentError> {
    let nonce = new_nonce().map_err(|e| AgentError::Config {
        field: "nonce",
        reason: e.to_string(),
    })?;
    let time = clock();
    let message = Request {
        method: method.as_str(),
        path_and_query: path,
        body,
        time,
        nonce: &nonce,
        workstation_id: &ws.id,
    }
    .message();
    let workstation_signature = b64(&ws.key.sign(&key_protocol::workstation_message(&message)));
    let (key_signature, user_verified) = match key {
        Some(KeySigner { key, pin }) => {
            let s = key.sign_request(&message, pin)?;
            (Some(b64(&s.signature)), s.user_verified)
        }
        None => (None, false),
    };
    Ok(SignedHeaders {
        workstation_id: ws.id.clone(),
        time,
        nonce,
        workstation_signature,
        key_signature,
        user_verified,
    })
}

fn required<'a>(v: &'a Option<String>, what: &'static str) -> Result<&'a str, KeyError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(KeyError::InvalidInput(what))
}

/// Applies one task to the key. Every operation is safe to apply twice. A stored password comes
/// with the key's proof that it holds it.
pub fn apply(key: &mut dyn KeyDevice, task: &Task) -> Result<Option<StoredProof>, KeyError> {
    match task.operation {
        Operation::WritePassword => {
            let name = required(&task.name, "the task names no credential")?;
            let login = required(&task.login, "the task has no login")?;
            let sealed = task
                .sealed_password
                .as_ref()
                .ok_or(KeyError::InvalidInput("the task has no password"))?;
            key.write_sealed_credential(&task.id, name, login, sealed)
                .map(Some)
        }
        other => apply_unproven(key, task, other).map(|()| None),
    }
}

fn apply_unproven(key: &mut dyn KeyDevice, task: &Task, op: Operation) -> Result<(), KeyError> {
    match op {
        Operation::WritePassword => Err(KeyError::InvalidInput("a write needs its proof")),
        Operation::PromotePassword => {
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
        Operation::DiscardPassword => {
            let name = required(&task.name, "the task names no credential")?;
            match key.delete_credential(name) {
                Ok(()) | Err(KeyError::NoSuchCredential(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Operation::Wipe => key.wipe(),
        Operation::Unknown => Err(KeyError::InvalidInput("unknown task operation")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server: &str) -> AgentConfig {
        AgentConfig {
            server: server.into(),
            ca_pem: None,
            workstation: None,
            clock: system_clock(),
        }
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "https://sso.example.com",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://localhost:8080",
        ] {
            assert!(Agent::new(config(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://sso.example.com",
            "http://10.0.0.5",
            "ftp://sso.example.com",
        ] {
            let err = Agent::new(config(bad)).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains("server")),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn nothing_is_signed_before_the_workstation_is_enrolled() {
        let agent = Agent::new(config("https://sso.example.com")).unwrap();
        let err = agent
            .sign(&Method::GET, "api/keys/K/tasks", b"", None)
            .unwrap_err();
        assert!(err.to_string().contains("enrol"), "{err}");
    }
}
