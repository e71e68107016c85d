//! The LDAP side of directory sync: connect to the first reachable DC (verifying its certificate
//! against the configured CA), bind, read the delta anchors, resolve the sync group and page
//! through its members with the simple paged results control. Never a VLV control: that is what
//! made the old product fail with "Unavailable Critical Extension" on DCs without VLV.

use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use uuid::Uuid;

use super::user::DirUser;
use super::{guid, DirectoryError};

/// Members per page: AD's default MaxPageSize.
pub const PAGE_SIZE: i32 = 1000;

pub const USER_ATTRS: &[&str] = &[
    "objectGUID",
    "distinguishedName",
    "sAMAccountName",
    "userPrincipalName",
    "givenName",
    "sn",
    "displayName",
    "mail",
    "telephoneNumber",
    "department",
    "title",
    "userAccountControl",
    "accountExpires",
    "lockoutTime",
    "pwdLastSet",
    "uSNChanged",
    "whenChanged",
];

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// `ldaps://`, TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with StartTLS before the bind.
    Starttls,
    /// No TLS at all: only when the admin explicitly allows it.
    Plain,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ldaps => "ldaps",
            Self::Starttls => "starttls",
            Self::Plain => "plain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ldaps" => Some(Self::Ldaps),
            "starttls" => Some(Self::Starttls),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }
}

/// How to reach and authenticate to a domain.
#[derive(Clone)]
pub struct ConnectSettings {
    pub urls: Vec<String>,
    pub tls: TlsMode,
    pub ca_pem: Option<String>,
    pub bind_dn: String,
    pub bind_password: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSettings")
            .field("urls", &self.urls)
            .field("tls", &self.tls)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"<redacted>")
            .finish()
    }
}

/// The DC's change anchors, read before searching so that nothing changed during the read is
/// missed by the next delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchors {
    pub highest_usn: i64,
    pub invocation_id: String,
}

/// A bound connection to one DC.
pub struct DirectoryConn {
    ldap: Ldap,
    pub url: String,
    timeout: Duration,
}

pub fn tls_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert
            .map_err(|e| DirectoryError::Config(format!("ca_pem: not a PEM certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| DirectoryError::Config(format!("ca_pem: unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(DirectoryError::Config(
            "ca_pem: no certificate found".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::Config(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Classifies a connection-level failure.
fn connect_error(url: &str, e: LdapError) -> DirectoryError {
    if let LdapError::Io { source } = &e {
        if let Some(tls) = source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return DirectoryError::UntrustedCertificate {
                url: url.to_owned(),
                reason: tls.to_string(),
            };
        }
    }
    DirectoryError::Unreachable {
        url: url.to_owned(),
        reason: e.to_string(),
    }
}

/// Connects to the first DC that answers, in the configured order, and binds. A run stays on that
/// DC (uSNChanged is per DC). A wrong password is not a reason to try the next DC.
pub async fn connect(s: &ConnectSettings) -> Result<DirectoryConn, DirectoryError> {
    let tls = match s.tls {
        TlsMode::Plain => None,
        _ => Some(tls_config(s.ca_pem.as_deref().ok_or_else(|| {
            DirectoryError::Config("ca_pem: required for ldaps and starttls".into())
        })?)?),
    };
    let mut failures = Vec::new();
    for url in &s.urls {
        let mut settings = LdapConnSettings::new().set_conn_timeout(s.timeout);
        if let Some(cfg) = &tls {
            settings = settings
                .set_config(cfg.clone())
                .set_starttls(s.tls == TlsMode::Starttls);
        }
        let attempt = async {
            let (conn, mut ldap) = LdapConnAsync::with_settings(settings, url).await?;
            ldap3::drive!(conn);
            // StartTLS happens inside with_settings; make sure the link is up before binding.
            let bind = ldap
                .with_timeout(s.timeout)
                .simple_bind(&s.bind_dn, &s.bind_password)
                .await?;
            Ok::<_, LdapError>((ldap, bind))
        };
        match tokio::time::timeout(s.timeout + Duration::from_secs(1), attempt).await {
            Err(_) => failures.push(DirectoryError::Unreachable {
                url: url.clone(),
                reason: "timed out".into(),
            }),
            Ok(Err(e)) => failures.push(connect_error(url, e)),
            Ok(Ok((ldap, bind))) => {
                if bind.rc == 49 {
                    return Err(DirectoryError::BadCredentials { url: url.clone() });
                }
                if bind.rc != 0 {
                    return Err(DirectoryError::Ldap {
                        operation: "bind".into(),
                        reason: format!("rc={} {}", bind.rc, bind.text),
                    });
                }
                return Ok(DirectoryConn {
                    ldap,
                    url: url.clone(),
                    timeout: s.timeout,
                });
            }
        }
    }
    Err(match failures.len() {
        0 => DirectoryError::Config("urls: no LDAP URL configured".into()),
        1 => failures.remove(0),
        _ => DirectoryError::AllUnreachable(failures.iter().map(|f| f.to_string()).collect()),
    })
}

fn first<'a>(e: &'a SearchEntry, name: &str) -> Option<&'a str> {
    e.attrs
        .get(name)
        .and_then(|v| v.first())
        .map(String::as_str)
}

/// A binary attribute, wherever ldap3 put it (bytes that happen to be UTF-8 land in `attrs`).
pub fn first_bin(e: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    e.bin_attrs
        .get(name)
        .and_then(|v| v.first().cloned())
        .or_else(|| first(e, name).map(|s| s.as_bytes().to_vec()))
}

/// Entries only (referrals skipped), read in pages of `PAGE_SIZE` (the paged results control,
/// never VLV).
fn paged<'a>() -> Vec<Box<dyn Adapter<'a, &'a str, Vec<&'a str>>>> {
    vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE_SIZE)),
    ]
}

