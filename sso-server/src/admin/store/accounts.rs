//! Administrator accounts.

use crate::error::Result;
use crate::store::Conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    /// A word of [`crate::admin::roles::Role`].
    pub role: String,
    /// Set while the administrator is disabled (cannot sign in).
    pub disabled_at: Option<i64>,
}

const COLUMNS: &str = "id, username, password_hash, failed_logins, locked_until, created_at, \
    last_login_at, role, disabled_at";

pub async fn insert(conn: &mut Conn, a: &AdminRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO admin_user (id, username, username_norm, password_hash, failed_logins, \
         locked_until, created_at, last_login_at, role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&a.id)
    .bind(&a.username)
    .bind(a.username.to_lowercase())
    .bind(&a.password_hash)
    .bind(a.failed_logins)
    .bind(a.locked_until)
    .bind(a.created_at)
    .bind(a.last_login_at)
    .bind(&a.role)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every administrator, by name.
pub async fn list(conn: &mut Conn) -> Result<Vec<AdminRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM admin_user ORDER BY username_norm"
    ))
    .fetch_all(conn)
    .await?)
}

/// Sets the role; whether the administrator exists.
pub async fn set_role(conn: &mut Conn, id: &str, role: &str) -> Result<bool> {
    Ok(sqlx::query("UPDATE admin_user SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// Disables (`Some(time)`) or re-enables (`None`) the administrator.
pub async fn set_disabled(conn: &mut Conn, id: &str, at: Option<i64>) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE admin_user SET disabled_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A new password hash.
pub async fn set_password_hash(conn: &mut Conn, id: &str, hash: &str) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE admin_user SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

pub async fn find_by_username(conn: &mut Conn, username: &str) -> Result<Option<AdminRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM admin_user WHERE username_norm = $1"
    ))
    .bind(username.to_lowercase())
    .fetch_optional(conn)
    .await?)
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<AdminRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM admin_user WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn count(conn: &mut Conn) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM admin_user")
        .fetch_one(conn)
        .await?)
}

pub async fn record_success(conn: &mut Conn, id: &str, now_ms: i64) -> Result<()> {
    sqlx::query(
        "UPDATE admin_user SET failed_logins = 0, locked_until = NULL, last_login_at = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}
