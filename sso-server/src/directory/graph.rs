//! A small Microsoft Graph client for directory sync: app-only tokens with the client-credentials
//! grant (a client secret, or a certificate: a signed client assertion), GETs with `@odata.nextLink` paging, throttling (429/503/504 with `Retry-After`, bounded
//! retries, the wait on the app's clock) and errors that say what to fix. The client secret and
//! the access token never appear in errors or logs.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use ring::signature::RsaKeyPair;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use serde_json::Value;

use super::DirectoryError;
use crate::clock::SharedClock;

pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// Attempts per request when Graph throttles or is briefly unavailable.
const MAX_ATTEMPTS: u32 = 5;
/// A `Retry-After` longer than this is cut to it (a run should not stall for an hour).
const MAX_WAIT: Duration = Duration::from_secs(120);

/// How the app proves who it is to the authority.
#[derive(Clone)]
pub enum Credential {
    Secret(String),
    Certificate(ClientCertificate),
}

/// A certificate registered on the app, with its RSA private key: the token request carries a
/// client assertion (a JWT signed RS256, the certificate's thumbprints in its header).
#[derive(Clone)]
pub struct ClientCertificate {
    cert_der: Vec<u8>,
    key: Arc<RsaKeyPair>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl ClientCertificate {
    /// From PEM: one CERTIFICATE and its RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`). The error says what is missing, never the key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let cert_der = CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .ok_or("no CERTIFICATE block found")?
            .map_err(|_| "the CERTIFICATE block is not valid PEM")?
            .to_vec();
        let key = match PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| "no PRIVATE KEY block found (PKCS#8 or PKCS#1 RSA)")?
        {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err("the private key must be an RSA key".into()),
        }
        .map_err(|_| "the private key is not a usable RSA key (2048 bits or more)")?;
        Ok(Self {
            cert_der,
            key: Arc::new(key),
        })
    }

    /// The certificate's SHA-256 thumbprint, base64url (as `x5t#S256`).
    pub fn thumbprint_s256(&self) -> String {
        b64(ring::digest::digest(&ring::digest::SHA256, &self.cert_der).as_ref())
    }

    /// A client assertion for the token endpoint `audience`, valid ten minutes.
    fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now_ms: i64,
    ) -> Result<String, DirectoryError> {
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.cert_der);
        let header = serde_json::json!({
            "alg": "RS256", "typ": "JWT",
            "x5t": b64(sha1.as_ref()), "x5t#S256": self.thumbprint_s256(),
        });
        let now = now_ms / 1000;
        let claims = serde_json::json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now, "iat": now, "exp": now + 600,
        });
        let mut out = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                out.as_bytes(),
                &mut sig,
            )
            .map_err(|_| DirectoryError::Config("signing the client assertion failed".into()))?;
        out.push('.');
        out.push_str(&b64(&sig));
        Ok(out)
    }
}

/// How to reach and authenticate to a tenant.
#[derive(Clone)]
pub struct GraphSettings {
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
    /// e.g. `https://login.microsoftonline.com` (no trailing slash).
    pub authority_url: String,
    /// e.g. `https://graph.microsoft.com/v1.0` (no trailing slash).
    pub graph_url: String,
    /// The sync group's object id.
    pub group_id: String,
    /// Extra CA certificate(s) to trust for the authority and Graph (a TLS-intercepting proxy).
    pub ca_pem: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for GraphSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphSettings")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("credential", &"<redacted>")
            .field("authority_url", &self.authority_url)
            .field("graph_url", &self.graph_url)
            .field("group_id", &self.group_id)
            .finish()
    }
}

/// The application permissions a sync needs, named in the error when Graph refuses.
pub const PERMISSION_MEMBERS: &str = "GroupMember.Read.All";
pub const PERMISSION_USERS: &str = "User.Read.All";

/// An HTTP client with the configured extra CA trusted besides the public roots.
pub fn http_client(
    ca_pem: Option<&str>,
    timeout: Duration,
) -> Result<reqwest::Client, DirectoryError> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .https_only(true)
        // A bearer token must not follow a redirect somewhere else.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| DirectoryError::Config(format!("ca_pem: not a PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(DirectoryError::Config(
                "ca_pem: no certificate found in the PEM".into(),
            ));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| DirectoryError::Config(format!("cannot set up the HTTPS client: {e}")))
}

