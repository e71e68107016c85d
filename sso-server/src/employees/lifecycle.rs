//! What happens to an employee's access when they stop being active (removed from the sync
//! group, disabled or expired in the directory): everything that lets them in is revoked in the
//! same transaction as the state change, so a disabled user loses access at once, not at their
//! next sign-in.
//!
//! Each capability that gives an employee access registers its revocation here as it lands:
//! OIDC sessions and refresh tokens, phone authenticator devices, passkeys stay (they are useless
//! without an active employee), hardware keys are deactivated and a wipe is queued.

use serde_json::json;

use crate::audit::{self, Actor, Target};
use crate::error::Result;
use crate::store::Conn;

/// Why an employee stopped being active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    RemovedFromSync,
    Disabled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RemovedFromSync => "removed-from-sync",
            Self::Disabled => "disabled",
        }
    }
}

/// What "sign out everywhere" ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedOut {
    pub sessions: u64,
    pub grants: u64,
    /// Unused new-phone links and QR codes.
    pub enrolments: u64,
    /// Phone prompts that were open.
    pub prompts: u64,
}

/// Everything that lets a sign-in happen or go on, ended: the SSO sessions (and with them the
/// authorization codes minted from them, refused at the token endpoint), the apps' grants
/// (refresh tokens), pending new-phone links, and open phone prompts. What signing out
/// everywhere and deactivation have in common.
async fn end_sign_ins(conn: &mut Conn, now_ms: i64, employee_id: &str) -> Result<SignedOut> {
    Ok(SignedOut {
        sessions: crate::oidc::store::delete_sessions_of_employee(conn, employee_id).await?,
        grants: crate::oidc::store::revoke_grants_of_employee(conn, employee_id, now_ms).await?,
        enrolments: crate::push::store::expire_enrolments_of(conn, employee_id, now_ms).await?,
        prompts: crate::push::store::withdraw_challenges_of(conn, employee_id, now_ms).await?,
    })
}

/// Ends every sign-in of an employee who stays active: their SSO sessions on every browser and
/// the grants (refresh tokens) of every app. Authenticators stay. Runs inside the caller's
/// transaction; `actor` is the employee (from the account page) or an admin.
pub async fn sign_out_everywhere(
    conn: &mut Conn,
    now_ms: i64,
    actor: &Actor,
    employee_id: &str,
) -> Result<SignedOut> {
    let out = end_sign_ins(conn, now_ms, employee_id).await?;
    audit::record(
        conn,
        now_ms,
        actor,
        "employee.signed_out_everywhere",
        Some(Target::of("employee", employee_id)),
        json!({ "sessions_ended": out.sessions, "grants_revoked": out.grants, "enrolments_ended": out.enrolments, "prompts_withdrawn": out.prompts }),
    )
    .await?;
    Ok(out)
}

/// Revokes the employee's access. Runs inside the caller's transaction.
pub async fn deactivate(
    conn: &mut Conn,
    now_ms: i64,
    actor: &Actor,
    employee_id: &str,
    reason: Reason,
) -> Result<()> {
    // Every sign-in path checks the `active` state too; this makes what was already issued stop.
    let SignedOut {
        sessions, grants, ..
    } = end_sign_ins(conn, now_ms, employee_id).await?;
    let devices = crate::push::store::revoke_devices_of(conn, employee_id, None, now_ms).await?;
    // A leaver's invitation links die with their access.
    let invitations = crate::enrol::store::revoke_pending_of(conn, employee_id, now_ms).await?;
    let keys = crate::keys::deactivate_keys_of(conn, employee_id, now_ms).await?;
    audit::record(
        conn,
        now_ms,
        actor,
        "employee.deactivated",
        Some(Target::of("employee", employee_id)),
        json!({ "reason": reason.as_str(), "sessions_ended": sessions, "grants_revoked": grants, "devices_revoked": devices, "keys_deactivated": keys, "invitations_revoked": invitations }),
    )
    .await
}
