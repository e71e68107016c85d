//! The Samba AD DCs the test command starts (corp from `E2E_SAMBA_*`, emea from
//! `E2E_SAMBA2_*`): their connection facts, an LDAPS connection that trusts only the test CA,
//! and `samba-tool` on their database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

/// Connection facts of one DC.
#[derive(Clone, Debug)]
pub struct Dc {
    /// e.g. `ldaps://127.0.0.1:636`
    pub url: String,
    /// e.g. `DC=corp,DC=example,DC=test`
    pub base_dn: String,
    pub admin: String,
    pub password: String,
    /// The test CA that signed the DC's certificate.
    pub ca_file: PathBuf,
    /// The DC's smb.conf, for `samba-tool … -s` (`None` when not set).
    pub smb_conf: Option<PathBuf>,
    pub netbios: String,
}

impl Dc {
    /// The DC of `{prefix}_URL`, `_BASE_DN`, `_ADMIN`, `_PASSWORD`, `_CA` (and optional
    /// `_SMB_CONF`, `_NETBIOS`); `None` when the environment names none.
    pub fn from_env(prefix: &str) -> Option<Self> {
        let var = |k: &str| crate::env(&format!("{prefix}_{k}"));
        Some(Self {
            url: var("URL")?,
            base_dn: var("BASE_DN")?,
            admin: var("ADMIN")?,
            password: var("PASSWORD")?,
            ca_file: PathBuf::from(var("CA")?),
            smb_conf: var("SMB_CONF").map(PathBuf::from),
            netbios: var("NETBIOS").unwrap_or_default(),
        })
    }

    /// The corp DC for a test, through the one gate (fails in strict mode when missing).
    pub fn corp() -> Option<Self> {
        crate::require("Samba AD DC (E2E_SAMBA_*)", Self::from_env("E2E_SAMBA"))
    }

    /// The second DC (another forest), through the one gate.
    pub fn emea() -> Option<Self> {
        crate::require(
            "second Samba AD DC (E2E_SAMBA2_*)",
            Self::from_env("E2E_SAMBA2"),
        )
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.ca_file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.ca_file.display()))
    }

    /// An LDAPS connection that trusts the test CA only, not bound yet.
    pub async fn ldaps(&self) -> Ldap {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem().as_bytes()) {
            roots.add(c.expect("CA PEM")).expect("add CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let settings = LdapConnSettings::new()
            .set_config(Arc::new(cfg))
            .set_conn_timeout(Duration::from_secs(10));
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url));
        ldap3::drive!(conn);
        ldap
    }

    /// An LDAPS connection bound as the DC's administrator.
    pub async fn connect(&self) -> Ldap {
        let mut ldap = self.ldaps().await;
        ldap.simple_bind(&self.admin, &self.password)
            .await
            .expect("bind")
            .success()
            .expect("bind as admin");
        ldap
    }

    /// Whether `dn` can bind with `password` (a simple bind over LDAPS).
    pub async fn binds(&self, dn: &str, password: &str) -> bool {
        let mut ldap = self.ldaps().await;
        let ok = ldap
            .simple_bind(dn, password)
            .await
            .is_ok_and(|r| r.rc == 0);
        let _ = ldap.unbind().await;
        ok
    }

    /// Runs `samba-tool` against this DC's database; panics with its output on failure.
    pub fn samba_tool(&self, args: &[&str]) {
        let conf = self
            .smb_conf
            .as_ref()
            .expect("the DC's smb.conf (E2E_SAMBA*_SMB_CONF)");
        let out = std::process::Command::new("samba-tool")
            .args(args)
            .arg("-s")
            .arg(conf)
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
