//! What the benchmarks against the Samba AD DC share: the DC's settings from the environment
//! (`scripts/bench.sh` sets them), an LDAPS connection as its administrator, and the bulk
//! creation of users in a new OU, made members of a new group.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashSet;
use std::sync::Arc;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

pub fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run scripts/bench.sh"))
}

/// `BENCH_USERS`, or `default`.
pub fn users(default: usize) -> usize {
    std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub struct Dc {
    pub url: String,
    pub base_dn: String,
    pub admin: String,
    pub password: String,
    pub ca_file: String,
    pub ca_pem: String,
}

impl Dc {
    pub fn from_env() -> Self {
        let ca_file = env("E2E_SAMBA_CA");
        Self {
            url: env("E2E_SAMBA_URL"),
            base_dn: env("E2E_SAMBA_BASE_DN"),
            admin: env("E2E_SAMBA_ADMIN"),
            password: env("E2E_SAMBA_PASSWORD"),
            ca_pem: std::fs::read_to_string(&ca_file).expect("CA"),
            ca_file,
        }
    }

    /// Bound as the administrator, over LDAPS checked against the DC's CA.
    pub async fn connect(&self) -> Ldap {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let (conn, mut ldap) = LdapConnAsync::with_settings(
            LdapConnSettings::new().set_config(Arc::new(cfg)),
            &self.url,
        )
        .await
        .unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&self.admin, &self.password)
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }
}

/// The attributes of one new user, as `ldap3` wants them for an add.
pub type Attrs = Vec<(Vec<u8>, HashSet<Vec<u8>>)>;

/// A single-valued attribute.
pub fn attr(name: &str, value: impl Into<Vec<u8>>) -> (Vec<u8>, HashSet<Vec<u8>>) {
    (name.as_bytes().to_vec(), HashSet::from([value.into()]))
}

/// `objectClass` of a user.
pub fn user_class() -> (Vec<u8>, HashSet<Vec<u8>>) {
    (
        b"objectClass".to_vec(),
        ["top", "person", "organizationalPerson", "user"]
            .iter()
            .map(|c| c.as_bytes().to_vec())
            .collect(),
    )
}

/// Makes `OU=<ou_name>` under the base DN with a group `CN=<group_cn>` in it, then `n` users
/// (eight adds in flight on the one connection; `user(i)` gives a user's RDN value and
/// attributes), all members of the group. Returns (OU DN, group DN, the users' DNs).
pub async fn ou_group_and_users(
    ldap: &mut Ldap,
    dc: &Dc,
    ou_name: &str,
    group_cn: &str,
    group_sam: &str,
    n: usize,
    user: impl Fn(usize) -> (String, Attrs) + Send + Sync + 'static,
) -> (String, String, Vec<String>) {
    let ou = format!("OU={ou_name},{}", dc.base_dn);
    ldap.add(
        &ou,
        vec![("objectClass", HashSet::from(["top", "organizationalUnit"]))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let group = format!("CN={group_cn},{ou}");
    ldap.add(
        &group,
        vec![
            ("objectClass", HashSet::from(["top", "group"])),
            ("sAMAccountName", HashSet::from([group_sam])),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let user = Arc::new(user);
    let mut tasks = tokio::task::JoinSet::new();
    const PAR: usize = 8;
    for lane in 0..PAR {
        let (mut l, ou, user) = (ldap.clone(), ou.clone(), user.clone());
        tasks.spawn(async move {
            let mut dns = Vec::new();
            for i in (lane..n).step_by(PAR) {
                let (cn, attrs) = user(i);
                let dn = format!("CN={cn},{ou}");
                l.add(&dn, attrs).await.unwrap().success().unwrap();
                dns.push(dn);
            }
            dns
        });
    }
    let mut dns = Vec::new();
    while let Some(r) = tasks.join_next().await {
        dns.extend(r.unwrap());
    }
    for chunk in dns.chunks(500) {
        let values: HashSet<&str> = chunk.iter().map(String::as_str).collect();
        ldap.modify(&group, vec![Mod::Add("member", values)])
            .await
            .unwrap()
            .success()
            .unwrap();
    }
    (ou, group, dns)
}
