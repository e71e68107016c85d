//! OIDC rows: clients, signing keys, employee sessions, authorization codes, grants, passkeys and
//! WebAuthn ceremony states.

use crate::error::Result;
use crate::store::Conn;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub active: i64,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
}

/// Active keys and retired ones still published, newest first.
pub async fn published_keys(conn: &mut Conn, now_ms: i64) -> Result<Vec<SigningKeyRow>> {
    Ok(sqlx::query_as(
        "SELECT kid, alg, public_jwk, active, created_at, retired_at, publish_until FROM signing_key \
         WHERE active = 1 OR publish_until > $1 ORDER BY created_at DESC, kid DESC",
    )
    .bind(now_ms)
    .fetch_all(conn)
    .await?)
}

pub async fn insert_key(conn: &mut Conn, k: &SigningKeyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_key (kid, alg, public_jwk, active, created_at, retired_at, publish_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&k.kid)
    .bind(&k.alg)
    .bind(&k.public_jwk)
    .bind(k.active)
    .bind(k.created_at)
    .bind(k.retired_at)
    .bind(k.publish_until)
    .execute(conn)
    .await?;
    Ok(())
}

/// Retires the active keys of `alg`; returns how many.
pub async fn retire_keys(
    conn: &mut Conn,
    alg: &str,
    now_ms: i64,
    publish_until: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE signing_key SET active = 0, retired_at = $2, publish_until = $3 \
         WHERE alg = $1 AND active = 1",
    )
    .bind(alg)
    .bind(now_ms)
    .bind(publish_until)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub secret_hash: Option<Vec<u8>>,
    /// JSON arrays.
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    /// Space separated.
    pub allowed_scopes: String,
    pub grant_types: String,
    pub id_token_alg: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// 1: an authorization request must carry a PKCE challenge (always so for public clients).
    pub pkce_required: i64,
    /// 1: may introspect tokens issued to other clients (a resource server).
    pub resource_server: i64,
}

const CLIENT_COLUMNS: &str =
    "id, name, kind, secret_hash, redirect_uris, post_logout_redirect_uris, \
    allowed_scopes, grant_types, id_token_alg, created_at, updated_at, pkce_required, \
    resource_server";

pub async fn insert_client(conn: &mut Conn, c: &ClientRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_client (id, name, kind, secret_hash, redirect_uris, \
         post_logout_redirect_uris, allowed_scopes, grant_types, id_token_alg, created_at, updated_at, \
         pkce_required, resource_server) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(&c.kind)
    .bind(&c.secret_hash)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.allowed_scopes)
    .bind(&c.grant_types)
    .bind(&c.id_token_alg)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(c.pkce_required)
    .bind(c.resource_server)
    .execute(conn)
    .await?;
    Ok(())
}

/// Updates everything but the id, the secret and `created_at`.
pub async fn update_client(conn: &mut Conn, c: &ClientRow) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE oidc_client SET name = $2, kind = $3, redirect_uris = $4, \
         post_logout_redirect_uris = $5, allowed_scopes = $6, grant_types = $7, id_token_alg = $8, \
         updated_at = $9, pkce_required = $10, resource_server = $11 WHERE id = $1",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(&c.kind)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.allowed_scopes)
    .bind(&c.grant_types)
    .bind(&c.id_token_alg)
    .bind(c.updated_at)
    .bind(c.pkce_required)
    .bind(c.resource_server)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_client_secret(
    conn: &mut Conn,
    id: &str,
    hash: Option<&[u8]>,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE oidc_client SET secret_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_client(conn: &mut Conn, id: &str) -> Result<Option<ClientRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oidc_client WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn list_clients(conn: &mut Conn) -> Result<Vec<ClientRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oidc_client ORDER BY name, id"
    ))
    .fetch_all(conn)
    .await?)
}

pub async fn delete_client(conn: &mut Conn, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM oidc_client WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub token_hash: Vec<u8>,
    pub id: String,
    pub employee_id: String,
    pub auth_time: i64,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
}

