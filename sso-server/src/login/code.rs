//! Sign-in with an offline code from the phone app (TOTP), for when the phone has no network
//! and cannot receive or answer a push. Weaker than a push (a code can be phished), so it is
//! throttled like a password and each code works once.

use super::Failure;
use crate::employees::State as EmployeeState;
use crate::error::Result;
use crate::push::{challenges, totp, Phones};

/// Checks the typed code against the named employee's phone; returns the employee id.
pub async fn verify(
    phones: &Phones,
    typed: &str,
    code: &str,
) -> Result<std::result::Result<String, Failure>> {
    if typed.trim().is_empty() || code.trim().is_empty() {
        return Ok(Err(Failure::UnknownAccount));
    }
    let employee = {
        let mut conn = phones.store.conn().await?;
        challenges::employee_named(&mut conn, typed).await?
    };
    let Some(employee) = employee else {
        return Ok(Err(Failure::UnknownAccount));
    };
    if employee.state != EmployeeState::Active.as_str() {
        return Ok(Err(Failure::NotActive));
    }
    Ok(if totp::check(phones, &employee.id, code).await? {
        Ok(employee.id)
    } else {
        Err(Failure::WrongCode)
    })
}
