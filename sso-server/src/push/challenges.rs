//! Sign-in challenges: created for an employee's phone, signed by the server, delivered (or
//! fetched by the phone), answered once with a signature of the device key. Number matching: the
//! sign-in page shows a two-digit number that the challenge does not carry; the employee types it
//! on the phone, and an approval with another number counts as a denial.

use serde_json::{json, Value};
use uuid::Uuid;

use phone_protocol::{ChallengeJson, Purpose};

use super::challenge_state::{Answer, ChallengeState, Outcome};
use super::wire;
use super::Phones;
use crate::audit::{self, Actor, Target};
use crate::crypto::{random_below, random_bytes, random_token};
use crate::employees::store::EmployeeRow;
use crate::error::{Error, Result};
use crate::push::store::{ChallengeRow, DeviceRow};
use crate::store::Conn;

/// Push prompts per employee per ten minutes (against push bombing).
pub const MAX_PROMPTS_PER_10_MIN: i64 = 5;
/// Denials within fifteen minutes that block push sign-in for the employee.
pub const DENIALS_TO_BLOCK: i64 = 3;

fn clean(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

pub struct Origin<'a> {
    /// `sign-in`, `workstation` or `enrol`.
    pub purpose: &'a str,
    /// For `enrol`: the session that asked, the only one that may use the approval.
    pub session_id: Option<&'a str>,
    /// A registered name: the OIDC client's, the enrolled workstation's, or the server's.
    pub client_name: &'a str,
    pub ip: &'a str,
    /// The request's `User-Agent`: only its recognised families are kept and shown.
    pub user_agent: &'a str,
}

/// The one employee an account name means: an e-mail, `user@domain` (UPN), `DOMAIN\user` or a
/// plain account name.
pub async fn employee_named(conn: &mut Conn, typed: &str) -> Result<Option<EmployeeRow>> {
    let mut all = employees_named(conn, typed).await?;
    Ok(if all.len() == 1 { all.pop() } else { None })
}