impl DirectoryConn {
    fn op_error(&self, operation: &str, e: impl std::fmt::Display) -> DirectoryError {
        DirectoryError::Ldap {
            operation: operation.to_owned(),
            reason: format!("{} ({})", e, self.url),
        }
    }

    async fn search_all(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let ldap3::SearchResult(entries, res) = self
            .ldap
            .with_timeout(self.timeout)
            .search(base, scope, filter, attrs.to_vec())
            .await
            .map_err(|e| self.op_error("search", e))?;
        match res.rc {
            0 => {}
            32 => return Ok(Vec::new()), // no such object
            rc => return Err(self.op_error("search", format!("rc={rc} {}", res.text))),
        }
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// highestCommittedUSN and the DC's invocationId.
    pub async fn anchors(&mut self) -> Result<Anchors, DirectoryError> {
        let root = self
            .search_all(
                "",
                Scope::Base,
                "(objectClass=*)",
                &["highestCommittedUSN", "dsServiceName"],
            )
            .await?;
        let root = root
            .first()
            .ok_or_else(|| self.op_error("read rootDSE", "no entry"))?;
        let highest_usn = first(root, "highestCommittedUSN")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| self.op_error("read rootDSE", "no highestCommittedUSN"))?;
        let service = first(root, "dsServiceName").unwrap_or_default().to_owned();
        let ntds = self
            .search_all(&service, Scope::Base, "(objectClass=*)", &["invocationId"])
            .await?;
        let invocation_id = ntds
            .first()
            .and_then(|e| first_bin(e, "invocationId"))
            .and_then(|b| guid::from_ad_bytes(&b))
            .map(|g| g.to_string())
            .ok_or_else(|| self.op_error("read invocationId", "not found"))?;
        Ok(Anchors {
            highest_usn,
            invocation_id,
        })
    }

    /// The sync group's DN, from a DN or a name (cn or sAMAccountName).
    pub async fn resolve_group(
        &mut self,
        base_dn: &str,
        group: &str,
    ) -> Result<String, DirectoryError> {
        let found = if group.contains('=') {
            self.search_all(
                group,
                Scope::Base,
                "(objectClass=group)",
                &["distinguishedName"],
            )
            .await?
        } else {
            let g = ldap_escape(group);
            let filter = format!("(&(objectClass=group)(|(cn={g})(sAMAccountName={g})))");
            self.search_paged(base_dn, &filter, &["distinguishedName"], |_| {})
                .await?
        };
        match found.as_slice() {
            [one] => Ok(one.dn.clone()),
            [] => Err(DirectoryError::GroupNotFound(group.to_owned())),
            _ => Err(DirectoryError::Config(format!(
                "sync_group: {group:?} names several groups; give its DN"
            ))),
        }
    }

