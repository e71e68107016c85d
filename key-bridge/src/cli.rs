//! The `key-bridge` command line.
//!
//! ```text
//! key-bridge enrol                 # asks for the admin's one-time enrolment token
//! key-bridge activate              # asks for the activation code, then the key's PIN
//! key-bridge run                   # asks for the key's PIN once, then applies the server's tasks
//! key-bridge change-password       # asks for the key's PIN (and, with --key-only, the password)
//! ```
//!
//! Settings come from flags or `KEY_BRIDGE_*` variables and are never secret. Secrets (the
//! enrolment token, the activation code, the PIN, a new password) are asked for at the terminal
//! or read as lines of standard input ([`crate::secrets`]); none is ever an argument or a
//! variable. The workstation's identity (`--workstation-file`) and the emulated key
//! (`--key-file`) are sealed under the key in `--storage-key-file` (mode 0600, made on first
//! use).
//!
//! `run` verifies the key's PIN once at start and keeps the key unlocked while it runs, like
//! ssh-agent holding an unlocked key for the logon session: every password the server sends is
//! stored without asking again. The key itself counts wrong PINs and wipes itself at the last.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use key_protocol::Scope;
use zeroize::Zeroizing;

use crate::secrets::{self, Secrets};
use crate::{
    system_clock, workstation_file, Agent, AgentConfig, AgentError, EmulatedKey, EmulatedKeyConfig,
    KeyDevice, VendorCa,
};

#[derive(Parser)]
#[command(
    name = "key-bridge",
    version,
    about = "Workstation agent for hardware keys",
    after_help = "Secrets (enrolment token, activation code, PIN, new password) are asked for at \
                  the terminal, or read one per line from standard input; never arguments."
)]
pub struct Cli {
    /// The SSO server's URL (https://; http:// only for a server on this machine).
    #[arg(long, env = "KEY_BRIDGE_SERVER", global = true)]
    pub server: Option<String>,
    /// The workstation's identity (written by `enrol`).
    #[arg(long, env = "KEY_BRIDGE_WORKSTATION_FILE", global = true)]
    pub workstation_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust for the server.
    #[arg(long, env = "KEY_BRIDGE_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// The emulated key's file (created on first use).
    #[arg(long, env = "KEY_BRIDGE_KEY_FILE", global = true)]
    pub key_file: Option<PathBuf>,
    /// The emulated key's serial when it is created.
    #[arg(long, env = "KEY_BRIDGE_KEY_SERIAL", global = true)]
    pub key_serial: Option<String>,
    /// The file holding the key (64 hex digits) that seals the workstation and key files; made
    /// with mode 0600 when missing.
    #[arg(long, env = "KEY_BRIDGE_STORAGE_KEY_FILE", global = true)]
    pub storage_key_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Enrols this workstation; asks for the one-time enrolment token the admin created for it.
    Enrol,
    /// Activates the key; asks for the 6-digit activation code, then the key's PIN.
    Activate,
    /// Applies the server's tasks to the key as they come (long poll), until stopped. Asks for
    /// the key's PIN once and keeps the key unlocked while it runs.
    Run {
        /// One round, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Changes the domain password: on the key and in AD (generated), or on the key only. Asks
    /// for the key's PIN, and with --key-only for the password to store.
    ChangePassword {
        /// Store on the key only a password you already set in AD.
        #[arg(long)]
        key_only: bool,
        /// The domain (id or name), when the employee has accounts in several.
        #[arg(long)]
        domain: Option<String>,
    },
    /// Shows the key's state.
    Status,
    /// The emulated key only (a real key does this itself): sets or changes its PIN; asks for
    /// the current PIN first when one is set, then the new one.
    SetPin,
    /// The emulated key only: the factory's step. Gives the key its attestation key, certified
    /// by the vendor CA, and prints its inventory line (`serial,model,certificate`).
    Provision {
        /// The vendor CA's certificate (PEM).
        #[arg(long)]
        vendor_cert: PathBuf,
        /// The vendor CA's private key (PEM, PKCS#8).
        #[arg(long)]
        vendor_key: PathBuf,
        #[arg(long, default_value = "Emulated Key")]
        model: String,
    },
    /// The emulated key only: makes a test vendor CA (certificate and private key files), for
    /// demonstrations and tests without hardware. The server trusts the certificate
    /// (`keys.vendor_ca_file`).
    VendorCa {
        /// Where to write the CA certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Where to write the CA's private key (PEM, mode 0600).
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "Emulated Key Vendor")]
        name: String,
    },
}

