//! The audit log: append-only.

use crate::error::Result;
use crate::store::Conn;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// JSON object.
    pub detail: String,
    pub ip: Option<String>,
}

pub async fn insert(conn: &mut Conn, e: &AuditRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_event (at, actor_kind, actor_id, actor_name, action, target_kind, \
         target_id, detail, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.at)
    .bind(&e.actor_kind)
    .bind(&e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.action)
    .bind(&e.target_kind)
    .bind(&e.target_id)
    .bind(&e.detail)
    .bind(&e.ip)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub target_id: Option<String>,
}

/// Newest first. `before` is an id cursor for paging back in time.
pub async fn list(
    conn: &mut Conn,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(
        "SELECT id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, detail, ip \
         FROM audit_event \
         WHERE ($1 IS NULL OR action = $1) AND ($2 IS NULL OR target_id = $2) AND id < $3 \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(&filter.action)
    .bind(&filter.target_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