pub async fn insert_session(conn: &mut Conn, s: &SessionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO sso_session (token_hash, id, employee_id, auth_time, amr, created_at, \
         expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&s.token_hash)
    .bind(&s.id)
    .bind(&s.employee_id)
    .bind(s.auth_time)
    .bind(&s.amr)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(s.last_seen_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_session(conn: &mut Conn, token_hash: &[u8]) -> Result<Option<SessionRow>> {
    Ok(sqlx::query_as(
        "SELECT token_hash, id, employee_id, auth_time, amr, created_at, expires_at, last_seen_at \
         FROM sso_session WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}

/// Records a fresh strong authentication on a live session (a confirmation on the phone):
/// `amr` becomes the given methods and `auth_time` now.
pub async fn strengthen_session(conn: &mut Conn, id: &str, amr: &str, now: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE sso_session SET amr = $2, auth_time = $3 WHERE id = $1")
        .bind(id)
        .bind(amr)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the SSO session `id` is still live at `now` (not signed out, not expired).
pub async fn session_is_live(conn: &mut Conn, id: &str, now: i64) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sso_session WHERE id = $1 AND expires_at > $2")
            .bind(id)
            .bind(now)
            .fetch_one(conn)
            .await?;
    Ok(n > 0)
}

pub async fn delete_session(conn: &mut Conn, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM sso_session WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete_sessions_of_employee(conn: &mut Conn, employee_id: &str) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sso_session WHERE employee_id = $1")
        .bind(employee_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub employee_id: Option<String>,
    pub session_id: Option<String>,
    pub scope: String,
    pub auth_time: Option<i64>,
    pub amr: Option<String>,
    pub refresh_hash: Option<Vec<u8>>,
    pub refresh_gen: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// SHA-256 of the authorization code this grant was exchanged for (unique).
    pub code_hash: Option<Vec<u8>>,
}

const GRANT_COLUMNS: &str = "id, client_id, employee_id, session_id, scope, auth_time, amr, \
    refresh_hash, refresh_gen, created_at, expires_at, revoked_at, code_hash";

pub async fn insert_grant(conn: &mut Conn, g: &GrantRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oidc_grant (id, client_id, employee_id, session_id, scope, auth_time, amr, \
         refresh_hash, refresh_gen, created_at, expires_at, revoked_at, code_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&g.id)
    .bind(&g.client_id)
    .bind(&g.employee_id)
    .bind(&g.session_id)
    .bind(&g.scope)
    .bind(g.auth_time)
    .bind(&g.amr)
    .bind(&g.refresh_hash)
    .bind(g.refresh_gen)
    .bind(g.created_at)
    .bind(g.expires_at)
    .bind(g.revoked_at)
    .bind(&g.code_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// The grant an authorization code was exchanged for, if it was.
pub async fn grant_by_code(conn: &mut Conn, code_hash: &[u8]) -> Result<Option<GrantRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {GRANT_COLUMNS} FROM oidc_grant WHERE code_hash = $1"
    ))
    .bind(code_hash)
    .fetch_optional(conn)
    .await?)
}

pub async fn get_grant(conn: &mut Conn, id: &str) -> Result<Option<GrantRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {GRANT_COLUMNS} FROM oidc_grant WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Rotates the refresh token in place (one row update, no insert or delete): only if the
/// presented generation is still the current one. False when another refresh won the race.
pub async fn rotate_refresh(
    conn: &mut Conn,
    id: &str,
    expected_gen: i64,
    new_hash: &[u8],
    expires_at: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE oidc_grant SET refresh_hash = $3, refresh_gen = refresh_gen + 1, expires_at = $4 \
         WHERE id = $1 AND refresh_gen = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(expected_gen)
    .bind(new_hash)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn revoke_grant(conn: &mut Conn, id: &str, now: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE oidc_grant SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn revoke_grants_of_employee(
    conn: &mut Conn,
    employee_id: &str,
    now: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE oidc_grant SET revoked_at = $2 WHERE employee_id = $1 AND revoked_at IS NULL",
    )
    .bind(employee_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn revoke_grants_of_session(conn: &mut Conn, session_id: &str, now: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE oidc_grant SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub employee_id: String,
    pub credential_id: String,
    pub credential: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const PASSKEY_COLUMNS: &str =
    "id, employee_id, credential_id, credential, name, created_at, last_used_at";

pub async fn insert_passkey(conn: &mut Conn, p: &PasskeyRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO passkey (id, employee_id, credential_id, credential, name, created_at, \
         last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&p.id)
    .bind(&p.employee_id)
    .bind(&p.credential_id)
    .bind(&p.credential)
    .bind(&p.name)
    .bind(p.created_at)
    .bind(p.last_used_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn passkeys_of_employee(conn: &mut Conn, employee_id: &str) -> Result<Vec<PasskeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PASSKEY_COLUMNS} FROM passkey WHERE employee_id = $1 ORDER BY created_at, id"
    ))
    .bind(employee_id)
    .fetch_all(conn)
    .await?)
}

/// Renames one of the employee's passkeys; false when they have none by that id.
pub async fn rename_passkey(
    conn: &mut Conn,
    employee_id: &str,
    id: &str,
    name: &str,
) -> Result<bool> {
    let done = sqlx::query("UPDATE passkey SET name = $3 WHERE employee_id = $1 AND id = $2")
        .bind(employee_id)
        .bind(id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes one of the employee's passkeys; its name when there was one by that id.
pub async fn delete_passkey(
    conn: &mut Conn,
    employee_id: &str,
    id: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("DELETE FROM passkey WHERE employee_id = $1 AND id = $2 RETURNING name")
            .bind(employee_id)
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn passkey_by_credential(
    conn: &mut Conn,
    credential_id: &str,
) -> Result<Option<PasskeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PASSKEY_COLUMNS} FROM passkey WHERE credential_id = $1"
    ))
    .bind(credential_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn update_passkey_use(
    conn: &mut Conn,
    id: &str,
    credential: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE passkey SET credential = $2, last_used_at = $3 WHERE id = $1")
        .bind(id)
        .bind(credential)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn put_webauthn_state(
    conn: &mut Conn,
    id: &str,
    kind: &str,
    employee_id: Option<&str>,
    state: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO webauthn_state (id, kind, employee_id, state, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(kind)
    .bind(employee_id)
    .bind(state)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes (reads and deletes) a ceremony state: single use. None if absent, of another kind, or
/// expired.
pub async fn take_webauthn_state(
    conn: &mut Conn,
    id: &str,
    kind: &str,
    now: i64,
) -> Result<Option<(Option<String>, String)>> {
    let row: Option<(Option<String>, String, i64, String)> = sqlx::query_as(
        "DELETE FROM webauthn_state WHERE id = $1 RETURNING employee_id, state, expires_at, kind",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row
        .filter(|(_, _, exp, k)| *exp > now && k == kind)
        .map(|(e, s, _, _)| (e, s)))
}

/// Deletes expired sessions, ceremony states, pending requests and grants.
pub async fn purge_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let mut n = 0;
    for sql in [
        "DELETE FROM sso_session WHERE expires_at < $1",
        "DELETE FROM webauthn_state WHERE expires_at < $1",
        "DELETE FROM auth_request WHERE expires_at < $1",
        "DELETE FROM oidc_grant WHERE expires_at < $1",
    ] {
        n += sqlx::query(sql)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(n)
}

pub async fn insert_auth_request(
    conn: &mut Conn,
    id: &str,
    params: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO auth_request (id, params, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(params)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_auth_request(conn: &mut Conn, id: &str, now: i64) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT params FROM auth_request WHERE id = $1 AND expires_at > $2")
            .bind(id)
            .bind(now)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn delete_auth_request(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM auth_request WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn revoke_grants_of_client(conn: &mut Conn, client_id: &str, now: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE oidc_grant SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
    )
    .bind(client_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A grant's liveness and its employee, in one round trip (userinfo's hot path).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantEmployee {
    pub grant_revoked_at: Option<i64>,
    pub grant_expires_at: i64,
    #[sqlx(flatten)]
    pub employee: crate::employees::store::EmployeeRow,
}

pub async fn grant_with_employee(conn: &mut Conn, grant_id: &str) -> Result<Option<GrantEmployee>> {
    Ok(sqlx::query_as(
        "SELECT g.revoked_at AS grant_revoked_at, g.expires_at AS grant_expires_at, e.id, \
         e.given_name, e.family_name, e.display_name, e.email, e.phone, e.department, e.title, \
         e.source, e.state, e.created_at, e.updated_at \
         FROM oidc_grant g JOIN employee e ON e.id = g.employee_id WHERE g.id = $1",
    )
    .bind(grant_id)
    .fetch_optional(conn)
    .await?)
}

/// A session and its employee, in one round trip (every authorization request).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionEmployee {
    pub s_token_hash: Vec<u8>,
    pub s_id: String,
    pub s_auth_time: i64,
    pub s_amr: String,
    pub s_created_at: i64,
    pub s_expires_at: i64,
    pub s_last_seen_at: i64,
    #[sqlx(flatten)]
    pub employee: crate::employees::store::EmployeeRow,
}

impl SessionEmployee {
    pub fn session(&self) -> SessionRow {
        SessionRow {
            token_hash: self.s_token_hash.clone(),
            id: self.s_id.clone(),
            employee_id: self.employee.id.clone(),
            auth_time: self.s_auth_time,
            amr: self.s_amr.clone(),
            created_at: self.s_created_at,
            expires_at: self.s_expires_at,
            last_seen_at: self.s_last_seen_at,
        }
    }
}

pub async fn session_with_employee(
    conn: &mut Conn,
    token_hash: &[u8],
) -> Result<Option<SessionEmployee>> {
    Ok(sqlx::query_as(
        "SELECT s.token_hash AS s_token_hash, s.id AS s_id, s.auth_time AS s_auth_time, \
         s.amr AS s_amr, s.created_at AS s_created_at, s.expires_at AS s_expires_at, \
         s.last_seen_at AS s_last_seen_at, e.id, e.given_name, e.family_name, e.display_name, \
         e.email, e.phone, e.department, e.title, e.source, e.state, e.created_at, e.updated_at \
         FROM sso_session s JOIN employee e ON e.id = s.employee_id WHERE s.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}
