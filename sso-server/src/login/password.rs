//! Domain password sign-in: the employee types their domain account (`user@domain`,
//! `DOMAIN\user`, their e-mail or plain `user`) and password, and we bind to their AD domain over
//! LDAPS/StartTLS as that account. The password is never stored or logged.

use crate::clock::Clock;
use crate::directory::domain::{Domains, SourceSettings};
use crate::directory::ldap;
use crate::directory::store::IdentityRow;
use crate::directory::user::is_disabled;
use crate::directory::DirectoryError;
use crate::employees::State as EmployeeState;
use crate::error::Result;

pub use super::Failure;

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