/// scheme://host[:port] of a URL, what `@odata.nextLink` must stay on.
pub fn origin(u: &str) -> Option<String> {
    let u = url::Url::parse(u).ok()?;
    Some(u.origin().ascii_serialization())
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize, Default)]
struct GraphErrorBody {
    #[serde(default)]
    error: GraphErrorInner,
}

#[derive(Deserialize, Default)]
struct GraphErrorInner {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// One page of a collection.
pub struct Page {
    pub value: Vec<Value>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

pub struct GraphClient {
    http: reqwest::Client,
    pub settings: GraphSettings,
    clock: SharedClock,
    token: Option<String>,
    graph_origin: String,
}

/// The first line of an AAD error description (the rest is trace and correlation ids).
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default().trim()
}

/// `Retry-After` in seconds (Graph sends seconds; an HTTP date is not used by Graph).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn throttled(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

impl GraphClient {
    pub fn new(settings: GraphSettings, clock: SharedClock) -> Result<Self, DirectoryError> {
        let http = http_client(settings.ca_pem.as_deref(), settings.timeout)?;
        let graph_origin = origin(&settings.graph_url)
            .ok_or_else(|| DirectoryError::Config("graph_url: not a URL".into()))?;
        Ok(Self {
            http,
            settings,
            clock,
            token: None,
            graph_origin,
        })
    }

    fn unreachable(&self, url: &str, e: &reqwest::Error) -> DirectoryError {
        // reqwest's message names the URL; its source chain says why (TLS, DNS, timeout).
        let mut reason = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            reason = format!("{reason}: {s}");
            src = s.source();
        }
        let host = origin(url).unwrap_or_else(|| url.to_owned());
        if reason.contains("certificate") || reason.contains("UnknownIssuer") {
            DirectoryError::UntrustedCertificate { url: host, reason }
        } else {
            DirectoryError::Unreachable { url: host, reason }
        }
    }

    /// Waits before another attempt: `Retry-After` when given, else 1, 2, 4… seconds.
    async fn back_off(&self, headers: &HeaderMap, attempt: u32) {
        let wait = retry_after(headers)
            .unwrap_or_else(|| Duration::from_secs(1 << attempt.min(6)))
            .min(MAX_WAIT);
        self.clock.sleep(wait).await;
    }

