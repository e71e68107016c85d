//! Admin sessions, looked up by the SHA-256 of the cookie value.

use crate::error::Result;
use crate::store::Conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub token_hash: Vec<u8>,
    pub admin_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    /// How the session was opened: `password` or `passkey`.
    pub method: String,
}

pub async fn insert(conn: &mut Conn, s: &SessionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO admin_session (token_hash, admin_id, csrf_token, created_at, expires_at, \
         last_seen_at, method) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.token_hash)
    .bind(&s.admin_id)
    .bind(&s.csrf_token)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(s.last_seen_at)
    .bind(&s.method)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, token_hash: &[u8]) -> Result<Option<SessionRow>> {
    Ok(sqlx::query_as(
        "SELECT token_hash, admin_id, csrf_token, created_at, expires_at, last_seen_at, method \
         FROM admin_session WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}

pub async fn touch(conn: &mut Conn, token_hash: &[u8], now_ms: i64) -> Result<()> {
    sqlx::query("UPDATE admin_session SET last_seen_at = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, token_hash: &[u8]) -> Result<bool> {
    let done = sqlx::query("DELETE FROM admin_session WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete_expired(conn: &mut Conn, now_ms: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM admin_session WHERE expires_at <= $1")
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Ends every session of an administrator (disabled, password reset); how many.
pub async fn delete_of_admin(conn: &mut Conn, admin_id: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM admin_session WHERE admin_id = $1")
        .bind(admin_id)
        .execute(conn)
        .await?
        .rows_affected())
}
