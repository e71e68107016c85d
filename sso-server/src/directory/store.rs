//! Directory domains, identities and sync runs.

use crate::directory::run_state::{Outcome, RunState};
use crate::error::Result;
use crate::instance::LeaseOwner;
use crate::store::Conn;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DomainRow {
    pub id: String,
    pub name: String,
    /// JSON array of LDAP URLs.
    pub urls: String,
    pub tls_mode: String,
    pub ca_pem: Option<String>,
    pub bind_dn: String,
    pub base_dn: String,
    pub netbios_name: Option<String>,
    pub sync_group: String,
    pub rotation_group: String,
    pub invite_on_import: i64,
    pub max_removal_percent: i64,
    pub timeout_seconds: i64,
    pub enabled: i64,
    pub cursor_dc: Option<String>,
    pub cursor_invocation_id: Option<String>,
    pub cursor_usn: Option<i64>,
    pub last_full_sync_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `ldap` (on-premises AD) or `entra_id` (Microsoft Graph).
    pub kind: String,
    /// Entra ID: the tenant (directory) id or a verified domain name.
    pub tenant_id: Option<String>,
    /// Entra ID: the app registration's application (client) id.
    pub client_id: Option<String>,
    pub authority_url: Option<String>,
    pub graph_url: Option<String>,
    /// Entra ID: the Graph delta link of the last run (users/delta).
    pub cursor_delta_link: Option<String>,
    /// The removal guard's floor: missing accounts up to this many never trip it (0: no floor).
    pub max_removal_count: i64,
    /// A refused run applies nothing (instead of everything but the held removals).
    pub hold_all_when_refused: i64,
}

const DOMAIN_COLUMNS: &str = "id, name, urls, tls_mode, ca_pem, bind_dn, base_dn, netbios_name, \
    sync_group, rotation_group, invite_on_import, max_removal_percent, timeout_seconds, enabled, \
    cursor_dc, cursor_invocation_id, cursor_usn, last_full_sync_at, created_at, updated_at, kind, \
    tenant_id, client_id, authority_url, graph_url, cursor_delta_link, max_removal_count, \
    hold_all_when_refused";

/// Binds id and the configuration columns, in the order both the insert and the update list
/// them ($1 to $21).
fn bind_config<'q>(q: crate::store::Query<'q>, d: &'q DomainRow) -> crate::store::Query<'q> {
    q.bind(&d.id)
        .bind(&d.name)
        .bind(d.name.to_lowercase())
        .bind(&d.urls)
        .bind(&d.tls_mode)
        .bind(&d.ca_pem)
        .bind(&d.bind_dn)
        .bind(&d.base_dn)
        .bind(&d.netbios_name)
        .bind(&d.sync_group)
        .bind(&d.rotation_group)
        .bind(d.invite_on_import)
        .bind(d.max_removal_percent)
        .bind(d.timeout_seconds)
        .bind(d.enabled)
        .bind(&d.tenant_id)
        .bind(&d.client_id)
        .bind(&d.authority_url)
        .bind(&d.graph_url)
        .bind(d.max_removal_count)
        .bind(d.hold_all_when_refused)
}

pub async fn insert_domain(conn: &mut Conn, d: &DomainRow) -> Result<(), sqlx::Error> {
    let q = sqlx::query(
        "INSERT INTO directory_domain (id, name, name_norm, urls, tls_mode, ca_pem, bind_dn, base_dn, \
         netbios_name, sync_group, rotation_group, invite_on_import, max_removal_percent, \
         timeout_seconds, enabled, tenant_id, client_id, authority_url, graph_url, \
         max_removal_count, hold_all_when_refused, cursor_dc, cursor_invocation_id, cursor_usn, \
         last_full_sync_at, created_at, updated_at, kind) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, \
         $27, $28)",
    );
    bind_config(q, d)
        .bind(&d.cursor_dc)
        .bind(&d.cursor_invocation_id)
        .bind(d.cursor_usn)
        .bind(d.last_full_sync_at)
        .bind(d.created_at)
        .bind(d.updated_at)
        .bind(&d.kind)
        .execute(conn)
        .await?;
    Ok(())
}

