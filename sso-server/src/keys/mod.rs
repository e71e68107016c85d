//! Hardware keys: the inventory, assignment with an activation code, the lifecycle actions, the
//! tasks the key-bridge applies on the workstation, and domain password rotation.
//!
//! - `state`: the lifecycle, one transition table.
//! - `passwords`: generated and typed domain passwords.
//! - `tasks`: the per-key task queue (sealed payloads, applied in order, confirmed once).
//! - `rotation`: which accounts rotate, and the key-first ordering of a rotation.
//! - `bridge`: the HTTP API the key-bridge agent calls; `signed`: how its callers prove who they
//!   are; `workstations`: the named workstations the agents run on.

pub mod attestation;
pub mod http;
pub mod passwords;
pub mod rotation;
pub mod rotation_state;
pub mod signed;
pub mod state;
pub mod store;
pub mod task_state;
pub mod tasks;
pub mod workstations;

use askama::Template as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq as _;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Actor, Target};
use crate::crypto::random_below;
use crate::employees::State as EmployeeState;
use crate::error::{Error, Result};
use crate::keys::store::KeyRow;
use crate::store::Conn;
pub use state::{Action, KeyState};

/// How long an activation code works.
pub const ACTIVATION_TTL_MS: i64 = 72 * 3600 * 1000;
/// Wrong activation codes before the key locks.
pub const ACTIVATION_ATTEMPTS: i64 = 5;
const MAX_SERIAL: usize = 64;

/// A key as the API shows it (never the activation code or its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub serial: String,
    pub model: String,
    pub state: KeyState,
    pub reason: Option<String>,
    pub employee_id: Option<String>,
    /// While reserved: when the activation code stops working (Unix ms) and attempts left.
    pub activation_expires_at: Option<i64>,
    pub activation_attempts_left: Option<i64>,
    pub activated_at: Option<i64>,
    /// The workstation whose key-bridge last made a signed request for this key.
    pub workstation_id: Option<String>,
}

/// The most a key import takes, in bytes of text: the API's CSV body and the console's field.
pub const MAX_IMPORT_BYTES: usize = 2_000_000;

/// Refuses an import text over [`MAX_IMPORT_BYTES`], naming the field it came in.
pub fn check_import_size(field: &str, text: &str) -> Result<()> {
    if text.len() > MAX_IMPORT_BYTES {
        return Err(Error::validation(field, "at most 2 MB of text"));
    }
    Ok(())
}

/// A `state` filter as typed (API query or console link), checked once for both.
pub fn state_filter(typed: Option<&str>) -> Result<Option<KeyState>> {
    match typed.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => KeyState::parse(s).map(Some).ok_or_else(|| {
            Error::validation(
                "state",
                "one of ready, reserved, active, locked, suspended, deactivated, compromised",
            )
        }),
    }
}

/// What a key list asks for.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyQuery<'a> {
    pub state: Option<KeyState>,
    pub employee: Option<&'a str>,
    /// A part of the serial, case-insensitive.
    pub serial: Option<&'a str>,
    /// At most this many rows (all without it).
    pub limit: Option<i64>,
}

/// A key in a list, with its employee's display name.
pub struct ListedKey {
    pub key: KeyView,
    pub employee_name: Option<String>,
}

/// The keys a list shows, by serial, with their employees' names and the number of matches:
/// two queries whatever the number of rows. The API's list and the console's pages read here.
pub async fn search(conn: &mut Conn, q: KeyQuery<'_>) -> Result<(Vec<ListedKey>, i64)> {
    let (rows, total) = crate::keys::store::search(
        conn,
        q.state.map(KeyState::as_str),
        q.employee,
        q.serial.filter(|s| !s.is_empty()),
        q.limit,
    )
    .await?;
    Ok((
        rows.into_iter()
            .map(|r| ListedKey {
                key: r.key.into(),
                employee_name: r.employee_name,
            })
            .collect(),
        total,
    ))
}

