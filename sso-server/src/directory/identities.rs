//! An employee's directory accounts as the admin API and the console show them: each account's
//! state in its directory (derived here once) and which of the employee's fields it provides.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::clock::from_ms;
use crate::directory::store::IdentityRow;
use crate::directory::user::{filetime_to_unix_ms, is_disabled, is_locked_out};
use crate::error::Result;
use crate::store::Conn;

/// A directory account of an employee, with its account state.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    pub domain_id: String,
    /// The domain's name as configured here.
    pub domain: String,
    pub object_guid: String,
    pub dn: String,
    pub sam_account_name: Option<String>,
    pub upn: Option<String>,
    pub email: Option<String>,
    /// A member of the sync group at the last sync.
    pub in_scope: bool,
    /// Disabled (userAccountControl 0x2) or past accountExpires.
    pub disabled: bool,
    pub locked_out: bool,
    pub user_account_control: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub password_last_set: Option<OffsetDateTime>,
    /// The employee's fields this account provides (when several accounts have a field, the
    /// sync's precedence picks one).
    pub provides: Vec<&'static str>,
}

/// An account's state, most telling first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    OutOfScope,
    Disabled,
    LockedOut,
    Active,
}

impl AccountStatus {
    pub fn describe(self) -> &'static str {
        match self {
            Self::OutOfScope => "not in the sync group",
            Self::Disabled => "disabled in AD",
            Self::LockedOut => "locked out",
            Self::Active => "active",
        }
    }
}

impl IdentityView {
    pub fn status(&self) -> AccountStatus {
        if !self.in_scope {
            AccountStatus::OutOfScope
        } else if self.disabled {
            AccountStatus::Disabled
        } else if self.locked_out {
            AccountStatus::LockedOut
        } else {
            AccountStatus::Active
        }
    }

    /// The account's name for people: sAMAccountName, else the UPN, else the object GUID.
    pub fn account_name(&self) -> &str {
        self.sam_account_name
            .as_deref()
            .or(self.upn.as_deref())
            .unwrap_or(&self.object_guid)
    }
}

/// The employee's accounts, oldest first: two queries (the accounts, the domains' names).
pub async fn of_employee(
    conn: &mut Conn,
    employee_id: &str,
    now_ms: i64,
) -> Result<Vec<IdentityView>> {
    let rows = crate::directory::store::identities_of_employee(conn, employee_id).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let domains = crate::directory::store::list_domains(conn).await?;
    let sources = crate::directory::plan::field_sources(&rows, now_ms);
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(n, i)| {
            let domain = domains
                .iter()
                .find(|d| d.id == i.domain_id)
                .map(|d| d.name.clone())
                .unwrap_or_else(|| i.domain_id.clone());
            let provides = sources
                .iter()
                .filter(|(_, from)| *from == Some(n))
                .map(|(field, _)| *field)
                .collect();
            view(i, domain, provides, now_ms)
        })
        .collect())
}

fn view(i: IdentityRow, domain: String, provides: Vec<&'static str>, now_ms: i64) -> IdentityView {
    IdentityView {
        disabled: is_disabled(i.user_account_control, i.account_expires, now_ms),
        locked_out: is_locked_out(i.lockout_time),
        password_last_set: i
            .pwd_last_set
            .filter(|v| *v > 0)
            .map(|v| from_ms(filetime_to_unix_ms(v))),
        domain_id: i.domain_id,
        domain,
        object_guid: i.object_guid,
        dn: i.dn,
        sam_account_name: i.sam_account_name,
        upn: i.upn,
        email: i.email,
        in_scope: i.in_scope != 0,
        user_account_control: i.user_account_control,
        provides,
    }
}
