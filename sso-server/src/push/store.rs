//! Phone authenticator rows: enrolments, devices, challenges, poll nonces, push blocks.

use crate::error::Result;
use crate::push::challenge_state::ChallengeState;
use crate::store::Conn;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EnrolmentRow {
    pub id: String,
    pub employee_id: String,
    pub secret_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub device_id: Option<String>,
    pub invitation_id: Option<String>,
}

pub async fn insert_enrolment(conn: &mut Conn, e: &EnrolmentRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO enrolment (id, employee_id, secret_hash, created_at, expires_at, \
         invitation_id) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&e.id)
    .bind(&e.employee_id)
    .bind(&e.secret_hash)
    .bind(e.created_at)
    .bind(e.expires_at)
    .bind(&e.invitation_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_enrolment(conn: &mut Conn, id: &str) -> Result<Option<EnrolmentRow>> {
    Ok(sqlx::query_as(
        "SELECT id, employee_id, secret_hash, created_at, expires_at, used_at, device_id, \
         invitation_id FROM enrolment WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Ends the employee's unused enrolments (new-phone links and QR codes) at `now`; returns how
/// many.
pub async fn expire_enrolments_of(conn: &mut Conn, employee_id: &str, now: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE enrolment SET expires_at = $2 WHERE employee_id = $1 AND used_at IS NULL \
         AND expires_at > $2",
    )
    .bind(employee_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Withdraws the employee's open prompts: they expire at `now` (an answer after it is refused,
/// and the phone drops them at its next poll); returns how many.
pub async fn withdraw_challenges_of(conn: &mut Conn, employee_id: &str, now: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE push_challenge SET expires_at = $2 WHERE employee_id = $1 AND state = $3 \
         AND expires_at > $2",
    )
    .bind(employee_id)
    .bind(now)
    .bind(ChallengeState::Pending.as_str())
    .execute(conn)
    .await?
    .rows_affected())
}

/// Burns the enrolment for `device_id`; false if it was used meanwhile.
pub async fn use_enrolment(conn: &mut Conn, id: &str, device_id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE enrolment SET used_at = $2, device_id = $3 WHERE id = $1 AND used_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(device_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: String,
    pub employee_id: String,
    pub public_key: Vec<u8>,
    pub name: String,
    pub platform: String,
    pub push_token: Option<String>,
    pub state: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const DEVICE_COLUMNS: &str = "id, employee_id, public_key, name, platform, push_token, state, \
    created_at, last_used_at, revoked_at";

pub async fn insert_device(conn: &mut Conn, d: &DeviceRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO authenticator_device (id, employee_id, public_key, name, platform, push_token, \
         state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&d.id)
    .bind(&d.employee_id)
    .bind(&d.public_key)
    .bind(&d.name)
    .bind(&d.platform)
    .bind(&d.push_token)
    .bind(&d.state)
    .bind(d.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_device(conn: &mut Conn, id: &str) -> Result<Option<DeviceRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DEVICE_COLUMNS} FROM authenticator_device WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn active_devices_of(conn: &mut Conn, employee_id: &str) -> Result<Vec<DeviceRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DEVICE_COLUMNS} FROM authenticator_device WHERE employee_id = $1 \
         AND state = 'active' ORDER BY created_at DESC"
    ))
    .bind(employee_id)
    .fetch_all(conn)
    .await?)
}

pub async fn devices_of(conn: &mut Conn, employee_id: &str) -> Result<Vec<DeviceRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DEVICE_COLUMNS} FROM authenticator_device WHERE employee_id = $1 \
         ORDER BY created_at DESC"
    ))
    .bind(employee_id)
    .fetch_all(conn)
    .await?)
}

/// Revokes the employee's active devices except `keep`; returns how many.
pub async fn revoke_devices_of(
    conn: &mut Conn,
    employee_id: &str,
    keep: Option<&str>,
    now: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE authenticator_device SET state = 'revoked', revoked_at = $3 \
         WHERE employee_id = $1 AND state = 'active' AND ($2 IS NULL OR id <> $2)",
    )
    .bind(employee_id)
    .bind(keep)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes one active device of the employee; false when there is none by that id.
