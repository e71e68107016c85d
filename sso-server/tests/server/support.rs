//! Starting servers and databases for the tests.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection as _;
use sso_server::app::{self, AppState};
use sso_server::audit::Actor;
use sso_server::clock::{Clock, ManualClock};
use sso_server::config::Config;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// The backends to run against: SQLite always, PostgreSQL when configured (and required to be
/// configured when the test script says so).
pub fn backends() -> Vec<Db> {
    let mut v = vec![Db::Sqlite];
    if require(
        "PostgreSQL server (E2E_POSTGRES_URL)",
        test_support::postgres_url(),
    )
    .is_some()
    {
        v.push(Db::Postgres);
    }
    v
}

/// A fresh, empty PostgreSQL database for one test; returns its URL.
pub async fn fresh_postgres_db() -> String {
    let admin_url = std::env::var("E2E_POSTGRES_URL").expect("E2E_POSTGRES_URL");
    let name = format!("sso_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("postgres url");
    url.set_path(&name);
    url.to_string()
}

/// The test vendor of hardware keys: one CA per test process, its certificate in a file the
/// test servers trust (`keys.vendor_ca_file`).
pub struct TestVendor {
    pub ca: key_bridge::VendorCa,
    pub cert_file: std::path::PathBuf,
}

pub fn vendor() -> &'static TestVendor {
    static VENDOR: std::sync::OnceLock<TestVendor> = std::sync::OnceLock::new();
    VENDOR.get_or_init(|| {
        let ca = key_bridge::VendorCa::generate("Test Key Vendor").expect("vendor CA");
        let dir = tempfile::Builder::new()
            .prefix("vendor-ca")
            .tempdir()
            .expect("tempdir")
            .keep();
        let cert_file = dir.join("vendor-ca.pem");
        std::fs::write(&cert_file, ca.cert_pem()).expect("write vendor CA");
        TestVendor { ca, cert_file }
    })
}

/// The factory certificate (base64url DER) of a new key with this serial, provisioned by the
/// test vendor: what the vendor's inventory carries for a key that tests never use.
pub fn attestation_for(serial: &str) -> String {
    let mut key = key_bridge::EmulatedKey::in_memory(key_bridge::EmulatedKeyConfig {
        serial: Some(serial.to_owned()),
        ..Default::default()
    })
    .expect("key");
    let line = key.provision(&vendor().ca, "Test Key").expect("provision");
    line.rsplit(',').next().expect("certificate").to_owned()
}

/// An inventory CSV line (`serial,model,certificate`) for a key with this serial.
pub fn inventory_line(serial: &str, model: &str) -> String {
    format!("{serial},{model},{}", attestation_for(serial))
}

pub async fn config_for(db: Db, dir: &TempDir) -> Config {
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    // Tests start syncs themselves (and drive the schedule with `schedule::tick`).
    config.directory.schedule_enabled = false;
    // Rotation scans only when a test asks (rotations waiting for AD still resume at start).
    config.keys.scan_interval_minutes = 0;
    config.keys.vendor_ca_file = Some(vendor().cert_file.clone());
    // Stops at once (the drain is for a load balancer; process tests set their own).
    config.instance.drain_seconds = 0;
    if db == Db::Postgres {
        config.database.url = Some(fresh_postgres_db().await);
    }
    config
}

pub struct TestServer {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub state: AppState,

    _dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(db: Db) -> Self {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: Db, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config_for(db, &dir).await;
        adjust(&mut config);
        Self::start_config(config, dir).await
    }