impl From<KeyRow> for KeyView {
    fn from(k: KeyRow) -> Self {
        Self {
            state: KeyState::parse(&k.state).unwrap_or(KeyState::Deactivated),
            id: k.id,
            serial: k.serial,
            model: k.model,
            reason: k.reason,
            employee_id: k.employee_id,
            activation_expires_at: k.activation_expires,
            activation_attempts_left: k.activation_attempts,
            activated_at: k.activated_at,
            workstation_id: k.workstation_id,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewKey {
    pub serial: String,
    #[serde(default)]
    pub model: Option<String>,
    /// The key's factory certificate from its vendor (PEM, or the DER in base64): its
    /// attestation key, certified for this serial by a CA in `keys.vendor_ca_file`.
    pub attestation: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportReport {
    pub added: u64,
    /// Serials already in the inventory.
    pub skipped: u64,
    /// Known keys without a factory identity that got one from this import.
    #[serde(default)]
    pub certified: u64,
    /// Lines that could not be read (CSV), with the reason.
    pub errors: Vec<ImportError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

fn check_serial(s: &str) -> std::result::Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_SERIAL {
        return Err(format!("serial: 1 to {MAX_SERIAL} characters"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err("serial: letters, digits, '-', '_' and '.' only".into());
    }
    Ok(s.to_owned())
}

fn check_model(m: &str) -> std::result::Result<(), &'static str> {
    if m.chars().count() > 64 || m.chars().any(char::is_control) {
        return Err("at most 64 printable characters");
    }
    Ok(())
}

/// What the hardware-key services use: the app builds one (`AppState::hardware_keys`).
#[derive(Clone)]
pub struct HardwareKeys {
    pub store: crate::store::Store,
    pub cipher: std::sync::Arc<crate::crypto::Cipher>,
    pub clock: crate::clock::SharedClock,
    pub config: std::sync::Arc<crate::config::Config>,
    pub mailer: std::sync::Arc<crate::mail::Mailer>,
    pub instance: std::sync::Arc<crate::instance::Instance>,
}

/// One key of an import, checked: its serial, model and factory certificate.
fn checked_key(
    roots: &attestation::VendorRoots,
    k: &NewKey,
    now: i64,
) -> std::result::Result<crate::keys::store::ImportedKey, (&'static str, String)> {
    let serial = check_serial(&k.serial).map_err(|m| ("serial", m.replace("serial: ", "")))?;
    let model = k.model.as_deref().unwrap_or("").trim();
    check_model(model).map_err(|m| ("model", m.to_owned()))?;
    let der = attestation::certificate_der(&k.attestation).map_err(|m| ("attestation", m))?;
    let attestation_key = roots
        .verify(&der, &serial, now)
        .map_err(|m| ("attestation", m))?;
    Ok(crate::keys::store::ImportedKey {
        row: KeyRow {
            id: Uuid::new_v4().to_string(),
            serial,
            model: if model.is_empty() {
                "unknown".into()
            } else {
                model.to_owned()
            },
            state: KeyState::Ready.as_str().into(),
            reason: None,
            employee_id: None,
            activation_hash: None,
            activation_expires: None,
            activation_attempts: None,
            activated_at: None,
            created_at: now,
            updated_at: now,
            public_key: None,
            workstation_id: None,
            attestation_key: Some(attestation_key),
        },
        attestation_cert: der,
    })
}

fn vendor_roots(state: &HardwareKeys) -> Result<attestation::VendorRoots> {
    let path = state.config.keys.vendor_ca_file.as_deref().ok_or_else(|| {
        Error::validation(
            "attestation",
            "no vendor CA is configured (keys.vendor_ca_file): keys cannot be checked",
        )
    })?;
    attestation::load_roots(path).map_err(|m| Error::validation("attestation", m))
}

/// Adds keys to the inventory (state `ready`), each with its factory certificate checked;
/// known serials are skipped (and get the certificate if they had none). The whole list is
/// refused when one key is bad (the error names it).
pub async fn import(state: &HardwareKeys, actor: &Actor, keys: &[NewKey]) -> Result<ImportReport> {
    if keys.is_empty() || keys.len() > 10_000 {
        return Err(Error::validation("keys", "1 to 10000 keys"));
    }
    let roots = vendor_roots(state)?;
    let now = state.clock.now_ms();
    let mut rows = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        rows.push(
            checked_key(&roots, k, now)
                .map_err(|(field, m)| Error::validation(format!("keys[{i}].{field}"), m))?,
        );
    }
    insert(state, actor, &rows, Vec::new()).await
}

async fn insert(
    state: &HardwareKeys,
    actor: &Actor,
    rows: &[crate::keys::store::ImportedKey],
    errors: Vec<ImportError>,
) -> Result<ImportReport> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let added = crate::keys::store::insert_keys(&mut tx, rows).await?;
    let mut certified = 0;
    if added < rows.len() as u64 {
        for k in rows {
            if crate::keys::store::certify_key(&mut tx, k, now).await? {
                certified += 1;
            }
        }
    }
    audit::record(
        &mut tx,
        now,
        actor,
        "keys.imported",
        None,
        json!({ "added": added, "skipped": rows.len() as u64 - added, "certified": certified, "bad_lines": errors.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(ImportReport {
        added,
        skipped: rows.len() as u64 - added,
        certified,
        errors,
    })
}

/// Reads a CSV of `serial,model,attestation` lines (a header line naming `serial` is skipped;
/// the attestation is the key's factory certificate, its DER in base64); bad lines are
/// reported by number and the good ones imported.
pub async fn import_csv(state: &HardwareKeys, actor: &Actor, text: &str) -> Result<ImportReport> {
    let roots = vendor_roots(state)?;
    let now = state.clock.now_ms();
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.to_ascii_lowercase().starts_with("serial")) {
            continue;
        }
        let mut cols = line.split(',').map(|c| c.trim().trim_matches('"'));
        let key = NewKey {
            serial: cols.next().unwrap_or("").to_owned(),
            model: cols.next().filter(|m| !m.is_empty()).map(str::to_owned),
            attestation: cols.next().unwrap_or("").to_owned(),
        };
        // Every column checked here, so every bad line is reported by its number.
        let checked = if key.attestation.is_empty() {
            check_serial(&key.serial)
                .map_err(|m| ("serial", m.replace("serial: ", "")))
                .and_then(|_| {
                    check_model(key.model.as_deref().unwrap_or(""))
                        .map_err(|m| ("model", m.to_owned()))
                })
                .and_then(|()| {
                    Err((
                        "attestation",
                        "missing: the third column is the key's factory certificate".to_owned(),
                    ))
                })
        } else {
            checked_key(&roots, &key, now)
        };
        match checked {
            Ok(k) => keys.push(k),
            Err((field, message)) => errors.push(ImportError {
                line: i + 1,
                message: format!("{field}: {message}"),
            }),
        }
    }
    if keys.is_empty() {
        return Ok(ImportReport {
            errors,
            ..ImportReport::default()
        });
    }
    if keys.len() > 10_000 {
        return Err(Error::validation("keys", "1 to 10000 keys"));
    }
    insert(state, actor, &keys, errors).await
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<KeyRow> {
    crate::keys::store::get(conn, id)
        .await?
        .ok_or(Error::NotFound("key"))
}

fn key_state(k: &KeyRow) -> KeyState {
    KeyState::parse(&k.state).unwrap_or(KeyState::Deactivated)
}

/// Applies `action` to the key row (in memory) after checking the transition.
fn transition(k: &mut KeyRow, action: Action, now: i64) -> Result<KeyState> {
    let to = state::next(key_state(k), action)?;
    k.state = to.as_str().into();
    k.updated_at = now;
    Ok(to)
}

/// Writes the transition, refusing if another request changed the key meanwhile.
async fn save(conn: &mut Conn, k: &KeyRow, from: &str) -> Result<()> {
    if !crate::keys::store::update_state(conn, k, from).await? {
        return Err(Error::conflict(
            Some("state"),
            "the key changed meanwhile; reload and try again",
        ));
    }
    Ok(())
}

fn activation_hash(key_id: &str, code: &str) -> Vec<u8> {
    crate::crypto::token_hash(&format!("key-activation:{key_id}:{code}"))
}

/// A new 6-digit code from the CSPRNG.
fn activation_code() -> Result<String> {
    Ok(format!("{:06}", random_below(1_000_000)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Assigned {
    pub key: KeyView,
    /// Shown once (absent when it was e-mailed); the server keeps only a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_code: Option<String>,
    /// Where the code was e-mailed instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emailed_to: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "key_activation_email.txt")]
struct ActivationEmailText<'a> {
    lang: crate::i18n::Lang,
    name: &'a str,
    serial: &'a str,
    code: &'a str,
    hours: i64,
}

#[derive(askama::Template)]
#[template(path = "key_activation_email.html")]
struct ActivationEmailHtml<'a> {
    lang: crate::i18n::Lang,
    name: &'a str,
    serial: &'a str,
    code: &'a str,
    hours: i64,
}

/// Assigns a ready key to an active employee (`ready` -> `reserved`) with a new activation code,
/// returned once or (`email`) sent to the employee's address — then nothing is assigned unless
/// the message was accepted by the SMTP server.
pub async fn assign(
    state: &HardwareKeys,
    actor: &Actor,
    key_id: &str,
    employee_id: &str,
    email: bool,
) -> Result<Assigned> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let employee = crate::employees::store::get(&mut tx, employee_id)
        .await?
        .ok_or_else(|| Error::validation("employee_id", "no such employee"))?;
    if employee.state != EmployeeState::Active.as_str() {
        return Err(Error::validation(
            "employee_id",
            "the employee is not active",
        ));
    }
    if email && (employee.email.is_none() || !state.mailer.configured()) {
        return Err(Error::validation(
            "email",
            "the employee has no e-mail address or no SMTP server is configured; show the code instead",
        ));
    }
    let mut k = get(&mut tx, key_id).await?;
    let from = k.state.clone();
    transition(&mut k, Action::Assign, now)?;
    let code = activation_code()?;
    k.employee_id = Some(employee.id.clone());
    k.reason = None;
    k.activation_hash = Some(activation_hash(&k.id, &code));
    k.activation_expires = Some(now + ACTIVATION_TTL_MS);
    k.activation_attempts = Some(ACTIVATION_ATTEMPTS);
    save(&mut tx, &k, &from).await?;
    let emailed_to = match (email, &employee.email) {
        (true, Some(to)) => {
            let (name, serial, hours) = (
                &employee.display_name,
                &k.serial,
                ACTIVATION_TTL_MS / 3_600_000,
            );
            let template = |e: askama::Error| Error::Internal(format!("template: {e}"));
            let lang = state.config.default_language;
            let text = ActivationEmailText {
                lang,
                name,
                serial,
                code: &code,
                hours,
            }
            .render()
            .map_err(template)?;
            let html = ActivationEmailHtml {
                lang,
                name,
                serial,
                code: &code,
                hours,
            }
            .render()
            .map_err(template)?;
            // Sent before the commit: if the mail server refuses, the key stays ready.
            state
                .mailer
                .send(to, &lang.t("mail-key-subject"), text, html)
                .await
                .map_err(|e| {
                    Error::conflict(Some("email"), format!("the code could not be sent: {e}"))
                })?;
            Some(to.clone())
        }
        _ => None,
    };
    audit::record(
        &mut tx,
        now,
        actor,
        "key.assigned",
        Some(Target::of("employee", &employee.id)),
        json!({ "key": k.id, "serial": k.serial, "emailed": emailed_to.is_some() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Assigned {
        key: k.into(),
        activation_code: emailed_to.is_none().then_some(code),
        emailed_to,
    })
}

/// What an activation attempt came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Activation {
    Activated {
        employee_id: String,
    },
    WrongCode {
        attempts_left: i64,
    },
    /// The last wrong code: the key is now locked.
    Locked,
    Expired,
    /// The identity is not attested by the factory key the inventory holds for this serial (or
    /// the serial is unknown): a key made in software, or another key. No code was counted.
    NotGenuine,
}

/// Checks the code the employee typed at the workstation for the key `serial`, and records the
/// key's identity (`public_key`, which the caller checked the key signed with) and the
/// workstation. First of all the identity must be attested (`attestation`, a signature over
/// [`key_protocol::identity_statement`]) by the factory key the inventory recorded for this
/// serial: otherwise nothing is counted and the answer is [`Activation::NotGenuine`], the same
/// for an unknown serial. Each evaluation first takes an attempt in one conditional statement
/// ([`crate::keys::store::take_activation_attempt`]), so parallel guesses, on any backend and any
/// number of instances, get no more evaluations than there are attempts.
pub async fn activate(
    state: &HardwareKeys,
    actor: &Actor,
    serial: &str,
    code: &str,
    public_key: &[u8],
    attestation: &[u8],
    workstation_id: &str,
) -> Result<Activation> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let Some(mut k) = crate::keys::store::by_serial(&mut tx, serial).await? else {
        return Ok(Activation::NotGenuine);
    };
    let genuine = k.attestation_key.as_deref().is_some_and(|factory| {
        key_protocol::verify(
            factory,
            &key_protocol::identity_statement(&k.serial, public_key),
            attestation,
        )
    });
    if !genuine {
        audit::record(
            &mut tx,
            now,
            actor,
            "key.activation_refused",
            k.employee_id.as_deref().map(|id| Target::of("employee", id)),
            json!({ "key": k.id, "serial": k.serial, "workstation": workstation_id, "why": "the identity is not attested by the key's factory identity" }),
        )
        .await?;
        tx.commit().await?;
        return Ok(Activation::NotGenuine);
    }
    if key_state(&k) != KeyState::Reserved {
        // Says what the state is, so the agent can tell the employee (e.g. locked).
        state::next(key_state(&k), Action::Activate)?;
    }
    let Some(left) = crate::keys::store::take_activation_attempt(&mut tx, &k.id, now).await? else {
        // Reserved, but expired or (a race lost to the last attempt) no attempts left.
        let current = crate::keys::store::get(&mut tx, &k.id).await?;
        return Ok(match current {
            Some(c)
                if key_state(&c) == KeyState::Reserved
                    && c.activation_expires.is_none_or(|e| e <= now) =>
            {
                Activation::Expired
            }
            Some(c) if key_state(&c) == KeyState::Reserved => Activation::Locked,
            Some(c) => {
                state::next(key_state(&c), Action::Activate)?;
                Activation::Locked
            }
            None => return Err(Error::NotFound("key")),
        });
    };
    let from = k.state.clone();
    let expected = k.activation_hash.clone().unwrap_or_default();
    let code = code.trim();
    let matches = code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && bool::from(activation_hash(&k.id, code).ct_eq(&expected));
    let employee_id = k.employee_id.clone().unwrap_or_default();
    let outcome = if matches {
        transition(&mut k, Action::Activate, now)?;
        k.activation_hash = None;
        k.activation_expires = None;
        k.activation_attempts = None;
        k.activated_at = Some(now);
        k.public_key = Some(public_key.to_vec());
        k.workstation_id = Some(workstation_id.to_owned());
        save(&mut tx, &k, &from).await?;
        Activation::Activated {
            employee_id: employee_id.clone(),
        }
    } else if left <= 0 {
        transition(&mut k, Action::LockOut, now)?;
        k.reason = Some("too many wrong activation codes".into());
        k.activation_hash = None;
        k.activation_attempts = Some(0);
        save(&mut tx, &k, &from).await?;
        Activation::Locked
    } else {
        // The attempt is already counted.
        Activation::WrongCode {
            attempts_left: left,
        }
    };
    let (event, detail) = match &outcome {
        Activation::Activated { .. } => (
            "key.activated",
            json!({ "key": k.id, "serial": k.serial, "workstation": workstation_id }),
        ),
        Activation::WrongCode { attempts_left } => (
            "key.activation_failed",
            json!({ "key": k.id, "serial": k.serial, "attempts_left": attempts_left, "workstation": workstation_id }),
        ),
        _ => (
            "key.locked",
            json!({ "key": k.id, "serial": k.serial, "workstation": workstation_id }),
        ),
    };
    audit::record(
        &mut tx,
        now,
        actor,
        event,
        Some(Target::of("employee", &employee_id)),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The key is back to factory state (`ready`): it forgets its employee and its identity (a
/// wiped key makes a new one).
pub(crate) fn wiped(k: &mut KeyRow, from: KeyState, now: i64) -> Result<()> {
    let to = state::next(from, Action::Wiped)?;
    k.state = to.as_str().into();
    k.employee_id = None;
    k.reason = None;
    k.activation_hash = None;
    k.activation_expires = None;
    k.activation_attempts = None;
    k.activated_at = None;
    k.public_key = None;
    k.workstation_id = None;
    k.updated_at = now;
    Ok(())
}

/// The admin's lifecycle actions other than assign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    Suspend,
    Resume,
    MarkCompromised,
    Withdraw,
    /// Queue a wipe; the key returns to `ready` when the key-bridge confirms it.
    Wipe,
}

/// Suspends, resumes, marks compromised, withdraws or queues a wipe. Withdrawing (or marking
/// compromised) cancels the key's pending password work; the directory keeps the password the
/// key last confirmed.
pub async fn act(
    state: &HardwareKeys,
    actor: &Actor,
    key_id: &str,
    action: AdminAction,
    reason: Option<&str>,
) -> Result<KeyView> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 256) {
        return Err(Error::validation("reason", "at most 256 characters"));
    }
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let mut k = get(&mut tx, key_id).await?;
    let from = k.state.clone();
    match action {
        AdminAction::Suspend => {
            transition(&mut k, Action::Suspend, now)?;
        }
        AdminAction::Resume => {
            transition(&mut k, Action::Resume, now)?;
        }
        AdminAction::MarkCompromised => {
            transition(&mut k, Action::MarkCompromised, now)?;
            tasks::cancel_password_work(&mut tx, &k.id, "the key was marked compromised", now)
                .await?;
        }
        AdminAction::Withdraw => {
            transition(&mut k, Action::Withdraw, now)?;
            tasks::cancel_password_work(&mut tx, &k.id, "the key was withdrawn", now).await?;
        }
        AdminAction::Wipe if k.public_key.is_none() => {
            // Never activated (e.g. locked by wrong codes): nothing of ours is on it, and it has
            // no identity it could confirm a wipe with.
            let current = key_state(&k);
            wiped(&mut k, current, now)?;
        }
        AdminAction::Wipe => {
            // Checked now, applied when the key-bridge confirms the wipe.
            state::next(key_state(&k), Action::Wiped)?;
            tasks::queue_wipe(&mut tx, &k.id, now).await?;
        }
    }
    if let Some(r) = reason {
        k.reason = Some(r.to_owned());
    }
    save(&mut tx, &k, &from).await?;
    audit::record(
        &mut tx,
        now,
        actor,
        "key.changed",
        k.employee_id.as_deref().map(|id| Target::of("employee", id)),
        json!({ "key": k.id, "serial": k.serial, "action": format!("{action:?}"), "state": k.state }),
    )
    .await?;
    tx.commit().await?;
    Ok(k.into())
}

/// When an employee stops being active: their keys are deactivated and a wipe is queued, in the
/// caller's transaction.
pub async fn deactivate_keys_of(conn: &mut Conn, employee_id: &str, now: i64) -> Result<u64> {
    let keys = crate::keys::store::live_keys_of(conn, employee_id).await?;
    for mut k in keys.iter().cloned() {
        let from = k.state.clone();
        transition(&mut k, Action::Withdraw, now)?;
        k.reason = Some("the employee is no longer active".into());
        save(conn, &k, &from).await?;
        tasks::cancel_password_work(conn, &k.id, "the employee is no longer active", now).await?;
        // A key that never activated has no identity to fetch a wipe with.
        if k.public_key.is_some() {
            tasks::queue_wipe(conn, &k.id, now).await?;
        }
    }
    Ok(keys.len() as u64)
}