/// Variables earlier versions read secrets from: now refused, with a pointer to the prompt.
const RETIRED_SECRET_VARIABLES: [&str; 5] = [
    "KEY_BRIDGE_PIN",
    "KEY_BRIDGE_ENROLMENT_TOKEN",
    "KEY_BRIDGE_NEW_PASSWORD",
    "KEY_BRIDGE_KEY_STORAGE_KEY",
    "KEY_BRIDGE_ACTIVATION_CODE",
];

fn need<'a, T: ?Sized>(v: Option<&'a T>, flag: &str, var: &str) -> Result<&'a T, String> {
    v.ok_or_else(|| format!("{flag} (or {var}) is needed"))
}

fn storage_key(cli: &Cli) -> Result<Zeroizing<[u8; 32]>, String> {
    secrets::storage_key(need(
        cli.storage_key_file.as_deref(),
        "--storage-key-file",
        "KEY_BRIDGE_STORAGE_KEY_FILE",
    )?)
}

fn key_file(cli: &Cli) -> Result<&Path, String> {
    need(cli.key_file.as_deref(), "--key-file", "KEY_BRIDGE_KEY_FILE")
}

fn open_key(cli: &Cli, storage_key: &[u8; 32]) -> Result<EmulatedKey, String> {
    EmulatedKey::open_or_create(
        key_file(cli)?,
        storage_key,
        EmulatedKeyConfig {
            serial: cli.key_serial.clone(),
            ..EmulatedKeyConfig::default()
        },
    )
    .map_err(|e| e.to_string())
}

