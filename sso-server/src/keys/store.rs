//! Hardware keys, their tasks, domain accounts and password rotations.

use crate::error::Result;
use crate::keys::rotation_state::RotationState;
use crate::keys::task_state::{TaskEnd, TaskState};
use crate::store::Conn;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub serial: String,
    pub model: String,
    pub state: String,
    pub reason: Option<String>,
    pub employee_id: Option<String>,
    pub activation_hash: Option<Vec<u8>>,
    pub activation_expires: Option<i64>,
    pub activation_attempts: Option<i64>,
    pub activated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The key's own P-256 public key (SEC1 uncompressed), recorded at activation.
    pub public_key: Option<Vec<u8>>,
    /// The workstation that last made a signed request for this key.
    pub workstation_id: Option<String>,
    /// The key's factory attestation key (SEC1 uncompressed), certified by its vendor's CA for
    /// this serial; recorded at import, kept across wipes.
    pub attestation_key: Option<Vec<u8>>,
}

const KEY_COLUMNS: &str = "id, serial, model, state, reason, employee_id, activation_hash, \
    activation_expires, activation_attempts, activated_at, created_at, updated_at, public_key, \
    workstation_id, attestation_key";

/// A key as the vendor's inventory names it: its row and its factory certificate (DER).
pub struct ImportedKey {
    pub row: KeyRow,
    pub attestation_cert: Vec<u8>,
}

/// Inserts keys that are not known yet (by serial), with multi-row statements; returns how many
/// were new.
pub async fn insert_keys(conn: &mut Conn, keys: &[ImportedKey]) -> Result<u64> {
    let mut added = 0;
    for chunk in keys.chunks(crate::store::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO hardware_key (id, serial, model, state, created_at, updated_at, \
             attestation_key, attestation_cert) VALUES {} ON CONFLICT (serial) DO NOTHING",
            crate::store::values_placeholders(chunk.len(), 8)
        );
        let mut q = sqlx::query(&sql);
        for ImportedKey {
            row: k,
            attestation_cert,
        } in chunk
        {
            q = q
                .bind(&k.id)
                .bind(&k.serial)
                .bind(&k.model)
                .bind(&k.state)
                .bind(k.created_at)
                .bind(k.updated_at)
                .bind(&k.attestation_key)
                .bind(attestation_cert);
        }
        added += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(added)
}

/// Records the factory identity of a known key that has none (imported before keys carried
/// one); returns whether it did.
pub async fn certify_key(conn: &mut Conn, key: &ImportedKey, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE hardware_key SET attestation_key = $2, attestation_cert = $3, updated_at = $4 \
         WHERE serial = $1 AND attestation_key IS NULL",
    )
    .bind(&key.row.serial)
    .bind(&key.row.attestation_key)
    .bind(&key.attestation_cert)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<KeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM hardware_key WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn by_serial(conn: &mut Conn, serial: &str) -> Result<Option<KeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM hardware_key WHERE serial = $1"
    ))
    .bind(serial)
    .fetch_optional(conn)
    .await?)
}

/// A key with its employee's display name (one join, no lookup per row).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedKey {
    #[sqlx(flatten)]
    pub key: KeyRow,
    pub employee_name: Option<String>,
}

