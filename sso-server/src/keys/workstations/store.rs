//! Workstation rows and the nonces of signed key-bridge requests.

use crate::error::Result;
use crate::store::Conn;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkstationRow {
    pub id: String,
    pub name: String,
    pub state: String,
    pub token_hash: Option<Vec<u8>>,
    pub token_expires: Option<i64>,
    pub public_key: Option<Vec<u8>>,
    pub created_at: i64,
    pub enrolled_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, name, state, token_hash, token_expires, public_key, created_at, \
    enrolled_at, last_seen_at, revoked_at";

pub(crate) async fn insert(conn: &mut Conn, w: &WorkstationRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO workstation (id, name, state, token_hash, token_expires, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&w.id)
    .bind(&w.name)
    .bind(&w.state)
    .bind(&w.token_hash)
    .bind(w.token_expires)
    .bind(w.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn get(conn: &mut Conn, id: &str) -> Result<Option<WorkstationRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM workstation WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Workstations by id, for pages that show several keys.
pub(crate) async fn get_many(conn: &mut Conn, ids: &[String]) -> Result<Vec<WorkstationRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM workstation WHERE id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query_as(&sql);
    for id in ids {
        q = q.bind(id);
    }
    Ok(q.fetch_all(conn).await?)
}

pub(crate) async fn list(conn: &mut Conn) -> Result<Vec<WorkstationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workstation ORDER BY name, created_at"
    ))
    .fetch_all(conn)
    .await?)
}

/// Moves a workstation from `expected` to its new state (with the fields that go with it).
pub(crate) async fn update(conn: &mut Conn, w: &WorkstationRow, expected: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE workstation SET state = $2, token_hash = $3, token_expires = $4, public_key = $5, \
         enrolled_at = $6, revoked_at = $7 WHERE id = $1 AND state = $8",
    )
    .bind(&w.id)
    .bind(&w.state)
    .bind(&w.token_hash)
    .bind(w.token_expires)
    .bind(&w.public_key)
    .bind(w.enrolled_at)
    .bind(w.revoked_at)
    .bind(expected)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Notes a signed request, at most once a minute per workstation (not a write per poll).
pub(crate) async fn seen(conn: &mut Conn, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE workstation SET last_seen_at = $2 WHERE id = $1 \
         AND (last_seen_at IS NULL OR last_seen_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(now - 60_000)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a request's nonce; `false` when it was seen before (a replay).
pub(crate) async fn use_nonce(conn: &mut Conn, nonce: &str, expires_at: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO bridge_nonce (nonce, expires_at) VALUES ($1, $2) \
         ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn purge_nonces(conn: &mut Conn, now: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM bridge_nonce WHERE expires_at < $1")
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
