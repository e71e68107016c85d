//! Domain password rotation for accounts whose password lives on a hardware key.
//!
//! Ordering, so the employee is never locked out: (1) the new password is written to the key
//! *beside* the current one (`<name>+next`); (2) only when the key-bridge confirms that, the
//! server sets `unicodePwd` in AD over LDAPS; (3) then the key promotes the new password to
//! current. If the key cannot store it, AD is never touched; if AD refuses it, the key discards
//! it; if AD cannot be reached, or the server restarts, step (2) is retried from the database.
//! At every moment the password AD has is one the key holds. The plaintext is kept sealed only
//! until AD has it; it is never logged and never returned by the admin API.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::passwords;
use super::rotation_state::{RotationState, Step};
use super::tasks::{self, next_name, Operation, Payload};
use super::HardwareKeys;
use crate::audit::{self, Actor, Target};
use crate::directory::domain::{Domains, SourceSettings};
use crate::directory::ldap::{self, SetPasswordError};
use crate::directory::store::{DomainRow, IdentityRow};
use crate::directory::user::filetime_to_unix_ms;
use crate::employees::State as EmployeeState;
use crate::error::{Error, Result};
use crate::keys::store::{AccountRow, RotationRow, TaskRow};
use crate::store::Conn;

const DAY_MS: i64 = 86_400_000;

fn system() -> Actor {
    Actor::System {
        name: "password rotation".into(),
    }
}

/// Takes `step` on the rotation `id`, read in state `from`: the transition table gives the next
/// state; `false` when another instance moved it first.
pub(super) async fn advance(
    conn: &mut Conn,
    id: &str,
    from: RotationState,
    step: Step,
    error: Option<&str>,
    now: i64,
) -> Result<bool> {
    let to = from.next(step).ok_or_else(|| {
        Error::Internal(format!(
            "a rotation cannot take {step:?} from {}",
            from.as_str()
        ))
    })?;
    crate::keys::store::move_rotation(conn, id, from, to, error, now).await
}

fn rotation_aad(id: &str) -> Vec<u8> {
    format!("rotation:{id}").into_bytes()
}

/// Where the password goes: the key and AD, or (an employee's own change) the key only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    KeyAndDirectory,
    KeyOnly,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::KeyAndDirectory => "key_and_directory",
            Self::KeyOnly => "key_only",
        }
    }
}

/// The key's name for the domain's credential: its NetBIOS name, else its name.
pub fn credential_name(d: &DomainRow) -> String {
    d.netbios_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| d.name.clone())
        .to_uppercase()
}

fn login(d: &DomainRow, identity: &IdentityRow) -> String {
    match &identity.sam_account_name {
        Some(sam) => format!("{}\\{sam}", credential_name(d)),
        None => identity.upn.clone().unwrap_or_default(),
    }
}

async fn identity(conn: &mut Conn, a: &AccountRow) -> Result<IdentityRow> {
    crate::directory::store::identities_of_employee(conn, &a.employee_id)
        .await?
        .into_iter()
        .find(|i| i.domain_id == a.domain_id && i.object_guid == a.object_guid)
        .ok_or_else(|| Error::conflict(None, "the account's directory identity is gone"))
}

