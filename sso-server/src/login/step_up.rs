//! Step-up before binding a new authenticator. Adding a passkey or a phone needs a sign-in with
//! a strong factor (a passkey, or an approval on the registered phone) in the last few minutes:
//! a password or an offline code alone, which is what a phishing page collects, is never
//! enough. A weak session becomes strong by approving an `enrol` challenge on the registered
//! phone (`super::confirm`). An employee with no strong factor yet enrols through their invitation link (or an
//! enrolment the admin starts). Each enrolment is audited and e-mailed to the employee
//! ([`notify`]), so an enrolment they did not make does not go unnoticed.

use askama::Template as _;

use crate::employees::store::EmployeeRow;
use crate::error::{Error, Result};
use crate::oidc::store::SessionRow;

/// RFC 8176 methods strong enough to bind a new authenticator: a passkey (hardware or software
/// key) or a proof of possession on the registered phone.
pub const STRONG_AMR: &[&str] = &["hwk", "swk", "pop"];
/// How recent that sign-in must be.
pub const MAX_AGE_MS: i64 = 10 * 60 * 1000;

pub const REFUSAL: &str = "To add a passkey or a phone, first confirm on your phone (from your \
account page) or sign in again with a passkey (it must be within the last 10 minutes). No passkey \
or phone yet? Use the invitation link from your administrator.";

pub const REMOVAL_REFUSAL: &str = "To remove a passkey or your phone, first confirm on your phone \
(from your account page) or sign in again with a passkey (it must be within the last 10 \
minutes).";

/// Whether this session may add (or remove) an authenticator now.
pub fn allowed(session: &SessionRow, now_ms: i64) -> bool {
    let strong = session
        .amr
        .split_whitespace()
        .any(|m| STRONG_AMR.contains(&m));
    strong && now_ms - session.auth_time <= MAX_AGE_MS
}

/// Refuses (403) unless this session may add an authenticator now.
pub fn require(session: &SessionRow, now_ms: i64) -> Result<()> {
    if allowed(session, now_ms) {
        Ok(())
    } else {
        Err(Error::Forbidden(REFUSAL.into()))
    }
}

#[derive(askama::Template)]
#[template(path = "security_notice_email.txt")]
struct NoticeText<'a> {
    lang: crate::i18n::Lang,
    name: &'a str,
    what: &'a str,
}

#[derive(askama::Template)]
#[template(path = "security_notice_email.html")]
struct NoticeHtml<'a> {
    lang: crate::i18n::Lang,
    name: &'a str,
    what: &'a str,
}

/// Tells the employee by e-mail that an authenticator was added (or removed). Best effort: the
/// change stands (it is audited) if the mail cannot be sent, which is logged.
pub async fn notify(
    mailer: &crate::mail::Mailer,
    lang: crate::i18n::Lang,
    employee: &EmployeeRow,
    what: &str,
) {
    let Some(to) = employee.email.as_deref() else {
        return;
    };
    if !mailer.configured() {
        return;
    }
    let name = employee.display_name.as_str();
    let rendered = NoticeText { lang, name, what }
        .render()
        .and_then(|t| NoticeHtml { lang, name, what }.render().map(|h| (t, h)));
    let (text, html) = match rendered {
        Ok(parts) => parts,
        Err(e) => {
            tracing::warn!(error = %e, "security notice template");
            return;
        }
    };
    if let Err(e) = mailer
        .send(to, &lang.t("mail-notice-subject"), text, html)
        .await
    {
        tracing::warn!(error = %e, "could not e-mail the security notice");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(amr: &str, auth_time: i64) -> SessionRow {
        SessionRow {
            token_hash: Vec::new(),
            id: "s".into(),
            employee_id: "e".into(),
            auth_time,
            amr: amr.into(),
            created_at: auth_time,
            expires_at: auth_time + 3_600_000,
            last_seen_at: auth_time,
        }
    }

    #[test]
    fn only_a_recent_strong_sign_in_may_add_an_authenticator() {
        let now = 1_000_000_000;
        assert!(allowed(&session("hwk", now - 60_000), now));
        assert!(allowed(&session("pop", now), now));
        assert!(!allowed(&session("pwd", now), now), "a password alone");
        assert!(!allowed(&session("otp", now), now), "an offline code alone");
        assert!(
            !allowed(&session("swk", now - MAX_AGE_MS - 1), now),
            "too long ago"
        );
    }
}
