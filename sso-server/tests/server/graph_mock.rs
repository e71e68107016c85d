//! A local Microsoft Graph and identity-platform token endpoint over HTTPS (a certificate issued at
//! test time by a test CA), answering in the shapes Microsoft's documentation shows (fixtures in
//! `tests/fixtures/graph/`). It checks what the documentation requires of a request — the
//! client-credentials form, the bearer token, `$select`, `ConsistencyLevel` — and records every
//! deviation in `problems`, which the tests assert is empty (a panic in a handler would only drop
//! the connection).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

/// The properties the sync must ask for.
const REQUIRED_SELECT: &[&str] = &[
    "id",
    "userPrincipalName",
    "givenName",
    "surname",
    "displayName",
    "mail",
    "department",
    "jobTitle",
    "accountEnabled",
];

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

#[derive(Default)]
pub struct Tenant {
    /// Users by object id (full objects, projected by `$select` when served).
    pub users: BTreeMap<String, Value>,
    /// Transitive members of the sync group, in order.
    pub members: Vec<String>,
    /// Changes the next delta round returns (users, or `@removed` entries).
    pub changes: Vec<Value>,
    /// Answer 403 Authorization_RequestDenied to Graph reads.
    pub deny: bool,
    /// Statuses (and Retry-After) to answer the next Graph GETs with, before serving them.
    pub throttle: VecDeque<(u16, Option<u64>)>,
    /// Items per page.
    pub page_size: usize,
    /// Every request, `METHOD path?query`.
    pub seen: Vec<String>,
    /// What a request did wrong.
    pub problems: Vec<String>,
    tokens: Vec<String>,
    /// The delta token last handed out, and the `$select` of the delta session.
    pub delta_token: Option<String>,
    delta_select: Vec<String>,
    delta_pending: Vec<Value>,
    serial: u64,
    /// A certificate credential registered on the app: its SHA-256 thumbprint (base64url) and
    /// RSA public key (PKCS#1 DER).
    cert: Option<(String, Vec<u8>)>,
    /// Client assertions accepted.
    pub assertions: usize,
}

#[derive(Clone)]
struct Mock {
    tenant: Arc<Mutex<Tenant>>,
    base: String,
    tenant_id: String,
    client_id: String,
    client_secret: String,
    group_id: String,
}

pub struct GraphMock {
    /// `https://localhost:<port>`: the authority; Graph is `<base>/v1.0`.
    pub base: String,
    pub ca_pem: String,
    pub tenant: Arc<Mutex<Tenant>>,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub group_id: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for GraphMock {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A test CA and a `localhost` certificate it issued; returns the CA's PEM and the server config.
fn tls() -> (String, rustls::ServerConfig) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test proxy CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), CertificateDer::from(ca.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .expect("server cert");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), config)
}