    /// Subtree search with the paged results control (never VLV); referrals are skipped.
    pub async fn search_paged(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        mut on_page: impl FnMut(usize),
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let mut stream = self
            .ldap
            .with_timeout(self.timeout)
            .streaming_search_with(paged(), base, Scope::Subtree, filter, attrs.to_vec())
            .await
            .map_err(|e| self.op_error("search", e))?;
        let mut out = Vec::new();
        loop {
            match stream.next().await {
                Ok(Some(entry)) => {
                    out.push(SearchEntry::construct(entry));
                    if out.len() % PAGE_SIZE as usize == 0 {
                        on_page(out.len());
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(self.op_error("search", e)),
            }
        }
        let res = stream.finish().await;
        if res.rc != 0 {
            // A partial result is an error: acting on it would remove users who were not read.
            return Err(self.op_error("search", format!("rc={} {}", res.rc, res.text)));
        }
        on_page(out.len());
        Ok(out)
    }

    fn members_filter(group_dn: &str, extra: &str) -> String {
        format!(
            "(&(objectCategory=person)(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:={}){extra})",
            ldap_escape(group_dn)
        )
    }

    /// All members of the group, nested groups included.
    pub async fn members(
        &mut self,
        base_dn: &str,
        group_dn: &str,
        on_page: impl FnMut(usize),
    ) -> Result<Vec<DirUser>, DirectoryError> {
        let entries = self
            .search_paged(
                base_dn,
                &Self::members_filter(group_dn, ""),
                USER_ATTRS,
                on_page,
            )
            .await?;
        Ok(parse_users(entries))
    }

    /// Only the GUIDs of all members (cheap): what a delta run compares membership with.
    pub async fn member_guids(
        &mut self,
        base_dn: &str,
        group_dn: &str,
    ) -> Result<Vec<Uuid>, DirectoryError> {
        self.member_guids_where(base_dn, group_dn, "").await
    }

    /// The GUIDs of the members that also match `extra` (an LDAP filter, or empty).
    async fn member_guids_where(
        &mut self,
        base_dn: &str,
        group_dn: &str,
        extra: &str,
    ) -> Result<Vec<Uuid>, DirectoryError> {
        let entries = self
            .search_paged(
                base_dn,
                &Self::members_filter(group_dn, extra),
                &["objectGUID"],
                |_| {},
            )
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| first_bin(e, "objectGUID"))
            .filter_map(|b| guid::from_ad_bytes(&b))
            .collect())
    }

    /// Users changed after `usn`, members or not: the uSNChanged index answers this at once,
    /// where adding the in-chain membership rule would make the DC evaluate it per user. The
    /// caller keeps the members.
    pub async fn changed_users(
        &mut self,
        base_dn: &str,
        usn: i64,
    ) -> Result<Vec<DirUser>, DirectoryError> {
        let filter = format!(
            "(&(objectCategory=person)(objectClass=user)(uSNChanged>={}))",
            usn + 1
        );
        let entries = self
            .search_paged(base_dn, &filter, USER_ATTRS, |_| {})
            .await?;
        Ok(parse_users(entries))
    }

    /// Whether the sync group or a group nested in it changed after `usn` (a member added or
    /// removed bumps the group's uSNChanged). Changed groups are looked up by the index first;
    /// only when there are some is the group chain resolved.
    pub async fn groups_changed(
        &mut self,
        base_dn: &str,
        group_dn: &str,
        usn: i64,
    ) -> Result<bool, DirectoryError> {
        // The sync group may sit outside the base DN: search from the domain root.
        let root = domain_root(base_dn);
        let filter = format!("(&(objectClass=group)(uSNChanged>={}))", usn + 1);
        let changed: Vec<String> = self
            .search_paged(&root, &filter, &["distinguishedName"], |_| {})
            .await?
            .into_iter()
            .map(|e| e.dn.to_lowercase())
            .collect();
        if changed.is_empty() {
            return Ok(false);
        }
        if changed.iter().any(|d| d == &group_dn.to_lowercase()) {
            return Ok(true);
        }
        let nested = format!(
            "(&(objectClass=group)(memberOf:1.2.840.113556.1.4.1941:={}))",
            ldap_escape(group_dn)
        );
        let chain = self
            .search_paged(&root, &nested, &["distinguishedName"], |_| {})
            .await?;
        Ok(chain.iter().any(|e| changed.contains(&e.dn.to_lowercase())))
    }

