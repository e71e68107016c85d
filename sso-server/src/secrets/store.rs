//! Sealed secrets by name. This layer only stores ciphertext; sealing happens in `crate::secrets`.

use crate::error::Result;
use crate::store::Conn;

pub async fn put(conn: &mut Conn, name: &str, ciphertext: &[u8], now_ms: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO secret (name, ciphertext, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(ciphertext)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, name: &str) -> Result<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT ciphertext FROM secret WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn delete(conn: &mut Conn, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM secret WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
