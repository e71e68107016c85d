//! Sign-in with an offline code from the phone app (TOTP), for when the phone has no network
//! and cannot receive or answer a push. Weaker than a push (a code can be phished), so it is
//! throttled like a password and each code works once.
//!
//! Above the per-account and per-address limits, the deployment has a **daily budget of failed
//! offline codes** ([`crate::throttle::Policy::offline_codes`]): a spray across many accounts
//! from many addresses is stopped by it, whatever the number of addresses. Once it is spent,
//! offline codes pause for everyone until the next UTC day (the same answer for every account),
//! and the admins are told (audit `offline_codes.paused`, and `mail.alert_recipients`).

use serde_json::json;

use super::Failure;
use crate::audit::{self, Actor};
use crate::employees::State as EmployeeState;
use crate::error::Result;
use crate::push::{challenges, totp, Phones};
use crate::throttle::{self, Take};

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
    // The deployment's budget: taken before the code is evaluated, given back on success.
    let now = phones.clock.now_ms();
    let (key, day_ends) = throttle::offline_codes_key(now);
    let (taken, policy) = {
        let mut conn = phones.store.conn().await?;
        let devices = crate::push::store::count_active_devices(&mut conn).await?;
        let mut policy = throttle::Policy::offline_codes(devices);
        if let Some(budget) = phones.config.oidc.offline_code_daily_budget {
            policy.free = i64::from(budget.max(1));
            policy.lock_after = policy.free;
        }
        policy.lock_ms = day_ends - now;
        (throttle::take(&mut conn, &key, &policy, now).await?, policy)
    };
    let Take::Go { n } = taken else {
        return Ok(Err(Failure::CodesPaused));
    };
    if totp::check(phones, &employee.id, code).await? {
        let mut conn = phones.store.conn().await?;
        throttle::release(&mut conn, &key).await?;
        return Ok(Ok(employee.id));
    }
    let paused = {
        let mut conn = phones.store.conn().await?;
        throttle::failed(&mut conn, &key, n, &policy, now).await?
    };
    if paused {
        pause_alert(phones, now, policy.lock_after).await?;
    }
    Ok(Err(Failure::WrongCode))
}

/// The budget is spent: recorded for the admins and e-mailed to `mail.alert_recipients` (best
/// effort: a mail failure is logged).
async fn pause_alert(phones: &Phones, now: i64, budget: i64) -> Result<()> {
    {
        let mut conn = phones.store.conn().await?;
        audit::record(
            &mut conn,
            now,
            &Actor::System {
                name: "offline codes".into(),
            },
            "offline_codes.paused",
            None,
            json!({ "failures_today": budget }),
        )
        .await?;
    }
    tracing::warn!(
        budget,
        "offline codes paused for the day: the failure budget is spent"
    );
    let to = &phones.config.mail.alert_recipients;
    if to.is_empty() || !phones.mailer.configured() {
        return Ok(());
    }
    let text = format!(
        "{budget} offline codes failed today across the company, the most allowed in a day: \
         offline-code sign-in is paused until midnight UTC. This is what a spray of guessed \
         codes looks like; phones and passkeys still work.\n\nAudit log: {}admin/audit\n",
        phones.config.public_url
    );
    let html = format!("<p>{}</p>", text.replace('&', "&amp;").replace('<', "&lt;"));
    for addr in to {
        if let Err(e) = phones
            .mailer
            .send(addr, "Offline codes paused", text.clone(), html.clone())
            .await
        {
            tracing::warn!(error = %e, "could not e-mail the offline-code pause");
        }
    }
    Ok(())
}
