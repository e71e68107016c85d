//! Small key/value facts about the database itself (e.g. the key check value).

use super::Conn;
use crate::error::Result;

pub async fn get(conn: &mut Conn, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?)
}

/// Inserts the value unless the key exists; returns whether it was inserted.
pub async fn insert_if_absent(conn: &mut Conn, key: &str, value: &[u8]) -> Result<bool> {
    let done =
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}
