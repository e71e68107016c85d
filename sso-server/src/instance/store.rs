//! Instances (each life with its heartbeat) and the leases they hold, for work one instance
//! at a time must do (a domain's sync run, a rotation's directory step).

use super::LeaseOwner;
use crate::error::Result;
use crate::store::Conn;

/// A lease row `lease` is live while it has not expired and, when a serving life took it, that
/// life's heartbeat is fresh (`$alive` is the wall-clock threshold). A restarted instance has a new
/// life, so its previous life's leases are dead at once; a killed one's die with its heartbeat.
const LIVE_LEASE: &str = "(lease.expires_at > $now AND (lease.boot IS NULL OR EXISTS \
    (SELECT 1 FROM server_instance i WHERE i.id = lease.instance AND i.boot = lease.boot \
    AND i.heartbeat_at > $alive)))";

pub(crate) fn live_lease(now: &str, alive: &str) -> String {
    LIVE_LEASE.replace("$now", now).replace("$alive", alive)
}

/// Takes the lease if it is free, expired or held by a life that stopped; true when this holder
/// has it now.
pub async fn try_lease(
    conn: &mut Conn,
    name: &str,
    holder: &str,
    owner: &LeaseOwner<'_>,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<bool> {
    let done = sqlx::query(&format!(
        "INSERT INTO lease (name, holder, expires_at, instance, boot) VALUES ($1, $2, $3, $5, $6) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
         expires_at = excluded.expires_at, instance = excluded.instance, boot = excluded.boot \
         WHERE lease.holder = excluded.holder OR NOT {}",
        live_lease("$4", "$7")
    ))
    .bind(name)
    .bind(holder)
    .bind(now_ms + ttl_ms)
    .bind(now_ms)
    .bind(owner.instance)
    .bind(owner.boot)
    .bind(owner.alive_after_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Who holds the lease, if it is live.
pub async fn lease_holder(
    conn: &mut Conn,
    name: &str,
    owner: &LeaseOwner<'_>,
    now_ms: i64,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT holder FROM lease WHERE name = $1 AND {}",
        live_lease("$2", "$3")
    ))
    .bind(name)
    .bind(now_ms)
    .bind(owner.alive_after_ms)
    .fetch_optional(conn)
    .await?)
}

/// Records a new life of the instance `id` (ending its previous life's leases).
pub async fn put_instance(conn: &mut Conn, id: &str, boot: &str, wall_ms: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO server_instance (id, boot, started_at, heartbeat_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (id) DO UPDATE SET boot = excluded.boot, started_at = excluded.started_at, \
         heartbeat_at = excluded.heartbeat_at",
    )
    .bind(id)
    .bind(boot)
    .bind(wall_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The heartbeat of a life; a life that was replaced does not come back.
pub async fn beat(conn: &mut Conn, id: &str, boot: &str, wall_ms: i64) -> Result<()> {
    sqlx::query("UPDATE server_instance SET heartbeat_at = $3 WHERE id = $1 AND boot = $2")
        .bind(id)
        .bind(boot)
        .bind(wall_ms)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn remove_instance(conn: &mut Conn, id: &str, boot: &str) -> Result<()> {
    sqlx::query("DELETE FROM server_instance WHERE id = $1 AND boot = $2")
        .bind(id)
        .bind(boot)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn release_lease(conn: &mut Conn, name: &str, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM lease WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(conn)
        .await?;
    Ok(())
}

/// Extends a lease this holder has; false when it was lost.
pub async fn renew_lease(
    conn: &mut Conn,
    name: &str,
    holder: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<bool> {
    let done = sqlx::query("UPDATE lease SET expires_at = $3 WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .bind(now_ms + ttl_ms)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
