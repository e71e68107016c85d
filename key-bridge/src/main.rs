//! `key-bridge`: the workstation agent for hardware keys.
//!
//! ```text
//! KEY_BRIDGE_ENROLMENT_TOKEN=… key-bridge --server https://sso.example.com enrol
//! KEY_BRIDGE_PIN=… key-bridge --server https://sso.example.com activate 123456
//! key-bridge --server https://sso.example.com run
//! ```
//! The workstation enrols once with the one-time token the admin created for it; its own key
//! pair is kept in `--workstation-file`. Secrets (token, PIN, new password) come from the
//! environment, never flags (flags show in `ps`). Until a BLE/USB transport exists the key is the
//! emulated one, kept in `--key-file`; both files are sealed under the 32-byte key in
//! `KEY_BRIDGE_KEY_STORAGE_KEY` (hex).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use key_bridge::{
    system_clock, workstation_file, Agent, AgentConfig, AgentError, EmulatedKey, EmulatedKeyConfig,
    KeyDevice,
};
use key_protocol::Scope;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "key-bridge",
    version,
    about = "Workstation agent for hardware keys"
)]
struct Cli {
    /// The SSO server's URL (https://; http:// only for a server on this machine).
    #[arg(long, env = "KEY_BRIDGE_SERVER")]
    server: String,
    /// The workstation's identity (written by `enrol`).
    #[arg(long, env = "KEY_BRIDGE_WORKSTATION_FILE")]
    workstation_file: PathBuf,
    /// A PEM file of CA certificates to trust for the server.
    #[arg(long, env = "KEY_BRIDGE_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// The emulated key's file (created on first use).
    #[arg(long, env = "KEY_BRIDGE_KEY_FILE")]
    key_file: PathBuf,
    /// The emulated key's serial when it is created.
    #[arg(long, env = "KEY_BRIDGE_KEY_SERIAL")]
    key_serial: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enrols this workstation with the one-time token in `KEY_BRIDGE_ENROLMENT_TOKEN`.
    Enrol,
    /// Sets the emulated key's PIN from `KEY_BRIDGE_PIN` (a real key does this itself).
    SetPin,
    /// Activates the key with the 6-digit code from the administrator; the key checks the PIN
    /// in `KEY_BRIDGE_PIN`.
    Activate { code: String },
    /// Applies the server's tasks to the key as they come (long poll), until stopped.
    Run {
        /// One round, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Changes the domain password: on the key and in AD (generated), or on the key only. The
    /// key checks the PIN in `KEY_BRIDGE_PIN`.
    ChangePassword {
        /// Store on the key only the password read from `KEY_BRIDGE_NEW_PASSWORD`.
        #[arg(long)]
        key_only: bool,
    },
    /// Shows the key's state.
    Status,
}

fn storage_key() -> Result<Zeroizing<[u8; 32]>, String> {
    let hex = Zeroizing::new(
        std::env::var("KEY_BRIDGE_KEY_STORAGE_KEY")
            .map_err(|_| "KEY_BRIDGE_KEY_STORAGE_KEY is not set (64 hex digits)".to_owned())?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    let bytes = hex.trim().as_bytes();
    if bytes.len() != 64 {
        return Err("KEY_BRIDGE_KEY_STORAGE_KEY must be 64 hex digits".into());
    }
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| "KEY_BRIDGE_KEY_STORAGE_KEY: not hex")?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| "KEY_BRIDGE_KEY_STORAGE_KEY: not hex")?;
    }
    Ok(out)
}

fn env_secret(name: &str) -> Result<Zeroizing<String>, String> {
    std::env::var(name)
        .map(Zeroizing::new)
        .map_err(|_| format!("{name} is not set"))
}

async fn run(cli: Cli) -> Result<(), String> {
    let ca_pem = match &cli.ca_file {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let storage_key = storage_key()?;
    let workstation =
        workstation_file::load(&cli.workstation_file, &storage_key).map_err(|e| e.to_string())?;
    let mut agent = Agent::new(AgentConfig {
        server: cli.server.clone(),
        ca_pem,
        workstation,
        clock: system_clock(),
    })
    .map_err(|e| e.to_string())?;
    if let Command::Enrol = cli.command {
        if agent.workstation().is_some() {
            return Err(format!(
                "{} already holds an enrolled workstation; remove it to enrol again",
                cli.workstation_file.display()
            ));
        }
        let token = env_secret("KEY_BRIDGE_ENROLMENT_TOKEN")?;
        let ws = agent.enrol(&token).await.map_err(|e| e.to_string())?;
        workstation_file::save(&cli.workstation_file, &storage_key, &ws)
            .map_err(|e| e.to_string())?;
        println!("workstation {} enrolled", ws.id);
        return Ok(());
    }
    let mut key = EmulatedKey::open_or_create(
        &cli.key_file,
        &storage_key,
        EmulatedKeyConfig {
            serial: cli.key_serial.clone(),
            ..EmulatedKeyConfig::default()
        },
    )
    .map_err(|e| e.to_string())?;
    match cli.command {
        Command::Enrol => {}
        Command::SetPin => {
            let pin = env_secret("KEY_BRIDGE_PIN")?;
            key.set_pin(&pin).map_err(|e| e.to_string())?;
            println!("PIN set on key {}", key.serial());
        }
        Command::Activate { code } => {
            let pin = env_secret("KEY_BRIDGE_PIN")?;
            agent
                .activate(&mut key, &code, &pin)
                .await
                .map_err(|e| match e {
                    AgentError::Refused {
                        message,
                        attempts_left: Some(n),
                        ..
                    } if n > 0 => {
                        format!("{message} ({n} attempts left)")
                    }
                    other => other.to_string(),
                })?;
            println!("key {} activated", key.serial());
        }
        Command::Run { once } => loop {
            match agent.run_once(&mut key, Duration::from_secs(25)).await {
                Ok(r) => {
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
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            }
            if once {
                break;
            }
        },
        Command::ChangePassword { key_only } => {
            let pin = env_secret("KEY_BRIDGE_PIN")?;
            let password = if key_only {
                Some(env_secret("KEY_BRIDGE_NEW_PASSWORD")?)
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
                )
                .await
                .map_err(|e| e.to_string())?;
            println!("password change {id} queued; `key-bridge run` applies it");
        }
        Command::Status => {
            let s = key.status().map_err(|e| e.to_string())?;
            println!(
                "serial {} linked {} slots {}/{} locked {}",
                s.serial,
                s.linked,
                s.slots - s.free_slots,
                s.slots,
                s.locked
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("key-bridge: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("key-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}
