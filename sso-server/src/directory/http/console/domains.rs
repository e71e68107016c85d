//! Domains to sync, on-premises AD or Entra ID: list, add, edit, and "test connection" (bind or
//! get a Graph token, find the group, count its members).

use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;

use askama::Template;

use crate::admin::api::params::uuid_param;
use crate::admin::console::forms::{Field, FormError, FormPage};
use crate::admin::console::shell::{
    done, or_page, page, when_opt, Console, Flash, FormData, Nav, PageResult, Posted,
};
use crate::app::AppState;
use crate::directory::domain::{ConnectionTest, DomainKind};
use crate::directory::graph::{DEFAULT_AUTHORITY, DEFAULT_GRAPH};
use crate::directory::ldap::TlsMode;
use crate::directory::{DomainInput, DomainView, Domains};
use crate::error::{Error, Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/domains", get(list))
        .route("/admin/domains/new", get(new_form).post(create))
        .route("/admin/domains/{id}", get(show))
        .route("/admin/domains/{id}/edit", get(edit_form).post(update))
        .route("/admin/domains/{id}/test", post(test))
}

fn service(state: &AppState) -> Domains<'_> {
    Domains {
        store: &state.store,
        cipher: &state.cipher,
    }
}

#[derive(Template)]
#[template(path = "console/domains.html")]
struct ListPage {
    nav: Nav,
    domains: Vec<DomainView>,
}

async fn list(Console { state, admin, jar }: Console) -> PageResult {
    let domains = or_page(service(&state).list().await)?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "domains");
    page(jar, &ListPage { nav, domains })
}

const TLS_OPTIONS: &[(&str, &str)] = &[
    ("", "From the URLs (ldaps:// → LDAPS, ldap:// → StartTLS)"),
    ("ldaps", "LDAPS"),
    ("starttls", "StartTLS"),
    ("plain", "None (plain LDAP)"),
];

