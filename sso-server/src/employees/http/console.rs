//! Employees: the list (search, paging), add and edit manual employees, and one employee's page
//! (directory accounts, invitations, phones, passkeys, hardware keys and password rotation,
//! audit trail).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use askama::Template;

use crate::admin::api::params::{int_param, uuid_param};
use crate::admin::console::forms::{Field, FormError, FormPage};
use crate::admin::console::shell::{
    done, or_page, page, when, when_opt, Console, Flash, FormData, Nav, PageResult, Posted,
};
use crate::app::AppState;
use crate::audit::http::console::Row as AuditRow;
use crate::employees::{Employee, EmployeeFields, Employees, Source};
use crate::enrol::invitations::{self, InvitationView};
use crate::error::{Error, Result};

const PER_PAGE: i64 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/employees", get(list))
        .route("/admin/employees/new", get(new_form).post(create))
        .route("/admin/employees/{id}", get(detail))
        .route("/admin/employees/{id}/edit", get(edit_form).post(update))
        .route("/admin/employees/{id}/invite", post(invite))
        .route(
            "/admin/employees/{id}/invitations/{inv}/{action}",
            post(invitation_action),
        )
        .route(
            "/admin/employees/{id}/devices/{device}/revoke",
            post(revoke_device),
        )
        .route("/admin/employees/{id}/password-rotations", post(rotate))
        .route("/admin/employees/{id}/unlock", post(unlock))
        .route("/admin/employees/{id}/sign-out", post(sign_out))
}

/// Ends the employee's sessions and apps' refresh tokens (a lost laptop, a suspicion).
async fn sign_out(Path(id): Path<String>, Posted { state, admin, .. }: Posted) -> PageResult {
    let id = or_page(uuid_param(&id))?;
    let r = crate::employees::http::api::sign_out(&state, &admin.actor(), &id.to_string())
        .await
        .map(|d| {
            format!(
                "Signed out everywhere: {} session(s) ended, {} app grant(s) revoked.",
                d.sessions, d.grants
            )
        });
    outcome(&state, &admin, &back_to(&id), r)
}

/// Lifts the employee's sign-in lock (too many failed passwords or codes).
async fn unlock(Path(id): Path<String>, Posted { state, admin, .. }: Posted) -> PageResult {
    let id = or_page(uuid_param(&id))?;
    let r = crate::throttle::unlock_employee(
        &state.store,
        state.clock.now_ms(),
        &admin.actor(),
        &id.to_string(),
    )
    .await
    .map(|_| "Sign-in unlocked.".to_owned());
    outcome(&state, &admin, &back_to(&id), r)
}

fn service(state: &AppState) -> Employees<'_> {
    Employees {
        store: &state.store,
    }
}

/// One row of the list.
pub struct Row {
    pub id: String,
    pub name: String,
    pub email: String,
    pub department: String,
    pub imported: bool,
    pub state: &'static str,
}

