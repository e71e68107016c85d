//! The domains to sync: configuration (validated before anything is stored), the bind password
//! or client secret sealed at rest, and "test connection". A domain is on-premises AD (`ldap`)
//! or Entra ID (`entra_id`); both sync through the same engine.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::graph::{self, GraphSettings};
use super::ldap::{self, ConnectSettings, TlsMode};
use crate::audit::{self, Actor, Target};
use crate::clock::{from_ms, SharedClock};
use crate::crypto::Cipher;
use crate::directory::store::DomainRow;
use crate::error::{Error, Result};
use crate::store::{Conn, Store};

pub const DEFAULT_SYNC_GROUP: &str = "Hideez Users Sync";
pub const DEFAULT_ROTATION_GROUP: &str = "Security Key Auto Password Change";
pub const DEFAULT_MAX_REMOVAL_PERCENT: u32 = 10;
/// Missing accounts up to this many never trip the removal guard (Entra Connect-like floor).
pub const DEFAULT_MAX_REMOVAL_COUNT: u32 = 10;
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 30;

/// The kind of directory a domain is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainKind {
    /// On-premises Active Directory, over LDAP.
    #[default]
    Ldap,
    /// Entra ID (Azure AD), over Microsoft Graph.
    EntraId,
}

impl DomainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ldap => "ldap",
            Self::EntraId => "entra_id",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ldap" => Some(Self::Ldap),
            "entra_id" => Some(Self::EntraId),
            _ => None,
        }
    }
}

/// A domain as an admin sends it (create, or full replacement on edit).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainInput {
    /// `ldap` (on-premises AD, the default) or `entra_id`.
    #[serde(default)]
    pub kind: DomainKind,
    /// A short unique name, e.g. `corp`.
    pub name: String,
    /// LDAP URLs of the domain controllers, tried in order (`ldaps://dc1.corp.example:636`).
    #[serde(default)]
    pub urls: Vec<String>,
    /// `ldaps`, `starttls` or `plain`. Default: `ldaps` for ldaps:// URLs, `starttls` for ldap://.
    pub tls_mode: Option<TlsMode>,
    /// Must be true to use `plain` (no TLS): the bind password would cross the network in clear.
    #[serde(default)]
    pub allow_plain: bool,
    /// PEM certificate(s) of the CA that issued the DCs' certificates. For Entra ID: an extra CA
    /// to trust for the authority and Graph (e.g. a TLS-intercepting proxy); optional.
    pub ca_pem: Option<String>,
    /// The bind user: a DN or `user@realm`.
    #[serde(default)]
    pub bind_dn: String,
    /// Required on create; on edit, omit it to keep the stored one.
    pub bind_password: Option<String>,
    /// Where users are searched, e.g. `DC=corp,DC=example,DC=com`.
    #[serde(default)]
    pub base_dn: String,
    pub netbios_name: Option<String>,
    /// The sync group: a DN or a name (cn or sAMAccountName). Default `Hideez Users Sync`.
    pub sync_group: Option<String>,
    /// Members get rotated domain passwords. Default `Security Key Auto Password Change`.
    pub rotation_group: Option<String>,
    /// Invite imported employees to SSO by e-mail. Default false.
    #[serde(default)]
    pub invite_on_import: bool,
    /// The removal guard: a run is refused when the accounts missing from the sync group
    /// (left it or deleted; disabled accounts never count) exceed both this share (percent) of
    /// the domain's synced employees and `max_removal_count`, unless forced. Default 10.
    pub max_removal_percent: Option<u32>,
    /// The guard's floor: this many missing accounts never trip it, whatever their share
    /// (ordinary leavers in a small domain). 0 turns the floor off. Default 10.
    pub max_removal_count: Option<u32>,
    /// A refused run applies nothing, instead of everything but the held removals. Default false.
    #[serde(default)]
    pub hold_all_when_refused: bool,
    /// Timeout of each LDAP operation, seconds. Default 30.
    pub timeout_seconds: Option<u32>,
    /// Scheduled syncs run only for enabled domains. Default true.
    pub enabled: Option<bool>,
    /// Entra ID: the tenant (directory) id, or a verified domain such as `contoso.onmicrosoft.com`.
    pub tenant_id: Option<String>,
    /// Entra ID: the app registration's application (client) id.
    pub client_id: Option<String>,
    /// Entra ID: a client secret of the app registration. Required on create; on edit, omit it
    /// to keep the stored one.
    pub client_secret: Option<String>,
    /// Entra ID, instead of a client secret: a certificate registered on the app and its RSA
    /// private key, in PEM (CERTIFICATE and PRIVATE KEY blocks). Sealed at rest like a secret.
    pub client_certificate: Option<String>,
    /// Entra ID: the object id of the sync group (members of nested groups are included).
    pub group_id: Option<String>,
    /// Entra ID: the authority. Default `https://login.microsoftonline.com`.
    pub authority_url: Option<String>,
    /// Entra ID: the Graph endpoint. Default `https://graph.microsoft.com/v1.0`.
    pub graph_url: Option<String>,
}