/// Updates the configuration columns (not the sync cursor).
pub async fn update_domain_config(conn: &mut Conn, d: &DomainRow) -> Result<bool, sqlx::Error> {
    let q = sqlx::query(
        "UPDATE directory_domain SET name = $2, name_norm = $3, urls = $4, tls_mode = $5, ca_pem = $6, \
         bind_dn = $7, base_dn = $8, netbios_name = $9, sync_group = $10, rotation_group = $11, \
         invite_on_import = $12, max_removal_percent = $13, timeout_seconds = $14, enabled = $15, \
         tenant_id = $16, client_id = $17, authority_url = $18, graph_url = $19, \
         max_removal_count = $20, hold_all_when_refused = $21, updated_at = $22 WHERE id = $1",
    );
    let done = bind_config(q, d).bind(d.updated_at).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_cursor(
    conn: &mut Conn,
    id: &str,
    dc: &str,
    invocation_id: &str,
    usn: i64,
    full_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE directory_domain SET cursor_dc = $2, cursor_invocation_id = $3, cursor_usn = $4, \
         last_full_sync_at = COALESCE($5, last_full_sync_at) WHERE id = $1",
    )
    .bind(id)
    .bind(dc)
    .bind(invocation_id)
    .bind(usn)
    .bind(full_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores an Entra ID domain's delta link (and the time of a full run).
pub async fn set_delta_link(
    conn: &mut Conn,
    id: &str,
    graph_url: &str,
    delta_link: &str,
    full_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE directory_domain SET cursor_dc = $2, cursor_delta_link = $3, \
         last_full_sync_at = COALESCE($4, last_full_sync_at) WHERE id = $1",
    )
    .bind(id)
    .bind(graph_url)
    .bind(delta_link)
    .bind(full_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_domain(conn: &mut Conn, id: &str) -> Result<Option<DomainRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM directory_domain WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn find_domain_by_name(conn: &mut Conn, name: &str) -> Result<Option<DomainRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM directory_domain WHERE name_norm = $1"
    ))
    .bind(name.to_lowercase())
    .fetch_optional(conn)
    .await?)
}

pub async fn list_domains(conn: &mut Conn) -> Result<Vec<DomainRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM directory_domain ORDER BY name_norm"
    ))
    .fetch_all(conn)
    .await?)
}

pub async fn delete_domain(conn: &mut Conn, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM directory_domain WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IdentityRow {
    pub domain_id: String,
    pub object_guid: String,
    pub employee_id: String,
    pub dn: String,
    pub sam_account_name: Option<String>,
    pub upn: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub user_account_control: i64,
    pub account_expires: Option<i64>,
    pub lockout_time: Option<i64>,
    pub pwd_last_set: Option<i64>,
    pub usn_changed: Option<i64>,
    pub when_changed: Option<String>,
    pub in_scope: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const IDENTITY_COLUMNS: &str = "domain_id, object_guid, employee_id, dn, sam_account_name, upn, \
    given_name, family_name, display_name, email, phone, department, title, user_account_control, \
    account_expires, lockout_time, pwd_last_set, usn_changed, when_changed, in_scope, created_at, \
    updated_at";

pub async fn all_identities(conn: &mut Conn) -> Result<Vec<IdentityRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {IDENTITY_COLUMNS} FROM directory_identity"
    ))
    .fetch_all(conn)
    .await?)
}

pub async fn identities_of_employee(
    conn: &mut Conn,
    employee_id: &str,
) -> Result<Vec<IdentityRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {IDENTITY_COLUMNS} FROM directory_identity WHERE employee_id = $1 \
         ORDER BY created_at, domain_id, object_guid"
    ))
    .bind(employee_id)
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    pub id: String,
    pub domain_id: String,
    pub kind: String,
    pub trigger: String,
    pub dry_run: i64,
    pub forced: i64,
    pub state: String,
    pub dc_url: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub added: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub removed: i64,
    pub reactivated: i64,
    pub merged: i64,
    pub taken_over: i64,
    pub errors: i64,
    pub message: Option<String>,
    /// JSON: errors and per-object changes.
    pub report: String,
    /// JSON `Progress` while running (for the instances that did not start it).
    pub progress: Option<String>,
}

impl RunRow {
    /// The state, parsed (`None` only for a value no version of this program writes).
    pub fn state(&self) -> Option<crate::directory::run_state::RunState> {
        crate::directory::run_state::RunState::parse(&self.state)
    }
}

const RUN_COLUMNS: &str =
    "id, domain_id, kind, trigger, dry_run, forced, state, dc_url, started_at, \
    finished_at, added, updated, unchanged, removed, reactivated, merged, taken_over, errors, \
    message, report, progress";

