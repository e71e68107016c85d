//! Administrators' passkeys.

use crate::error::Result;
use crate::store::Conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminPasskeyRow {
    pub id: String,
    pub admin_id: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// webauthn-rs `Passkey` as JSON (the public key and counters; no secret).
    pub credential: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, admin_id, credential_id, credential, name, created_at, last_used_at";

pub async fn insert(conn: &mut Conn, p: &AdminPasskeyRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO admin_passkey (id, admin_id, credential_id, credential, name, created_at, \
         last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&p.id)
    .bind(&p.admin_id)
    .bind(&p.credential_id)
    .bind(&p.credential)
    .bind(&p.name)
    .bind(p.created_at)
    .bind(p.last_used_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn of_admin(conn: &mut Conn, admin_id: &str) -> Result<Vec<AdminPasskeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM admin_passkey WHERE admin_id = $1 ORDER BY created_at"
    ))
    .bind(admin_id)
    .fetch_all(conn)
    .await?)
}

pub async fn by_credential(
    conn: &mut Conn,
    credential_id: &str,
) -> Result<Option<AdminPasskeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM admin_passkey WHERE credential_id = $1"
    ))
    .bind(credential_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn used(conn: &mut Conn, id: &str, credential: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE admin_passkey SET credential = $2, last_used_at = $3 WHERE id = $1")
        .bind(id)
        .bind(credential)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes one of the administrator's passkeys; whether there was one.
pub async fn delete(conn: &mut Conn, admin_id: &str, id: &str) -> Result<bool> {
    Ok(
        sqlx::query("DELETE FROM admin_passkey WHERE id = $1 AND admin_id = $2")
            .bind(id)
            .bind(admin_id)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}
