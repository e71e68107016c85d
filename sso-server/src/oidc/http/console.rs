//! OIDC clients (relying parties): list, create (the secret shown once), edit, delete.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;

use askama::Template;

use crate::admin::console::forms::{Field, FormError, FormPage};
use crate::admin::console::shell::{
    done, or_page, page, when, Console, Flash, FormData, Nav, PageResult, Posted,
};
use crate::app::AppState;
use crate::clock::to_ms;
use crate::error::{Error, Result};
use crate::oidc::clients::{ClientInput, ClientKind, ClientView, Clients};
use crate::oidc::jws::Alg;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/clients", get(list))
        .route("/admin/clients/new", get(new_form).post(create))
        .route("/admin/clients/{id}", get(show))
        .route("/admin/clients/{id}/edit", get(edit_form).post(update))
        .route(
            "/admin/clients/{id}/delete",
            get(delete_confirm).post(delete),
        )
}

fn service(state: &AppState) -> Clients<'_> {
    Clients {
        store: &state.store,
    }
}

#[derive(Template)]
#[template(path = "console/clients.html")]
struct ListPage {
    nav: Nav,
    clients: Vec<ClientView>,
}

async fn list(Console { state, admin, jar }: Console) -> PageResult {
    let clients = or_page(service(&state).list().await)?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "clients");
    page(jar, &ListPage { nav, clients })
}

fn fields(form: Option<&FormData>, c: Option<&ClientView>) -> Vec<Field> {
    let val = |name: &str, stored: String| match form {
        Some(f) => f.get(name).to_owned(),
        None => stored,
    };
    let s = |f: fn(&ClientView) -> String| c.map(f).unwrap_or_default();
    vec![
        Field::new("name", "Name", "text")
            .value(val("name", s(|c| c.name.clone())))
            .required()
            .hint("Shown to employees when they sign in."),
        Field::new("kind", "Type", "select")
            .value(val(
                "kind",
                c.map_or("confidential", |c| c.kind.as_str()).to_owned(),
            ))
            .options(&[
                ("confidential", "Confidential (a server-side web app, with a secret)"),
                ("public", "Public (a single-page or native app, PKCE, no secret)"),
            ]),
        Field::new("redirect_uris", "Redirect URIs", "textarea")
            .value(val("redirect_uris", s(|c| c.redirect_uris.join("\n"))))
            .required()
            .hint("One per line, exact match; https (http only on localhost)."),
        Field::new("post_logout_redirect_uris", "Post-logout redirect URIs", "textarea")
            .value(val(
                "post_logout_redirect_uris",
                s(|c| c.post_logout_redirect_uris.join("\n")),
            ))
            .hint("One per line; may be empty."),
        Field::new("allowed_scopes", "Allowed scopes", "text")
            .value(val("allowed_scopes", s(|c| c.allowed_scopes.join(" "))))
            .hint("Space-separated; blank for all: openid profile email phone offline_access."),
        Field::new("grant_types", "Grant types", "text")
            .value(val("grant_types", s(|c| c.grant_types.join(" "))))
            .hint("Space-separated; blank for authorization_code refresh_token. client_credentials needs a confidential client."),
        Field::new("id_token_alg", "ID token signature", "select")
            .value(val(
                "id_token_alg",
                c.map_or("RS256", |c| c.id_token_signed_response_alg.as_str())
                    .to_owned(),
            ))
            .options(&[("RS256", "RS256"), ("ES256", "ES256")]),
        Field::new("pkce", "PKCE", "select")
            .value(val(
                "pkce",
                if c.is_none_or(|c| c.pkce_required) {
                    "required"
                } else {
                    "optional"
                }
                .to_owned(),
            ))
            .options(&[
                ("required", "Required (recommended, RFC 9700)"),
                ("optional", "Optional (a confidential app that cannot send it)"),
            ]),
        Field::new("introspection", "Token introspection", "select")
            .value(val(
                "introspection",
                if c.is_some_and(|c| c.resource_server) {
                    "all"
                } else {
                    "own"
                }
                .to_owned(),
            ))
            .options(&[
                ("own", "Its own tokens only"),
                ("all", "Any app's tokens (an API that checks the tokens apps send it)"),
            ]),
    ]
}

fn input_from(form: &FormData) -> Result<ClientInput> {
    let kind = match form.get("kind") {
        "public" => ClientKind::Public,
        "confidential" | "" => ClientKind::Confidential,
        _ => return Err(Error::validation("kind", "must be confidential or public")),
    };
    let alg = match form.opt("id_token_alg") {
        None => None,
        Some(a) => Some(
            Alg::parse(&a)
                .ok_or_else(|| Error::validation("id_token_alg", "must be RS256 or ES256"))?,
        ),
    };
    Ok(ClientInput {
        name: form.get("name").to_owned(),
        kind,
        redirect_uris: form.lines("redirect_uris"),
        post_logout_redirect_uris: form.lines("post_logout_redirect_uris"),
        allowed_scopes: form.words("allowed_scopes"),
        grant_types: form.words("grant_types"),
        id_token_signed_response_alg: alg,
        pkce_required: Some(match form.get("pkce") {
            "required" | "" => true,
            "optional" => false,
            _ => return Err(Error::validation("pkce", "must be required or optional")),
        }),
        resource_server: Some(match form.get("introspection") {
            "own" | "" => false,
            "all" => true,
            _ => return Err(Error::validation("introspection", "must be own or all")),
        }),
    })
}