impl From<Employee> for Row {
    fn from(e: Employee) -> Self {
        Self {
            id: e.id.to_string(),
            name: e.fields.display_name,
            email: e.fields.email.unwrap_or_default(),
            department: e.fields.department.unwrap_or_default(),
            imported: e.source == Source::Directory,
            state: e.state.as_str(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/employees.html")]
struct ListPage {
    nav: Nav,
    q: String,
    rows: Vec<Row>,
    total: i64,
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
}

fn page_link(q: &str, page: i64) -> String {
    let mut u = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        u.append_pair("q", q);
    }
    u.append_pair("page", &page.to_string());
    format!("/admin/employees?{}", u.finish())
}

async fn list(
    Console { state, admin, jar }: Console,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let current = or_page(int_param("page", params.get("page"), 1, 1, 1_000_000))?;
    let q = params.get("q").map(|s| s.trim()).unwrap_or("").to_owned();
    let result = or_page(
        service(&state)
            .list(
                (!q.is_empty()).then_some(q.as_str()),
                PER_PAGE,
                (current - 1) * PER_PAGE,
            )
            .await,
    )?;
    let pages = ((result.total + PER_PAGE - 1) / PER_PAGE).max(1);
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "employees");
    page(
        jar,
        &ListPage {
            nav,
            prev: (current > 1).then(|| page_link(&q, current - 1)),
            next: (current < pages).then(|| page_link(&q, current + 1)),
            rows: result.items.into_iter().map(Row::from).collect(),
            total: result.total,
            page: current,
            pages,
            q,
        },
    )
}

fn employee_fields(v: &FormDataOrEmployee<'_>) -> Vec<Field> {
    let get = |n: &str| match v {
        FormDataOrEmployee::Form(f) => f.get(n).to_owned(),
        FormDataOrEmployee::Employee(Some(e)) => match n {
            "given_name" => e.fields.given_name.clone().unwrap_or_default(),
            "family_name" => e.fields.family_name.clone().unwrap_or_default(),
            "display_name" => e.fields.display_name.clone(),
            "email" => e.fields.email.clone().unwrap_or_default(),
            "phone" => e.fields.phone.clone().unwrap_or_default(),
            "department" => e.fields.department.clone().unwrap_or_default(),
            "title" => e.fields.title.clone().unwrap_or_default(),
            _ => String::new(),
        },
        FormDataOrEmployee::Employee(None) => String::new(),
    };
    vec![
        Field::new("given_name", "Given name", "text")
            .value(get("given_name"))
            .autocomplete("off"),
        Field::new("family_name", "Family name", "text").value(get("family_name")),
        Field::new("display_name", "Display name", "text")
            .value(get("display_name"))
            .hint("Leave blank to use the given and family names."),
        Field::new("email", "E-mail", "email")
            .value(get("email"))
            .hint("Needed to send an invitation."),
        Field::new("phone", "Phone", "tel").value(get("phone")),
        Field::new("department", "Department", "text").value(get("department")),
        Field::new("title", "Job title", "text").value(get("title")),
    ]
}

enum FormDataOrEmployee<'a> {
    Form(&'a FormData),
    Employee(Option<&'a Employee>),
}

fn fields_from(form: &FormData) -> EmployeeFields {
    EmployeeFields {
        given_name: form.opt("given_name"),
        family_name: form.opt("family_name"),
        display_name: form.opt("display_name"),
        email: form.opt("email"),
        phone: form.opt("phone"),
        department: form.opt("department"),
        title: form.opt("title"),
    }
}

fn employee_form(nav: Nav, edit: Option<&Employee>, fields: Vec<Field>) -> FormPage {
    match edit {
        Some(e) => FormPage {
            nav,
            title: format!("Edit {}", e.fields.display_name),
            intro: None,
            form_error: None,
            action: format!("/admin/employees/{}/edit", e.id),
            submit: "Save",
            cancel: format!("/admin/employees/{}", e.id),
            fields,
        },
        None => FormPage {
            nav,
            title: "Add an employee".into(),
            intro: Some(
                "A manual employee. Employees in the sync group are imported from Active \
                 Directory instead; a manual employee with the same e-mail is taken over by the \
                 directory at the next sync."
                    .into(),
            ),
            form_error: None,
            action: "/admin/employees/new".into(),
            submit: "Add employee",
            cancel: "/admin/employees".into(),
            fields,
        },
    }
}

async fn new_form(Console { state, admin, jar }: Console) -> PageResult {
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "employees");
    let fields = employee_fields(&FormDataOrEmployee::Employee(None));
    page(jar, &employee_form(nav, None, fields))
}

/// Runs a form action; an input error shows the form again, anything else an error page.
fn form_outcome<T>(
    r: Result<T>,
    form: impl FnOnce() -> FormPage,
) -> std::result::Result<T, crate::admin::console::shell::Stop> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => match FormError::from_error(e) {
            Ok(fe) => Err(form().rejected(fe).into()),
            Err(e) => Err(crate::admin::console::shell::page_error(e).into()),
        },
    }
}

async fn create(Posted { state, admin, form }: Posted) -> PageResult {
    let result = async {
        let valid = fields_from(&form).validate()?;
        service(&state)
            .create_manual(&admin.actor(), state.clock.now_ms(), valid)
            .await
    }
    .await;
    let e = form_outcome(result, || {
        employee_form(
            Nav::plain(&admin, "employees"),
            None,
            employee_fields(&FormDataOrEmployee::Form(&form)),
        )
    })?;
    Ok(done(
        &state,
        &admin,
        &format!("/admin/employees/{}", e.id),
        Flash::notice(format!("Added {}.", e.fields.display_name)),
    ))
}

async fn load(
    state: &AppState,
    id: &str,
) -> std::result::Result<Employee, crate::admin::console::shell::Stop> {
    let id = or_page(uuid_param(id))?;
    or_page(service(state).get(id).await)
}

async fn edit_form(Console { state, admin, jar }: Console, Path(id): Path<String>) -> PageResult {
    let e = load(&state, &id).await?;
    if e.source == Source::Directory {
        return Err(imported_refusal().into());
    }
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "employees");
    let fields = employee_fields(&FormDataOrEmployee::Employee(Some(&e)));
    page(jar, &employee_form(nav, Some(&e), fields))
}

