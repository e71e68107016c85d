//! End-to-end tests across the crates, against real servers started by `scripts/test.sh`.
//!
//! This library reads the environment the test script exports, so every test finds the same
//! PostgreSQL, Samba AD DC and (later) SMTP server. Tests live in `tests/tests/`.
#![deny(clippy::unwrap_used)]

use std::path::PathBuf;

/// The Samba AD DC started by `scripts/samba-dc.sh`.
#[derive(Debug, Clone)]
pub struct SambaDc {
    /// e.g. `ldaps://127.0.0.1:636`
    pub ldaps_url: String,
    /// e.g. `DC=corp,DC=example,DC=test`
    pub base_dn: String,
    pub admin_user: String,
    pub admin_password: String,
    /// The test CA that signed the DC's certificate.
    pub ca_file: PathBuf,
    /// The DC's smb.conf, for `samba-tool … -s`.
    pub smb_conf: PathBuf,
    pub netbios: String,
}

impl SambaDc {
    /// Reads `E2E_SAMBA_*`; `None` when the test script did not start a DC.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Self {
            ldaps_url: var("E2E_SAMBA_URL")?,
            base_dn: var("E2E_SAMBA_BASE_DN")?,
            admin_user: var("E2E_SAMBA_ADMIN")?,
            admin_password: var("E2E_SAMBA_PASSWORD")?,
            ca_file: PathBuf::from(var("E2E_SAMBA_CA")?),
            smb_conf: PathBuf::from(var("E2E_SAMBA_SMB_CONF")?),
            netbios: var("E2E_SAMBA_NETBIOS").unwrap_or_default(),
        })
    }

    /// Runs `samba-tool` against this DC's database; panics with its output on failure.
    pub fn samba_tool(&self, args: &[&str]) {
        let out = std::process::Command::new("samba-tool")
            .args(args)
            .arg("-s")
            .arg(&self.smb_conf)
            .output()
            .unwrap_or_else(|e| panic!("samba-tool: {e}"));
        assert!(
            out.status.success(),
            "samba-tool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The SMTP server started by `scripts/smtp.sh`, keeping a Maildir.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Smtp {
    pub fn from_env() -> Option<Self> {
        Some(Self {
            host: std::env::var("E2E_SMTP_HOST").ok()?,
            port: std::env::var("E2E_SMTP_PORT").ok()?.parse().ok()?,
            maildir: PathBuf::from(std::env::var("E2E_SMTP_MAILDIR").ok()?),
        })
    }

    /// The bodies of the messages received so far (quoted-printable soft breaks undone).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for dir in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(dir)) {
                for e in entries.flatten() {
                    if let Ok(text) = std::fs::read_to_string(e.path()) {
                        out.push(
                            text.replace("=\r\n", "")
                                .replace("=\n", "")
                                .replace("=3D", "="),
                        );
                    }
                }
            }
        }
        out
    }
}

/// The PostgreSQL server for tests: a URL whose role may create databases.
pub fn postgres_url() -> Option<String> {
    std::env::var("E2E_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// True when the test script asks that tests needing real servers fail instead of skipping.
pub fn servers_required() -> bool {
    std::env::var("E2E_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}