pub async fn revoke_device(
    conn: &mut Conn,
    employee_id: &str,
    device_id: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE authenticator_device SET state = 'revoked', revoked_at = $3 \
         WHERE employee_id = $1 AND id = $2 AND state = 'active'",
    )
    .bind(employee_id)
    .bind(device_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_active_devices(conn: &mut Conn) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM authenticator_device WHERE state = 'active'")
            .fetch_one(conn)
            .await?,
    )
}

pub async fn touch_device(conn: &mut Conn, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE authenticator_device SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub employee_id: String,
    pub device_id: String,
    pub purpose: String,
    pub nonce: String,
    pub employee_name: String,
    pub client_name: String,
    pub ip: String,
    pub place: String,
    /// The browser family, a word of [`phone_protocol::Browser`] (read with
    /// [`ChallengeRow::browser`]).
    pub browser: String,
    /// The operating system family, a word of [`phone_protocol::Os`].
    pub os: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub shown_number: i64,
    pub signature: String,
    pub state: String,
    pub answered_at: Option<i64>,
    pub answer: Option<String>,
    pub consumed_at: Option<i64>,
    /// The SSO session an `enrol` confirmation belongs to.
    pub session_id: Option<String>,
}

impl ChallengeRow {
    /// The stored state, parsed at the store boundary (`None`: not a state this server writes).
    pub fn state(&self) -> Option<ChallengeState> {
        ChallengeState::parse(&self.state)
    }

    /// The browser family (`unknown` for a word this server does not write).
    pub fn browser(&self) -> phone_protocol::Browser {
        phone_protocol::Browser::ALL
            .into_iter()
            .find(|b| b.as_str() == self.browser)
            .unwrap_or(phone_protocol::Browser::Unknown)
    }

    /// The operating system family (`unknown` for a word this server does not write).
    pub fn os(&self) -> phone_protocol::Os {
        phone_protocol::Os::ALL
            .into_iter()
            .find(|o| o.as_str() == self.os)
            .unwrap_or(phone_protocol::Os::Unknown)
    }
}

const CHALLENGE_COLUMNS: &str = "id, employee_id, device_id, purpose, nonce, employee_name, \
    client_name, ip, place, browser, os, created_at, expires_at, shown_number, signature, \
    state, answered_at, answer, consumed_at, session_id";

pub async fn insert_challenge(conn: &mut Conn, c: &ChallengeRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO push_challenge (id, employee_id, device_id, purpose, nonce, employee_name, \
         client_name, ip, place, browser, os, created_at, expires_at, shown_number, signature, \
         state, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17)",
    )
    .bind(&c.id)
    .bind(&c.employee_id)
    .bind(&c.device_id)
    .bind(&c.purpose)
    .bind(&c.nonce)
    .bind(&c.employee_name)
    .bind(&c.client_name)
    .bind(&c.ip)
    .bind(&c.place)
    .bind(&c.browser)
    .bind(&c.os)
    .bind(c.created_at)
    .bind(c.expires_at)
    .bind(c.shown_number)
    .bind(&c.signature)
    .bind(&c.state)
    .bind(&c.session_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_challenge(conn: &mut Conn, id: &str) -> Result<Option<ChallengeRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {CHALLENGE_COLUMNS} FROM push_challenge WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn pending_for_device(
    conn: &mut Conn,
    device_id: &str,
    now: i64,
) -> Result<Vec<ChallengeRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {CHALLENGE_COLUMNS} FROM push_challenge WHERE device_id = $1 \
         AND state = $3 AND expires_at > $2 ORDER BY created_at"
    ))
    .bind(device_id)
    .bind(now)
    .bind(ChallengeState::Pending.as_str())
    .fetch_all(conn)
    .await?)
}

/// Records the answer if the challenge is still pending; false otherwise.
pub async fn answer_challenge(
    conn: &mut Conn,
    id: &str,
    to: ChallengeState,
    answer: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE push_challenge SET state = $2, answer = $3, answered_at = $4 \
         WHERE id = $1 AND state = $5",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(answer)
    .bind(now)
    .bind(ChallengeState::Pending.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns an approval into a session once; false if it already was.
pub async fn consume_challenge(conn: &mut Conn, id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE push_challenge SET consumed_at = $2 WHERE id = $1 AND state = $3 \
         AND consumed_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(ChallengeState::Approved.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Challenges created for the employee since `since` (push-bombing guard).
pub async fn count_recent(conn: &mut Conn, employee_id: &str, since: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM push_challenge WHERE employee_id = $1 AND created_at >= $2",
    )
    .bind(employee_id)
    .bind(since)
    .fetch_one(conn)
    .await?)
}

/// The employee's other challenges still open at `now` (pending, not expired).
pub async fn count_open_besides(
    conn: &mut Conn,
    employee_id: &str,
    challenge_id: &str,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM push_challenge WHERE employee_id = $1 AND id <> $2 AND state = $3 \
         AND expires_at > $4",
    )
    .bind(employee_id)
    .bind(challenge_id)
    .bind(ChallengeState::Pending.as_str())
    .bind(now)
    .fetch_one(conn)
    .await?)
}

