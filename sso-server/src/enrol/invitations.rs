//! Invitations: a single-use link (token stored hashed; sealed too, so the outbox can show the
//! link) e-mailed to the employee, or kept in the outbox when no SMTP server is configured.
//! Deliveries are retried with backoff; failures are recorded and shown.

use super::state::{Event, InvitationState, Shown};
use askama::Template;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Actor, Target};
use crate::clock::from_ms;
use crate::crypto::{random_token, token_hash};
use crate::employees::store::EmployeeRow;
use crate::employees::State as EmployeeState;
use crate::error::{Error, Result};
use crate::store::Conn;

const SEAL_AAD: &[u8] = b"sso-server invitation token v1";
/// A claimed delivery is retried after this long if the sender died mid-way.
const CLAIM_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: String,
    pub employee_id: String,
    pub token_hash: Vec<u8>,
    pub sealed_token: Vec<u8>,
    pub email: String,
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub sent_at: Option<i64>,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub accepted_at: Option<i64>,
}

impl InvitationRow {
    /// What the invitation is at `now` (a value no version writes reads as revoked).
    pub fn shown(&self, now: i64) -> Shown {
        InvitationState::parse(&self.state)
            .unwrap_or(InvitationState::Revoked)
            .shown(self.expires_at, now)
    }
}

/// An invitation as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub employee_id: String,
    pub email: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub state: String,
    /// `sent`, `queued` (will be e-mailed), `failed` (retrying), `outbox` (no SMTP: copy the
    /// link), or `-` once accepted, revoked or expired.
    pub delivery: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The link, while the invitation can still be used.
    pub link: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<OffsetDateTime>,
}

/// What invitations use: the app builds one (`AppState::invitations`), a sync run another.
#[derive(Clone)]
pub struct Invitations {
    pub store: crate::store::Store,
    pub cipher: std::sync::Arc<crate::crypto::Cipher>,
    pub clock: crate::clock::SharedClock,
    pub config: std::sync::Arc<crate::config::Config>,
    pub mailer: std::sync::Arc<crate::mail::Mailer>,
}

pub fn link_for(state: &Invitations, token: &str) -> String {
    format!("{}/invite/{token}", state.config.issuer())
}

pub fn view(state: &Invitations, r: &InvitationRow) -> InvitationView {
    let now = state.clock.now_ms();
    let usable = r.shown(now) == Shown::Usable;
    let delivery = if !usable {
        "-"
    } else if r.sent_at.is_some() {
        "sent"
    } else if r.next_attempt_at.is_none() {
        "outbox"
    } else if r.last_error.is_some() {
        "failed"
    } else {
        "queued"
    };
    let link = if usable {
        state
            .cipher
            .open(&r.sealed_token, SEAL_AAD)
            .ok()
            .and_then(|t| String::from_utf8(t).ok())
            .map(|t| link_for(state, &t))
    } else {
        None
    };
    InvitationView {
        id: r.id.clone(),
        employee_id: r.employee_id.clone(),
        email: r.email.clone(),
        state: r.shown(now).as_str().into(),
        delivery: delivery.into(),
        attempts: r.attempts,
        last_error: r.last_error.clone(),
        link,
        created_at: from_ms(r.created_at),
        expires_at: from_ms(r.expires_at),
        sent_at: r.sent_at.map(from_ms),
    }
}

/// The employee's invitations, newest first, at most `limit` (the API and the console).
pub async fn of_employee(
    state: &Invitations,
    employee_id: &str,
    limit: i64,
) -> Result<Vec<InvitationView>> {
    let mut conn = state.store.conn().await?;
    let rows = crate::enrol::store::list(&mut conn, Some(employee_id), limit).await?;
    Ok(rows.iter().map(|r| view(state, r)).collect())
}