    /// Starts on a given configuration (e.g. a second instance on the same database).
    /// The public URL is `http://localhost:<port>` (a host name, as WebAuthn wants) unless the
    /// configuration names another.
    pub async fn start_config(mut config: Config, dir: TempDir) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://localhost:{port}");
        // Unless the test chose a public URL (e.g. https), it is where this server listens.
        if config.public_url == Config::default().public_url {
            config.public_url = base.parse().expect("url");
        }
        let state = app::init(config, clock.clone()).await.expect("server init");
        let (tx, rx) = oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            sso_server::server::serve(serving, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Self {
            base,
            clock,
            state,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    /// Stops this instance and starts a new one on the same configuration, data folder and
    /// database (a restart; the new one listens on a new port).
    pub async fn restart(mut self) -> Self {
        let config = (*self.state.config).clone();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        drop(self);
        let mut config = config;
        config.public_url = Config::default().public_url;
        Self::start_config(config, dir).await
    }

    /// A second instance on this one's configuration and database (its own port and folder).
    pub async fn another_instance(&self) -> Self {
        let mut config = (*self.state.config).clone();
        config.listen = "127.0.0.1:0".parse().expect("addr");
        Self::start_config(config, tempfile::tempdir().expect("dir")).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn create_admin(&self, username: &str, password: &str) {
        sso_server::admin::accounts::create_admin(
            &self.state.store,
            self.clock.now_ms(),
            &Actor::cli(),
            username,
            password,
        )
        .await
        .expect("create admin");
    }

    /// A client with a cookie store, signed in as the default admin; returns it and the CSRF token.
    pub async fn admin_client(&self) -> (reqwest::Client, String) {
        self.create_admin(ADMIN, ADMIN_PASSWORD).await;
        let client = client();
        let csrf = self.api_login(&client, ADMIN, ADMIN_PASSWORD).await;
        (client, csrf)
    }

    pub async fn api_login(&self, client: &reqwest::Client, user: &str, password: &str) -> String {
        let resp = client
            .post(self.url("/api/v1/session"))
            .json(&json!({ "username": user, "password": password }))
            .send()
            .await
            .expect("login request");
        assert_eq!(resp.status(), StatusCode::OK, "login failed");
        let body: Value = resp.json().await.expect("json");
        body["csrf_token"].as_str().expect("csrf_token").to_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Sends a JSON request with the CSRF header and returns status and body.
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    csrf: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, url).header("x-csrf-token", csrf);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// Pages and waiting: the workspace's shared helpers (`test-support`).
pub use test_support::html::{form_field, registration_link};
pub use test_support::phone::{Phone, Registering};
pub use test_support::{eventually, require};

/// A "domain controller" that accepts connections and never answers: a sync against it stays
/// in flight (until its 600-s timeout), so a test can kill or race it. Returns the port.
pub async fn silent_dc() -> u16 {
    let hole = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = hole.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
        }
    });
    port
}

/// The domain `hang` on the silent DC at `port` (plain LDAP: nothing is ever sent back).
pub fn hanging_domain(port: u16) -> Value {
    json!({
        "name": "hang",
        "urls": [format!("ldap://127.0.0.1:{port}")],
        "tls_mode": "plain",
        "allow_plain": true,
        "bind_dn": "CN=sync,DC=hang,DC=test",
        "bind_password": "x",
        "base_dn": "DC=hang,DC=test",
        "sync_group": "CN=staff,DC=hang,DC=test",
        "timeout_seconds": 600,
    })
}

/// The audit events `action` about `target_id` on `server`, newest first (up to 500).
pub async fn audit_events(
    server: &TestServer,
    action: &str,
    target_id: &str,
) -> Vec<sso_server::audit::store::AuditRow> {
    let mut conn = server.state.store.conn().await.expect("conn");
    sso_server::audit::store::list(
        &mut conn,
        &sso_server::audit::store::AuditFilter {
            action: Some(action.into()),
            target_id: Some(target_id.into()),
        },
        None,
        500,
    )
    .await
    .expect("audit")
}

/// A TCP relay in front of a real server that holds every connection it accepts, sending
/// nothing either way, until [`HoldingProxy::release`]; from then on it relays. A DC behind it
/// "hangs" for a while and then answers, so a test can kill an instance in the middle of a call
/// and let another finish the work. Plain threads: a held connection costs one sleeping thread.
pub struct HoldingProxy {
    pub port: u16,
    released: Arc<std::sync::atomic::AtomicBool>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl HoldingProxy {
    /// Relays to `target` (`host:port`).
    pub fn start(target: &str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r, a, target) = (released.clone(), accepted.clone(), target.to_owned());
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                a.fetch_add(1, Ordering::SeqCst);
                let (r, target) = (r.clone(), target.clone());
                std::thread::spawn(move || {
                    while !r.load(Ordering::SeqCst) {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    let Ok(outbound) = std::net::TcpStream::connect(&target) else {
                        return;
                    };
                    let (Ok(mut in_r), Ok(mut out_w)) = (inbound.try_clone(), outbound.try_clone())
                    else {
                        return;
                    };
                    let up = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut in_r, &mut out_w);
                        let _ = out_w.shutdown(std::net::Shutdown::Write);
                    });
                    let (mut out_r, mut in_w) = (outbound, inbound);
                    let _ = std::io::copy(&mut out_r, &mut in_w);
                    let _ = in_w.shutdown(std::net::Shutdown::Write);
                    let _ = up.join();
                });
            }
        });
        Self {
            port,
            released,
            accepted,
        }
    }

    /// From now on, held and new connections are relayed.
    pub fn release(&self) {
        self.released
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}