fn imported_refusal() -> Response {
    crate::admin::console::shell::message_page(
        axum::http::StatusCode::CONFLICT,
        "Imported employee",
        "This employee is imported from Active Directory and cannot be edited here; change it \
         in the directory and it follows at the next sync.",
    )
}

async fn update(Path(id): Path<String>, Posted { state, admin, form }: Posted) -> PageResult {
    let current = load(&state, &id).await?;
    let result = async {
        let valid = fields_from(&form).validate()?;
        service(&state)
            .update_manual(&admin.actor(), state.clock.now_ms(), current.id, valid)
            .await
    }
    .await;
    let e = form_outcome(result, || {
        employee_form(
            Nav::plain(&admin, "employees"),
            Some(&current),
            employee_fields(&FormDataOrEmployee::Form(&form)),
        )
    })?;
    Ok(done(
        &state,
        &admin,
        &format!("/admin/employees/{}", e.id),
        Flash::notice("Saved."),
    ))
}

pub struct IdentityRow {
    pub domain: String,
    pub account: String,
    pub upn: String,
    pub dn: String,
    pub status: &'static str,
    pub password_last_set: String,
    /// The employee's fields this account provides (the precedence rule of the sync).
    pub provides: String,
}

pub struct DeviceRow {
    pub id: String,
    pub name: String,
    pub platform: String,
    pub state: String,
    pub created: String,
    pub last_used: String,
}

pub struct PasskeyRow {
    pub name: String,
    pub created: String,
    pub last_used: String,
}

pub struct EmployeeKeyRow {
    pub id: String,
    pub serial: String,
    pub state: &'static str,
    pub activated: String,
}

/// A domain account whose password lives on the employee's key: never the password itself.
pub struct AccountRow {
    pub id: String,
    pub domain: String,
    pub account: String,
    pub password_version: i64,
    pub last_rotated: String,
    pub rotation_state: String,
    pub rotation_error: String,
    pub rotation_when: String,
}

#[derive(Template)]
#[template(path = "console/employee.html")]
struct DetailPage {
    nav: Nav,
    e: Row,
    email: String,
    phone: String,
    title: String,
    created: String,
    updated: String,
    identities: Vec<IdentityRow>,
    invitations: Vec<InvitationView>,
    devices: Vec<DeviceRow>,
    push_blocked: bool,
    passkeys: Vec<PasskeyRow>,
    keys: Vec<EmployeeKeyRow>,
    accounts: Vec<AccountRow>,
    can_rotate: bool,
    /// "Set this password" refused: the message next to its field.
    password_error: Option<String>,
    /// Password and offline-code sign-ins locked after failed attempts.
    sign_in_locked: bool,
    /// Employees of the other source with the same name (possible duplicates).
    duplicates: Vec<DuplicateRow>,
    audit: Vec<AuditRow>,
}

/// Another employee with the same name, from the other source.
struct DuplicateRow {
    id: String,
    name: String,
    email: String,
    imported: bool,
}

impl DetailPage {
    fn fmt(t: &time::OffsetDateTime) -> String {
        when(crate::clock::to_ms(*t))
    }
}

async fn detail(Console { state, admin, jar }: Console, Path(id): Path<String>) -> PageResult {
    let e = load(&state, &id).await?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "employees");
    detail_page(&state, nav, jar, e, None).await
}