/// Creates an invitation inside the caller's transaction (an admin's request or an import);
/// earlier pending invitations of the employee are revoked, so only the newest link works.
pub async fn create_in(
    state: &Invitations,
    conn: &mut Conn,
    actor: &Actor,
    employee: &EmployeeRow,
) -> Result<InvitationRow> {
    let now = state.clock.now_ms();
    let email = employee.email.clone().ok_or_else(|| {
        Error::conflict(
            Some("email"),
            "the employee has no e-mail address to invite",
        )
    })?;
    if employee.state != EmployeeState::Active.as_str() {
        return Err(Error::conflict(
            None,
            "only active employees can be invited",
        ));
    }
    crate::enrol::store::revoke_pending_of(conn, &employee.id, now).await?;
    let token = random_token()?;
    let row = InvitationRow {
        id: Uuid::new_v4().to_string(),
        employee_id: employee.id.clone(),
        token_hash: token_hash(&token),
        sealed_token: state.cipher.seal(token.as_bytes(), SEAL_AAD)?,
        email,
        state: InvitationState::Pending.as_str().into(),
        created_at: now,
        expires_at: now + i64::from(state.config.invitations.ttl_hours) * 3_600_000,
        sent_at: None,
        attempts: 0,
        next_attempt_at: state.mailer.configured().then_some(now),
        last_error: None,
        accepted_at: None,
    };
    crate::enrol::store::insert(conn, &row).await?;
    audit::record(
        conn,
        now,
        actor,
        "employee.invited",
        Some(Target::of("employee", &employee.id)),
        json!({ "invitation": row.id, "email": row.email, "delivery": if state.mailer.configured() { "email" } else { "outbox" } }),
    )
    .await?;
    Ok(row)
}

/// An admin invites an employee (or invites again): a new link, the old ones revoked.
pub async fn invite(
    state: &Invitations,
    actor: &Actor,
    employee_id: &str,
) -> Result<InvitationView> {
    let mut tx = state.store.begin().await?;
    let employee = crate::employees::store::get(&mut tx, employee_id)
        .await?
        .ok_or(Error::NotFound("employee"))?;
    let row = create_in(state, &mut tx, actor, &employee).await?;
    tx.commit().await?;
    Ok(view(state, &row))
}

/// Sends the same link again now (after a failure, or a lost e-mail).
pub async fn resend(state: &Invitations, actor: &Actor, id: &str) -> Result<InvitationView> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let row = crate::enrol::store::get(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("invitation"))?;
    let shown = row.shown(now);
    if shown != Shown::Usable {
        return Err(Error::conflict(
            None,
            format!(
                "the invitation is {}; invite the employee again for a new link",
                shown.as_str()
            ),
        ));
    }
    if !state.mailer.configured() {
        return Err(Error::conflict(
            None,
            "no SMTP server is configured: copy the link from the outbox",
        ));
    }
    crate::enrol::store::schedule(&mut tx, id, now).await?;
    audited(&mut tx, now, actor, "invitation.resent", id).await?;
    tx.commit().await?;
    let mut conn = state.store.conn().await?;
    let row = crate::enrol::store::get(&mut conn, id)
        .await?
        .ok_or(Error::NotFound("invitation"))?;
    Ok(view(state, &row))
}

pub async fn revoke(state: &Invitations, actor: &Actor, id: &str) -> Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    if !crate::enrol::store::advance(&mut tx, id, Event::Revoke, now).await? {
        return Err(Error::NotFound("pending invitation"));
    }
    audited(&mut tx, now, actor, "invitation.revoked", id).await?;
    tx.commit().await?;
    Ok(())
}

/// Records what an admin did to an invitation, in its transaction.
async fn audited(conn: &mut Conn, now: i64, actor: &Actor, event: &str, id: &str) -> Result<()> {
    audit::record(
        conn,
        now,
        actor,
        event,
        Some(Target::of("invitation", id)),
        json!({}),
    )
    .await
}

/// The live invitation a link's token names.
pub async fn by_token(
    state: &Invitations,
    conn: &mut Conn,
    token: &str,
) -> Result<Option<InvitationRow>> {
    let now = state.clock.now_ms();
    Ok(crate::enrol::store::by_token_hash(conn, &token_hash(token))
        .await?
        .filter(|r| r.shown(now) == Shown::Usable))
}

#[derive(Template)]
#[template(path = "invitation_email.txt")]
struct EmailText<'a> {
    lang: crate::i18n::Lang,
    name: &'a str,
    org: &'a str,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "invitation_email.html")]
struct EmailHtml<'a> {
    lang: crate::i18n::Lang,
    name: &'a str,
    org: &'a str,
    link: &'a str,
    expires: &'a str,
}