impl GraphMock {
    pub async fn start() -> Self {
        let (ca_pem, config) = tls();
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        let base = format!("https://localhost:{port}");
        let tenant = Arc::new(Mutex::new(Tenant {
            page_size: 2,
            ..Tenant::default()
        }));
        let mock = Mock {
            tenant: tenant.clone(),
            base: base.clone(),
            tenant_id: uuid::Uuid::new_v4().to_string(),
            client_id: uuid::Uuid::new_v4().to_string(),
            client_secret: format!("Qx8~{}", uuid::Uuid::new_v4().simple()),
            group_id: uuid::Uuid::new_v4().to_string(),
        };
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(mock.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            base,
            ca_pem,
            tenant,
            tenant_id: mock.tenant_id,
            client_id: mock.client_id,
            client_secret: mock.client_secret,
            group_id: mock.group_id,
            shutdown: Some(tx),
        }
    }

    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base)
    }

    /// The JSON an admin posts to add this tenant as an Entra ID domain.
    pub fn domain_json(&self, name: &str) -> Value {
        json!({
            "kind": "entra_id",
            "name": name,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "group_id": self.group_id,
            "authority_url": self.base,
            "graph_url": self.graph_url(),
            "ca_pem": self.ca_pem,
            "max_removal_percent": 50,
        })
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Tenant) -> R) -> R {
        f(&mut self.tenant.lock().expect("tenant"))
    }

    /// Adds a user (a member of the sync group when `member`); returns its object id.
    pub fn add_user(
        &self,
        given: &str,
        surname: &str,
        mail: &str,
        enabled: bool,
        member: bool,
    ) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let mut u = fixture("user.json");
        u["id"] = json!(id);
        u["givenName"] = json!(given);
        u["surname"] = json!(surname);
        u["displayName"] = json!(format!("{given} {surname}"));
        u["mail"] = json!(mail);
        u["userPrincipalName"] = json!(mail);
        u["accountEnabled"] = json!(enabled);
        self.with(|t| {
            t.users.insert(id.clone(), u);
            if member {
                t.members.push(id.clone());
            }
        });
        id
    }

    /// Changes a property; the next delta round reports the user.
    pub fn set(&self, id: &str, key: &str, value: Value) {
        self.with(|t| {
            let u = t.users.get_mut(id).expect("user");
            u[key] = value;
            let u = u.clone();
            t.changes.push(u);
        });
    }

    /// Deletes the user: gone from the group, `@removed` in the next delta round.
    pub fn delete_user(&self, id: &str) {
        self.with(|t| {
            t.users.remove(id);
            t.members.retain(|m| m != id);
            let mut r = fixture("user-removed.json");
            r["id"] = json!(id);
            t.changes.push(r);
        });
    }

    /// Registers a certificate credential on the app (as an admin uploads one in the Entra admin
    /// center) and returns the PEM the domain is configured with: certificate and private key.
    pub fn use_certificate(&self) -> String {
        use rsa::pkcs8::EncodePrivateKey as _;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
        let key_pem = key
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .expect("PKCS#8")
            .to_string();
        let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
            .expect("rcgen key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sso-server directory sync");
        let cert = params.self_signed(&kp).expect("certificate");
        let thumb = b64(ring::digest::digest(&ring::digest::SHA256, cert.der()).as_ref());
        let ring_key = ring::signature::RsaKeyPair::from_pkcs8(&kp.serialize_der()).expect("ring");
        let public = ring::signature::KeyPair::public_key(&ring_key)
            .as_ref()
            .to_vec();
        self.with(|t| t.cert = Some((thumb, public)));
        format!("{}{key_pem}", cert.pem())
    }

    pub fn problems(&self) -> Vec<String> {
        self.with(|t| t.problems.clone())
    }

    pub fn seen(&self, needle: &str) -> usize {
        self.with(|t| t.seen.iter().filter(|s| s.contains(needle)).count())
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap_or_default()
}

/// Checks a client assertion as the identity platform documents it: RS256, the certificate's
/// thumbprint in `x5t#S256`, signed by its key, `aud` the token endpoint, `iss` = `sub` = the
/// client id, a `jti`, and a validity window. Returns what is wrong.
fn check_assertion(
    jwt: &str,
    cert: &(String, Vec<u8>),
    aud: &str,
    client_id: &str,
) -> Option<String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return Some("not a compact JWS".into());
    };
    let header: Value = serde_json::from_slice(&unb64(h)).unwrap_or_default();
    let claims: Value = serde_json::from_slice(&unb64(c)).unwrap_or_default();
    if header["alg"] != "RS256"
        || header["x5t#S256"] != cert.0.as_str()
        || header["x5t"].as_str().is_none()
    {
        return Some(format!("assertion header {header}"));
    }
    let signed = format!("{h}.{c}");
    if ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &cert.1,
    )
    .verify(signed.as_bytes(), &unb64(sig))
    .is_err()
    {
        return Some("assertion signature does not verify".into());
    }
    let ok = claims["aud"] == aud
        && claims["iss"] == client_id
        && claims["sub"] == client_id
        && claims["jti"].as_str().is_some_and(|j| !j.is_empty())
        && claims["exp"].as_i64() > claims["nbf"].as_i64();
    (!ok).then(|| format!("assertion claims {claims}"))
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn graph_error(status: StatusCode, fixture_name: &str) -> Response {
    json_response(status, fixture(fixture_name))
}