    /// An app-only token from the authority (client-credentials grant), cached for the run.
    pub async fn token(&mut self) -> Result<String, DirectoryError> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let s = &self.settings;
        let url = format!("{}/{}/oauth2/v2.0/token", s.authority_url, s.tenant_id);
        let scope = format!("{}/.default", self.graph_origin);
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            // A fresh assertion per attempt: each has its own jti and validity.
            let mut form = vec![
                ("client_id", s.client_id.clone()),
                ("scope", scope.clone()),
                ("grant_type", "client_credentials".to_owned()),
            ];
            match &s.credential {
                Credential::Secret(secret) => form.push(("client_secret", secret.clone())),
                Credential::Certificate(c) => {
                    form.push((
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                    ));
                    form.push((
                        "client_assertion",
                        c.assertion(&s.client_id, &url, self.clock.now_ms())?,
                    ));
                }
            }
            let resp = self
                .http
                .post(&url)
                .form(&form)
                .send()
                .await
                .map_err(|e| self.unreachable(&url, &e))?;
            if throttled(resp.status()) && attempt < MAX_ATTEMPTS {
                self.back_off(resp.headers(), attempt).await;
                continue;
            }
            break resp;
        };
        let status = resp.status();
        if status.is_success() {
            let t: TokenResponse = resp.json().await.map_err(|e| DirectoryError::Graph {
                operation: "token request".into(),
                reason: format!("unexpected token response: {e}"),
            })?;
            if !t.token_type.eq_ignore_ascii_case("bearer") {
                return Err(DirectoryError::Graph {
                    operation: "token request".into(),
                    reason: format!("unexpected token type {:?}", t.token_type),
                });
            }
            self.token = Some(t.access_token.clone());
            return Ok(t.access_token);
        }
        let err: OAuthError = resp.json().await.unwrap_or_default();
        let detail = format!("{} {}", err.error, first_line(&err.error_description));
        Err(match err.error.as_str() {
            "invalid_client" | "unauthorized_client" => DirectoryError::GraphCredentials {
                authority: s.authority_url.clone(),
                reason: detail.trim().to_owned(),
            },
            _ if status.is_client_error() => DirectoryError::GraphCredentials {
                authority: s.authority_url.clone(),
                reason: format!("HTTP {} {}", status.as_u16(), detail.trim()),
            },
            _ => DirectoryError::Graph {
                operation: "token request".into(),
                reason: format!("HTTP {} {}", status.as_u16(), detail.trim()),
            },
        })
    }

    /// GETs one page (or object) from Graph, retrying throttled requests and a stale token.
    /// `permission` is the application permission the request needs, named on a 403.
    pub async fn get(
        &mut self,
        url: &str,
        operation: &str,
        permission: &str,
    ) -> Result<Value, DirectoryError> {
        if origin(url).as_deref() != Some(self.graph_origin.as_str()) {
            return Err(DirectoryError::Graph {
                operation: operation.into(),
                reason: format!(
                    "Graph sent a link to another host ({}); not following it with the token",
                    origin(url).unwrap_or_default()
                ),
            });
        }
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            let token = self.token().await?;
            let resp = self
                .http
                .get(url)
                .bearer_auth(&token)
                // Needed by the advanced queries ($count, OData casts on transitiveMembers).
                .header("ConsistencyLevel", "eventual")
                .send()
                .await
                .map_err(|e| self.unreachable(url, &e))?;
            let status = resp.status();
            if status.is_success() {
                return resp.json().await.map_err(|e| DirectoryError::Graph {
                    operation: operation.into(),
                    reason: format!("unexpected response: {e}"),
                });
            }
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // The token expired during a long run: get a new one, once.
                self.token = None;
                renewed = true;
                continue;
            }
            if throttled(status) && attempt < MAX_ATTEMPTS {
                tracing::info!(
                    operation,
                    status = status.as_u16(),
                    attempt,
                    "Microsoft Graph throttled the sync; waiting"
                );
                self.back_off(resp.headers(), attempt).await;
                continue;
            }
            let body: GraphErrorBody = resp.json().await.unwrap_or_default();
            let e = body.error;
            return Err(match (status, e.code.as_str()) {
                (StatusCode::FORBIDDEN, _) => DirectoryError::MissingPermission {
                    operation: operation.into(),
                    code: e.code,
                    permission: permission.into(),
                },
                (StatusCode::NOT_FOUND, _) if operation == OP_MEMBERS || operation == OP_GROUP => {
                    DirectoryError::GroupNotFound(self.settings.group_id.clone())
                }
                (StatusCode::GONE, _) => DirectoryError::DeltaExpired,
                (s, _) if throttled(s) => DirectoryError::Graph {
                    operation: operation.into(),
                    reason: format!(
                        "still throttled (HTTP {}) after {MAX_ATTEMPTS} attempts; try again later",
                        s.as_u16()
                    ),
                },
                (s, code) => DirectoryError::Graph {
                    operation: operation.into(),
                    reason: format!("HTTP {} {code}: {}", s.as_u16(), first_line(&e.message)),
                },
            });
        }
    }

    /// GETs a page of a collection.
    pub async fn page(
        &mut self,
        url: &str,
        operation: &str,
        permission: &str,
    ) -> Result<Page, DirectoryError> {
        let mut v = self.get(url, operation, permission).await?;
        let link = |v: &mut Value, k: &str| {
            v.get_mut(k)
                .and_then(|l| l.as_str().map(str::to_owned))
                .filter(|l| !l.is_empty())
        };
        let next_link = link(&mut v, "@odata.nextLink");
        let delta_link = link(&mut v, "@odata.deltaLink");
        let value = match v.get_mut("value").map(Value::take) {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(DirectoryError::Graph {
                    operation: operation.into(),
                    reason: "the response has no `value` array".into(),
                })
            }
        };
        Ok(Page {
            value,
            next_link,
            delta_link,
        })
    }

    /// Every page from `url` on; returns the items and the final delta link, if any.
    pub async fn all_pages(
        &mut self,
        url: &str,
        operation: &str,
        permission: &str,
        on_page: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(Vec<Value>, Option<String>), DirectoryError> {
        let mut out = Vec::new();
        let mut next = url.to_owned();
        loop {
            let page = self.page(&next, operation, permission).await?;
            out.extend(page.value);
            on_page(out.len() as u64);
            match page.next_link {
                Some(l) => next = l,
                None => return Ok((out, page.delta_link)),
            }
        }
    }
}

/// The operation name of the group read (a 404 means the group does not exist).
pub const OP_GROUP: &str = "reading the sync group";

/// The operation name of the members read (a 404 on it means the group does not exist).
pub const OP_MEMBERS: &str = "reading the sync group's members";