/// Keys matching a state, an employee and a part of the serial (case-insensitive), by serial,
/// at most `limit` (all without one); with the number of matches.
pub async fn search(
    conn: &mut Conn,
    state: Option<&str>,
    employee: Option<&str>,
    serial_part: Option<&str>,
    limit: Option<i64>,
) -> Result<(Vec<ListedKey>, i64)> {
    let pattern =
        serial_part.map(|q| format!("%{}%", crate::store::like_escape(&q.to_lowercase())));
    let filter = "WHERE ($1 IS NULL OR k.state = $1) AND ($2 IS NULL OR k.employee_id = $2) \
         AND ($3 IS NULL OR LOWER(k.serial) LIKE $3 ESCAPE '\\')";
    let columns = KEY_COLUMNS
        .split(',')
        .map(|c| format!("k.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    // LIMIT takes no NULL on both backends alike: without a limit the clause is left out.
    let sql = format!(
        "SELECT {columns}, e.display_name AS employee_name FROM hardware_key k \
         LEFT JOIN employee e ON e.id = k.employee_id {filter} ORDER BY k.serial{}",
        if limit.is_some() { " LIMIT $4" } else { "" }
    );
    let mut query = sqlx::query_as(&sql)
        .bind(state)
        .bind(employee)
        .bind(pattern.as_deref());
    if let Some(limit) = limit {
        query = query.bind(limit);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM hardware_key k {filter}"))
        .bind(state)
        .bind(employee)
        .bind(pattern.as_deref())
        .fetch_one(conn)
        .await?;
    Ok((rows, total))
}

/// How many keys are in each state (states without keys left out).
pub async fn count_by_state(conn: &mut Conn) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT state, COUNT(*) FROM hardware_key GROUP BY state ORDER BY state")
            .fetch_all(conn)
            .await?,
    )
}

/// Writes a key's state fields if the key is still in `expected` state (optimistic: two admins
/// acting at once cannot both win). `false`: someone else changed it first.
pub async fn update_state(conn: &mut Conn, k: &KeyRow, expected: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE hardware_key SET state = $2, reason = $3, employee_id = $4, activation_hash = $5, \
         activation_expires = $6, activation_attempts = $7, activated_at = $8, updated_at = $9, \
         public_key = $11, workstation_id = $12 WHERE id = $1 AND state = $10",
    )
    .bind(&k.id)
    .bind(&k.state)
    .bind(&k.reason)
    .bind(&k.employee_id)
    .bind(&k.activation_hash)
    .bind(k.activation_expires)
    .bind(k.activation_attempts)
    .bind(k.activated_at)
    .bind(k.updated_at)
    .bind(expected)
    .bind(&k.public_key)
    .bind(&k.workstation_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes one activation attempt from a reserved key whose code has not expired, in one
/// conditional statement: concurrent attempts (several instances, PostgreSQL) queue on the row,
/// so no more codes are evaluated than there were attempts. Returns the attempts left after
/// this one, or `None` when no attempt could be taken (the caller's transaction then holds the
/// row for the evaluation).
pub async fn take_activation_attempt(
    conn: &mut Conn,
    key_id: &str,
    now: i64,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE hardware_key SET activation_attempts = activation_attempts - 1, updated_at = $2 \
         WHERE id = $1 AND state = 'reserved' AND activation_attempts > 0 \
         AND activation_expires > $2 RETURNING activation_attempts",
    )
    .bind(key_id)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Records which workstation serves the key (its last signed request).
pub async fn set_workstation(conn: &mut Conn, key_id: &str, workstation_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE hardware_key SET workstation_id = $2 WHERE id = $1 \
         AND (workstation_id IS NULL OR workstation_id <> $2)",
    )
    .bind(key_id)
    .bind(workstation_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The employee's active key, if any.
pub async fn active_key_of(conn: &mut Conn, employee_id: &str) -> Result<Option<KeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM hardware_key WHERE employee_id = $1 AND state = 'active' \
         ORDER BY activated_at DESC LIMIT 1"
    ))
    .bind(employee_id)
    .fetch_optional(conn)
    .await?)
}

/// Keys of an employee that still give access (to deactivate when the employee leaves).
pub async fn live_keys_of(conn: &mut Conn, employee_id: &str) -> Result<Vec<KeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM hardware_key WHERE employee_id = $1 \
         AND state IN ('reserved', 'active', 'locked', 'suspended')"
    ))
    .bind(employee_id)
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TaskRow {
    pub id: String,
    pub key_id: String,
    pub seq: i64,
    pub operation: String,
    pub rotation_id: Option<String>,
    pub payload: Option<Vec<u8>>,
    pub state: String,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const TASK_COLUMNS: &str =
    "id, key_id, seq, operation, rotation_id, payload, state, error, created_at, finished_at";

pub async fn insert_task(conn: &mut Conn, t: &TaskRow) -> Result<()> {
    // The next number in the key's queue, taken in the same statement.
    sqlx::query(&format!(
        "INSERT INTO key_task (id, key_id, seq, operation, rotation_id, payload, state, created_at) \
         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, '{}', $6 FROM key_task \
         WHERE key_id = $2",
        TaskState::Pending.as_str()
    ))
    .bind(&t.id)
    .bind(&t.key_id)
    .bind(&t.operation)
    .bind(&t.rotation_id)
    .bind(&t.payload)
    .bind(t.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_task(conn: &mut Conn, id: &str) -> Result<Option<TaskRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TASK_COLUMNS} FROM key_task WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn pending_tasks(conn: &mut Conn, key_id: &str) -> Result<Vec<TaskRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TASK_COLUMNS} FROM key_task WHERE key_id = $1 AND state = '{}' ORDER BY seq",
        TaskState::Pending.as_str()
    ))
    .bind(key_id)
    .fetch_all(conn)
    .await?)
}