fn project(u: &Value, select: &[String]) -> Value {
    if u.get("@removed").is_some() {
        return u.clone();
    }
    let mut out = serde_json::Map::new();
    for k in select {
        if let Some(v) = u.get(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn select_of(q: &HashMap<String, String>) -> Vec<String> {
    q.get("$select")
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

async fn handle(
    axum::extract::State(m): axum::extract::State<Mock>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut t = m.tenant.lock().expect("tenant");
    t.seen.push(format!("{method} {uri}"));
    let path = uri.path().to_owned();
    let q = query_map(&uri);

    // The token endpoint (client-credentials grant).
    if path == format!("/{}/oauth2/v2.0/token", m.tenant_id) {
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if method != Method::POST || !ct.starts_with("application/x-www-form-urlencoded") {
            t.problems
                .push(format!("token request: {method} with content-type {ct:?}"));
        }
        let scope = format!("{}/.default", m.base);
        if form.get("grant_type").map(String::as_str) != Some("client_credentials")
            || form.get("scope") != Some(&scope)
            || form.get("client_id") != Some(&m.client_id)
        {
            t.problems.push(format!("token request form: {form:?}"));
            return json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}));
        }
        if let Some(jwt) = form.get("client_assertion") {
            let aud = format!("{}{path}", m.base);
            let kind_ok = form.get("client_assertion_type").map(String::as_str)
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            let problem = match &t.cert {
                None => Some("a client assertion, but no certificate is registered".into()),
                Some(_) if !kind_ok => Some(format!(
                    "client_assertion_type {:?}",
                    form.get("client_assertion_type")
                )),
                Some(cert) => check_assertion(jwt, cert, &aud, &m.client_id),
            };
            if form.contains_key("client_secret") {
                t.problems.push("both a secret and an assertion".into());
            }
            if let Some(p) = problem {
                t.problems.push(p);
                return graph_error(StatusCode::UNAUTHORIZED, "error-invalid-client.json");
            }
            t.assertions += 1;
        } else if form.get("client_secret") != Some(&m.client_secret) {
            return graph_error(StatusCode::UNAUTHORIZED, "error-invalid-client.json");
        }
        let token = format!("eyJ0eXAiOiJKV1Qi.{}", uuid::Uuid::new_v4().simple());
        t.tokens.push(token.clone());
        let mut v = fixture("token.json");
        v["access_token"] = json!(token);
        return json_response(StatusCode::OK, v);
    }

    // Graph: a valid bearer token first.
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if !t.tokens.contains(&bearer) {
        t.problems.push(format!("no valid bearer token on {uri}"));
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}),
        );
    }
    if method != Method::GET {
        t.problems.push(format!("{method} {uri}"));
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if let Some((status, retry)) = t.throttle.pop_front() {
        let status = StatusCode::from_u16(status).expect("status");
        let name = if status == StatusCode::TOO_MANY_REQUESTS {
            "error-too-many-requests.json"
        } else {
            "error-service-unavailable.json"
        };
        let mut r = graph_error(status, name);
        if let Some(s) = retry {
            r.headers_mut()
                .insert("retry-after", s.to_string().parse().expect("header"));
        }
        return r;
    }
    if t.deny {
        return graph_error(StatusCode::FORBIDDEN, "error-authorization-denied.json");
    }
    let graph = "/v1.0";
    let members_path = format!(
        "{graph}/groups/{}/transitiveMembers/microsoft.graph.user",
        m.group_id
    );
    if path == members_path {
        // OData casts on transitiveMembers with $count are advanced queries.
        if headers
            .get("consistencylevel")
            .and_then(|v| v.to_str().ok())
            != Some("eventual")
        {
            t.problems
                .push("transitiveMembers without ConsistencyLevel: eventual".into());
        }
        let select = select_of(&q);
        if !(select == ["id"]
            || REQUIRED_SELECT
                .iter()
                .all(|f| select.iter().any(|s| s == f)))
        {
            t.problems
                .push(format!("transitiveMembers $select {select:?}"));
        }
        let offset: usize = q
            .get("$skiptoken")
            .and_then(|s| s.strip_prefix('m'))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let n = t.page_size;
        let ids: Vec<String> = t.members.iter().skip(offset).take(n).cloned().collect();
        let value: Vec<Value> = ids
            .iter()
            .filter_map(|id| t.users.get(id))
            .map(|u| project(u, &select))
            .collect();
        let mut page = json!({
            "@odata.context": format!("{}{graph}/$metadata#users({})", m.base, select.join(",")),
            "@odata.count": t.members.len(),
            "value": value,
        });
        if offset + n < t.members.len() {
            page["@odata.nextLink"] = json!(format!(
                "{}{members_path}?$select={}&$top=999&$count=true&$skiptoken=m{}",
                m.base,
                select.join(","),
                offset + n
            ));
        }
        return json_response(StatusCode::OK, page);
    }
    if path == format!("{graph}/groups/{}", m.group_id) {
        let mut g = fixture("group.json");
        g["id"] = json!(m.group_id);
        return json_response(StatusCode::OK, g);
    }
    if path == format!("{graph}/users/delta") {
        let context = format!("{}{graph}/$metadata#users", m.base);
        let new_link = |t: &mut Tenant| {
            t.serial += 1;
            let token = format!("dt{}-{}", t.serial, uuid::Uuid::new_v4().simple());
            t.delta_token = Some(token.clone());
            format!("{}{graph}/users/delta?$deltatoken={token}", m.base)
        };
        let take_page = |t: &mut Tenant| -> Vec<Value> {
            let n = t.page_size.min(t.delta_pending.len());
            let select = t.delta_select.clone();
            t.delta_pending
                .drain(..n)
                .map(|u| project(&u, &select))
                .collect()
        };
        match (q.get("$deltatoken"), q.get("$skiptoken")) {
            (Some(tok), None) if tok == "latest" => {
                let select = select_of(&q);
                if !REQUIRED_SELECT
                    .iter()
                    .all(|f| select.iter().any(|s| s == f))
                {
                    t.problems.push(format!("users/delta $select {select:?}"));
                }
                t.delta_select = select;
                t.changes.clear();
                let link = new_link(&mut t);
                return json_response(
                    StatusCode::OK,
                    json!({"@odata.context": context, "@odata.deltaLink": link, "value": []}),
                );
            }
            (Some(tok), None) => {
                if t.delta_token.as_ref() != Some(tok) {
                    t.problems.push(format!("unknown delta token {tok}"));
                    return json_response(
                        StatusCode::GONE,
                        json!({"error": {"code": "syncStateNotFound", "message": "The sync state was not found."}}),
                    );
                }
                t.delta_pending = std::mem::take(&mut t.changes);
            }
            (None, Some(skip)) if skip.starts_with("ds") => {}
            _ => {
                t.problems.push(format!("users/delta query {q:?}"));
                return StatusCode::BAD_REQUEST.into_response();
            }
        }
        let value = take_page(&mut t);
        let mut page = json!({"@odata.context": context, "value": value});
        if t.delta_pending.is_empty() {
            page["@odata.deltaLink"] = json!(new_link(&mut t));
        } else {
            t.serial += 1;
            page["@odata.nextLink"] = json!(format!(
                "{}{graph}/users/delta?$skiptoken=ds{}",
                m.base, t.serial
            ));
        }
        return json_response(StatusCode::OK, page);
    }
    if let Some(id) = path.strip_prefix(&format!("{graph}/users/")) {
        let select = select_of(&q);
        if !REQUIRED_SELECT
            .iter()
            .all(|f| select.iter().any(|s| s == f))
        {
            t.problems.push(format!("users/{id} $select {select:?}"));
        }
        return match t.users.get(id) {
            Some(u) => json_response(StatusCode::OK, project(u, &select)),
            None => json_response(
                StatusCode::NOT_FOUND,
                json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource does not exist."}}),
            ),
        };
    }
    t.problems
        .push(format!("unexpected request {method} {uri}"));
    StatusCode::NOT_FOUND.into_response()
}