/// The form's fields, filled from what was typed or from the stored domain.
fn fields(form: Option<&FormData>, d: Option<&DomainView>, editing: bool) -> Vec<Field> {
    let val = |name: &str, stored: String| match form {
        Some(f) => f.get(name).to_owned(),
        None => stored,
    };
    let check = |name: &str, stored: bool| match form {
        Some(f) => f.checked(name),
        None => stored,
    };
    let on = |b: bool| if b { "on" } else { "" };
    let s = |f: fn(&DomainView) -> String| d.map(f).unwrap_or_default();
    let mut password =
        Field::new("bind_password", "Bind password", "password").autocomplete("new-password");
    let mut secret =
        Field::new("client_secret", "Client secret", "password").autocomplete("new-password");
    if editing {
        password = password.hint("Leave blank to keep the stored password.");
        secret = secret.hint("Leave blank to keep the stored secret (or certificate).");
    } else {
        password = password.required();
        secret = secret
            .required()
            .hint("A secret of the app registration. A certificate instead: use the API or CLI.");
    }
    let ldap = DomainKind::Ldap.as_str();
    let entra = DomainKind::EntraId.as_str();
    let kind = Field::new("kind", "Kind", "select")
        .value(val("kind", d.map_or(ldap, |d| d.kind.as_str()).to_owned()))
        .options(KIND_OPTIONS);
    let kind = if editing {
        kind.hint("The kind of a domain cannot change; add another domain instead.")
    } else {
        kind
    };
    vec![
        kind,
        Field::new("name", "Name", "text")
            .value(val("name", s(|d| d.name.clone())))
            .required()
            .hint("A short name, e.g. corp."),
        Field::new("urls", "Domain controllers", "textarea")
            .value(val("urls", s(|d| d.urls.join("\n"))))
            .required()
            .only_for(ldap)
            .hint("One LDAP URL per line, tried in order, e.g. ldaps://dc1.corp.example.com:636"),
        Field::new("tls_mode", "TLS", "select")
            .value(val("tls_mode", s(|d| d.tls_mode.as_str().to_owned())))
            .only_for(ldap)
            .options(TLS_OPTIONS),
        Field::new("allow_plain", "Allow plain LDAP (the bind password crosses the network in clear)", "checkbox")
            .only_for(ldap)
            .value(on(check("allow_plain", d.is_some_and(|d| d.tls_mode == TlsMode::Plain && d.kind == DomainKind::Ldap)))),
        Field::new("bind_dn", "Bind user", "text")
            .value(val("bind_dn", s(|d| d.bind_dn.clone())))
            .required()
            .only_for(ldap)
            .hint("A DN or user@realm."),
        password.only_for(ldap),
        Field::new("base_dn", "Base DN", "text")
            .value(val("base_dn", s(|d| d.base_dn.clone())))
            .required()
            .only_for(ldap)
            .hint("Where users are searched, e.g. DC=corp,DC=example,DC=com"),
        Field::new("netbios_name", "NetBIOS name", "text")
            .only_for(ldap)
            .value(val("netbios_name", s(|d| d.netbios_name.clone().unwrap_or_default()))),
        Field::new("sync_group", "Sync group", "text")
            .value(val("sync_group", d.filter(|d| d.kind == DomainKind::Ldap).map(|d| d.sync_group.clone()).unwrap_or_default()))
            .only_for(ldap)
            .hint("A DN or a group name. Default: Hideez Users Sync."),
        Field::new("rotation_group", "Password rotation group", "text")
            .value(val("rotation_group", s(|d| d.rotation_group.clone())))
            .only_for(ldap)
            .hint("Default: Security Key Auto Password Change."),
        Field::new("tenant_id", "Tenant id", "text")
            .value(val("tenant_id", s(|d| d.tenant_id.clone().unwrap_or_default())))
            .required()
            .only_for(entra)
            .hint("The directory (tenant) id, a GUID, or a verified domain such as contoso.onmicrosoft.com."),
        Field::new("client_id", "Client id", "text")
            .value(val("client_id", s(|d| d.client_id.clone().unwrap_or_default())))
            .required()
            .only_for(entra)
            .hint("The application (client) id of the app registration, with the Graph application permissions User.Read.All and GroupMember.Read.All."),
        secret.only_for(entra),
        Field::new("group_id", "Group id", "text")
            .value(val("group_id", s(|d| d.group_id.clone().unwrap_or_default())))
            .required()
            .only_for(entra)
            .hint("The object id of the sync group; members of nested groups are included."),
        Field::new("authority_url", "Authority URL", "url")
            .value(val("authority_url", d.and_then(|d| d.authority_url.clone()).unwrap_or_else(|| DEFAULT_AUTHORITY.into())))
            .only_for(entra)
            .hint("Microsoft's global cloud by default; a national cloud has its own."),
        Field::new("graph_url", "Graph URL", "url")
            .value(val("graph_url", d.and_then(|d| d.graph_url.clone()).unwrap_or_else(|| DEFAULT_GRAPH.into())))
            .only_for(entra),
        Field::new("ca_pem", "CA certificate (PEM)", "textarea")
            .value(val("ca_pem", s(|d| d.ca_pem.clone().unwrap_or_default())))
            .hint("On-premises AD: the CA that issued the domain controllers' certificates. Entra ID: only for a TLS-intercepting proxy."),
        Field::new("invite_on_import", "Invite imported employees by e-mail", "checkbox")
            .value(on(check("invite_on_import", d.is_some_and(|d| d.invite_on_import)))),
        Field::new("max_removal_percent", "Removal guard (percent)", "number")
            .value(val("max_removal_percent", d.map(|d| d.max_removal_percent.to_string()).unwrap_or_else(|| "10".into())))
            .hint("Accounts missing from the sync group beyond this share of the domain's employees (and beyond the floor below) are held for review instead of removed. Disabled accounts are always applied."),
        Field::new("max_removal_count", "Removal guard floor (accounts)", "number")
            .value(val("max_removal_count", d.map(|d| d.max_removal_count.to_string()).unwrap_or_else(|| "10".into())))
            .hint("This many missing accounts are always removed, whatever their share (ordinary leavers in a small domain). 0 turns the floor off."),
        Field::new("hold_all_when_refused", "Hold the whole run when the guard trips", "checkbox")
            .value(on(check("hold_all_when_refused", d.is_some_and(|d| d.hold_all_when_refused))))
            .hint("By default a refused run still applies additions, updates and disabled accounts, and holds only the removals."),
        Field::new("timeout_seconds", "Timeout (seconds)", "number")
            .value(val("timeout_seconds", d.map(|d| d.timeout_seconds.to_string()).unwrap_or_else(|| "30".into()))),
        Field::new("enabled", "Enabled (scheduled syncs run)", "checkbox")
            .value(on(check("enabled", d.is_none_or(|d| d.enabled)))),
    ]
}

