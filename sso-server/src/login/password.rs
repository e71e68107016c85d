//! Domain password sign-in: the employee types their domain account (`user@domain`,
//! `DOMAIN\user`, their e-mail or plain `user`) and password, and we bind to their AD domain over
//! LDAPS/StartTLS as that account. The password is never stored or logged.
//!
//! **Never trip the domain's lockout.** Every wrong password sent to AD counts in the account's
//! `badPwdCount`, and a domain with a lockout policy locks the account at its threshold: guessing
//! at the sign-in page would lock the employee out of Windows. So before a password goes to AD,
//! the domain's bind account reads how many more wrong ones the account may take (its
//! fine-grained policy, else the domain's threshold, less its current count); with
//! [`KEEP_FOR_THE_OWNER`] or fewer left the password is not sent, and the answer is a wrong
//! password's.

use crate::clock::Clock;
use crate::directory::domain::{Domains, SourceSettings};
use crate::directory::ldap;
use crate::directory::store::IdentityRow;
use crate::directory::user::is_disabled;
use crate::directory::DirectoryError;
use crate::employees::State as EmployeeState;
use crate::error::Result;

pub use super::Failure;

/// Wrong passwords the sign-in page leaves to the owner before the domain's lockout: it stops
/// sending passwords to AD when no more than this many remain.
pub const KEEP_FOR_THE_OWNER: i64 = 2;

/// The directory accounts the typed name can mean.
async fn candidates(domains: &Domains<'_>, now: i64, typed: &str) -> Result<Vec<IdentityRow>> {
    let mut conn = domains.store.conn().await?;
    let typed = typed.trim();
    let mut found = crate::directory::store::identities_by_account_name(&mut conn, typed).await?;
    // Not a UPN: maybe the employee's e-mail address.
    if found.is_empty() && typed.contains('@') && !typed.contains('\\') {
        if let Some(e) = crate::employees::store::find_by_email(&mut conn, typed).await? {
            found = crate::directory::store::identities_of_employee(&mut conn, &e.id).await?;
        }
    }
    Ok(found
        .into_iter()
        .filter(|i| i.in_scope == 1 && !is_disabled(i.user_account_control, i.account_expires, now))
        .collect())
}

/// Checks the password against the employee's domain; returns the employee id. Reads the
/// directory accounts and domains (`domains`: the store and the data key for the bind settings).
pub async fn verify(
    domains: &Domains<'_>,
    clock: &dyn Clock,
    typed: &str,
    password: &str,
) -> Result<std::result::Result<String, Failure>> {
    if typed.trim().is_empty() || password.is_empty() {
        return Ok(Err(Failure::UnknownAccount));
    }
    let accounts = candidates(domains, clock.now_ms(), typed).await?;
    if accounts.is_empty() {
        return Ok(Err(Failure::UnknownAccount));
    }
    let mut outcome = Failure::WrongPassword;
    for account in accounts {
        let domain = {
            let mut conn = domains.store.conn().await?;
            domains.load(&mut conn, &account.domain_id).await?
        };
        // Only on-premises AD checks passwords by binding; Entra ID accounts sign in otherwise.
        let SourceSettings::Ldap(mut settings) = domain.source else {
            continue;
        };
        // How close the account is to its domain's lockout, read as the bind account.
        let left = match ldap::connect(&settings).await {
            Ok(mut service) => {
                let left = service
                    .wrong_passwords_left(&domain.row.base_dn, &account.dn, clock.now_ms())
                    .await;
                service.close().await;
                left
            }
            Err(e) => Err(e),
        };
        match left {
            Ok(Some(left)) if left <= KEEP_FOR_THE_OWNER => {
                tracing::warn!(
                    account = %account.dn,
                    left,
                    "not sending a password to AD: the account is near its domain's lockout"
                );
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                outcome = Failure::DirectoryUnavailable(e.to_string());
                continue;
            }
        }
        settings.bind_dn = account.dn.clone();
        settings.bind_password = password.to_owned();
        match ldap::connect(&settings).await {
            Ok(conn) => {
                conn.close().await;
                let mut db = domains.store.conn().await?;
                let employee = crate::employees::store::get(&mut db, &account.employee_id).await?;
                return Ok(match employee {
                    Some(e) if e.state == EmployeeState::Active.as_str() => Ok(e.id),
                    _ => Err(Failure::NotActive),
                });
            }
            Err(DirectoryError::BadCredentials { .. }) => {}
            Err(
                e @ (DirectoryError::Unreachable { .. }
                | DirectoryError::AllUnreachable(_)
                | DirectoryError::UntrustedCertificate { .. }),
            ) => {
                outcome = Failure::DirectoryUnavailable(e.to_string());
            }
            Err(e) => outcome = Failure::DirectoryUnavailable(e.to_string()),
        }
    }
    Ok(Err(outcome))
}
