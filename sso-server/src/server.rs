//! Serving: the HTTP router over an initialised `AppState`, the background work of a running
//! instance (directory schedule, key rotations, invitation delivery, maintenance), and a graceful
//! stop. The top of the module graph: it uses everything, nothing uses it.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::app::AppState;
use crate::error::{Error, Result};

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
    let heartbeat = instance.start_serving(&store, port).await?;
    // The runs this instance's previous life left `running` are dead with its leases.
    let interrupted = crate::directory::store::fail_orphaned_runs(
        &mut *store.conn().await?,
        state.clock.now_ms(),
        &instance.owner(),
    )
    .await?;
    if interrupted > 0 {
        tracing::warn!(
            runs = interrupted,
            "marked runs left running by a stopped process as interrupted"
        );
    }
    let listener_task = state.wake.spawn_listener();
    let schedule = state
        .config
        .directory
        .schedule_enabled
        .then(|| crate::directory::schedule::spawn(state.syncer()));
    let maintenance = tokio::spawn(maintenance(state.clone()));
    let rotations = tokio::spawn(crate::keys::rotation::run_schedule(state.hardware_keys()));
    let rotation_retries = tokio::spawn(crate::keys::rotation::run_retries(state.hardware_keys()));
    let delivery = crate::enrol::invitations::spawn_delivery(state.invitations());
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
                crate::oidc::store::purge_expired(&mut conn, now).await?
                    + crate::push::store::purge(&mut conn, now).await?
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