const KIND_OPTIONS: &[(&str, &str)] = &[
    ("ldap", "On-premises Active Directory (LDAP)"),
    ("entra_id", "Entra ID (Azure AD, over Microsoft Graph)"),
];

/// The input of the chosen kind: the other kind's fields are ignored (without the script they
/// are on the page too, possibly filled).
fn input_from(form: &FormData) -> Result<DomainInput> {
    let kind = match form.opt("kind") {
        None => DomainKind::Ldap,
        Some(k) => DomainKind::parse(&k)
            .ok_or_else(|| Error::validation("kind", "must be ldap or entra_id"))?,
    };
    let secret = |name: &str| Some(form.get(name).to_owned()).filter(|p| !p.is_empty());
    let common = DomainInput {
        kind,
        name: form.get("name").to_owned(),
        ca_pem: form.opt("ca_pem"),
        invite_on_import: form.checked("invite_on_import"),
        max_removal_percent: form.number("max_removal_percent")?,
        max_removal_count: form.number("max_removal_count")?,
        hold_all_when_refused: form.checked("hold_all_when_refused"),
        timeout_seconds: form.number("timeout_seconds")?,
        enabled: Some(form.checked("enabled")),
        ..DomainInput::default()
    };
    Ok(match kind {
        DomainKind::Ldap => {
            let tls_mode = match form.opt("tls_mode") {
                None => None,
                Some(m) => Some(TlsMode::parse(&m).ok_or_else(|| {
                    Error::validation("tls_mode", "must be ldaps, starttls or plain")
                })?),
            };
            DomainInput {
                urls: form.lines("urls"),
                tls_mode,
                allow_plain: form.checked("allow_plain"),
                bind_dn: form.get("bind_dn").to_owned(),
                bind_password: secret("bind_password"),
                base_dn: form.get("base_dn").to_owned(),
                netbios_name: form.opt("netbios_name"),
                sync_group: form.opt("sync_group"),
                rotation_group: form.opt("rotation_group"),
                ..common
            }
        }
        DomainKind::EntraId => DomainInput {
            tenant_id: form.opt("tenant_id"),
            client_id: form.opt("client_id"),
            client_secret: secret("client_secret"),
            group_id: form.opt("group_id"),
            authority_url: form.opt("authority_url"),
            graph_url: form.opt("graph_url"),
            ..common
        },
    })
}

fn form_page(nav: Nav, d: Option<&DomainView>, fields: Vec<Field>) -> FormPage {
    match d {
        Some(d) => FormPage {
            nav,
            title: format!("Edit domain {}", d.name),
            intro: None,
            form_error: None,
            action: format!("/admin/domains/{}/edit", d.id),
            submit: "Save",
            cancel: format!("/admin/domains/{}", d.id),
            fields,
        },
        None => FormPage {
            nav,
            title: "Add a domain".into(),
            intro: Some(
                "An on-premises Active Directory domain or an Entra ID tenant whose sync group's \
                 members are imported as employees."
                    .into(),
            ),
            form_error: None,
            action: "/admin/domains/new".into(),
            submit: "Add domain",
            cancel: "/admin/domains".into(),
            fields,
        },
    }
}