pub async fn insert_run(conn: &mut Conn, r: &RunRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO sync_run (id, domain_id, kind, trigger, dry_run, forced, state, started_at, report) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&r.id)
    .bind(&r.domain_id)
    .bind(&r.kind)
    .bind(&r.trigger)
    .bind(r.dry_run)
    .bind(r.forced)
    .bind(&r.state)
    .bind(r.started_at)
    .bind(&r.report)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records where a running run is (its progress JSON).
pub async fn set_run_progress(conn: &mut Conn, id: &str, progress: &str) -> Result<()> {
    sqlx::query(&format!(
        "UPDATE sync_run SET progress = $2 WHERE id = $1 AND state = '{}'",
        RunState::Running.as_str()
    ))
    .bind(id)
    .bind(progress)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records how a run ended, only while it is still `running` (a run ends once); `false` when it
/// had already ended, e.g. marked interrupted because this instance's lease lapsed.
pub async fn finish_run(conn: &mut Conn, r: &RunRow) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sync_run SET kind = $2, state = $3, dc_url = $4, finished_at = $5, added = $6, \
         updated = $7, unchanged = $8, removed = $9, reactivated = $10, merged = $11, \
         taken_over = $12, errors = $13, message = $14, report = $15 \
         WHERE id = $1 AND state = $16",
    )
    .bind(&r.id)
    .bind(&r.kind)
    .bind(&r.state)
    .bind(&r.dc_url)
    .bind(r.finished_at)
    .bind(r.added)
    .bind(r.updated)
    .bind(r.unchanged)
    .bind(r.removed)
    .bind(r.reactivated)
    .bind(r.merged)
    .bind(r.taken_over)
    .bind(r.errors)
    .bind(&r.message)
    .bind(&r.report)
    .bind(RunState::Running.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_run(conn: &mut Conn, id: &str) -> Result<Option<RunRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {RUN_COLUMNS} FROM sync_run WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Newest first, without the (possibly large) report.
pub async fn list_runs(
    conn: &mut Conn,
    domain_id: Option<&str>,
    limit: i64,
) -> Result<Vec<RunRow>> {
    Ok(sqlx::query_as(
        "SELECT id, domain_id, kind, trigger, dry_run, forced, state, dc_url, started_at, finished_at, \
         added, updated, unchanged, removed, reactivated, merged, taken_over, errors, message, \
         '{}' AS report, progress FROM sync_run WHERE ($1 IS NULL OR domain_id = $1) \
         ORDER BY started_at DESC, id DESC LIMIT $2",
    )
    .bind(domain_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn last_run_started(conn: &mut Conn, domain_id: &str) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT MAX(started_at) FROM sync_run WHERE domain_id = $1 AND dry_run = 0",
    )
    .bind(domain_id)
    .fetch_one(conn)
    .await?)
}

pub async fn clear_cursor(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE directory_domain SET cursor_dc = NULL, cursor_invocation_id = NULL, \
         cursor_usn = NULL, cursor_delta_link = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn count_identities(conn: &mut Conn, domain_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM directory_identity WHERE domain_id = $1")
            .bind(domain_id)
            .fetch_one(conn)
            .await?,
    )
}

/// Marks runs left `running` by a process that died (their lease is dead) as failed, with the
/// message saying they were interrupted (a run applies its changes in one transaction, so an
/// interrupted one changed nothing).
pub async fn fail_orphaned_runs(
    conn: &mut Conn,
    now_ms: i64,
    owner: &LeaseOwner<'_>,
) -> Result<u64> {
    let done = sqlx::query(&format!(
        "UPDATE sync_run SET state = '{}', finished_at = $1, \
         message = 'interrupted: the server stopped during the run; nothing was changed' \
         WHERE state = '{}' AND id NOT IN (SELECT holder FROM lease WHERE {})",
        RunState::Running
            .next(Outcome::Interrupted)
            .unwrap_or(RunState::Failed)
            .as_str(),
        RunState::Running.as_str(),
        crate::instance::store::live_lease("$1", "$2")
    ))
    .bind(now_ms)
    .bind(owner.alive_after_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn in_scope_guids(conn: &mut Conn, domain_id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT object_guid FROM directory_identity WHERE domain_id = $1 AND in_scope = 1",
    )
    .bind(domain_id)
    .fetch_all(conn)
    .await?)
}

/// Accounts by sAMAccountName (case-insensitive), optionally only in the domain with this NetBIOS
/// name.
pub async fn identities_by_sam(
    conn: &mut Conn,
    sam: &str,
    netbios: Option<&str>,
) -> Result<Vec<IdentityRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {IDENTITY_COLUMNS} FROM directory_identity WHERE LOWER(sam_account_name) = $1 AND \
         ($2 IS NULL OR domain_id IN (SELECT id FROM directory_domain \
         WHERE LOWER(netbios_name) = $2 OR name_norm = $2))"
    ))
    .bind(sam.to_lowercase())
    .bind(netbios.map(str::to_lowercase))
    .fetch_all(conn)
    .await?)
}