/// A domain as the API shows it: everything but the bind password.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainView {
    pub id: Uuid,
    pub kind: DomainKind,
    pub name: String,
    pub urls: Vec<String>,
    pub tls_mode: TlsMode,
    pub ca_pem: Option<String>,
    pub bind_dn: String,
    pub has_bind_password: bool,
    pub base_dn: String,
    pub netbios_name: Option<String>,
    pub sync_group: String,
    pub rotation_group: String,
    pub invite_on_import: bool,
    pub max_removal_percent: u32,
    pub max_removal_count: u32,
    pub hold_all_when_refused: bool,
    pub timeout_seconds: u32,
    pub enabled: bool,
    /// The DC the delta cursor belongs to, if a sync has run.
    pub cursor_dc: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_full_sync_at: Option<OffsetDateTime>,
    /// Entra ID: tenant, app, group and endpoints (the client secret is never shown).
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub has_client_secret: bool,
    pub has_client_certificate: bool,
    pub group_id: Option<String>,
    pub authority_url: Option<String>,
    pub graph_url: Option<String>,
}

/// The result of "test connection".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionTest {
    pub ok: bool,
    /// The DC that answered.
    pub dc_url: Option<String>,
    pub group_dn: Option<String>,
    /// Members of the sync group, nested groups included.
    pub members: Option<u64>,
    /// What went wrong, when `ok` is false.
    pub error: Option<String>,
}

/// How to reach a domain's directory.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    Ldap(ConnectSettings),
    Graph(GraphSettings),
}

/// A domain with its bind password or client secret opened, ready to connect.
#[derive(Debug, Clone)]
pub struct Domain {
    pub row: DomainRow,
    pub source: SourceSettings,
}

impl Domain {
    pub fn id(&self) -> &str {
        &self.row.id
    }

    pub fn kind(&self) -> DomainKind {
        match self.source {
            SourceSettings::Ldap(_) => DomainKind::Ldap,
            SourceSettings::Graph(_) => DomainKind::EntraId,
        }
    }
}

fn kind_of(row: &DomainRow) -> Result<DomainKind> {
    DomainKind::parse(&row.kind)
        .ok_or_else(|| Error::Internal(format!("bad kind of domain {}", row.id)))
}

/// The sealed credentials a domain of this kind can hold, by their input field: the LDAP bind
/// password; an Entra ID client secret or client certificate (one of them).
fn credential_slots(kind: DomainKind) -> &'static [&'static str] {
    match kind {
        DomainKind::Ldap => &["bind_password"],
        DomainKind::EntraId => &["client_secret", "client_certificate"],
    }
}

fn slot_name(domain_id: &str, slot: &str) -> String {
    format!("domain:{domain_id}:{slot}")
}

