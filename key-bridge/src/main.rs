//! `key-bridge`: the workstation agent for hardware keys.
//!
//! ```text
//! key-bridge --server https://sso.example.com --client-id ws-agent activate 123456
//! key-bridge --server https://sso.example.com --client-id ws-agent run
//! ```
//! The client secret comes from `KEY_BRIDGE_CLIENT_SECRET` (never a flag: flags show in `ps`).
//! Until a BLE/USB transport exists the key is the emulated one, kept in `--key-file` sealed
//! under the 32-byte key in `KEY_BRIDGE_KEY_STORAGE_KEY` (hex).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use key_bridge::{Agent, AgentConfig, AgentError, EmulatedKey, EmulatedKeyConfig, KeyDevice};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "key-bridge",
    version,
    about = "Workstation agent for hardware keys"
)]
struct Cli {
    /// The SSO server's URL.
    #[arg(long, env = "KEY_BRIDGE_SERVER")]
    server: String,
    /// The agent's OIDC client id (a confidential client with the client-credentials grant).
    #[arg(long, env = "KEY_BRIDGE_CLIENT_ID")]
    client_id: String,
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
    /// Activates the key with the 6-digit code from the administrator.
    Activate { code: String },
    /// Applies the server's tasks to the key as they come (long poll), until stopped.
    Run {
        /// One round, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Changes the domain password: on the key and in AD (generated), or on the key only.
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

async fn run(cli: Cli) -> Result<(), String> {
    let secret = Zeroizing::new(
        std::env::var("KEY_BRIDGE_CLIENT_SECRET")
            .map_err(|_| "KEY_BRIDGE_CLIENT_SECRET is not set".to_owned())?,
    );
    let ca_pem = match &cli.ca_file {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let agent = Agent::new(AgentConfig {
        server: cli.server.clone(),
        client_id: cli.client_id.clone(),
        client_secret: secret,
        ca_pem,
    })
    .map_err(|e| e.to_string())?;
    let storage_key = storage_key()?;
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
        Command::Activate { code } => {
            agent.activate(&mut key, &code).await.map_err(|e| match e {
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
            let password = if key_only {
                Some(Zeroizing::new(
                    std::env::var("KEY_BRIDGE_NEW_PASSWORD")
                        .map_err(|_| "KEY_BRIDGE_NEW_PASSWORD is not set".to_owned())?,
                ))
            } else {
                None
            };
            let id = agent
                .change_password(
                    &key.serial(),
                    key_only,
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
