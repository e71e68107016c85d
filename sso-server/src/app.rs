//! Start-up: data folder, encryption key, database, migrations; the shared state; serving with
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

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
    pub password_checks: Arc<crate::admin::accounts::PasswordChecks>,
    /// This process among the instances on the database (leases, heartbeat).
    pub instance: Arc<crate::instance::Instance>,
    /// Wake-ups of long polls and cache invalidations, across instances on PostgreSQL.
    pub wake: Arc<crate::wake::Wakeups>,
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
    let metrics = config.metrics.enabled.then(crate::http::metrics::handle);
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
    let password_checks = Arc::new(crate::admin::accounts::PasswordChecks::new(
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

/// Serves until `shutdown` completes, then finishes in-flight requests and closes the database.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let store = state.store.clone();
    let port = listener
        .local_addr()
        .map_err(Error::io("reading the listening address"))?
        .port();
    let instance = state.instance.clone();
    let heartbeat = instance
        .start_serving(&store, port, state.clock.now_ms())
        .await?;
    let listener_task = state.wake.spawn_listener();
    let schedule = state
        .config
        .directory
        .schedule_enabled
        .then(|| crate::directory::schedule::spawn(state.clone()));
    let maintenance = tokio::spawn(maintenance(state.clone()));
    let rotations = tokio::spawn(crate::keys::rotation::run_schedule(state.clone()));
    let rotation_retries = tokio::spawn(crate::keys::rotation::run_retries(state.clone()));
    let delivery = crate::enrol::invitations::spawn_delivery(state.clone());
    // A graceful stop: first say "draining" on /readyz and answer the long polls, keep serving
    // while the load balancer notices, then stop accepting and finish what is in flight.
    let drain = std::time::Duration::from_secs(u64::from(state.config.instance.drain_seconds));
    let shutdown = {
        let (instance, wake) = (state.instance.clone(), state.wake.clone());
        async move {
            shutdown.await;
            instance.drain();
            wake.close();
            tokio::time::sleep(drain).await;
        }
    };
    let app = crate::http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::io("serving HTTP"))?;
    if let Some(s) = schedule {
        s.abort();
    }
    maintenance.abort();
    rotations.abort();
    rotation_retries.abort();
    delivery.abort();
    heartbeat.abort();
    if let Some(l) = listener_task {
        l.abort();
    }
    instance.stop_serving(&store).await;
    store.close().await;
    Ok(())
}

/// Deletes expired sign-in sessions, codes, pending requests and grants every ten minutes.
async fn maintenance(state: AppState) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = state.clock.now_ms();
        let purged = async {
            let mut conn = state.store.conn().await?;
            Ok::<_, Error>(
                crate::store::oidc::purge_expired(&mut conn, now).await?
                    + crate::store::push::purge(&mut conn, now).await?
                    + crate::keys::workstations::store::purge_nonces(&mut conn, now).await?
                    + crate::throttle::purge(&mut conn, now).await?,
            )
        }
        .await;
        match purged {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired sign-in state"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired sign-in state failed"),
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
