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
        })
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