/// Which credential the domain has stored, if any.
async fn stored_slot(conn: &mut Conn, row: &DomainRow) -> Result<Option<&'static str>> {
    for slot in credential_slots(kind_of(row)?) {
        if crate::secrets::store::get(conn, &slot_name(&row.id, slot))
            .await?
            .is_some()
        {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

/// The credential given in the input, as (field, value), checked.
fn credential_of(input: &DomainInput, required: bool) -> Result<Option<(&'static str, String)>> {
    let given_in = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let found: Vec<(&'static str, String)> = match input.kind {
        DomainKind::Ldap => given_in(&input.bind_password)
            .map(|p| ("bind_password", p))
            .into_iter()
            .collect(),
        DomainKind::EntraId => [
            given_in(&input.client_secret).map(|p| ("client_secret", p)),
            given_in(&input.client_certificate).map(|p| ("client_certificate", p)),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    let first = credential_slots(input.kind)[0];
    match found.as_slice() {
        [] if required => Err(Error::validation(
            first,
            match input.kind {
                DomainKind::Ldap => "is required",
                DomainKind::EntraId => "is required (or give client_certificate)",
            },
        )),
        [] => Ok(None),
        [_, _] => Err(Error::validation(
            "client_certificate",
            "give either client_secret or client_certificate, not both",
        )),
        [(field, v)] => {
            let max = if *field == "client_certificate" {
                64 * 1024
            } else {
                1024
            };
            if v.len() > max {
                return Err(Error::validation(
                    *field,
                    format!("must be at most {max} bytes"),
                ));
            }
            if *field == "client_certificate" {
                graph::ClientCertificate::from_pem(v)
                    .map_err(|e| Error::validation("client_certificate", e))?;
            }
            Ok(Some((field, v.clone())))
        }
        _ => Err(Error::Internal("more than two credentials".into())),
    }
}

/// Stores the given credential and drops the domain's other kind of credential.
async fn store_credential(
    conn: &mut Conn,
    cipher: &Cipher,
    row: &DomainRow,
    slot: &str,
    value: &str,
    now_ms: i64,
) -> Result<()> {
    crate::secrets::put(
        conn,
        cipher,
        &slot_name(&row.id, slot),
        value.as_bytes(),
        now_ms,
    )
    .await?;
    for other in credential_slots(kind_of(row)?) {
        if *other != slot {
            crate::secrets::store::delete(conn, &slot_name(&row.id, other)).await?;
        }
    }
    Ok(())
}

fn non_empty(field: &str, v: &str, max: usize) -> Result<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(Error::validation(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(Error::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

fn optional(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => non_empty(field, s, max).map(Some),
        None => Ok(None),
    }
}

/// Validates the input into the columns of a row (id, cursor and timestamps left to the caller).
fn validate(input: &DomainInput) -> Result<DomainRow> {
    match input.kind {
        DomainKind::Ldap => validate_ldap(input),
        DomainKind::EntraId => validate_entra(input),
    }
}

fn validate_name(input: &DomainInput) -> Result<String> {
    let name = non_empty("name", &input.name, 64)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(Error::validation(
            "name",
            "may contain only letters, digits, '.', '-' and '_'",
        ));
    }
    Ok(name)
}

/// The limits both kinds of domain share, checked.
struct Limits {
    max_removal_percent: u32,
    max_removal_count: u32,
    timeout_seconds: u32,
}

fn common_limits(input: &DomainInput) -> Result<Limits> {
    let max_removal_percent = input
        .max_removal_percent
        .unwrap_or(DEFAULT_MAX_REMOVAL_PERCENT);
    if max_removal_percent > 100 {
        return Err(Error::validation(
            "max_removal_percent",
            "must be between 0 and 100",
        ));
    }
    let max_removal_count = input.max_removal_count.unwrap_or(DEFAULT_MAX_REMOVAL_COUNT);
    if max_removal_count > 1_000_000 {
        return Err(Error::validation(
            "max_removal_count",
            "must be between 0 and 1000000",
        ));
    }
    let timeout_seconds = input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=600).contains(&timeout_seconds) {
        return Err(Error::validation(
            "timeout_seconds",
            "must be between 1 and 600",
        ));
    }
    Ok(Limits {
        max_removal_percent,
        max_removal_count,
        timeout_seconds,
    })
}

fn pem_of(input: &DomainInput) -> Result<Option<String>> {
    // Certificates span lines, so only presence and size are checked before parsing.
    let ca_pem = input
        .ca_pem
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if ca_pem.as_ref().is_some_and(|p| p.len() > 64 * 1024) {
        return Err(Error::validation("ca_pem", "is larger than 64 KiB"));
    }
    Ok(ca_pem)
}

/// A field of the other kind of domain, given anyway: named, so the admin sees the mix-up.
fn not_for(kind: DomainKind, fields: &[(&str, bool)]) -> Result<()> {
    match fields.iter().find(|(_, given)| *given) {
        Some((field, _)) => Err(Error::validation(
            *field,
            format!("is not used by {} domains", kind.as_str()),
        )),
        None => Ok(()),
    }
}

fn given(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.trim().is_empty())
}

fn validate_ldap(input: &DomainInput) -> Result<DomainRow> {
    let name = validate_name(input)?;
    not_for(
        DomainKind::Ldap,
        &[
            ("tenant_id", given(&input.tenant_id)),
            ("client_id", given(&input.client_id)),
            ("client_secret", given(&input.client_secret)),
            ("client_certificate", given(&input.client_certificate)),
            ("group_id", given(&input.group_id)),
            ("authority_url", given(&input.authority_url)),
            ("graph_url", given(&input.graph_url)),
        ],
    )?;
    if input.urls.is_empty() {
        return Err(Error::validation("urls", "give at least one LDAP URL"));
    }
    if input.urls.len() > 16 {
        return Err(Error::validation("urls", "at most 16 domain controllers"));
    }
    let mut urls = Vec::new();
    let mut schemes = Vec::new();
    for (i, raw) in input.urls.iter().enumerate() {
        let field = format!("urls[{i}]");
        let u = url::Url::parse(raw.trim())
            .map_err(|e| Error::validation(&field, format!("is not a URL: {e}")))?;
        if !matches!(u.scheme(), "ldap" | "ldaps") {
            return Err(Error::validation(
                &field,
                "must start with ldaps:// or ldap://",
            ));
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(Error::validation(&field, "must name a host"));
        }
        if u.path().len() > 1 || u.query().is_some() || u.username() != "" {
            return Err(Error::validation(
                &field,
                "must be just scheme, host and port (ldaps://dc1.example.com:636)",
            ));
        }
        schemes.push(u.scheme().to_owned());
        urls.push(raw.trim().trim_end_matches('/').to_owned());
    }
    let tls = match input.tls_mode {
        Some(m) => m,
        None if schemes.iter().all(|s| s == "ldaps") => TlsMode::Ldaps,
        None => TlsMode::Starttls,
    };
    let wanted = if tls == TlsMode::Ldaps {
        "ldaps"
    } else {
        "ldap"
    };
    if let Some(i) = schemes.iter().position(|s| s != wanted) {
        return Err(Error::validation(
            format!("urls[{i}]"),
            format!("must start with {wanted}:// for tls_mode {}", tls.as_str()),
        ));
    }
    if tls == TlsMode::Plain && !input.allow_plain {
        return Err(Error::validation(
            "tls_mode",
            "plain LDAP sends the bind password in clear; use ldaps or starttls, or set \
             allow_plain to true if you really mean it",
        ));
    }
    let ca_pem = pem_of(input)?;
    match (&ca_pem, tls) {
        (None, TlsMode::Ldaps | TlsMode::Starttls) => {
            return Err(Error::validation(
                "ca_pem",
                "is required with ldaps and starttls: paste the PEM certificate of the CA that \
                 issued the domain controllers' certificates",
            ))
        }
        (Some(pem), _) => {
            ldap::tls_config(pem).map_err(|e| Error::validation("ca_pem", e.to_string()))?;
        }
        _ => {}
    }
    let bind_dn = non_empty("bind_dn", &input.bind_dn, 1024)?;
    let base_dn = non_empty("base_dn", &input.base_dn, 1024)?;
    if !base_dn.contains('=') {
        return Err(Error::validation(
            "base_dn",
            "must be a DN such as DC=corp,DC=example,DC=com",
        ));
    }
    let sync_group = optional("sync_group", input.sync_group.as_deref(), 1024)?
        .unwrap_or_else(|| DEFAULT_SYNC_GROUP.to_owned());
    let rotation_group = optional("rotation_group", input.rotation_group.as_deref(), 1024)?
        .unwrap_or_else(|| DEFAULT_ROTATION_GROUP.to_owned());
    Ok(DomainRow {
        urls: serde_json::to_string(&urls).map_err(|e| Error::Internal(e.to_string()))?,
        tls_mode: tls.as_str().to_owned(),
        bind_dn,
        base_dn,
        netbios_name: optional("netbios_name", input.netbios_name.as_deref(), 15)?,
        rotation_group,
        ..new_row(input, DomainKind::Ldap, name, ca_pem, sync_group)?
    })
}

/// A new domain's row with what every kind shares (limits, switches, no cursor yet); each kind
/// fills in its own connection fields.
fn new_row(
    input: &DomainInput,
    kind: DomainKind,
    name: String,
    ca_pem: Option<String>,
    sync_group: String,
) -> Result<DomainRow> {
    let limits = common_limits(input)?;
    Ok(DomainRow {
        id: String::new(),
        name,
        urls: "[]".into(),
        tls_mode: TlsMode::Ldaps.as_str().to_owned(),
        ca_pem,
        bind_dn: String::new(),
        base_dn: String::new(),
        netbios_name: None,
        sync_group,
        rotation_group: String::new(),
        invite_on_import: i64::from(input.invite_on_import),
        max_removal_percent: i64::from(limits.max_removal_percent),
        max_removal_count: i64::from(limits.max_removal_count),
        hold_all_when_refused: i64::from(input.hold_all_when_refused),
        timeout_seconds: i64::from(limits.timeout_seconds),
        enabled: i64::from(input.enabled.unwrap_or(true)),
        cursor_dc: None,
        cursor_invocation_id: None,
        cursor_usn: None,
        last_full_sync_at: None,
        created_at: 0,
        updated_at: 0,
        kind: kind.as_str().to_owned(),
        tenant_id: None,
        client_id: None,
        authority_url: None,
        graph_url: None,
        cursor_delta_link: None,
    })
}

fn object_id(field: &str, v: Option<&str>) -> Result<String> {
    let v = v
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::validation(field, "is required"))?;
    Uuid::parse_str(v).map(|u| u.to_string()).map_err(|_| {
        Error::validation(
            field,
            "must be an object id, a GUID such as 02bd9fd6-8f93-4758-87c3-1fb73740a315",
        )
    })
}

/// An https:// base URL without query or credentials, without a trailing slash.
fn https_base(field: &str, v: Option<&str>, default: &str) -> Result<String> {
    let raw = v
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(default);
    let u =
        url::Url::parse(raw).map_err(|e| Error::validation(field, format!("is not a URL: {e}")))?;
    if u.scheme() != "https" {
        return Err(Error::validation(field, "must start with https://"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(Error::validation(field, "must name a host"));
    }
    if u.query().is_some() || u.fragment().is_some() || u.username() != "" || u.password().is_some()
    {
        return Err(Error::validation(
            field,
            "must be just scheme, host, port and path",
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn validate_entra(input: &DomainInput) -> Result<DomainRow> {
    let name = validate_name(input)?;
    not_for(
        DomainKind::EntraId,
        &[
            ("urls", !input.urls.is_empty()),
            ("tls_mode", input.tls_mode.is_some()),
            ("bind_dn", !input.bind_dn.trim().is_empty()),
            ("bind_password", given(&input.bind_password)),
            ("base_dn", !input.base_dn.trim().is_empty()),
            ("netbios_name", given(&input.netbios_name)),
            ("sync_group", given(&input.sync_group)),
            ("rotation_group", given(&input.rotation_group)),
        ],
    )?;
    let tenant_id = non_empty(
        "tenant_id",
        input.tenant_id.as_deref().unwrap_or_default(),
        253,
    )?;
    let tenant_ok = Uuid::parse_str(&tenant_id).is_ok()
        || (tenant_id.contains('.')
            && tenant_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')));
    if !tenant_ok {
        return Err(Error::validation(
            "tenant_id",
            "must be the tenant id (a GUID) or a verified domain such as contoso.onmicrosoft.com",
        ));
    }
    let client_id = object_id("client_id", input.client_id.as_deref())?;
    let group_id = object_id("group_id", input.group_id.as_deref())?;
    let authority_url = https_base(
        "authority_url",
        input.authority_url.as_deref(),
        graph::DEFAULT_AUTHORITY,
    )?;
    let graph_url = https_base(
        "graph_url",
        input.graph_url.as_deref(),
        graph::DEFAULT_GRAPH,
    )?;
    let ca_pem = pem_of(input)?;
    if let Some(pem) = &ca_pem {
        graph::http_client(Some(pem), Duration::from_secs(1))
            .map_err(|e| Error::validation("ca_pem", e.to_string()))?;
    }
    Ok(DomainRow {
        tenant_id: Some(tenant_id),
        client_id: Some(client_id),
        authority_url: Some(authority_url),
        graph_url: Some(graph_url),
        ..new_row(input, DomainKind::EntraId, name, ca_pem, group_id)?
    })
}

pub fn urls_of(row: &DomainRow) -> Result<Vec<String>> {
    serde_json::from_str(&row.urls)
        .map_err(|_| Error::Internal(format!("bad URL list of domain {}", row.id)))
}

fn tls_of(row: &DomainRow) -> Result<TlsMode> {
    TlsMode::parse(&row.tls_mode)
        .ok_or_else(|| Error::Internal(format!("bad tls_mode of domain {}", row.id)))
}

pub fn view(row: &DomainRow, credential: Option<&str>) -> Result<DomainView> {
    let kind = kind_of(row)?;
    let entra = kind == DomainKind::EntraId;
    Ok(DomainView {
        id: Uuid::parse_str(&row.id)
            .map_err(|_| Error::Internal(format!("bad domain id {:?}", row.id)))?,
        kind,
        name: row.name.clone(),
        urls: urls_of(row)?,
        tls_mode: tls_of(row)?,
        ca_pem: row.ca_pem.clone(),
        bind_dn: row.bind_dn.clone(),
        has_bind_password: credential == Some("bind_password"),
        base_dn: row.base_dn.clone(),
        netbios_name: row.netbios_name.clone(),
        sync_group: row.sync_group.clone(),
        rotation_group: row.rotation_group.clone(),
        invite_on_import: row.invite_on_import != 0,
        max_removal_percent: u32::try_from(row.max_removal_percent).unwrap_or(0),
        max_removal_count: u32::try_from(row.max_removal_count).unwrap_or(0),
        hold_all_when_refused: row.hold_all_when_refused != 0,
        timeout_seconds: u32::try_from(row.timeout_seconds).unwrap_or(30),
        enabled: row.enabled != 0,
        cursor_dc: row.cursor_dc.clone(),
        last_full_sync_at: row.last_full_sync_at.map(from_ms),
        tenant_id: row.tenant_id.clone(),
        client_id: row.client_id.clone(),
        has_client_secret: credential == Some("client_secret"),
        has_client_certificate: credential == Some("client_certificate"),
        group_id: entra.then(|| row.sync_group.clone()),
        authority_url: row.authority_url.clone(),
        graph_url: row.graph_url.clone(),
    })
}

const NAME_TAKEN: &str = "another domain already has this name";

/// Domain configuration service.
pub struct Domains<'a> {
    pub store: &'a Store,
    pub cipher: &'a Cipher,
}

impl Domains<'_> {
    pub async fn list(&self) -> Result<Vec<DomainView>> {
        let mut conn = self.store.conn().await?;
        let rows = crate::directory::store::list_domains(&mut conn).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let slot = stored_slot(&mut conn, &r).await?;
            out.push(view(&r, slot)?);
        }
        Ok(out)
    }

    /// By id or (case-insensitive) name.
    pub async fn find_row(conn: &mut Conn, id_or_name: &str) -> Result<DomainRow> {
        let by_id = match Uuid::parse_str(id_or_name) {
            Ok(id) => crate::directory::store::get_domain(conn, &id.to_string()).await?,
            Err(_) => None,
        };
        match by_id {
            Some(r) => Ok(r),
            None => crate::directory::store::find_domain_by_name(conn, id_or_name)
                .await?
                .ok_or(Error::NotFound("domain")),
        }
    }

    pub async fn get(&self, id_or_name: &str) -> Result<DomainView> {
        let mut conn = self.store.conn().await?;
        let row = Self::find_row(&mut conn, id_or_name).await?;
        let slot = stored_slot(&mut conn, &row).await?;
        view(&row, slot)
    }

    /// The domain with its bind password or client secret, ready to connect.
    pub async fn load(&self, conn: &mut Conn, id_or_name: &str) -> Result<Domain> {
        let row = Self::find_row(conn, id_or_name).await?;
        let kind = kind_of(&row)?;
        let missing = || {
            let field = credential_slots(kind)[0];
            Error::conflict(
                Some(field),
                format!("domain {} has no {}", row.name, field.replace('_', " ")),
            )
        };
        let slot = stored_slot(conn, &row).await?.ok_or_else(missing)?;
        let secret = crate::secrets::get(conn, self.cipher, &slot_name(&row.id, slot))
            .await?
            .ok_or_else(missing)?;
        let secret = String::from_utf8(secret)
            .map_err(|_| Error::Internal(format!("the {slot} is not UTF-8")))?;
        let timeout = Duration::from_secs(u64::try_from(row.timeout_seconds).unwrap_or(30));
        let source = match kind {
            DomainKind::Ldap => SourceSettings::Ldap(ConnectSettings {
                urls: urls_of(&row)?,
                tls: tls_of(&row)?,
                ca_pem: row.ca_pem.clone(),
                bind_dn: row.bind_dn.clone(),
                bind_password: secret,
                timeout,
            }),
            DomainKind::EntraId => {
                let col = |v: &Option<String>, name: &str| {
                    v.clone()
                        .ok_or_else(|| Error::Internal(format!("domain {} has no {name}", row.id)))
                };
                SourceSettings::Graph(GraphSettings {
                    tenant_id: col(&row.tenant_id, "tenant_id")?,
                    client_id: col(&row.client_id, "client_id")?,
                    credential: if slot == "client_certificate" {
                        graph::Credential::Certificate(
                            graph::ClientCertificate::from_pem(&secret).map_err(|e| {
                                Error::Internal(format!("stored client certificate: {e}"))
                            })?,
                        )
                    } else {
                        graph::Credential::Secret(secret)
                    },
                    authority_url: col(&row.authority_url, "authority_url")?,
                    graph_url: col(&row.graph_url, "graph_url")?,
                    group_id: row.sync_group.clone(),
                    ca_pem: row.ca_pem.clone(),
                    timeout,
                })
            }
        };
        Ok(Domain { row, source })
    }

    pub async fn create(
        &self,
        actor: &Actor,
        now_ms: i64,
        input: &DomainInput,
    ) -> Result<DomainView> {
        let mut row = validate(input)?;
        let credential = credential_of(input, true)?;
        row.id = Uuid::new_v4().to_string();
        row.created_at = now_ms;
        row.updated_at = now_ms;
        let mut tx = self.store.begin().await?;
        if crate::directory::store::find_domain_by_name(&mut tx, &row.name)
            .await?
            .is_some()
        {
            return Err(Error::conflict(Some("name"), NAME_TAKEN));
        }
        crate::directory::store::insert_domain(&mut tx, &row)
            .await
            .map_err(Error::on_unique_violation("name", NAME_TAKEN))?;
        if let Some((slot, value)) = &credential {
            store_credential(&mut tx, self.cipher, &row, slot, value, now_ms).await?;
        }
        audit::record(
            &mut tx,
            now_ms,
            actor,
            "domain.created",
            Some(Target::of("domain", &row.id)),
            json!({ "name": row.name, "kind": row.kind, "urls": urls_of(&row)?,
                    "graph_url": row.graph_url, "sync_group": row.sync_group }),
        )
        .await?;
        tx.commit().await?;
        view(&row, credential.map(|c| c.0))
    }

    pub async fn update(
        &self,
        actor: &Actor,
        now_ms: i64,
        id: Uuid,
        input: &DomainInput,
    ) -> Result<DomainView> {
        let mut row = validate(input)?;
        let credential = credential_of(input, false)?;
        let id = id.to_string();
        let mut tx = self.store.begin().await?;
        let current = crate::directory::store::get_domain(&mut tx, &id)
            .await?
            .ok_or(Error::NotFound("domain"))?;
        if current.kind != row.kind {
            return Err(Error::validation(
                "kind",
                format!(
                    "cannot change a {} domain into {}; add a new domain instead",
                    current.kind, row.kind
                ),
            ));
        }
        if let Some(other) =
            crate::directory::store::find_domain_by_name(&mut tx, &row.name).await?
        {
            if other.id != id {
                return Err(Error::conflict(Some("name"), NAME_TAKEN));
            }
        }
        // The stored secret goes only where it went before: pointing the domain somewhere else
        // (other DCs, another authority or Graph endpoint) needs the secret typed again, or a
        // console session could send it to a server of its choosing.
        let elsewhere = current.urls != row.urls
            || current.authority_url != row.authority_url
            || current.graph_url != row.graph_url
            || current.tenant_id != row.tenant_id;
        if elsewhere && credential.is_none() {
            let field = if row.kind == DomainKind::EntraId.as_str() {
                "client_secret"
            } else {
                "bind_password"
            };
            return Err(Error::validation(
                field,
                "type it again: the domain now points to another server",
            ));
        }
        row.id = id.clone();
        row.created_at = current.created_at;
        row.updated_at = now_ms;
        crate::directory::store::update_domain_config(&mut tx, &row)
            .await
            .map_err(Error::on_unique_violation("name", NAME_TAKEN))?;
        // Another DC list or base (another tenant, endpoint or group) may mean another
        // directory: the delta cursor no longer holds.
        if current.urls != row.urls
            || current.base_dn != row.base_dn
            || current.tenant_id != row.tenant_id
            || current.graph_url != row.graph_url
            || current.sync_group != row.sync_group
        {
            crate::directory::store::clear_cursor(&mut tx, &id).await?;
        }
        if let Some((slot, value)) = &credential {
            store_credential(&mut tx, self.cipher, &row, slot, value, now_ms).await?;
        }
        let slot = stored_slot(&mut tx, &row).await?;
        audit::record(
            &mut tx,
            now_ms,
            actor,
            "domain.updated",
            Some(Target::of("domain", &id)),
            json!({ "name": row.name,             "credential_changed": credential.as_ref().map(|c| c.0) }),
        )
        .await?;
        tx.commit().await?;
        let row = {
            let mut conn = self.store.conn().await?;
            crate::directory::store::get_domain(&mut conn, &id)
                .await?
                .ok_or(Error::NotFound("domain"))?
        };
        view(&row, slot)
    }

    /// Deleting a domain that has imported employees is refused: they would be orphaned.
    pub async fn delete(&self, actor: &Actor, now_ms: i64, id: Uuid) -> Result<()> {
        let id = id.to_string();
        let mut tx = self.store.begin().await?;
        let current = crate::directory::store::get_domain(&mut tx, &id)
            .await?
            .ok_or(Error::NotFound("domain"))?;
        let identities = crate::directory::store::count_identities(&mut tx, &id).await?;
        if identities > 0 {
            return Err(Error::conflict(
                None,
                format!(
                    "domain {} has {identities} imported accounts; disable it instead of deleting it",
                    current.name
                ),
            ));
        }
        crate::directory::store::delete_domain(&mut tx, &id).await?;
        for slot in credential_slots(kind_of(&current)?) {
            crate::secrets::store::delete(&mut tx, &slot_name(&id, slot)).await?;
        }
        audit::record(
            &mut tx,
            now_ms,
            actor,
            "domain.deleted",
            Some(Target::of("domain", &id)),
            json!({ "name": current.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Binds, finds the sync group and counts its members. Changes nothing.
    pub async fn test_connection(
        &self,
        id_or_name: &str,
        clock: &SharedClock,
    ) -> Result<ConnectionTest> {
        let domain = {
            let mut conn = self.store.conn().await?;
            self.load(&mut conn, id_or_name).await?
        };
        Ok(test_connection(&domain, clock).await)
    }
}

/// Connects (an LDAP bind, or a Graph token), finds the sync group and counts its members.
pub async fn test_connection(domain: &Domain, clock: &SharedClock) -> ConnectionTest {
    let mut result = ConnectionTest {
        ok: false,
        dc_url: None,
        group_dn: None,
        members: None,
        error: None,
    };
    let mut source = match super::source::open(domain, clock).await {
        Ok(s) => s,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    result.dc_url = Some(source.location().to_owned());
    match source.check_group().await {
        Ok(check) => {
            result.ok = true;
            result.group_dn = Some(check.group);
            result.members = Some(check.members);
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    source.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> DomainInput {
        DomainInput {
            name: "corp".into(),
            urls: vec!["ldaps://dc1.corp.example:636".into()],
            tls_mode: None,
            allow_plain: false,
            ca_pem: None,
            bind_dn: "svc@corp.example".into(),
            bind_password: Some("x".into()),
            base_dn: "DC=corp,DC=example".into(),
            netbios_name: None,
            sync_group: None,
            rotation_group: None,
            invite_on_import: false,
            max_removal_percent: None,
            timeout_seconds: None,
            enabled: None,
            ..DomainInput::default()
        }
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::Validation { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn names_the_bad_field() {
        // TLS needs the CA.
        assert_eq!(field_of(validate(&input()).unwrap_err()), "ca_pem");
        let mut i = input();
        i.urls = vec!["http://dc1".into()];
        assert_eq!(field_of(validate(&i).unwrap_err()), "urls[0]");
        let mut i = input();
        i.urls.push("ldap://dc2".into());
        i.tls_mode = Some(TlsMode::Ldaps);
        assert_eq!(field_of(validate(&i).unwrap_err()), "urls[1]");
        let mut i = input();
        i.urls = vec!["ldap://dc1".into()];
        i.tls_mode = Some(TlsMode::Plain);
        assert_eq!(field_of(validate(&i).unwrap_err()), "tls_mode");
        i.allow_plain = true;
        let row = validate(&i).unwrap();
        assert_eq!(row.sync_group, DEFAULT_SYNC_GROUP);
        assert_eq!(row.max_removal_percent, 10);
        i.max_removal_percent = Some(101);
        assert_eq!(field_of(validate(&i).unwrap_err()), "max_removal_percent");
        i.max_removal_percent = None;
        i.base_dn = "corp".into();
        assert_eq!(field_of(validate(&i).unwrap_err()), "base_dn");
        i.base_dn = "DC=x".into();
        i.name = "bad name!".into();
        assert_eq!(field_of(validate(&i).unwrap_err()), "name");
        i.name = "ok".into();
        i.ca_pem = Some("not a certificate".into());
        assert_eq!(field_of(validate(&i).unwrap_err()), "ca_pem");
    }
}
