//! An employee's phones as an admin sees them, and revoking one (the API and the console both
//! read and act here).

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::Phones;
use crate::audit::{self, Actor, Target};
use crate::clock::from_ms;
use crate::error::{Error, Result};
use crate::store::Conn;

#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub name: String,
    pub platform: String,
    /// `active` or `revoked`.
    pub state: String,
    pub push_token_registered: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(Serialize, ToSchema)]
pub struct PhonesView {
    pub devices: Vec<DeviceView>,
    /// Push sign-in is blocked (a fraud report or repeated denials).
    pub push_blocked: bool,
}

/// The employee's phones, newest first, and whether push sign-in is blocked: two queries.
pub async fn of_employee(conn: &mut Conn, employee_id: &str) -> Result<PhonesView> {
    let devices = crate::push::store::devices_of(conn, employee_id)
        .await?
        .into_iter()
        .map(|d| DeviceView {
            push_token_registered: d.push_token.is_some(),
            created_at: from_ms(d.created_at),
            last_used_at: d.last_used_at.map(from_ms),
            id: d.id,
            name: d.name,
            platform: d.platform,
            state: d.state,
        })
        .collect();
    let push_blocked = crate::push::store::is_blocked(conn, employee_id).await?;
    Ok(PhonesView {
        devices,
        push_blocked,
    })
}

/// Revokes the device: it can no longer answer challenges or poll. 404 unless it is an active
/// device of this employee.
pub async fn revoke(
    state: &Phones,
    actor: &Actor,
    employee_id: &str,
    device_id: &str,
) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    if !crate::push::store::revoke_device(&mut tx, employee_id, device_id, now).await? {
        return Err(Error::NotFound("active device"));
    }
    audit::record(
        &mut tx,
        now,
        actor,
        "device.revoked",
        Some(Target::of("employee", employee_id)),
        json!({ "device": device_id }),
    )
    .await?;
    let employee = crate::employees::store::get(&mut tx, employee_id).await?;
    tx.commit().await?;
    // The employee hears of every change to their sign-in methods.
    if let Some(e) = employee {
        crate::login::step_up::notify(
            &state.mailer,
            state.config.default_language,
            &e,
            &state
                .config
                .default_language
                .t("mail-notice-phone-removed-by-admin"),
        )
        .await;
    }
    Ok(())
}