/// Ends a pending task by `end` (the transition table says how) and drops its payload. `false`
/// if it was not pending.
pub async fn finish_task(
    conn: &mut Conn,
    id: &str,
    end: TaskEnd,
    error: Option<&str>,
    now: i64,
) -> Result<bool> {
    let from = TaskState::Pending;
    let Some(to) = from.next(end) else {
        return Ok(false);
    };
    let done = sqlx::query(
        "UPDATE key_task SET state = $2, error = $3, finished_at = $4, payload = NULL \
         WHERE id = $1 AND state = $5",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(error)
    .bind(now)
    .bind(from.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels a key's pending tasks except wipes.
pub async fn cancel_password_tasks(conn: &mut Conn, key_id: &str, now: i64) -> Result<()> {
    let (from, to) = (
        TaskState::Pending,
        TaskState::Pending
            .next(TaskEnd::Cancelled)
            .unwrap_or(TaskState::Cancelled),
    );
    sqlx::query(&format!(
        "UPDATE key_task SET state = '{}', finished_at = $2, payload = NULL \
         WHERE key_id = $1 AND state = '{}' AND operation <> 'wipe'",
        to.as_str(),
        from.as_str()
    ))
    .bind(key_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub employee_id: String,
    pub domain_id: String,
    pub object_guid: String,
    pub password_version: i64,
    pub last_rotated_at: Option<i64>,
    pub created_at: i64,
}

const ACCOUNT_COLUMNS: &str =
    "id, employee_id, domain_id, object_guid, password_version, last_rotated_at, created_at";

/// Creates the account unless it exists; returns the stored row.
pub async fn ensure_account(conn: &mut Conn, a: &AccountRow) -> Result<AccountRow> {
    sqlx::query(
        "INSERT INTO domain_account (id, employee_id, domain_id, object_guid, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain_id, object_guid) DO NOTHING",
    )
    .bind(&a.id)
    .bind(&a.employee_id)
    .bind(&a.domain_id)
    .bind(&a.object_guid)
    .bind(a.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_as(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM domain_account WHERE domain_id = $1 AND object_guid = $2"
    ))
    .bind(&a.domain_id)
    .bind(&a.object_guid)
    .fetch_one(conn)
    .await?)
}

pub async fn account(conn: &mut Conn, id: &str) -> Result<Option<AccountRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM domain_account WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn accounts_of(conn: &mut Conn, employee_id: &str) -> Result<Vec<AccountRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM domain_account WHERE employee_id = $1 ORDER BY domain_id"
    ))
    .bind(employee_id)
    .fetch_all(conn)
    .await?)
}

pub async fn mark_rotated(conn: &mut Conn, account_id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE domain_account SET password_version = password_version + 1, last_rotated_at = $2 \
         WHERE id = $1",
    )
    .bind(account_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RotationRow {
    pub id: String,
    pub account_id: String,
    pub key_id: String,
    pub reason: String,
    pub scope: String,
    pub state: String,
    pub password: Option<Vec<u8>>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RotationRow {
    /// The state, parsed (`None` only for a value no version of this program writes).
    pub fn state(&self) -> Option<RotationState> {
        RotationState::parse(&self.state)
    }
}

const ROTATION_COLUMNS: &str =
    "id, account_id, key_id, reason, scope, state, password, error, created_at, updated_at";

/// Inserts an open rotation; `false` if the account already has one (the partial unique index).
pub async fn insert_rotation(conn: &mut Conn, r: &RotationRow) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO password_rotation (id, account_id, key_id, reason, scope, state, password, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&r.id)
    .bind(&r.account_id)
    .bind(&r.key_id)
    .bind(&r.reason)
    .bind(&r.scope)
    .bind(&r.state)
    .bind(&r.password)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn rotation(conn: &mut Conn, id: &str) -> Result<Option<RotationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ROTATION_COLUMNS} FROM password_rotation WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// The rotations of a key that are not finished.
pub async fn open_rotations_of_key(conn: &mut Conn, key_id: &str) -> Result<Vec<RotationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ROTATION_COLUMNS} FROM password_rotation WHERE key_id = $1 AND state IN ({})",
        RotationState::sql_list(&RotationState::OPEN)
    ))
    .bind(key_id)
    .fetch_all(conn)
    .await?)
}

pub async fn rotations_in_state(conn: &mut Conn, state: RotationState) -> Result<Vec<RotationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ROTATION_COLUMNS} FROM password_rotation WHERE state = $1 ORDER BY created_at"
    ))
    .bind(state.as_str())
    .fetch_all(conn)
    .await?)
}

pub async fn rotations_of_account(conn: &mut Conn, account_id: &str) -> Result<Vec<RotationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ROTATION_COLUMNS} FROM password_rotation WHERE account_id = $1 \
         ORDER BY created_at DESC, CASE WHEN state IN ({}) THEN 0 ELSE 1 END",
        RotationState::sql_list(&RotationState::OPEN)
    ))
    .bind(account_id)
    .fetch_all(conn)
    .await?)
}

/// Moves a rotation from `from` to `to` (the service takes `to` from the transition table); once
/// AD has the password the sealed copy is dropped. `false` if it was not in `from` (another
/// instance moved it).
pub async fn move_rotation(
    conn: &mut Conn,
    id: &str,
    from: RotationState,
    to: RotationState,
    error: Option<&str>,
    now: i64,
) -> Result<bool> {
    let password = if to.keeps_password() {
        "password"
    } else {
        "NULL"
    };
    let done = sqlx::query(&format!(
        "UPDATE password_rotation SET state = $3, error = $4, updated_at = $5, \
         password = {password} WHERE id = $1 AND state = $2"
    ))
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(error)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