pub async fn count_denied_since(conn: &mut Conn, employee_id: &str, since: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM push_challenge WHERE employee_id = $1 AND state = $3 \
         AND answered_at >= $2",
    )
    .bind(employee_id)
    .bind(since)
    .bind(ChallengeState::Denied.as_str())
    .fetch_one(conn)
    .await?)
}

/// Records a poll nonce; false if it was seen (a replay).
pub async fn remember_nonce(
    conn: &mut Conn,
    device_id: &str,
    nonce: &str,
    expires_at: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO poll_nonce (device_id, nonce, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (device_id, nonce) DO NOTHING",
    )
    .bind(device_id)
    .bind(nonce)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn block(conn: &mut Conn, employee_id: &str, reason: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO push_block (employee_id, reason, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (employee_id) DO NOTHING",
    )
    .bind(employee_id)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn unblock(conn: &mut Conn, employee_id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM push_block WHERE employee_id = $1")
        .bind(employee_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn is_blocked(conn: &mut Conn, employee_id: &str) -> Result<bool> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM push_block WHERE employee_id = $1")
            .bind(employee_id)
            .fetch_one(conn)
            .await?
            > 0,
    )
}

pub async fn set_requester(conn: &mut Conn, id: &str, client_id: &str) -> Result<()> {
    sqlx::query("UPDATE push_challenge SET requester = $2 WHERE id = $1")
        .bind(id)
        .bind(client_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn requester_of(conn: &mut Conn, id: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT requester FROM push_challenge WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .flatten())
}

pub async fn purge(conn: &mut Conn, now: i64) -> Result<u64> {
    let mut n = sqlx::query("DELETE FROM poll_nonce WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    // Answered or expired challenges are kept a day for the audit trail of the sign-in.
    n += sqlx::query("DELETE FROM push_challenge WHERE expires_at < $1")
        .bind(now - 86_400_000)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    n += sqlx::query("DELETE FROM enrolment WHERE expires_at < $1 AND used_at IS NULL")
        .bind(now - 86_400_000)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n)
}

/// Drops a push token the push service says is gone (the phone still polls).
pub async fn clear_push_token(conn: &mut Conn, device_id: &str) -> Result<()> {
    sqlx::query("UPDATE authenticator_device SET push_token = NULL WHERE id = $1")
        .bind(device_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_push_token(conn: &mut Conn, device_id: &str, token: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE authenticator_device SET push_token = $2 WHERE id = $1")
        .bind(device_id)
        .bind(token)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores the device's sealed offline-code (TOTP) secret.
pub async fn set_totp_secret(conn: &mut Conn, device_id: &str, sealed: &[u8]) -> Result<()> {
    sqlx::query("UPDATE authenticator_device SET totp_secret = $2 WHERE id = $1")
        .bind(device_id)
        .bind(sealed)
        .execute(conn)
        .await?;
    Ok(())
}

/// The active devices of an employee that have an offline-code secret: (device id, sealed secret).
pub async fn totp_secrets_of(conn: &mut Conn, employee_id: &str) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(sqlx::query_as(
        "SELECT id, totp_secret FROM authenticator_device WHERE employee_id = $1 \
         AND state = 'active' AND totp_secret IS NOT NULL ORDER BY created_at DESC",
    )
    .bind(employee_id)
    .fetch_all(conn)
    .await?)
}

/// Marks time step `step` used on the device, if it is later than the last one used. `false`:
/// this code (or a later one) was already used — a replay, or two sign-ins racing.
pub async fn use_totp_step(conn: &mut Conn, device_id: &str, step: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE authenticator_device SET totp_last_step = $2, last_used_at = $3 \
         WHERE id = $1 AND state = 'active' AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(device_id)
    .bind(step)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