/// Every employee an account name can mean: one for an e-mail, a UPN or `DOMAIN\user`; several
/// for a plain account name that exists in several domains. What the sign-in throttle counts a
/// guess against (each of them), so no spelling gives an employee more guesses.
pub async fn employees_named(conn: &mut Conn, typed: &str) -> Result<Vec<EmployeeRow>> {
    let typed = typed.trim();
    if typed.is_empty() || typed.len() > 256 {
        return Ok(Vec::new());
    }
    if typed.contains('@') {
        if let Some(e) = crate::employees::store::find_by_email(conn, typed).await? {
            return Ok(vec![e]);
        }
    }
    let ids = crate::directory::store::identities_by_account_name(conn, typed).await?;
    let mut employees: Vec<String> = ids.into_iter().map(|i| i.employee_id).collect();
    employees.sort();
    employees.dedup();
    let mut out = Vec::with_capacity(employees.len());
    for id in employees {
        if let Some(e) = crate::employees::store::get(conn, &id).await? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Whom a push for a typed account name would reach.
pub enum Reach {
    /// An active employee with a phone, not blocked, under the prompt limit.
    Ready(Box<(EmployeeRow, DeviceRow)>),
    /// An active employee who cannot be prompted now.
    Refused {
        employee_id: String,
        blocked: bool,
        recent_prompts: i64,
    },
    /// Nobody: unknown, ambiguous or not active.
    Nobody,
}

pub async fn reach(conn: &mut Conn, typed: &str, now: i64) -> Result<Reach> {
    let Some(e) = employee_named(conn, typed).await? else {
        return Ok(Reach::Nobody);
    };
    if e.state != crate::employees::State::Active.as_str() {
        return Ok(Reach::Nobody);
    }
    let blocked = crate::push::store::is_blocked(conn, &e.id).await?;
    let recent_prompts = crate::push::store::count_recent(conn, &e.id, now - 10 * 60_000).await?;
    let device = crate::push::store::active_devices_of(conn, &e.id)
        .await?
        .into_iter()
        .next();
    Ok(match device {
        Some(d) if !blocked && recent_prompts < MAX_PROMPTS_PER_10_MIN => {
            Reach::Ready(Box::new((e, d)))
        }
        _ => Reach::Refused {
            employee_id: e.id,
            blocked,
            recent_prompts,
        },
    })
}

/// What the party that asked sees of a challenge of `purpose`: approved (once: until it is
/// consumed), denied, expired or pending.
pub fn outcome(c: &ChallengeRow, purpose: &str, now: i64) -> Outcome {
    let expired = c.expires_at <= now;
    // An approval is good for as long as the challenge was, and once.
    let usable = c.consumed_at.is_none() && c.purpose == purpose && !expired;
    ChallengeState::outcome(c.state(), usable, expired)
}

/// The number the sign-in page shows: 10 to 99, uniform. The phone never learns it from the
/// server, so approving needs someone who sees the page (a blind approval passes 1 time in 90).
fn number() -> Result<u8> {
    let span = u32::from(phone_protocol::NUMBERS.end() - phone_protocol::NUMBERS.start()) + 1;
    Ok(phone_protocol::NUMBERS.start() + u8::try_from(random_below(span)?).unwrap_or(0))
}

/// How the phone words a challenge stored with `purpose`.
fn wire_purpose(purpose: &str) -> Purpose {
    match purpose {
        "workstation" => Purpose::Unlock,
        "enrol" => Purpose::Enrol,
        _ => Purpose::SignIn,
    }
}

/// The phone's form of a challenge (docs/phone-protocol.md, section 2).
fn wire_challenge(c: &ChallengeRow) -> ChallengeJson {
    ChallengeJson {
        device_id: c.device_id.clone(),
        challenge_id: c.id.clone(),
        nonce: c.nonce.clone(),
        purpose: wire_purpose(&c.purpose),
        employee: c.employee_name.clone(),
        client_name: c.client_name.clone(),
        ip: c.ip.clone(),
        place: c.place.clone(),
        browser: c.browser(),
        os: c.os(),
        created: c.created_at / 1000,
        expires: c.expires_at / 1000,
        signature: c.signature.clone(),
    }
}

/// The phone's JSON of a challenge.
pub fn challenge_json(c: &ChallengeRow) -> Value {
    serde_json::to_value(wire_challenge(c)).unwrap_or(Value::Null)
}

/// A challenge for the employee's phone, stored, then delivered (delivery failures are logged;
/// the phone can still fetch it).
pub async fn create(
    state: &Phones,
    employee: &EmployeeRow,
    device: &DeviceRow,
    origin: &Origin<'_>,
) -> Result<ChallengeRow> {
    let now = state.clock.now_ms();
    // Whole seconds on the wire; keep the stored times on those seconds so they sign alike.
    let created_s = now / 1000;
    let ttl_ms = i64::from(state.config.push.challenge_ttl_seconds) * 1000;
    let expires_s = (now + ttl_ms) / 1000;
    let (browser, os) = super::browser::recognise(origin.user_agent);
    let mut row = ChallengeRow {
        id: Uuid::new_v4().to_string(),
        employee_id: employee.id.clone(),
        device_id: device.id.clone(),
        purpose: origin.purpose.to_owned(),
        nonce: wire::b64(&random_bytes::<16>()?),
        employee_name: clean(&employee.display_name, 256),
        client_name: clean(origin.client_name, 256),
        ip: clean(origin.ip, 512),
        place: clean(&state.push.places.describe(origin.ip), 512),
        browser: browser.as_str().into(),
        os: os.as_str().into(),
        created_at: created_s * 1000,
        expires_at: expires_s * 1000,
        shown_number: i64::from(number()?),
        signature: String::new(),
        state: ChallengeState::Pending.as_str().into(),
        answered_at: None,
        answer: None,
        consumed_at: None,
        session_id: origin.session_id.map(str::to_owned),
    };
    let message = wire::challenge_message(&wire_challenge(&row));
    row.signature = wire::b64(
        &state
            .push
            .key
            .sign(&state.store, &state.cipher, now, &message)
            .await?,
    );
    {
        let mut conn = state.store.conn().await?;
        crate::push::store::insert_challenge(&mut conn, &row).await?;
        audit::record(
            &mut conn,
            now,
            &Actor::System { name: "push sign-in".into() },
            "push.challenge_created",
            Some(Target::of("employee", &employee.id)),
            json!({ "challenge": row.id, "device": device.id, "client": row.client_name, "ip": row.ip, "purpose": row.purpose }),
        )
        .await?;
    }
    // Delivered in the background: a slow or unreachable push service never holds up the
    // sign-in page, and the phone can always fetch the challenge itself.
    let payload = challenge_json(&row);
    let gateways = state.push.gateways.clone();
    let device = device.clone();
    tokio::spawn(async move {
        for g in &gateways {
            if let Err(e) = g.deliver(&device, &payload).await {
                tracing::warn!(gateway = g.name(), device = %device.id, error = %e, "push delivery failed; the phone can still poll");
            }
        }
    });
    Ok(row)
}

/// A decoy for a name that cannot receive a push (unknown, no phone, blocked): the sign-in page
/// behaves the same and it simply never gets approved.
pub async fn decoy(state: &Phones) -> Result<ChallengeRow> {
    let now = state.clock.now_ms();
    // Whole seconds, as a real challenge's, so that `expires_in` is the same.
    let ttl_ms = i64::from(state.config.push.challenge_ttl_seconds) * 1000;
    let (created_s, expires_s) = (now / 1000, (now + ttl_ms) / 1000);
    let row = ChallengeRow {
        id: Uuid::new_v4().to_string(),
        employee_id: String::new(),
        device_id: String::new(),
        purpose: "decoy".into(),
        nonce: random_token()?,
        employee_name: String::new(),
        client_name: String::new(),
        ip: String::new(),
        place: String::new(),
        browser: phone_protocol::Browser::Unknown.as_str().into(),
        os: phone_protocol::Os::Unknown.as_str().into(),
        created_at: created_s * 1000,
        expires_at: expires_s * 1000,
        shown_number: i64::from(number()?),
        signature: String::new(),
        state: ChallengeState::Pending.as_str().into(),
        answered_at: None,
        answer: None,
        consumed_at: None,
        session_id: None,
    };
    let mut conn = state.store.conn().await?;
    crate::push::store::insert_challenge(&mut conn, &row).await?;
    Ok(row)
}

/// The answer body (docs/phone-protocol.md, section 3).
pub use phone_protocol::AnswerJson as AnswerBody;

/// What became of an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Answered {
    Recorded(&'static str),
    /// The same answer sent again (a retry after a lost response).
    Repeated,
}

pub async fn answer(state: &Phones, body: &AnswerBody) -> Result<Answered> {
    let now = state.clock.now_ms();
    if !matches!(body.decision.as_str(), "approve" | "deny" | "report_fraud") {
        return Err(Error::validation(
            "decision",
            "must be approve, deny or report_fraud",
        ));
    }
    let unknown = || Error::NotFound("challenge");
    let mut conn = state.store.conn().await?;
    let challenge = crate::push::store::get_challenge(&mut conn, &body.challenge_id)
        .await?
        .filter(|c| c.device_id == body.device_id && !c.device_id.is_empty())
        .ok_or_else(unknown)?;
    let device = crate::push::store::get_device(&mut conn, &body.device_id)
        .await?
        .filter(|d| d.state == "active")
        .ok_or_else(unknown)?;
    let sig = wire::unb64(&body.signature)
        .ok_or_else(|| Error::validation("signature", "must be base64url"))?;
    let message = wire::answer_message(
        &device.id,
        &challenge.id,
        &challenge.nonce,
        &body.decision,
        body.number,
    );
    if !wire::verify_es256(&device.public_key, &message, &sig) {
        return Err(Error::Forbidden(
            "the answer's signature does not verify with this device's key".into(),
        ));
    }
    let canonical = serde_json::to_string(body).map_err(|e| Error::Internal(e.to_string()))?;
    let Some(state_after) = challenge.state().and_then(|s| {
        s.next(Answer::judge(
            &body.decision,
            body.number,
            challenge.shown_number,
        ))
    }) else {
        if challenge.answer.as_deref() == Some(canonical.as_str()) {
            return Ok(Answered::Repeated);
        }
        return Err(Error::conflict(None, "this challenge was already answered"));
    };
    if challenge.expires_at <= now {
        return Err(Error::conflict(None, "this challenge expired"));
    }
    // Two prompts open at once: one of them is not the employee's (a requester racing theirs).
    // Neither is approved until the other is denied or expires; the challenge stays pending.
    if state_after == ChallengeState::Approved
        && crate::push::store::count_open_besides(
            &mut conn,
            &challenge.employee_id,
            &challenge.id,
            now,
        )
        .await?
            > 0
    {
        return Err(Error::conflict(
            Some("decision"),
            "another request is open for you at the same time: deny the one you did not start, \
             then approve",
        ));
    }
    drop(conn);
    let mut tx = state.store.begin().await?;
    if !crate::push::store::answer_challenge(&mut tx, &challenge.id, state_after, &canonical, now)
        .await?
    {
        return Err(Error::conflict(None, "this challenge was already answered"));
    }
    crate::push::store::touch_device(&mut tx, &device.id, now).await?;
    let actor = Actor::System {
        name: format!("phone {}", device.name),
    };
    let target = Some(Target::of("employee", &challenge.employee_id));
    audit::record(
        &mut tx,
        now,
        &actor,
        &format!("push.{}", state_after.as_str()),
        target,
        json!({ "challenge": challenge.id, "device": device.id, "decision": body.decision, "number_matched": state_after == ChallengeState::Approved }),
    )
    .await?;
    let block_reason = match state_after {
        ChallengeState::Fraud => {
            Some("the employee reported a sign-in request as fraud".to_owned())
        }
        ChallengeState::Denied => {
            let denied = crate::push::store::count_denied_since(
                &mut tx,
                &challenge.employee_id,
                now - 15 * 60_000,
            )
            .await?;
            (denied >= DENIALS_TO_BLOCK)
                .then(|| format!("{denied} denied push sign-ins within 15 minutes"))
        }
        _ => None,
    };
    if let Some(reason) = block_reason {
        crate::push::store::block(&mut tx, &challenge.employee_id, &reason, now).await?;
        audit::record(
            &mut tx,
            now,
            &actor,
            "push.blocked",
            target,
            json!({ "reason": reason }),
        )
        .await?;
    }
    tx.commit().await?;
    // The sign-in page (or workstation) waiting on this challenge, on whichever instance.
    state
        .wake
        .publish(&crate::wake::challenge(&challenge.id))
        .await;
    Ok(Answered::Recorded(state_after.as_str()))
}
