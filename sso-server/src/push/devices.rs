//! An admin revoking one of an employee's phones (the API and the console call this).

use serde_json::json;

use super::Phones;
use crate::audit::{self, Actor, Target};
use crate::error::{Error, Result};

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
        Some(Target {
            kind: "employee",
            id: employee_id,
        }),
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