/// The employee's page; `password_error` when "set this password" was refused (answered 400).
async fn detail_page(
    state: &AppState,
    nav: Nav,
    jar: CookieJar,
    e: Employee,
    password_error: Option<String>,
) -> PageResult {
    let id = e.id.to_string();
    let now = state.clock.now_ms();
    let gathered = async {
        let mut conn = state.store.conn().await?;
        let accounts_in_ad = crate::directory::identities::of_employee(&mut conn, &id, now).await?;
        let accounts = crate::keys::rotation::accounts_of(&mut conn, &id)
            .await?
            .into_iter()
            .map(|a| {
                let ad = accounts_in_ad
                    .iter()
                    .find(|i| i.domain_id == a.domain_id && i.object_guid == a.object_guid);
                let r = a.rotation.as_ref();
                AccountRow {
                    domain: ad.map_or_else(|| a.domain_id.clone(), |i| i.domain.clone()),
                    account: ad
                        .map_or_else(|| a.object_guid.clone(), |i| i.account_name().to_owned()),
                    password_version: a.password_version,
                    last_rotated: when_opt(a.last_rotated_at),
                    rotation_state: r.map(|r| r.state.clone()).unwrap_or_default(),
                    rotation_error: r.and_then(|r| r.error.clone()).unwrap_or_default(),
                    rotation_when: r.map(|r| when(r.updated_at)).unwrap_or_default(),
                    id: a.id,
                }
            })
            .collect::<Vec<_>>();
        let identities = accounts_in_ad
            .into_iter()
            .map(|i| IdentityRow {
                status: i.status().describe(),
                password_last_set: when_opt(i.password_last_set.map(crate::clock::to_ms)),
                provides: i.provides.join(", "),
                domain: i.domain,
                account: i.sam_account_name.unwrap_or_default(),
                upn: i.upn.unwrap_or_default(),
                dn: i.dn,
            })
            .collect();
        let of_employee = crate::keys::KeyQuery {
            employee: Some(&id),
            ..Default::default()
        };
        let keys: Vec<EmployeeKeyRow> = crate::keys::search(&mut conn, of_employee)
            .await?
            .0
            .into_iter()
            .map(|l| l.key)
            .map(|k| EmployeeKeyRow {
                id: k.id,
                serial: k.serial,
                state: k.state.as_str(),
                activated: match (k.activated_at, k.activation_expires_at) {
                    (None, Some(until)) if k.state == crate::keys::KeyState::Reserved => {
                        format!("waiting for the code (valid until {})", when(until))
                    }
                    (at, _) => when_opt(at),
                },
            })
            .collect();
        let invitations = invitations::of_employee(&state.invitations(), &id, 20).await?;
        let phones = crate::push::devices::of_employee(&mut conn, &id).await?;
        let push_blocked = phones.push_blocked;
        let devices = phones
            .devices
            .into_iter()
            .map(|d| DeviceRow {
                created: when(crate::clock::to_ms(d.created_at)),
                last_used: when_opt(d.last_used_at.map(crate::clock::to_ms)),
                id: d.id,
                name: d.name,
                platform: d.platform,
                state: d.state,
            })
            .collect();
        let passkeys = crate::oidc::store::passkeys_of_employee(&mut conn, &id)
            .await?
            .into_iter()
            .map(|p| PasskeyRow {
                name: p.name,
                created: when(p.created_at),
                last_used: when_opt(p.last_used_at),
            })
            .collect();
        let filter = crate::audit::store::AuditFilter {
            action: None,
            target_id: Some(id.clone()),
        };
        let audit = crate::audit::store::list(&mut conn, &filter, None, 50)
            .await?
            .into_iter()
            .map(crate::audit::http::console::row)
            .collect();
        let sign_in_locked =
            crate::throttle::locked(&mut conn, &crate::throttle::employee_key(&id), now).await?;
        let duplicates = crate::employees::store::same_name_other_source(&mut conn, &id)
            .await?
            .into_iter()
            .map(|d| DuplicateRow {
                imported: d.source != crate::employees::Source::Manual.as_str(),
                email: d.email.unwrap_or_default(),
                name: d.display_name,
                id: d.id,
            })
            .collect::<Vec<_>>();
        Ok::<_, Error>((
            (identities, invitations, devices, push_blocked),
            (
                passkeys,
                keys,
                accounts,
                audit,
                (sign_in_locked, duplicates),
            ),
        ))
    }
    .await;
    let (
        (identities, invitations, devices, push_blocked),
        (passkeys, keys, accounts, audit, (sign_in_locked, duplicates)),
    ) = or_page(gathered)?;
    let refused = password_error.is_some();
    let p = DetailPage {
        nav,
        email: e.fields.email.clone().unwrap_or_default(),
        phone: e.fields.phone.clone().unwrap_or_default(),
        title: e.fields.title.clone().unwrap_or_default(),
        created: DetailPage::fmt(&e.created_at),
        updated: DetailPage::fmt(&e.updated_at),
        e: Row::from(e),
        identities,
        invitations,
        devices,
        push_blocked,
        passkeys,
        // Accounts are found at the first rotation once a key is active; offer it from then.
        can_rotate: !accounts.is_empty() || keys.iter().any(|k| k.state == "active"),
        keys,
        accounts,
        password_error,
        audit,
        sign_in_locked,
        duplicates,
    };
    let r = page(jar, &p)?;
    if refused {
        let (mut parts, body) = r.into_parts();
        parts.status = axum::http::StatusCode::BAD_REQUEST;
        return Ok(Response::from_parts(parts, body));
    }
    Ok(r)
}

fn back_to(id: &Uuid) -> String {
    format!("/admin/employees/{id}")
}