fn agent(cli: &Cli, storage_key: &[u8; 32]) -> Result<Agent, String> {
    let ca_pem = match &cli.ca_file {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let ws_file = need(
        cli.workstation_file.as_deref(),
        "--workstation-file",
        "KEY_BRIDGE_WORKSTATION_FILE",
    )?;
    let workstation = workstation_file::load(ws_file, storage_key).map_err(|e| e.to_string())?;
    Agent::new(AgentConfig {
        server: need(cli.server.as_deref(), "--server", "KEY_BRIDGE_SERVER")?.to_owned(),
        ca_pem,
        workstation,
        clock: system_clock(),
    })
    .map_err(|e| e.to_string())
}

fn refused(e: AgentError) -> String {
    match e {
        AgentError::Refused {
            message,
            attempts_left: Some(n),
            ..
        } if n > 0 => format!("{message} ({n} attempts left)"),
        other => other.to_string(),
    }
}

/// Runs one command; the text of the error is what the user sees.
pub async fn run(cli: Cli) -> Result<(), String> {
    if let Some(var) = RETIRED_SECRET_VARIABLES
        .iter()
        .find(|v| std::env::var_os(v).is_some())
    {
        return Err(format!(
            "{var} is set, but secrets are never read from the environment: unset it; the \
             command asks at the terminal or reads standard input"
        ));
    }
    let mut secrets = Secrets::from_stdin();
    match &cli.command {
        Command::VendorCa { cert, key, name } => {
            let ca = VendorCa::generate(name).map_err(|e| e.to_string())?;
            ca.save(cert, key).map_err(|e| e.to_string())?;
            println!("vendor CA written to {} (trust this one)", cert.display());
            return Ok(());
        }
        Command::Enrol => {
            let storage_key = storage_key(&cli)?;
            let mut agent = agent(&cli, &storage_key)?;
            let ws_file = cli.workstation_file.as_deref().unwrap_or(Path::new(""));
            if agent.workstation().is_some() {
                return Err(format!(
                    "{} already holds an enrolled workstation; remove it to enrol again",
                    ws_file.display()
                ));
            }
            let token = secrets.ask("the enrolment token")?;
            let ws = agent.enrol(&token).await.map_err(refused)?;
            workstation_file::save(ws_file, &storage_key, &ws).map_err(|e| e.to_string())?;
            println!("workstation {} enrolled", ws.id);
            return Ok(());
        }
        _ => {}
    }
    let storage_key = storage_key(&cli)?;
    let mut key = open_key(&cli, &storage_key)?;
    match cli.command {
        Command::VendorCa { .. } | Command::Enrol => {}
        Command::Provision {
            ref vendor_cert,
            ref vendor_key,
            ref model,
        } => {
            let vendor = VendorCa::load(vendor_cert, vendor_key).map_err(|e| e.to_string())?;
            let line = key.provision(&vendor, model).map_err(|e| e.to_string())?;
            println!("{line}");
        }
        Command::SetPin => {
            if key.status().map_err(|e| e.to_string())?.pin_set {
                let current = secrets.ask("the key's current PIN")?;
                key.verify_pin(&current).map_err(|e| e.to_string())?;
            }
            let pin = secrets.ask_new("the key's new PIN")?;
            key.set_pin(&pin).map_err(|e| e.to_string())?;
            println!("PIN set on key {}", key.serial());
        }
        Command::Activate => {
            let agent = agent(&cli, &storage_key)?;
            let code = secrets.ask("the activation code")?;
            let pin = secrets.ask("the key's PIN")?;
            agent
                .activate(&mut key, &code, &pin)
                .await
                .map_err(refused)?;
            println!("key {} activated", key.serial());
        }
        Command::Run { once } => {
            let agent = agent(&cli, &storage_key)?;
            if key.status().map_err(|e| e.to_string())?.pin_set {
                let pin = secrets.ask("the key's PIN")?;
                key.verify_pin(&pin).map_err(|e| e.to_string())?;
            }
            println!("key {} unlocked; waiting for tasks", key.serial());
            let mut backoff = Duration::from_secs(1);
            loop {
                match agent.run_once(&mut key, Duration::from_secs(25)).await {
                    Ok(r) => {
                        backoff = Duration::from_secs(1);
                        if r.applied + r.failed > 0 {
                            println!("applied {} task(s), {} failed", r.applied, r.failed);
                        }
                        if r.key_unreachable {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        if once {
                            return Err(e.to_string());
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
                if once {
                    break;
                }
            }
        }
        Command::ChangePassword {
            key_only,
            ref domain,
        } => {
            let agent = agent(&cli, &storage_key)?;
            let pin = secrets.ask("the key's PIN")?;
            let password = if key_only {
                Some(secrets.ask_new("the password to store on the key")?)
            } else {
                None
            };
            let id = agent
                .change_password(
                    &mut key,
                    &pin,
                    if key_only {
                        Scope::KeyOnly
                    } else {
                        Scope::KeyAndDirectory
                    },
                    password.as_deref().map(String::as_str),
                    domain.as_deref(),
                )
                .await
                .map_err(refused)?;
            println!("password change {id} queued; `key-bridge run` applies it");
        }
        Command::Status => {
            let s = key.status().map_err(|e| e.to_string())?;
            println!(
                "serial {} linked {} slots {}/{} locked {} provisioned {}",
                s.serial,
                s.linked,
                s.slots - s.free_slots,
                s.slots,
                s.locked,
                key.attestation_certificate().is_ok()
            );
        }
    }
    Ok(())
}

/// The binary's entry point.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("key-bridge: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("key-bridge: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// Every argument of every command, flags and positionals: none may carry a secret. A new
    /// argument fails this test until it is added here, after asking whether it is secret.
    #[test]
    fn no_command_takes_a_secret_as_an_argument() {
        let allowed = [
            "server",
            "workstation_file",
            "ca_file",
            "key_file",
            "key_serial",
            "storage_key_file",
            "once",
            "key_only",
            "domain",
            "vendor_cert",
            "vendor_key",
            "model",
            "cert",
            "key",
            "name",
            "help",
            "version",
        ];
        let mut root = Cli::command();
        root.build();
        let mut seen = Vec::new();
        for cmd in std::iter::once(&root).chain(root.get_subcommands()) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str().to_owned();
                assert!(
                    allowed.contains(&id.as_str()),
                    "`{}` takes `{id}`: is it secret? secrets are asked for, never arguments",
                    cmd.get_name()
                );
                if let Some(var) = arg.get_env() {
                    let var = var.to_string_lossy();
                    assert!(
                        !RETIRED_SECRET_VARIABLES.contains(&var.as_ref()),
                        "{var} is a secret"
                    );
                }
                assert!(
                    !arg.is_positional(),
                    "`{}` takes a positional `{id}`",
                    cmd.get_name()
                );
                seen.push(format!("{} {id}", cmd.get_name()));
            }
        }
        assert!(seen.iter().any(|s| s == "activate server"), "{seen:?}");
        assert!(
            !seen.iter().filter_map(|s| s.split(' ').nth(1)).any(|id| [
                "pin", "code", "token", "password", "secret"
            ]
            .iter()
            .any(|w| id.contains(w))),
            "{seen:?}"
        );
    }
}