fn backoff_ms(attempts: i64) -> i64 {
    // 1, 2, 4, … minutes, at most six hours.
    let minutes = 1i64 << attempts.clamp(0, 9);
    (minutes * 60_000).min(6 * 3_600_000)
}

/// Sends the invitations that are due. Each is claimed first, so several instances never send
/// the same one twice. Returns how many were sent.
pub async fn deliver_due(state: &Invitations) -> Result<usize> {
    if !state.mailer.configured() {
        return Ok(0);
    }
    let now = state.clock.now_ms();
    let due = {
        let mut conn = state.store.conn().await?;
        crate::enrol::store::due(&mut conn, now, 50).await?
    };
    let mut sent = 0;
    for row in due {
        let claimed = {
            let mut conn = state.store.conn().await?;
            crate::enrol::store::claim(&mut conn, &row.id, row.next_attempt_at, now + CLAIM_MS)
                .await?
        };
        if !claimed {
            continue;
        }
        let token = state
            .cipher
            .open(&row.sealed_token, SEAL_AAD)
            .ok()
            .and_then(|t| String::from_utf8(t).ok())
            .ok_or_else(|| Error::Internal("an invitation token does not open".into()))?;
        let link = link_for(state, &token);
        let name = {
            let mut conn = state.store.conn().await?;
            crate::employees::store::get(&mut conn, &row.employee_id)
                .await?
                .map(|e| e.display_name)
                .unwrap_or_default()
        };
        let expires = from_ms(row.expires_at).date().to_string();
        let org = state
            .config
            .public_url
            .host_str()
            .unwrap_or("SSO")
            .to_owned();
        // E-mails have no request to take a language from: the configured one.
        let lang = state.config.default_language;
        let text = EmailText {
            lang,
            name: &name,
            org: &org,
            link: &link,
            expires: &expires,
        }
        .render()
        .map_err(|e| Error::Internal(format!("template: {e}")))?;
        let html = EmailHtml {
            lang,
            name: &name,
            org: &org,
            link: &link,
            expires: &expires,
        }
        .render()
        .map_err(|e| Error::Internal(format!("template: {e}")))?;
        let outcome = state
            .mailer
            .send(&row.email, &lang.t("mail-invite-subject"), text, html)
            .await;
        let mut conn = state.store.conn().await?;
        let at = state.clock.now_ms();
        match outcome {
            Ok(()) => {
                crate::enrol::store::mark_sent(&mut conn, &row.id, at).await?;
                sent += 1;
            }
            Err(e) => {
                tracing::warn!(invitation = %row.id, error = %e, "invitation e-mail failed; will retry");
                crate::enrol::store::mark_failed(
                    &mut conn,
                    &row.id,
                    &e,
                    at + backoff_ms(row.attempts),
                )
                .await?;
            }
        }
    }
    Ok(sent)
}

/// Runs deliveries every ten seconds until aborted.
pub fn spawn_delivery(state: Invitations) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = deliver_due(&state).await {
                tracing::warn!(error = %e, "invitation delivery pass failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(super::backoff_ms(0), 60_000);
        assert_eq!(super::backoff_ms(3), 8 * 60_000);
        assert_eq!(super::backoff_ms(40), 6 * 3_600_000);
    }
}

#[cfg(test)]
mod email_tests {
    use super::*;
    use crate::i18n::Lang;

    /// The invitation e-mail in each language, both parts, every sentence from the catalogue.
    #[test]
    fn the_invitation_email_speaks_each_language() {
        for (lang, hello, body) in [
            (
                Lang::En,
                "Hello Ada,",
                "invites you to sign in without passwords",
            ),
            (
                Lang::De,
                "Hallo Ada,",
                "lädt Sie ein, sich ohne Passwörter anzumelden",
            ),
        ] {
            let (name, org, link, expires) =
                ("Ada", "sso.example.com", "https://x/invite/t", "1 Dec");
            let text = EmailText {
                lang,
                name,
                org,
                link,
                expires,
            }
            .render()
            .expect("text");
            let html = EmailHtml {
                lang,
                name,
                org,
                link,
                expires,
            }
            .render()
            .expect("html");
            for part in [&text, &html] {
                assert!(part.contains(hello) && part.contains(body), "{part}");
                assert!(part.contains(link));
            }
            assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
        }
    }
}