async fn new_form(Console { state, admin, jar }: Console) -> PageResult {
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "domains");
    page(jar, &form_page(nav, None, fields(None, None, false)))
}

fn rejected(e: Error, form: impl FnOnce() -> FormPage) -> crate::admin::console::shell::Stop {
    match FormError::from_error(e) {
        Ok(fe) => form().rejected(fe).into(),
        Err(e) => crate::admin::console::shell::page_error(e).into(),
    }
}

async fn create(Posted { state, admin, form }: Posted) -> PageResult {
    let result = async {
        let input = input_from(&form)?;
        service(&state)
            .create(&admin.actor(), state.clock.now_ms(), &input)
            .await
    }
    .await;
    match result {
        Ok(d) => Ok(done(
            &state,
            &admin,
            &format!("/admin/domains/{}", d.id),
            Flash::notice(format!(
                "Added domain {}. Test the connection, then sync.",
                d.name
            )),
        )),
        Err(e) => Err(rejected(e, || {
            form_page(
                Nav::plain(&admin, "domains"),
                None,
                fields(Some(&form), None, false),
            )
        })),
    }
}

async fn load(
    state: &AppState,
    id: &str,
) -> std::result::Result<DomainView, crate::admin::console::shell::Stop> {
    let id = or_page(uuid_param(id))?;
    or_page(service(state).get(&id.to_string()).await)
}

#[derive(Template)]
#[template(path = "console/domain.html")]
struct ShowPage {
    nav: Nav,
    d: DomainView,
    last_full_sync: String,
    test: Option<ConnectionTest>,
}

async fn show(Console { state, admin, jar }: Console, Path(id): Path<String>) -> PageResult {
    let d = load(&state, &id).await?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "domains");
    page(
        jar,
        &ShowPage {
            nav,
            last_full_sync: when_opt(d.last_full_sync_at.map(crate::clock::to_ms)),
            d,
            test: None,
        },
    )
}

async fn edit_form(Console { state, admin, jar }: Console, Path(id): Path<String>) -> PageResult {
    let d = load(&state, &id).await?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "domains");
    page(jar, &form_page(nav, Some(&d), fields(None, Some(&d), true)))
}

async fn update(Path(id): Path<String>, Posted { state, admin, form }: Posted) -> PageResult {
    let current = load(&state, &id).await?;
    let result = async {
        let input = input_from(&form)?;
        service(&state)
            .update(&admin.actor(), state.clock.now_ms(), current.id, &input)
            .await
    }
    .await;
    match result {
        Ok(d) => Ok(done(
            &state,
            &admin,
            &format!("/admin/domains/{}", d.id),
            Flash::notice("Saved."),
        )),
        Err(e) => Err(rejected(e, || {
            form_page(
                Nav::plain(&admin, "domains"),
                Some(&current),
                fields(Some(&form), Some(&current), true),
            )
        })),
    }
}

/// Tests the stored settings and shows the result on the domain's page. Changes nothing, but
/// it makes the server connect out, so it is a POST like any other action.
async fn test(Path(id): Path<String>, Posted { state, admin, .. }: Posted) -> PageResult {
    let d = load(&state, &id).await?;
    let result = match service(&state)
        .test_connection(&d.id.to_string(), &state.clock)
        .await
    {
        Ok(t) => t,
        // No bind password stored: a failed test, not an error page.
        Err(e @ Error::Conflict { .. }) => ConnectionTest {
            ok: false,
            dc_url: None,
            group_dn: None,
            members: None,
            error: Some(e.to_string()),
        },
        Err(e) => return Err(crate::admin::console::shell::page_error(e).into()),
    };
    let nav = Nav::plain(&admin, "domains");
    page(
        CookieJar::new(),
        &ShowPage {
            nav,
            last_full_sync: when_opt(d.last_full_sync_at.map(crate::clock::to_ms)),
            d,
            test: Some(result),
        },
    )
}
