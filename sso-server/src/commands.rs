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
    crate::server::serve(state, listener, crate::server::shutdown_signal()).await
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
    role: crate::admin::roles::Role,
) -> Result<Option<String>> {
    let generated = match password {
        Some(_) => None,
        None => Some(random_password(20)?),
    };
    let password = password.or_else(|| generated.clone()).unwrap_or_default();
    let state = app::init(config, Arc::new(SystemClock)).await?;
    accounts::create_admin_with_role(
        &state.store,
        SystemClock.now_ms(),
        &Actor::cli(),
        username,
        &password,
        role,
    )
    .await?;
    state.store.close().await;
    Ok(generated)
}

/// `admin list`: every administrator, a line each (no hashes).
pub async fn admin_list(config: Config) -> Result<String> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let admins = accounts::list_admins(&state.store).await?;
    state.store.close().await;
    let mut out = String::from("USERNAME\tROLE\tSTATE\tLAST SIGN-IN\n");
    for a in admins {
        let last = a
            .last_login_at
            .map(|t| crate::clock::from_ms(t).to_string())
            .unwrap_or_else(|| "never".into());
        out.push_str(&format!(
            "{}\t{}\t{}\t{last}\n",
            a.username,
            a.role,
            if a.disabled_at.is_some() {
                "disabled"
            } else {
                "enabled"
            }
        ));
    }
    Ok(out.trim_end().to_owned())
}

/// `admin disable|enable|reset|set-role`: one change to an administrator.
pub async fn admin_change(config: Config, username: &str, change: accounts::Change) -> Result<()> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let result = accounts::change_admin(
        &state.store,
        SystemClock.now_ms(),
        &Actor::cli(),
        username,
        change,
    )
    .await;
    state.store.close().await;
    result.map(drop)
}

/// `domain add`: stores a domain (bind password sealed), printing it as JSON.
pub async fn domain_add(config: Config, input: crate::directory::DomainInput) -> Result<String> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let view = crate::directory::Domains {
        store: &state.store,
        cipher: &state.cipher,
    }
    .create(&Actor::cli(), SystemClock.now_ms(), &input)
    .await;
    state.store.close().await;
    to_json(&view?)
}

/// `domain list`.
pub async fn domain_list(config: Config) -> Result<String> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let list = crate::directory::Domains {
        store: &state.store,
        cipher: &state.cipher,
    }
    .list()
    .await;
    state.store.close().await;
    to_json(&list?)
}

/// `domain test NAME`: binds, finds the group, counts its members.
pub async fn domain_test(
    config: Config,
    name: &str,
) -> Result<crate::directory::domain::ConnectionTest> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let result = crate::directory::Domains {
        store: &state.store,
        cipher: &state.cipher,
    }
    .test_connection(name, &state.clock)
    .await;
    state.store.close().await;
    result
}

/// `sync`: runs a sync of one domain or of every enabled one, to the end; returns the finished
/// runs. `progress` is told about each domain's progress.
pub async fn sync(
    config: Config,
    domain: Option<&str>,
    options: crate::directory::RunOptions,
    progress: impl Fn(&str) -> crate::directory::sync::ProgressFn,
) -> Result<Vec<(String, crate::directory::store::RunRow)>> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let result = async {
        let names: Vec<String> = match domain {
            Some(d) => vec![d.to_owned()],
            None => {
                let mut conn = state.store.conn().await?;
                crate::directory::store::list_domains(&mut conn)
                    .await?
                    .into_iter()
                    .filter(|d| d.enabled != 0)
                    .map(|d| d.name)
                    .collect()
            }
        };
        if names.is_empty() {
            return Err(Error::validation(
                "domain",
                "no domain is configured: add one with `sso-server domain add`",
            ));
        }
        let syncer = state.syncer();
        let mut out = Vec::new();
        for name in names {
            let run = syncer
                .run(&name, options.clone(), Some(progress(&name)))
                .await?;
            out.push((name, run));
        }
        Ok(out)
    }
    .await;
    state.store.close().await;
    result
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Internal(e.to_string()))
}

/// `client add`: registers a relying party; the JSON printed holds the secret, shown once.
pub async fn client_add(
    config: Config,
    input: crate::oidc::clients::ClientInput,
) -> Result<String> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let created = crate::oidc::clients::Clients {
        store: &state.store,
    }
    .create(&Actor::cli(), SystemClock.now_ms(), &input)
    .await;
    state.store.close().await;
    to_json(&created?)
}

/// `client list`.
pub async fn client_list(config: Config) -> Result<String> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let list = crate::oidc::clients::Clients {
        store: &state.store,
    }
    .list()
    .await;
    state.store.close().await;
    to_json(&list?)
}

/// `keys rotate`: a new signing key; the old one stays published until its tokens expire.
pub async fn keys_rotate(config: Config, alg: crate::oidc::jws::Alg) -> Result<String> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let kid = state
        .keys
        .rotate(
            &state.key_ctx(),
            &Actor::cli(),
            alg,
            crate::oidc::keys::publish_for_ms(&state.config.oidc),
        )
        .await;
    // The running instances drop their cached key ring.
    state.wake.publish(crate::wake::OIDC_KEYS).await;
    state.store.close().await;
    kid
}

/// `admin passkeys NAME`: the administrator's passkeys, a line each.
pub async fn admin_passkeys(config: Config, username: &str) -> Result<String> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let rows = accounts::passkeys_of(&state.store, username).await;
    state.store.close().await;
    let mut out = String::from("ID\tNAME\tADDED\tLAST USED\n");
    for p in rows? {
        let when = |t: Option<i64>| {
            t.map(|t| crate::clock::from_ms(t).to_string())
                .unwrap_or_else(|| "never".into())
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            p.id,
            p.name,
            when(Some(p.created_at)),
            when(p.last_used_at)
        ));
    }
    Ok(out.trim_end().to_owned())
}

/// `admin remove-passkey NAME ID`.
pub async fn admin_remove_passkey(config: Config, username: &str, id: &str) -> Result<()> {
    let state = app::init(config, Arc::new(SystemClock)).await?;
    let result = accounts::remove_passkey(
        &state.store,
        SystemClock.now_ms(),
        &Actor::cli(),
        username,
        id,
    )
    .await;
    state.store.close().await;
    result
}
