//! `sso-server`: the command line.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sso_server::audit::Actor;
use sso_server::config::{Config, LogFormat};
use sso_server::directory::domain::DomainKind;
use sso_server::directory::ldap::TlsMode;
use sso_server::directory::sync::{Phase, Progress, Trigger};
use sso_server::directory::{DomainInput, RunOptions, SyncMode};
use sso_server::oidc::clients::{ClientInput, ClientKind};
use sso_server::oidc::jws::Alg;
use sso_server::{commands, Error};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "sso-server", version, about = "Passwordless SSO server")]
struct Cli {
    /// Configuration file (TOML). Default: ./sso-server.toml if present.
    #[arg(long, short, env = "SSO_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage the Active Directory domains to sync.
    Domain {
        #[command(subcommand)]
        command: DomainCommand,
    },
    /// Manage the OpenID Connect clients (relying parties).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Sync employees from Active Directory now and print the report.
    Sync {
        /// Only this domain (name or id); default: every enabled domain.
        #[arg(long)]
        domain: Option<String>,
        /// Report what would change without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Proceed even if the run would remove more than the domain's removal limit.
        #[arg(long)]
        force: bool,
        /// full, delta or auto.
        #[arg(long, default_value = "full")]
        mode: String,
        /// Print the whole report (every changed object) as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client; prints it as JSON with its secret (shown once).
    Add {
        #[arg(long)]
        name: String,
        /// A redirect URI; repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret, PKCE required), e.g. a single-page or native app.
        #[arg(long)]
        public: bool,
        /// Also allow the client credentials grant (confidential clients).
        #[arg(long)]
        client_credentials: bool,
        /// Sign this client's ID tokens with ES256 instead of RS256.
        #[arg(long)]
        es256: bool,
        /// Do not require PKCE (a confidential app that cannot send it; RFC 9700 says send it).
        #[arg(long)]
        no_pkce: bool,
        /// May introspect tokens issued to other clients (an API checking the apps' tokens).
        #[arg(long)]
        resource_server: bool,
    },
    /// List the clients (no secrets).
    List,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new signing key active; the old one stays published until its tokens expire.
    Rotate {
        /// RS256 or ES256.
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum DomainCommand {
    /// Add a domain. The bind password (or, for Entra ID, the client secret) is read from the
    /// first line of standard input.
    Add {
        /// ldap (on-premises AD, the default) or entra-id.
        #[arg(long, default_value = "ldap")]
        kind: String,
        #[arg(long)]
        name: String,
        /// LDAP URL of a domain controller; repeat for failover, tried in order.
        #[arg(long = "url")]
        urls: Vec<String>,
        /// ldaps, starttls or plain (default from the URL scheme).
        #[arg(long)]
        tls_mode: Option<String>,
        /// Allow tls_mode plain (the bind password crosses the network in clear).
        #[arg(long)]
        allow_plain: bool,
        /// PEM file of the CA that issued the DCs' certificates (Entra ID: an extra CA to trust
        /// for the authority and Graph, e.g. a TLS-intercepting proxy's).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        #[arg(long, default_value = "")]
        bind_dn: String,
        #[arg(long, default_value = "")]
        base_dn: String,
        #[arg(long)]
        netbios_name: Option<String>,
        /// Default: "Hideez Users Sync".
        #[arg(long)]
        sync_group: Option<String>,
        /// Default: "Security Key Auto Password Change".
        #[arg(long)]
        rotation_group: Option<String>,
        #[arg(long)]
        invite_on_import: bool,
        /// The removal guard's share: default 10.
        #[arg(long)]
        max_removal_percent: Option<u32>,
        /// The removal guard's floor: this many missing accounts never trip it (0: no floor).
        /// Default 10.
        #[arg(long)]
        max_removal_count: Option<u32>,
        /// A run refused by the guard applies nothing (default: everything but the removals).
        #[arg(long)]
        hold_all_when_refused: bool,
        /// Entra ID: the tenant id or a verified domain.
        #[arg(long)]
        tenant_id: Option<String>,
        /// Entra ID: the app registration's application (client) id.
        #[arg(long)]
        client_id: Option<String>,
        /// Entra ID: authenticate with this certificate and its RSA private key (one PEM file)
        /// instead of a client secret; standard input is then not read.
        #[arg(long)]
        client_certificate_file: Option<PathBuf>,
        /// Entra ID: the sync group's object id.
        #[arg(long)]
        group_id: Option<String>,
        /// Entra ID: default https://login.microsoftonline.com.
        #[arg(long)]
        authority_url: Option<String>,
        /// Entra ID: default https://graph.microsoft.com/v1.0.
        #[arg(long)]
        graph_url: Option<String>,
    },
    /// List the domains (no passwords).
    List,
    /// Connect (bind, or get a Graph token), find the sync group and count its members.
    Test { name: String },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator. Prints a generated password unless --password-stdin is given.
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// owner (everything, the default), helpdesk (employees, invitations, keys, unlocks) or
        /// auditor (read-only).
        #[arg(long, default_value = "owner")]
        role: String,
    },
    /// List the administrators: name, role, enabled or disabled, last sign-in.
    List,
    /// Disable an administrator: no sign-in, every session ends.
    Disable { username: String },
    /// Enable a disabled administrator again.
    Enable { username: String },
    /// Give an administrator a new password (printed once, or read from standard input with
    /// --password-stdin); every session ends.
    Reset {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an administrator's role: owner, helpdesk or auditor.
    SetRole { username: String, role: String },
    /// List an administrator's passkeys.
    Passkeys { username: String },
    /// Remove one of an administrator's passkeys (a lost key).
    RemovePasskey { username: String, id: String },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective values (secrets masked).
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ Error::Config(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A command that works on the server's data (not `serve`, `migrate`, `config check` or
/// `admin create`) refuses to make a new, empty SQLite database: run from another folder, the
/// relative data folder would be another one, and the command would act on nothing. The error
/// names the path it would have used.
fn needs_existing_database(command: &Command, config: &Config) -> sso_server::Result<()> {
    let creates = matches!(
        command,
        Command::Serve
            | Command::Migrate
            | Command::Config { .. }
            | Command::Admin {
                command: AdminCommand::Create { .. }
            }
    );
    match config.default_sqlite_path()? {
        Some(path) if !creates && !path.exists() => Err(Error::validation(
            "data_dir",
            format!(
                "no database at {}: run this where the server keeps its data (its data_dir, \
                 e.g. --config FILE or SSO_DATA_DIR), or start the server there once",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

async fn run(command: Command, config: Config) -> sso_server::Result<()> {
    needs_existing_database(&command, &config)?;
    match command {
        Command::Serve => commands::serve(config).await,
        Command::Migrate => {
            commands::migrate(config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { command } => admin(command, config).await,
        Command::Domain { command } => domain(command, config).await,
        Command::Client { command } => client(command, config).await,
        Command::Keys {
            command: KeysCommand::Rotate { alg },
        } => {
            let alg = Alg::parse(&alg)
                .ok_or_else(|| Error::validation("--alg", "must be RS256 or ES256"))?;
            let kid = commands::keys_rotate(config, alg).await?;
            println!("new {} signing key {kid} is active", alg.as_str());
            Ok(())
        }
        Command::Sync {
            domain,
            dry_run,
            force,
            mode,
            json,
        } => sync(config, domain, dry_run, force, &mode, json).await,
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            println!("{}", config.to_redacted_json());
            println!("configuration is valid");
            Ok(())
        }
    }
}

fn parse_role(role: &str) -> sso_server::Result<sso_server::admin::roles::Role> {
    sso_server::admin::roles::Role::from_name(role)
        .ok_or_else(|| Error::validation("--role", "owner, helpdesk or auditor"))
}

/// The administrators' commands other than `create`.
async fn admin(command: AdminCommand, config: Config) -> sso_server::Result<()> {
    use sso_server::admin::accounts::Change;
    let (username, change) = match command {
        AdminCommand::Create {
            username,
            password_stdin,
            role,
        } => {
            let role = parse_role(&role)?;
            let password = if password_stdin {
                Some(read_stdin_line("the password")?)
            } else {
                None
            };
            let new_database = config.default_sqlite_path()?.filter(|p| !p.exists());
            let generated = commands::admin_create(config, &username, password, role).await?;
            println!("administrator {username} created");
            if let Some(path) = new_database {
                eprintln!(
                    "note: there was no database at {}: a new one was made there. The server \
                     sees this administrator only if it uses the same data folder (data_dir).",
                    path.display()
                );
            }
            if let Some(p) = generated {
                println!("password: {p}");
                println!("(shown once; sign in at /admin/login)");
            }
            return Ok(());
        }
        AdminCommand::List => {
            println!("{}", commands::admin_list(config).await?);
            return Ok(());
        }
        AdminCommand::Passkeys { username } => {
            println!("{}", commands::admin_passkeys(config, &username).await?);
            return Ok(());
        }
        AdminCommand::RemovePasskey { username, id } => {
            commands::admin_remove_passkey(config, &username, &id).await?;
            println!("administrator {username}: passkey {id} removed");
            return Ok(());
        }
        AdminCommand::Disable { username } => (username, Change::Disable),
        AdminCommand::Enable { username } => (username, Change::Enable),
        AdminCommand::SetRole { username, role } => (username, Change::Role(parse_role(&role)?)),
        AdminCommand::Reset {
            username,
            password_stdin,
        } => {
            let (password, shown) = if password_stdin {
                (read_stdin_line("the new password")?, false)
            } else {
                (sso_server::crypto::random_password(20)?, true)
            };
            commands::admin_change(config, &username, Change::Password(password.clone())).await?;
            println!("administrator {username}: new password set; every session ended");
            if shown {
                println!("password: {password}");
                println!("(shown once)");
            }
            return Ok(());
        }
    };
    let what = match &change {
        Change::Disable => "disabled; every session ended".to_owned(),
        Change::Enable => "enabled".to_owned(),
        Change::Role(r) => format!("role is now {}", r.as_str()),
        Change::Password(_) => String::new(),
    };
    commands::admin_change(config, &username, change).await?;
    println!("administrator {username}: {what}");
    Ok(())
}

fn read_stdin_line(what: &str) -> sso_server::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(Error::io(format!("reading {what} from standard input")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn client(command: ClientCommand, config: Config) -> sso_server::Result<()> {
    match command {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            client_credentials,
            es256,
            no_pkce,
            resource_server,
        } => {
            let mut grants = vec!["authorization_code".to_owned(), "refresh_token".to_owned()];
            if client_credentials {
                grants.push("client_credentials".into());
            }
            let input = ClientInput {
                name,
                kind: if public {
                    ClientKind::Public
                } else {
                    ClientKind::Confidential
                },
                redirect_uris,
                post_logout_redirect_uris,
                allowed_scopes: None,
                grant_types: Some(grants),
                id_token_signed_response_alg: es256.then_some(Alg::ES256),
                pkce_required: Some(!no_pkce),
                resource_server: Some(resource_server),
            };
            println!("{}", commands::client_add(config, input).await?);
            Ok(())
        }
        ClientCommand::List => {
            println!("{}", commands::client_list(config).await?);
            Ok(())
        }
    }
}

async fn domain(command: DomainCommand, config: Config) -> sso_server::Result<()> {
    match command {
        DomainCommand::Add {
            kind,
            name,
            urls,
            tls_mode,
            allow_plain,
            ca_file,
            bind_dn,
            base_dn,
            netbios_name,
            sync_group,
            rotation_group,
            invite_on_import,
            max_removal_percent,
            max_removal_count,
            hold_all_when_refused,
            tenant_id,
            client_id,
            client_certificate_file,
            group_id,
            authority_url,
            graph_url,
        } => {
            let kind = DomainKind::parse(&kind.replace('-', "_"))
                .ok_or_else(|| Error::validation("--kind", "must be ldap or entra-id"))?;
            let tls_mode = match tls_mode.as_deref() {
                None => None,
                Some(m) => Some(TlsMode::parse(m).ok_or_else(|| {
                    Error::validation("--tls-mode", "must be ldaps, starttls or plain")
                })?),
            };
            let ca_pem = match &ca_file {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .map_err(Error::io(format!("reading --ca-file {}", p.display())))?,
                ),
                None => None,
            };
            let client_certificate = match &client_certificate_file {
                Some(p) => Some(std::fs::read_to_string(p).map_err(Error::io(format!(
                    "reading --client-certificate-file {}",
                    p.display()
                )))?),
                None => None,
            };
            let (bind_password, client_secret) = match kind {
                DomainKind::Ldap => (Some(read_stdin_line("the bind password")?), None),
                DomainKind::EntraId if client_certificate.is_some() => (None, None),
                DomainKind::EntraId => (None, Some(read_stdin_line("the client secret")?)),
            };
            let input = DomainInput {
                kind,
                name,
                urls,
                tls_mode,
                allow_plain,
                ca_pem,
                bind_dn,
                bind_password,
                base_dn,
                netbios_name,
                sync_group,
                rotation_group,
                invite_on_import,
                max_removal_percent,
                max_removal_count,
                hold_all_when_refused,
                timeout_seconds: None,
                enabled: None,
                tenant_id,
                client_id,
                client_secret,
                client_certificate,
                group_id,
                authority_url,
                graph_url,
            };
            println!("{}", commands::domain_add(config, input).await?);
            Ok(())
        }
        DomainCommand::List => {
            println!("{}", commands::domain_list(config).await?);
            Ok(())
        }
        DomainCommand::Test { name } => {
            let r = commands::domain_test(config, &name).await?;
            if r.ok {
                println!(
                    "ok: connected to {}, group {} has {} members",
                    r.dc_url.unwrap_or_default(),
                    r.group_dn.unwrap_or_default(),
                    r.members.unwrap_or(0)
                );
                Ok(())
            } else {
                Err(Error::Internal(format!(
                    "connection test failed: {}",
                    r.error.unwrap_or_default()
                )))
            }
        }
    }
}

async fn sync(
    config: Config,
    domain: Option<String>,
    dry_run: bool,
    force: bool,
    mode: &str,
    json: bool,
) -> sso_server::Result<()> {
    let mode = match mode {
        "full" => SyncMode::Full,
        "delta" => SyncMode::Delta,
        "auto" => SyncMode::Auto,
        _ => return Err(Error::validation("--mode", "must be full, delta or auto")),
    };
    let options = RunOptions {
        mode,
        dry_run,
        force,
        trigger: Trigger::Cli,
        actor: Actor::cli(),
    };
    let on_terminal = std::io::stderr().is_terminal();
    let bars = std::sync::Mutex::new(Vec::<ProgressBar>::new());
    let runs = commands::sync(config, domain.as_deref(), options, |name| {
        let bar = if on_terminal {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(name.to_owned());
        if let Ok(mut v) = bars.lock() {
            v.push(bar.clone());
        }
        std::sync::Arc::new(move |p: &Progress| {
            let msg = match p.phase {
                Phase::Connecting => "connecting".to_owned(),
                Phase::Reading => format!("reading the directory: {} accounts", p.read),
                Phase::Planning => format!("comparing {} accounts", p.read),
                Phase::Applying => "saving changes".to_owned(),
                Phase::Done => "done".to_owned(),
            };
            if p.phase == Phase::Done {
                bar.finish_and_clear();
            } else {
                bar.set_message(msg);
            }
        })
    })
    .await?;
    let mut failed = false;
    for (name, run) in runs {
        if json {
            let report: serde_json::Value =
                serde_json::from_str(&run.report).unwrap_or(serde_json::Value::Null);
            println!(
                "{}",
                serde_json::json!({"domain": name, "run": run.id, "state": run.state,
                    "kind": run.kind, "dc": run.dc_url, "message": run.message, "report": report})
            );
        } else {
            println!(
                "{name}: {} {} sync{} via {}",
                run.state,
                run.kind,
                if run.dry_run != 0 { " (dry run)" } else { "" },
                run.dc_url.as_deref().unwrap_or("-")
            );
            println!(
                "  added {}, updated {}, unchanged {}, removed {}, reactivated {}, merged {}, taken over {}, errors {}",
                run.added, run.updated, run.unchanged, run.removed, run.reactivated, run.merged,
                run.taken_over, run.errors
            );
            if let Some(m) = &run.message {
                println!("  {m}");
            }
            if let Ok(report) =
                serde_json::from_str::<sso_server::directory::RunReport>(&run.report)
            {
                for e in report.errors {
                    println!("  error: {} ({})", e.message, e.dn.unwrap_or_default());
                }
            }
        }
        failed |= run.state() != Some(sso_server::directory::run_state::RunState::Succeeded);
    }
    if failed {
        return Err(Error::Internal("a sync run did not succeed".into()));
    }
    Ok(())
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