fn form_page(nav: Nav, c: Option<&ClientView>, fields: Vec<Field>) -> FormPage {
    match c {
        Some(c) => FormPage {
            nav,
            title: format!("Edit client {}", c.name),
            intro: None,
            form_error: None,
            action: format!("/admin/clients/{}/edit", c.client_id),
            submit: "Save",
            cancel: format!("/admin/clients/{}", c.client_id),
            fields,
        },
        None => FormPage {
            nav,
            title: "Add an OIDC client".into(),
            intro: Some("A web app that signs employees in through this server.".into()),
            form_error: None,
            action: "/admin/clients/new".into(),
            submit: "Create client",
            cancel: "/admin/clients".into(),
            fields,
        },
    }
}

fn rejected(e: Error, form: impl FnOnce() -> FormPage) -> crate::admin::console::shell::Stop {
    match FormError::from_error(e) {
        Ok(fe) => form().rejected(fe).into(),
        Err(e) => crate::admin::console::shell::page_error(e).into(),
    }
}

async fn new_form(Console { state, admin, jar }: Console) -> PageResult {
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "clients");
    page(jar, &form_page(nav, None, fields(None, None)))
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
        Ok(c) => Ok(done(
            &state,
            &admin,
            &format!("/admin/clients/{}", c.client.client_id),
            Flash {
                notice: Some(format!("Created client {}.", c.client.name)),
                error: None,
                secret: c.client_secret,
            },
        )),
        Err(e) => Err(rejected(e, || {
            form_page(
                Nav::plain(&admin, "clients"),
                None,
                fields(Some(&form), None),
            )
        })),
    }
}

async fn load(
    state: &AppState,
    id: &str,
) -> std::result::Result<ClientView, crate::admin::console::shell::Stop> {
    or_page(service(state).get(id).await.map(|c| c.view()))
}

#[derive(Template)]
#[template(path = "console/client.html")]
struct ShowPage {
    nav: Nav,
    c: ClientView,
    created: String,
    secret: Option<String>,
    issuer: String,
}

async fn show(Console { state, admin, jar }: Console, Path(id): Path<String>) -> PageResult {
    let c = load(&state, &id).await?;
    let (nav, flash, jar) = Nav::new(&state, &admin, jar, "clients");
    page(
        jar,
        &ShowPage {
            nav,
            created: when(to_ms(c.created_at)),
            c,
            secret: flash.secret,
            issuer: state.config.issuer(),
        },
    )
}

async fn edit_form(Console { state, admin, jar }: Console, Path(id): Path<String>) -> PageResult {
    let c = load(&state, &id).await?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "clients");
    page(jar, &form_page(nav, Some(&c), fields(None, Some(&c))))
}

async fn update(Path(id): Path<String>, Posted { state, admin, form }: Posted) -> PageResult {
    let current = load(&state, &id).await?;
    let result = async {
        let input = input_from(&form)?;
        service(&state)
            .update(
                &admin.actor(),
                state.clock.now_ms(),
                &current.client_id,
                &input,
            )
            .await
    }
    .await;
    match result {
        Ok(c) => Ok(done(
            &state,
            &admin,
            &format!("/admin/clients/{}", c.client_id),
            Flash::notice("Saved."),
        )),
        Err(e) => Err(rejected(e, || {
            form_page(
                Nav::plain(&admin, "clients"),
                Some(&current),
                fields(Some(&form), Some(&current)),
            )
        })),
    }
}

#[derive(Template)]
#[template(path = "console/client_delete.html")]
struct DeletePage {
    nav: Nav,
    c: ClientView,
}

async fn delete_confirm(
    Console { state, admin, jar }: Console,
    Path(id): Path<String>,
) -> PageResult {
    let c = load(&state, &id).await?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "clients");
    page(jar, &DeletePage { nav, c })
}

async fn delete(Path(id): Path<String>, Posted { state, admin, .. }: Posted) -> PageResult {
    let c = load(&state, &id).await?;
    or_page(
        service(&state)
            .delete(&admin.actor(), state.clock.now_ms(), &c.client_id)
            .await,
    )?;
    Ok(done(
        &state,
        &admin,
        "/admin/clients",
        Flash::notice(format!("Deleted client {}.", c.name)),
    ))
}
