//! Invitation rows.

use crate::enrol::invitations::InvitationRow;
use crate::enrol::state::{Event, InvitationState};
use crate::error::Result;
use crate::store::Conn;

const COLUMNS: &str = "id, employee_id, token_hash, sealed_token, email, state, created_at, \
    expires_at, sent_at, attempts, next_attempt_at, last_error, accepted_at";

pub async fn insert(conn: &mut Conn, r: &InvitationRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO invitation (id, employee_id, token_hash, sealed_token, email, state, \
         created_at, expires_at, sent_at, attempts, next_attempt_at, last_error, accepted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&r.id)
    .bind(&r.employee_id)
    .bind(&r.token_hash)
    .bind(&r.sealed_token)
    .bind(&r.email)
    .bind(&r.state)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(r.sent_at)
    .bind(r.attempts)
    .bind(r.next_attempt_at)
    .bind(&r.last_error)
    .bind(r.accepted_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<InvitationRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM invitation WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn by_token_hash(conn: &mut Conn, hash: &[u8]) -> Result<Option<InvitationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invitation WHERE token_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(conn)
    .await?)
}

/// Newest first; of one employee, or all.
pub async fn list(
    conn: &mut Conn,
    employee_id: Option<&str>,
    limit: i64,
) -> Result<Vec<InvitationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invitation WHERE ($1 IS NULL OR employee_id = $1) \
         ORDER BY created_at DESC, id LIMIT $2"
    ))
    .bind(employee_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn revoke_pending_of(conn: &mut Conn, employee_id: &str, now: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE invitation SET state = 'revoked', next_attempt_at = NULL, accepted_at = NULL \
         WHERE employee_id = $1 AND state = 'pending' AND expires_at > $2",
    )
    .bind(employee_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Moves a pending invitation by `event` (the transition table says where); `false` if it was
/// no longer pending.
pub async fn advance(conn: &mut Conn, id: &str, event: Event, now: i64) -> Result<bool> {
    let from = InvitationState::Pending;
    let Some(to) = from.next(event) else {
        return Ok(false);
    };
    let done = sqlx::query(
        "UPDATE invitation SET state = $2, next_attempt_at = NULL, \
         accepted_at = CASE WHEN $2 = 'accepted' THEN $3 ELSE accepted_at END \
         WHERE id = $1 AND state = $4",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(now)
    .bind(from.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn schedule(conn: &mut Conn, id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE invitation SET next_attempt_at = $2, sent_at = NULL WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn due(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<InvitationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invitation WHERE state = 'pending' AND next_attempt_at <= $1 \
         AND expires_at > $1 ORDER BY next_attempt_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Claims a due delivery by moving its next attempt; false if another sender claimed it.
pub async fn claim(conn: &mut Conn, id: &str, seen: Option<i64>, until: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE invitation SET next_attempt_at = $3, attempts = attempts + 1 \
         WHERE id = $1 AND next_attempt_at = $2 AND state = 'pending'",
    )
    .bind(id)
    .bind(seen)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn mark_sent(conn: &mut Conn, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE invitation SET sent_at = $2, next_attempt_at = NULL, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_failed(conn: &mut Conn, id: &str, error: &str, retry_at: i64) -> Result<()> {
    sqlx::query("UPDATE invitation SET last_error = $2, next_attempt_at = $3 WHERE id = $1")
        .bind(id)
        .bind(error)
        .bind(retry_at)
        .execute(conn)
        .await?;
    Ok(())
}