/// Starts a rotation of one account: queues the new password for the employee's active key.
pub async fn start(
    state: &HardwareKeys,
    actor: &Actor,
    account_id: &str,
    reason: &str,
    scope: Scope,
    typed: Option<&str>,
) -> Result<RotationRow> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let account = crate::keys::store::account(&mut tx, account_id)
        .await?
        .ok_or(Error::NotFound("domain account"))?;
    let employee = crate::employees::store::get(&mut tx, &account.employee_id)
        .await?
        .filter(|e| e.state == EmployeeState::Active.as_str())
        .ok_or_else(|| Error::conflict(None, "the employee is not active"))?;
    let key = crate::keys::store::active_key_of(&mut tx, &employee.id)
        .await?
        .ok_or_else(|| Error::conflict(None, "the employee has no active key"))?;
    let identity = identity(&mut tx, &account).await?;
    let domain = crate::directory::store::get_domain(&mut tx, &account.domain_id)
        .await?
        .ok_or(Error::NotFound("domain"))?;
    let sam = identity.sam_account_name.clone().unwrap_or_default();
    let password = Zeroizing::new(match typed {
        Some(p) => {
            passwords::check(p, &sam, &employee.display_name)?;
            p.to_owned()
        }
        None => passwords::generate(
            state.config.keys.password_length,
            &sam,
            &employee.display_name,
        )?,
    });
    let id = Uuid::new_v4().to_string();
    let row = RotationRow {
        id: id.clone(),
        account_id: account.id.clone(),
        key_id: key.id.clone(),
        reason: reason.to_owned(),
        scope: scope.as_str().into(),
        state: RotationState::AwaitingKey.as_str().into(),
        password: Some(state.cipher.seal(password.as_bytes(), &rotation_aad(&id))?),
        error: None,
        created_at: now,
        updated_at: now,
    };
    if !crate::keys::store::insert_rotation(&mut tx, &row).await? {
        return Err(Error::conflict(
            None,
            "a password rotation of this account is already in progress",
        ));
    }
    let name = credential_name(&domain);
    let payload = Payload {
        name: match scope {
            Scope::KeyAndDirectory => next_name(&name),
            Scope::KeyOnly => name,
        },
        login: Some(login(&domain, &identity)),
        password: Some(password.to_string()),
        from: None,
    };
    tasks::queue(
        &mut tx,
        &state.cipher,
        &key.id,
        Operation::WritePassword,
        Some(&id),
        &payload,
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        now,
        actor,
        "password.rotation_started",
        Some(Target::of("employee", &employee.id)),
        json!({ "rotation": id, "account": account.id, "key": key.serial, "reason": reason, "scope": scope.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Moves the rotation a finished task belongs to.
// The inner conditions await, which a match guard cannot.
#[allow(clippy::collapsible_match)]
pub async fn on_task_finished(
    state: &HardwareKeys,
    task: &TaskRow,
    applied: bool,
    error: Option<&str>,
) -> Result<()> {
    let Some(rotation_id) = &task.rotation_id else {
        return Ok(());
    };
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let Some(r) = crate::keys::store::rotation(&mut tx, rotation_id).await? else {
        return Ok(());
    };
    let mut set_directory_now = false;
    match (Operation::parse(&task.operation), applied) {
        (Some(Operation::WritePassword), true) if r.scope == Scope::KeyOnly.as_str() => {
            if advance(
                &mut tx,
                &r.id,
                RotationState::AwaitingKey,
                Step::KeyStored { key_only: true },
                None,
                now,
            )
            .await?
            {
                finished(&mut tx, &r, "password.changed_on_key", now).await?;
            }
        }
        (Some(Operation::WritePassword), true) => {
            set_directory_now = advance(
                &mut tx,
                &r.id,
                RotationState::AwaitingKey,
                Step::KeyStored { key_only: false },
                None,
                now,
            )
            .await?;
        }
        (Some(Operation::WritePassword), false) => {
            let why = format!(
                "the key could not store the new password: {}",
                error.unwrap_or("no reason given")
            );
            if advance(
                &mut tx,
                &r.id,
                RotationState::AwaitingKey,
                Step::KeyFailed,
                Some(&why),
                now,
            )
            .await?
            {
                discard(state, &mut tx, &r, now).await?;
                failed(&mut tx, &r, &why, now).await?;
            }
        }
        (Some(Operation::PromotePassword), true) => {
            if advance(
                &mut tx,
                &r.id,
                RotationState::Committing,
                Step::Promoted,
                None,
                now,
            )
            .await?
            {
                metrics::counter!("sso_password_rotations_total").increment(1);
                finished(&mut tx, &r, "password.rotated", now).await?;
            }
        }
        (Some(Operation::PromotePassword), false) => {
            // AD already has the new password and the key holds it as `+next`: keep asking the
            // key to promote it.
            queue_promotion(&mut tx, state, &r, now).await?;
        }
        _ => {}
    }
    tx.commit().await?;
    if set_directory_now {
        set_directory(state, rotation_id).await?;
    }
    Ok(())
}

async fn finished(conn: &mut Conn, r: &RotationRow, event: &str, now: i64) -> Result<()> {
    audit::record(
        conn,
        now,
        &system(),
        event,
        None,
        json!({ "rotation": r.id, "account": r.account_id, "reason": r.reason }),
    )
    .await
}

pub(super) async fn failed(conn: &mut Conn, r: &RotationRow, why: &str, now: i64) -> Result<()> {
    tracing::warn!(rotation = %r.id, error = %why, "password rotation failed");
    audit::record(
        conn,
        now,
        &system(),
        "password.rotation_failed",
        None,
        json!({ "rotation": r.id, "account": r.account_id, "error": why }),
    )
    .await
}

async fn names(conn: &mut Conn, r: &RotationRow) -> Result<String> {
    let account = crate::keys::store::account(conn, &r.account_id)
        .await?
        .ok_or(Error::NotFound("domain account"))?;
    let domain = crate::directory::store::get_domain(conn, &account.domain_id)
        .await?
        .ok_or(Error::NotFound("domain"))?;
    Ok(credential_name(&domain))
}

/// Asks the key to promote the `+next` password it holds to its account's entry.
async fn queue_promotion(
    conn: &mut Conn,
    state: &HardwareKeys,
    r: &RotationRow,
    now: i64,
) -> Result<()> {
    let name = names(conn, r).await?;
    let payload = Payload {
        from: Some(next_name(&name)),
        name,
        login: None,
        password: None,
    };
    tasks::queue(
        conn,
        &state.cipher,
        &r.key_id,
        Operation::PromotePassword,
        Some(&r.id),
        &payload,
        now,
    )
    .await?;
    Ok(())
}

async fn discard(state: &HardwareKeys, conn: &mut Conn, r: &RotationRow, now: i64) -> Result<()> {
    if r.scope != Scope::KeyAndDirectory.as_str() {
        return Ok(());
    }
    let payload = Payload {
        name: next_name(&names(conn, r).await?),
        login: None,
        password: None,
        from: None,
    };
    tasks::queue(
        conn,
        &state.cipher,
        &r.key_id,
        Operation::DiscardPassword,
        Some(&r.id),
        &payload,
        now,
    )
    .await?;
    Ok(())
}

/// How long step 2 may hold a rotation. The lease also dies with the life that took it (its
/// heartbeat stops), which is what lets another instance take over after a crash.
const STEP_LEASE_MS: i64 = 5 * 60_000;

/// Step 2: sets the password the key confirmed in AD. A refusal by the directory fails the
/// rotation (the key discards the new password); an unreachable DC leaves it to be retried.
/// One life at a time works on a rotation (the `rotation:<id>` lease): when another holds it,
/// this returns at once and leaves the rotation to it.
pub async fn set_directory(state: &HardwareKeys, rotation_id: &str) -> Result<()> {
    let lease = format!("rotation:{rotation_id}");
    let holder = Uuid::new_v4().to_string();
    let leased = {
        let mut conn = state.store.conn().await?;
        crate::instance::store::try_lease(
            &mut conn,
            &lease,
            &holder,
            &state.instance.owner(),
            state.clock.now_ms(),
            STEP_LEASE_MS,
        )
        .await?
    };
    if !leased {
        return Ok(());
    }
    let result = set_directory_leased(state, rotation_id).await;
    if let Ok(mut conn) = state.store.conn().await {
        let _ = crate::instance::store::release_lease(&mut conn, &lease, &holder).await;
    }
    result
}

async fn set_directory_leased(state: &HardwareKeys, rotation_id: &str) -> Result<()> {
    let (r, account, identity, domain) = {
        let mut conn = state.store.conn().await?;
        let Some(r) = crate::keys::store::rotation(&mut conn, rotation_id).await? else {
            return Ok(());
        };
        if r.state() != Some(RotationState::SettingDirectory) {
            return Ok(());
        }
        let account = crate::keys::store::account(&mut conn, &r.account_id)
            .await?
            .ok_or(Error::NotFound("domain account"))?;
        let identity = identity(&mut conn, &account).await?;
        let domains = Domains {
            store: &state.store,
            cipher: &state.cipher,
        };
        let domain = domains.load(&mut conn, &account.domain_id).await?;
        (r, account, identity, domain)
    };
    let sealed = r.password.clone().unwrap_or_default();
    let password = Zeroizing::new(
        String::from_utf8(state.cipher.open(&sealed, &rotation_aad(&r.id))?)
            .map_err(|_| Error::Internal("a sealed password is not UTF-8".into()))?,
    );
    let SourceSettings::Ldap(settings) = &domain.source else {
        return Err(Error::conflict(
            None,
            "passwords on keys are for on-premises AD domains only",
        ));
    };
    let started = std::time::Instant::now();
    let outcome = match ldap::connect(settings).await {
        Ok(mut conn) => {
            let result = conn.set_password(&identity.dn, &password).await;
            conn.close().await;
            result
        }
        Err(e) => Err(SetPasswordError::Unavailable(e.to_string())),
    };
    // Time spent in AD per rotation (connect, bind, reset), for capacity planning.
    metrics::histogram!("sso_password_directory_seconds").record(started.elapsed().as_secs_f64());
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    match outcome {
        Ok(()) => {
            if advance(
                &mut tx,
                &r.id,
                RotationState::SettingDirectory,
                Step::DirectorySet,
                None,
                now,
            )
            .await?
            {
                crate::keys::store::mark_rotated(&mut tx, &account.id, now).await?;
                crate::directory::store::set_password_last_set(
                    &mut tx,
                    &account.domain_id,
                    &account.object_guid,
                    crate::directory::user::filetime_from_unix_ms(now),
                )
                .await?;
                queue_promotion(&mut tx, state, &r, now).await?;
                finished(&mut tx, &r, "password.set_in_directory", now).await?;
            }
        }
        Err(SetPasswordError::Refused(why)) => {
            let why = format!("the directory refused the new password: {why}");
            if advance(
                &mut tx,
                &r.id,
                RotationState::SettingDirectory,
                Step::DirectoryRefused,
                Some(&why),
                now,
            )
            .await?
            {
                discard(state, &mut tx, &r, now).await?;
                failed(&mut tx, &r, &why, now).await?;
            }
        }
        Err(SetPasswordError::Unavailable(why)) => {
            let why = format!("the directory could not be reached; will retry: {why}");
            tracing::warn!(rotation = %r.id, error = %why, "password rotation waits for the directory");
            advance(
                &mut tx,
                &r.id,
                RotationState::SettingDirectory,
                Step::DirectoryUnavailable,
                Some(&why),
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Retries step 2 of every rotation waiting for the directory (after a restart, a DC that was
/// down, or an instance that died in the middle of step 2). Returns how many were waiting; those
/// another live instance is working on are left to it.
pub async fn resume(state: &HardwareKeys) -> Result<usize> {
    let waiting = {
        let mut conn = state.store.conn().await?;
        crate::keys::store::rotations_in_state(&mut conn, RotationState::SettingDirectory).await?
    };
    for r in &waiting {
        if let Err(e) = set_directory(state, &r.id).await {
            tracing::warn!(rotation = %r.id, error = %e, "resuming a password rotation failed");
        }
    }
    Ok(waiting.len())
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ScanReport {
    /// Accounts of rotation-group members with an active key.
    pub accounts: u64,
    /// Rotations started.
    pub started: u64,
    /// Problems per domain (unreachable, misconfigured).
    pub errors: Vec<String>,
    /// Domains where the rotation group does not exist: none of their passwords is on a key
    /// (not an error; create the group to start).
    pub without_rotation_group: Vec<String>,
}

/// Finds the accounts whose password lives on a key (members of each domain's rotation group
/// whose employee has an active key) and starts the rotations that are due: the password is
/// older than the domain's maximum age (or the configured one, whichever is shorter), or
/// `force` (first activation, an admin's "generate now").
pub async fn scan(
    state: &HardwareKeys,
    only_employee: Option<&str>,
    reason: &str,
    force: bool,
) -> Result<ScanReport> {
    let mut report = ScanReport::default();
    let domains = {
        let mut conn = state.store.conn().await?;
        crate::directory::store::list_domains(&mut conn).await?
    };
    for d in domains.into_iter().filter(|d| d.enabled != 0) {
        if let Err(e) = scan_domain(state, &d, only_employee, reason, force, &mut report).await {
            report.errors.push(format!("{}: {e}", d.name));
        }
    }
    Ok(report)
}

async fn scan_domain(
    state: &HardwareKeys,
    d: &DomainRow,
    only_employee: Option<&str>,
    reason: &str,
    force: bool,
    report: &mut ScanReport,
) -> Result<()> {
    let domain = {
        let mut conn = state.store.conn().await?;
        Domains {
            store: &state.store,
            cipher: &state.cipher,
        }
        .load(&mut conn, &d.id)
        .await?
    };
    // Only on-premises AD has domain passwords to keep on keys.
    let SourceSettings::Ldap(settings) = &domain.source else {
        return Ok(());
    };
    // For one employee, ask about their accounts only instead of reading the whole group.
    let own: Option<Vec<uuid::Uuid>> = match only_employee {
        Some(e) => {
            let mut conn = state.store.conn().await?;
            Some(
                crate::directory::store::identities_of_employee(&mut conn, e)
                    .await?
                    .iter()
                    .filter(|i| i.domain_id == d.id)
                    .filter_map(|i| uuid::Uuid::parse_str(&i.object_guid).ok())
                    .collect(),
            )
        }
        None => None,
    };
    if own.as_ref().is_some_and(Vec::is_empty) {
        return Ok(());
    }
    let mut dc = ldap::connect(settings).await?;
    let members = async {
        let group = match dc.resolve_group(&d.base_dn, &d.rotation_group).await {
            Ok(group) => group,
            // No rotation group in this domain: no password of it lives on a key.
            Err(crate::directory::DirectoryError::GroupNotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let guids = match &own {
            Some(own) => dc.members_among(&d.base_dn, &group, own).await?,
            None => dc.member_guids(&d.base_dn, &group).await?,
        };
        let max_age = dc.max_password_age_days(&d.base_dn).await?;
        Ok::<_, crate::directory::DirectoryError>(Some((guids, max_age)))
    }
    .await;
    dc.close().await;
    let Some((guids, domain_max_age)) = members.map_err(|e| match e {
        crate::directory::DirectoryError::Config(m) => {
            Error::validation("rotation_group", m.replace("sync_group", "rotation_group"))
        }
        e => e.into(),
    })?
    else {
        report.without_rotation_group.push(format!(
            "{}: no rotation group {:?}",
            d.name, d.rotation_group
        ));
        return Ok(());
    };
    let configured = i64::from(state.config.keys.max_password_age_days);
    // Rotate a day before the domain would make the password expire.
    let max_age_days = domain_max_age
        .map(|d| (i64::from(d) - 1).max(1).min(configured))
        .unwrap_or(configured);
    let now = state.clock.now_ms();
    let guids: std::collections::HashSet<String> = guids.iter().map(|g| g.to_string()).collect();
    let identities = {
        let mut conn = state.store.conn().await?;
        match only_employee {
            Some(e) => crate::directory::store::identities_of_employee(&mut conn, e).await?,
            None => crate::directory::store::all_identities(&mut conn).await?,
        }
    };
    for identity in identities
        .into_iter()
        .filter(|i| i.domain_id == d.id && i.in_scope == 1 && guids.contains(&i.object_guid))
        .filter(|i| only_employee.is_none_or(|e| e == i.employee_id))
    {
        let account = {
            let mut conn = state.store.conn().await?;
            if crate::keys::store::active_key_of(&mut conn, &identity.employee_id)
                .await?
                .is_none()
            {
                continue;
            }
            crate::keys::store::ensure_account(
                &mut conn,
                &AccountRow {
                    id: Uuid::new_v4().to_string(),
                    employee_id: identity.employee_id.clone(),
                    domain_id: d.id.clone(),
                    object_guid: identity.object_guid.clone(),
                    password_version: 0,
                    last_rotated_at: None,
                    created_at: now,
                },
            )
            .await?
        };
        report.accounts += 1;
        let last_set = identity
            .pwd_last_set
            .filter(|ft| *ft > 0)
            .map(filetime_to_unix_ms)
            .unwrap_or(0)
            .max(account.last_rotated_at.unwrap_or(0));
        let due = force || now - last_set >= max_age_days * DAY_MS;
        if !due {
            continue;
        }
        match start(
            state,
            &system(),
            &account.id,
            reason,
            Scope::KeyAndDirectory,
            None,
        )
        .await
        {
            Ok(_) => report.started += 1,
            // Already rotating, or the key went away meanwhile: not an error of the scan.
            Err(Error::Conflict { .. }) => {}
            Err(e) => report.errors.push(format!("{}: {e}", d.name)),
        }
    }
    Ok(())
}

/// An admin's "generate now" (`password` absent) or "set this password" for one of the
/// employee's domain accounts (all of them when `account_id` is absent). The same for the API
/// and the console.
pub async fn rotate_employee(
    state: &HardwareKeys,
    actor: &Actor,
    employee_id: &str,
    account_id: Option<&str>,
    password: Option<&str>,
) -> Result<Vec<RotationRow>> {
    // Accounts appear once the employee's key is active and they are in a rotation group.
    scan(state, Some(employee_id), "admin", false).await?;
    let accounts = {
        let mut conn = state.store.conn().await?;
        crate::keys::store::accounts_of(&mut conn, employee_id).await?
    };
    let chosen: Vec<_> = match account_id {
        Some(a) => accounts.into_iter().filter(|x| x.id == a).collect(),
        None => accounts,
    };
    if chosen.is_empty() {
        return Err(Error::conflict(
            None,
            "no domain account of this employee is kept on a key (an active key and membership \
             of the domain's rotation group are needed)",
        ));
    }
    let mut started = Vec::new();
    for a in chosen {
        started.push(
            start(
                state,
                actor,
                &a.id,
                "admin",
                Scope::KeyAndDirectory,
                password,
            )
            .await?,
        );
    }
    Ok(started)
}

/// An account and its latest rotation, as the admin API shows them (no password).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatus {
    pub id: String,
    pub domain_id: String,
    pub object_guid: String,
    pub password_version: i64,
    pub last_rotated_at: Option<i64>,
    pub rotation: Option<RotationStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotationStatus {
    pub id: String,
    pub state: String,
    pub reason: String,
    pub scope: String,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<RotationRow> for RotationStatus {
    fn from(r: RotationRow) -> Self {
        Self {
            id: r.id,
            state: r.state,
            reason: r.reason,
            scope: r.scope,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub async fn accounts_of(conn: &mut Conn, employee_id: &str) -> Result<Vec<AccountStatus>> {
    let mut out = Vec::new();
    for a in crate::keys::store::accounts_of(conn, employee_id).await? {
        let rotation = crate::keys::store::rotations_of_account(conn, &a.id)
            .await?
            .into_iter()
            .next()
            .map(RotationStatus::from);
        out.push(AccountStatus {
            id: a.id,
            domain_id: a.domain_id,
            object_guid: a.object_guid,
            password_version: a.password_version,
            last_rotated_at: a.last_rotated_at,
            rotation,
        });
    }
    Ok(out)
}

/// At start and every `keys.retry_interval_seconds`: resume rotations waiting for the directory
/// (a restart mid-rotation, or another instance that died in the middle of one, lands here).
pub async fn run_retries(state: HardwareKeys) {
    let seconds = u64::from(state.config.keys.retry_interval_seconds.max(1));
    let mut every = tokio::time::interval(std::time::Duration::from_secs(seconds));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = resume(&state).await {
            tracing::warn!(error = %e, "resuming password rotations failed");
        }
    }
}

/// Every `keys.scan_interval_minutes` (never when 0): start the rotations that are due. A lease
/// keeps one scan at a time across instances.
pub async fn run_schedule(state: HardwareKeys) {
    let minutes = u64::from(state.config.keys.scan_interval_minutes);
    if minutes == 0 {
        return;
    }
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60 * minutes));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match scheduled_scan(&state).await {
            Some(Ok(r)) if r.started > 0 || !r.errors.is_empty() => {
                tracing::info!(started = r.started, accounts = r.accounts, errors = ?r.errors, "password rotation scan")
            }
            Some(Ok(_)) | None => {}
            Some(Err(e)) => tracing::warn!(error = %e, "password rotation scan failed"),
        }
    }
}

/// One scheduled scan, if no other instance is scanning (the `password-rotation-scan` lease,
/// which dies with the life that holds it); `None` when another one is.
pub async fn scheduled_scan(state: &HardwareKeys) -> Option<Result<ScanReport>> {
    let now = state.clock.now_ms();
    let holder = uuid::Uuid::new_v4().to_string();
    let leased = async {
        let mut conn = state.store.conn().await?;
        crate::instance::store::try_lease(
            &mut conn,
            "password-rotation-scan",
            &holder,
            &state.instance.owner(),
            now,
            15 * 60_000,
        )
        .await
    }
    .await;
    if !matches!(leased, Ok(true)) {
        return None;
    }
    let report = scan(state, None, "scheduled", false).await;
    if let Ok(mut conn) = state.store.conn().await {
        let _ = crate::instance::store::release_lease(&mut conn, "password-rotation-scan", &holder)
            .await;
    }
    Some(report)
}
