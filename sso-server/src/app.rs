//! Start-up: data folder, encryption key, database, migrations; the shared state; serving with
//! graceful shutdown.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::clock::SharedClock;
use crate::config::{redact_url, Config};
use crate::crypto::keyfile::{self, KeySource};
use crate::crypto::Cipher;
use crate::error::{Error, Result};
use crate::store::{Backend, Store};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub cipher: Arc<Cipher>,
    pub clock: SharedClock,
    pub metrics: Option<PrometheusHandle>,
    /// Progress of the directory syncs running in this process.
    pub live_runs: Arc<crate::directory::sync::LiveRuns>,
    /// The OIDC signing keys (loaded lazily, cached).
    pub keys: Arc<crate::oidc::keys::Keys>,
    pub webauthn: Arc<webauthn_rs::Webauthn>,
    /// The phone authenticator: challenge-signing key, delivery gateways.
    pub push: Arc<crate::push::PushState>,
    pub mailer: Arc<crate::mail::Mailer>,
    /// Admin password checks running at once (bounded: argon2id takes 19 MiB each).
    pub password_checks: Arc<crate::admin::password_checks::PasswordChecks>,
    /// This process among the instances on the database (leases, heartbeat).
    pub instance: Arc<crate::instance::Instance>,
    /// Wake-ups of long polls and cache invalidations, across instances on PostgreSQL.
    pub wake: Arc<crate::wake::Wakeups>,
}

impl AppState {
    /// The phone services: store, cipher, clock, config and the push state.
    pub fn phones(&self) -> crate::push::Phones {
        crate::push::Phones {
            store: self.store.clone(),
            cipher: self.cipher.clone(),
            clock: self.clock.clone(),
            config: self.config.clone(),
            push: self.push.clone(),
            mailer: self.mailer.clone(),
            wake: self.wake.clone(),
        }
    }

    /// The hardware-key services: store, cipher, clock, config, mailer and instance.
    pub fn hardware_keys(&self) -> crate::keys::HardwareKeys {
        crate::keys::HardwareKeys {
            store: self.store.clone(),
            cipher: self.cipher.clone(),
            clock: self.clock.clone(),
            config: self.config.clone(),
            mailer: self.mailer.clone(),
            instance: self.instance.clone(),
        }
    }

    /// The invitation service: store, cipher, clock, config and mailer.
    pub fn invitations(&self) -> crate::enrol::invitations::Invitations {
        crate::enrol::invitations::Invitations {
            store: self.store.clone(),
            cipher: self.cipher.clone(),
            clock: self.clock.clone(),
            config: self.config.clone(),
            mailer: self.mailer.clone(),
        }
    }

    /// The directory syncer: store, cipher, clock, config, mailer, instance and live runs.
    pub fn syncer(&self) -> crate::directory::Syncer {
        crate::directory::Syncer {
            store: self.store.clone(),
            cipher: self.cipher.clone(),
            clock: self.clock.clone(),
            config: self.config.clone(),
            mailer: self.mailer.clone(),
            instance: self.instance.clone(),
            live_runs: self.live_runs.clone(),
        }
    }
}

/// The WebAuthn relying party: the public URL's host is the RP id, its origin the only origin.
fn webauthn(config: &Config) -> Result<webauthn_rs::Webauthn> {
    let host = config.public_url.host_str().ok_or_else(|| {
        Error::Config("invalid configuration: key `public_url` has no host".into())
    })?;
    webauthn_rs::WebauthnBuilder::new(host, &config.public_url)
        .and_then(|b| b.rp_name("SSO").build())
        .map_err(|e| {
            Error::Config(format!(
                "invalid configuration: key `public_url` cannot be a WebAuthn origin ({e}); use a \
                 host name, not an IP address"
            ))
        })
}

/// Opens the database (creating it and the key on first start), applies migrations and checks
/// that the key matches the database.
pub async fn init(config: Config, clock: SharedClock) -> Result<AppState> {
    let url = config.database_url()?;
    let backend = Backend::from_url(&url)?;
    if backend == Backend::Sqlite || config.master_key_file.is_none() {
        create_private_dir(&config.data_dir)?;
    }
    let (key, source) = keyfile::load_or_create(&config)?;
    match &source {
        KeySource::Environment => {
            tracing::info!("data-encryption key taken from {}", keyfile::ENV_VAR)
        }
        KeySource::File(p) => tracing::info!(path = %p.display(), "data-encryption key loaded"),
        KeySource::Generated(p) => {
            tracing::warn!(path = %p.display(), "generated a new data-encryption key: back it up; without it stored secrets are lost")
        }
    }
    let webauthn = webauthn(&config)?;
    let mailer = crate::mail::Mailer::from_config(&config.mail)?;
    let cipher = Cipher::new(&key);
    drop(key);
    let store = Store::connect(&url, config.database.max_connections).await?;
    store.migrate().await?;
    crate::secrets::verify_key(&mut *store.conn().await?, &cipher).await?;
    tracing::info!(database = %redact_url(&url), backend = backend.name(), "database ready");
    let metrics = config.metrics.enabled.then(metrics_recorder);
    let wake = Arc::new(crate::wake::Wakeups::new(store.clone()));
    let keys: Arc<crate::oidc::keys::Keys> = Arc::default();
    {
        let keys = keys.clone();
        wake.on(crate::wake::OIDC_KEYS, move || keys.invalidate());
    }
    let push = Arc::new(crate::push::PushState::new(
        &config.push,
        clock.clone(),
        store.clone(),
        wake.clone(),
    )?);
    let password_checks = Arc::new(crate::admin::password_checks::PasswordChecks::new(
        config.admin.max_concurrent_password_checks,
    ));
    let instance = Arc::new(crate::instance::Instance::new(&config.instance));
    Ok(AppState {
        wake,
        instance,
        password_checks,
        config: Arc::new(config),
        store,
        cipher: Arc::new(cipher),
        clock,
        metrics,
        live_runs: Arc::default(),
        keys,
        webauthn: Arc::new(webauthn),
        push,
        mailer: Arc::new(mailer),
    })
}

/// The process-wide recorder (metrics has one global recorder; several servers in one test
/// process share it).
fn metrics_recorder() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
            let builder = match builder.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("http_request_duration_seconds".into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ) {
                Ok(b) => b,
                Err(_) => metrics_exporter_prometheus::PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(Error::io(format!(
        "creating the data folder {}",
        dir.display()
    )))
}