/// An action's outcome as a notice (or its refusal as an error) on the employee's page.
fn outcome(
    state: &AppState,
    admin: &crate::admin::session::AdminSession,
    to: &str,
    r: Result<String>,
) -> PageResult {
    match r {
        Ok(notice) => Ok(done(state, admin, to, Flash::notice(notice))),
        Err(e @ (Error::Conflict { .. } | Error::NotFound(_) | Error::Validation { .. })) => {
            Ok(done(state, admin, to, Flash::error(e.to_string())))
        }
        Err(e) => Err(crate::admin::console::shell::page_error(e).into()),
    }
}

async fn invite(Path(id): Path<String>, Posted { state, admin, .. }: Posted) -> PageResult {
    let id = or_page(uuid_param(&id))?;
    let r = invitations::invite(&state.invitations(), &admin.actor(), &id.to_string())
        .await
        .map(|v| {
            format!(
                "Invitation created for {} ({}).",
                v.email,
                delivery_text(&v.delivery)
            )
        });
    outcome(&state, &admin, &back_to(&id), r)
}

fn delivery_text(d: &str) -> &'static str {
    match d {
        "sent" => "sent",
        "queued" => "it is being e-mailed",
        "failed" => "e-mail failed, retrying",
        "outbox" => "no SMTP server: copy the link below",
        _ => "not deliverable",
    }
}

/// The invitation, if it belongs to this employee (ids in the URL are checked together).
async fn invitation_of(state: &AppState, employee: &Uuid, inv: &str) -> Result<String> {
    let inv = uuid_param(inv)?.to_string();
    let mut conn = state.store.conn().await?;
    match crate::enrol::store::get(&mut conn, &inv).await? {
        Some(r) if r.employee_id == employee.to_string() => Ok(inv),
        _ => Err(Error::NotFound("invitation")),
    }
}

/// "Resend" or "Revoke" on one of the employee's invitations.
async fn invitation_action(
    Path((id, inv, action)): Path<(String, String, String)>,
    Posted { state, admin, .. }: Posted,
) -> PageResult {
    let resend = match action.as_str() {
        "resend" => true,
        "revoke" => false,
        _ => return or_page(Err(Error::NotFound("page"))),
    };
    let id = or_page(uuid_param(&id))?;
    let r = async {
        let inv = invitation_of(&state, &id, &inv).await?;
        let (ctx, actor) = (state.invitations(), admin.actor());
        if resend {
            let v = invitations::resend(&ctx, &actor, &inv).await?;
            Ok(format!("Invitation to {} is being sent again.", v.email))
        } else {
            invitations::revoke(&ctx, &actor, &inv).await?;
            Ok("Invitation revoked: its link no longer works.".to_owned())
        }
    }
    .await;
    outcome(&state, &admin, &back_to(&id), r)
}

async fn revoke_device(
    Path((id, device)): Path<(String, String)>,
    Posted { state, admin, .. }: Posted,
) -> PageResult {
    let id = or_page(uuid_param(&id))?;
    let r = async {
        let device = uuid_param(&device)?.to_string();
        crate::push::devices::revoke(&state.phones(), &admin.actor(), &id.to_string(), &device)
            .await?;
        Ok("Phone revoked: it can no longer approve sign-ins.".to_owned())
    }
    .await;
    outcome(&state, &admin, &back_to(&id), r)
}

/// "Rotate now" (a generated password) or "Set this password", for one account or all of the
/// employee's. The password is checked by the rotation service; a refusal shows next to the
/// field, and the password is never sent back.
async fn rotate(Path(id): Path<String>, Posted { state, admin, form }: Posted) -> PageResult {
    let e = load(&state, &id).await?;
    let set = form.get("mode") == "set";
    let password = set.then(|| form.get("password").to_owned());
    let r = async {
        match password.as_deref() {
            Some("") => return Err(Error::validation("password", "is required")),
            // The general rules now, before the directory is asked for the accounts; each
            // account's name is checked again when its rotation starts.
            Some(p) => crate::keys::passwords::check(p, "", &e.fields.display_name)?,
            None => {}
        }
        let started = crate::keys::rotation::rotate_employee(
            &state.hardware_keys(),
            &admin.actor(),
            &e.id.to_string(),
            form.opt("account_id").as_deref(),
            password.as_deref(),
        )
        .await?;
        Ok(format!(
            "Password rotation started for {} account{}: the key stores the new password \
             first, then the directory gets it.",
            started.len(),
            if started.len() == 1 { "" } else { "s" }
        ))
    }
    .await;
    match r {
        Err(Error::Validation { field, message }) if field == "password" => {
            let nav = Nav::plain(&admin, "employees");
            detail_page(&state, nav, CookieJar::new(), e, Some(message)).await
        }
        r => outcome(&state, &admin, &back_to(&e.id), r),
    }
}
