//! The command-line subcommands, as functions the binary and the tests call.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::admin::accounts;
use crate::app;
use crate::audit::Actor;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::random_password;
use crate::error::{Error, Result};

/// `serve`: runs the server until SIGTERM / Ctrl-C.
pub async fn serve(config: Config) -> Result<()> {
    let listen = config.listen;
    let public_url = config.public_url.clone();
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(Error::io(format!("listening on {listen}")))?;
    tracing::info!(%listen, %public_url, "sso-server is listening");
    app::serve(state, listener, app::shutdown_signal()).await
}

/// `migrate`: applies migrations and exits.
pub async fn migrate(config: Config) -> Result<()> {
    app::init(config, Arc::new(SystemClock)).await?;
    Ok(())
}

/// `admin create`: creates an administrator. Without a password, one is generated and returned
/// so the caller can show it once.
pub async fn admin_create(
    config: Config,
    username: &str,
    password: Option<String>,
) -> Result<Option<String>> {
    let generated = match password {
        Some(_) => None,
        None => Some(random_password(20)?),
    };
    let password = password.or_else(|| generated.clone()).unwrap_or_default();
    let state = app::init(config, Arc::new(SystemClock)).await?;
    accounts::create_admin(
        &state.store,
        SystemClock.now_ms(),
        &Actor::cli(),
        username,
        &password,
    )
    .await?;
    state.store.close().await;
    Ok(generated)
}