pub async fn identities_by_upn(conn: &mut Conn, upn: &str) -> Result<Vec<IdentityRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {IDENTITY_COLUMNS} FROM directory_identity WHERE LOWER(upn) = $1"
    ))
    .bind(upn.to_lowercase())
    .fetch_all(conn)
    .await?)
}

/// Inserts or updates many identities with multi-row statements.
pub async fn upsert_identities(conn: &mut Conn, rows: &[IdentityRow]) -> Result<()> {
    for chunk in rows.chunks(crate::store::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO directory_identity (domain_id, object_guid, employee_id, dn, \
             sam_account_name, upn, given_name, family_name, display_name, email, email_norm, \
             phone, department, title, user_account_control, account_expires, lockout_time, \
             pwd_last_set, usn_changed, when_changed, in_scope, created_at, updated_at) VALUES {} \
             ON CONFLICT (domain_id, object_guid) DO UPDATE SET employee_id = excluded.employee_id, \
             dn = excluded.dn, sam_account_name = excluded.sam_account_name, upn = excluded.upn, \
             given_name = excluded.given_name, family_name = excluded.family_name, \
             display_name = excluded.display_name, email = excluded.email, \
             email_norm = excluded.email_norm, phone = excluded.phone, \
             department = excluded.department, title = excluded.title, \
             user_account_control = excluded.user_account_control, \
             account_expires = excluded.account_expires, lockout_time = excluded.lockout_time, \
             pwd_last_set = excluded.pwd_last_set, usn_changed = excluded.usn_changed, \
             when_changed = excluded.when_changed, in_scope = excluded.in_scope, \
             updated_at = excluded.updated_at",
            crate::store::values_placeholders(chunk.len(), 23)
        );
        let mut q = sqlx::query(&sql);
        for i in chunk {
            q = q
                .bind(&i.domain_id)
                .bind(&i.object_guid)
                .bind(&i.employee_id)
                .bind(&i.dn)
                .bind(&i.sam_account_name)
                .bind(&i.upn)
                .bind(&i.given_name)
                .bind(&i.family_name)
                .bind(&i.display_name)
                .bind(&i.email)
                .bind(i.email.as_deref().map(str::to_lowercase))
                .bind(&i.phone)
                .bind(&i.department)
                .bind(&i.title)
                .bind(i.user_account_control)
                .bind(i.account_expires)
                .bind(i.lockout_time)
                .bind(i.pwd_last_set)
                .bind(i.usn_changed)
                .bind(&i.when_changed)
                .bind(i.in_scope)
                .bind(i.created_at)
                .bind(i.updated_at);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The accounts a typed account name means: `DOMAIN\user` (NetBIOS or domain name),
/// `user@domain` (UPN), or a plain sAMAccountName.
pub async fn identities_by_account_name(conn: &mut Conn, typed: &str) -> Result<Vec<IdentityRow>> {
    let typed = typed.trim();
    if let Some((netbios, sam)) = typed.split_once('\\') {
        identities_by_sam(conn, sam, Some(netbios)).await
    } else if typed.contains('@') {
        identities_by_upn(conn, typed).await
    } else {
        identities_by_sam(conn, typed, None).await
    }
}

/// Records that the account's password was just set in AD (`pwd_last_set`, a FILETIME), as the
/// next sync would read it: what the server did itself shows at once, not after the next sync.
pub async fn set_password_last_set(
    conn: &mut Conn,
    domain_id: &str,
    object_guid: &str,
    filetime: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE directory_identity SET pwd_last_set = $3 WHERE domain_id = $1 AND object_guid = $2",
    )
    .bind(domain_id)
    .bind(object_guid)
    .bind(filetime)
    .execute(conn)
    .await?;
    Ok(())
}