    /// objectGUIDs of objects deleted after `usn` (tombstones, read with the "show deleted"
    /// control): a deleted member leaves its groups without bumping their uSNChanged.
    pub async fn deleted_since(
        &mut self,
        base_dn: &str,
        usn: i64,
    ) -> Result<Vec<Uuid>, DirectoryError> {
        let root = domain_root(base_dn);
        let filter = format!("(&(isDeleted=TRUE)(uSNChanged>={}))", usn + 1);
        let show_deleted = ldap3::controls::RawControl {
            ctype: "1.2.840.113556.1.4.417".to_owned(),
            crit: true,
            val: None,
        };
        let mut stream = self
            .ldap
            .with_timeout(self.timeout)
            .with_controls(show_deleted)
            .streaming_search_with(paged(), &root, Scope::Subtree, &filter, vec!["objectGUID"])
            .await
            .map_err(|e| self.op_error("search deleted objects", e))?;
        let mut out = Vec::new();
        loop {
            match stream.next().await {
                Ok(Some(entry)) => {
                    let e = SearchEntry::construct(entry);
                    if let Some(g) =
                        first_bin(&e, "objectGUID").and_then(|b| guid::from_ad_bytes(&b))
                    {
                        out.push(g);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(self.op_error("search deleted objects", e)),
            }
        }
        let res = stream.finish().await;
        if res.rc != 0 {
            return Err(self.op_error(
                "search deleted objects",
                format!("rc={} {}", res.rc, res.text),
            ));
        }
        Ok(out)
    }

    /// Users by GUID, in batches.
    pub async fn users_by_guid(
        &mut self,
        base_dn: &str,
        guids: &[Uuid],
    ) -> Result<Vec<DirUser>, DirectoryError> {
        let mut out = Vec::new();
        for chunk in guids.chunks(100) {
            let ors: String = chunk
                .iter()
                .map(|g| format!("(objectGUID={})", guid::filter_value(g)))
                .collect();
            let filter = format!("(&(objectCategory=person)(objectClass=user)(|{ors}))");
            out.extend(parse_users(
                self.search_paged(base_dn, &filter, USER_ATTRS, |_| {})
                    .await?,
            ));
        }
        Ok(out)
    }

    /// Counts the group's members (for "test connection").
    pub async fn count_members(
        &mut self,
        base_dn: &str,
        group_dn: &str,
    ) -> Result<usize, DirectoryError> {
        Ok(self.member_guids(base_dn, group_dn).await?.len())
    }

    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

/// The domain naming context of a DN: its trailing `DC=` components.
pub fn domain_root(dn: &str) -> String {
    let parts: Vec<&str> = dn.split(',').map(str::trim).collect();
    let start = parts
        .iter()
        .rposition(|p| !p.to_ascii_uppercase().starts_with("DC="))
        .map_or(0, |i| i + 1);
    let root = parts.get(start..).unwrap_or_default().join(",");
    if root.is_empty() {
        dn.to_owned()
    } else {
        root
    }
}

fn parse_users(entries: Vec<SearchEntry>) -> Vec<DirUser> {
    entries.iter().filter_map(DirUser::from_entry).collect()
}

#[cfg(test)]
mod tests {
    use super::domain_root;

    #[test]
    fn domain_root_of_a_dn() {
        assert_eq!(
            domain_root("OU=Staff,DC=corp,DC=example,DC=test"),
            "DC=corp,DC=example,DC=test"
        );
        assert_eq!(domain_root("DC=corp,DC=test"), "DC=corp,DC=test");
        assert_eq!(domain_root("CN=x"), "CN=x");
    }
}

/// Why the directory did not take a new password.
#[derive(Debug)]
pub enum SetPasswordError {
    /// The directory refused the password itself (its policy: length, complexity, history) or
    /// the bind account may not reset it: retrying the same password will not help.
    Refused(String),
    /// The DC could not be reached or answered with a transient error: try again later.
    Unavailable(String),
}

impl DirectoryConn {
    /// The domain's maximum password age in days (`maxPwdAge` on the domain root), `None` when
    /// passwords never expire.
    pub async fn max_password_age_days(
        &mut self,
        base_dn: &str,
    ) -> Result<Option<u32>, DirectoryError> {
        let root = domain_root(base_dn);
        let found = self
            .search_all(&root, Scope::Base, "(objectClass=*)", &["maxPwdAge"])
            .await?;
        // A negative count of 100-ns intervals; 0 or the minimum value mean "never".
        let ticks = found
            .first()
            .and_then(|e| e.attrs.get("maxPwdAge"))
            .and_then(|v| v.first())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        if ticks == 0 || ticks == i64::MIN {
            return Ok(None);
        }
        let days = ticks.unsigned_abs() / 10_000_000 / 86_400;
        Ok(Some(u32::try_from(days).unwrap_or(u32::MAX)))
    }

    /// How many more wrong passwords the account `dn` may take before its domain locks it out:
    /// its lockout threshold (its fine-grained password policy's, else the domain's) less its
    /// `badPwdCount` (0 once the observation window since its last bad password has passed).
    /// `None` when nothing locks the account. Read as the domain's bind account.
    pub async fn wrong_passwords_left(
        &mut self,
        base_dn: &str,
        dn: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, DirectoryError> {
        let int = |e: Option<&SearchEntry>, name: &str| {
            e.and_then(|e| e.attrs.get(name))
                .and_then(|v| v.first())
                .and_then(|s| s.parse::<i64>().ok())
        };
        let user = self
            .search_all(
                dn,
                Scope::Base,
                "(objectClass=*)",
                &["badPwdCount", "badPasswordTime", "msDS-ResultantPSO"],
            )
            .await?;
        let user = user.first();
        let pso = user
            .and_then(|e| e.attrs.get("msDS-ResultantPSO"))
            .and_then(|v| v.first())
            .cloned();
        let (threshold, window) = match pso {
            Some(pso) => {
                let found = self
                    .search_all(
                        &pso,
                        Scope::Base,
                        "(objectClass=*)",
                        &["msDS-LockoutThreshold", "msDS-LockoutObservationWindow"],
                    )
                    .await?;
                (
                    int(found.first(), "msDS-LockoutThreshold"),
                    int(found.first(), "msDS-LockoutObservationWindow"),
                )
            }
            None => {
                let found = self
                    .search_all(
                        &domain_root(base_dn),
                        Scope::Base,
                        "(objectClass=*)",
                        &["lockoutThreshold", "lockOutObservationWindow"],
                    )
                    .await?;
                (
                    int(found.first(), "lockoutThreshold"),
                    int(found.first(), "lockOutObservationWindow"),
                )
            }
        };
        let threshold = threshold.unwrap_or(0);
        if threshold <= 0 {
            return Ok(None);
        }
        // The window is a negative count of 100-ns intervals; badPasswordTime a FILETIME.
        let window_ms = window.unwrap_or(0).unsigned_abs() / 10_000;
        let last_bad = int(user, "badPasswordTime").unwrap_or(0);
        let since_ms = (crate::directory::user::filetime_from_unix_ms(now_ms) - last_bad) / 10_000;
        let bad = if last_bad > 0 && since_ms > i64::try_from(window_ms).unwrap_or(i64::MAX) {
            0
        } else {
            int(user, "badPwdCount").unwrap_or(0)
        };
        Ok(Some(threshold - bad))
    }

    /// Resets `dn`'s password (`unicodePwd`: the quoted password in UTF-16LE; needs LDAPS or
    /// StartTLS, which every connection here has).
    pub async fn set_password(&mut self, dn: &str, password: &str) -> Result<(), SetPasswordError> {
        let value: Vec<u8> = format!("\"{password}\"")
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let value = zeroize::Zeroizing::new(value);
        let result = self
            .ldap
            .with_timeout(self.timeout)
            .modify(
                dn,
                vec![ldap3::Mod::Replace(
                    b"unicodePwd".to_vec(),
                    std::collections::HashSet::from([value.to_vec()]),
                )],
            )
            .await
            .map_err(|e| SetPasswordError::Unavailable(format!("{}: {e}", self.url)))?;
        match result.rc {
            0 => Ok(()),
            // constraintViolation (policy), unwillingToPerform, insufficientAccessRights,
            // noSuchObject: the same request would fail again.
            19 | 53 | 50 | 32 => Err(SetPasswordError::Refused(format!(
                "rc={} {}",
                result.rc,
                result.text.trim()
            ))),
            rc => Err(SetPasswordError::Unavailable(format!(
                "{}: rc={rc} {}",
                self.url,
                result.text.trim()
            ))),
        }
    }
}

impl DirectoryConn {
    /// Which of `guids` are members of the group (nested groups included): one targeted search,
    /// for checking a few accounts without reading the whole group.
    pub async fn members_among(
        &mut self,
        base_dn: &str,
        group_dn: &str,
        guids: &[Uuid],
    ) -> Result<Vec<Uuid>, DirectoryError> {
        if guids.is_empty() {
            return Ok(Vec::new());
        }
        let any: String = guids
            .iter()
            .map(|g| format!("(objectGUID={})", guid::filter_value(g)))
            .collect();
        self.member_guids_where(base_dn, group_dn, &format!("(|{any})"))
            .await
    }
}
