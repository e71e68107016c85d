//! A directory account as read from LDAP, and the state it implies.

use ldap3::SearchEntry;
use uuid::Uuid;

use super::guid;
use super::ldap::first_bin;

const ACCOUNTDISABLE: i64 = 0x2;
/// accountExpires values that mean "never".
const NEVER: [i64; 2] = [0, i64::MAX];
/// 100-ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirUser {
    pub guid: Uuid,
    pub dn: String,
    pub sam_account_name: Option<String>,
    pub upn: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub user_account_control: i64,
    pub account_expires: Option<i64>,
    pub lockout_time: Option<i64>,
    pub pwd_last_set: Option<i64>,
    pub usn_changed: Option<i64>,
    pub when_changed: Option<String>,
}

fn text(e: &SearchEntry, name: &str) -> Option<String> {
    e.attrs
        .get(name)
        .and_then(|v| v.first())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn int(e: &SearchEntry, name: &str) -> Option<i64> {
    text(e, name).and_then(|s| s.parse().ok())
}

impl DirUser {
    /// None for an entry without a usable objectGUID (it cannot be tracked, so it is not imported).
    pub fn from_entry(e: &SearchEntry) -> Option<Self> {
        let guid = guid::from_ad_bytes(&first_bin(e, "objectGUID")?)?;
        Some(Self {
            guid,
            dn: e.dn.clone(),
            sam_account_name: text(e, "sAMAccountName"),
            upn: text(e, "userPrincipalName"),
            given_name: text(e, "givenName"),
            family_name: text(e, "sn"),
            display_name: text(e, "displayName"),
            email: text(e, "mail"),
            phone: text(e, "telephoneNumber"),
            department: text(e, "department"),
            title: text(e, "title"),
            user_account_control: int(e, "userAccountControl").unwrap_or(0),
            account_expires: int(e, "accountExpires"),
            lockout_time: int(e, "lockoutTime"),
            pwd_last_set: int(e, "pwdLastSet"),
            usn_changed: int(e, "uSNChanged"),
            when_changed: text(e, "whenChanged"),
        })
    }
}

/// Unix milliseconds as a Windows FILETIME.
pub fn filetime_from_unix_ms(ms: i64) -> i64 {
    ms.saturating_mul(10_000)
        .saturating_add(FILETIME_UNIX_EPOCH)
}

/// A Windows FILETIME as Unix milliseconds.
pub fn filetime_to_unix_ms(ft: i64) -> i64 {
    ft.saturating_sub(FILETIME_UNIX_EPOCH) / 10_000
}

/// Disabled in AD (userAccountControl bit 0x2) or past its accountExpires.
pub fn is_disabled(uac: i64, account_expires: Option<i64>, now_ms: i64) -> bool {
    let expired = account_expires
        .filter(|v| !NEVER.contains(v))
        .is_some_and(|v| v <= filetime_from_unix_ms(now_ms));
    uac & ACCOUNTDISABLE != 0 || expired
}

/// Locked out: lockoutTime set (AD clears it, or the lockout duration passes).
pub fn is_locked_out(lockout_time: Option<i64>) -> bool {
    lockout_time.is_some_and(|t| t > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_state() {
        let now = 1_700_000_000_000;
        assert!(!is_disabled(512, None, now));
        assert!(is_disabled(514, None, now));
        assert!(!is_disabled(512, Some(0), now));
        assert!(!is_disabled(512, Some(i64::MAX), now));
        assert!(is_disabled(512, Some(filetime_from_unix_ms(now - 1)), now));
        assert!(!is_disabled(
            512,
            Some(filetime_from_unix_ms(now + 60_000)),
            now
        ));
        assert!(is_locked_out(Some(133_000_000_000_000_000)));
        assert!(!is_locked_out(Some(0)));
        // 2009-02-13T23:31:30Z
        assert_eq!(
            filetime_from_unix_ms(1_234_567_890_000),
            128_790_414_900_000_000
        );
    }
}
