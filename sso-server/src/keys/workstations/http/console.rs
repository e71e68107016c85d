//! Workstations: the list (name, state, last seen), adding one (its one-time enrolment token is
//! shown once, as an activation code is) and revoking one. All through `keys::workstations`, as
//! the API.

use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;

use askama::Template;

use crate::admin::api::params::uuid_param;
use crate::admin::console::shell::{
    done, or_page, page, when_opt, Console, Flash, Nav, PageResult, Posted,
};
use crate::app::AppState;
use crate::error::Error;
use crate::keys::workstations::{self, WorkstationState, WorkstationView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/workstations", get(list).post(create))
        .route("/admin/workstations/{id}/revoke", post(revoke))
}

pub struct Row {
    pub id: String,
    pub name: String,
    pub state: &'static str,
    pub enrolled: String,
    pub seen: String,
    pub revocable: bool,
}

impl From<WorkstationView> for Row {
    fn from(w: WorkstationView) -> Self {
        Self {
            id: w.id,
            name: w.name,
            state: w.state.as_str(),
            enrolled: when_opt(w.enrolled_at),
            seen: when_opt(w.last_seen_at),
            revocable: w.state != WorkstationState::Revoked,
        }
    }
}

#[derive(Template)]
#[template(path = "console/workstations.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<Row>,
    /// The enrolment token just created (shown once).
    token: Option<String>,
    name: String,
    error: Option<String>,
}

async fn list(Console { state, admin, jar }: Console) -> PageResult {
    let rows = or_page(
        async {
            let mut conn = state.store.conn().await?;
            workstations::list(&mut conn).await
        }
        .await,
    )?;
    let (nav, flash, jar) = Nav::new(&state, &admin, jar, "keys");
    page(
        jar,
        &ListPage {
            nav,
            rows: rows.into_iter().map(Row::from).collect(),
            token: flash.secret,
            name: String::new(),
            error: None,
        },
    )
}

async fn create(Posted { state, admin, form }: Posted) -> PageResult {
    let name = form.get("name").trim().to_owned();
    match workstations::create(&state.store, state.clock.as_ref(), &admin.actor(), &name).await {
        Ok(c) => Ok(done(
            &state,
            &admin,
            "/admin/workstations",
            Flash {
                notice: Some(format!(
                    "Workstation {} added: enrol its key-bridge with the token below.",
                    c.workstation.name
                )),
                error: None,
                secret: Some(c.enrolment_token),
            },
        )),
        Err(Error::Validation { message, .. }) => {
            let rows = or_page(
                async {
                    let mut conn = state.store.conn().await?;
                    workstations::list(&mut conn).await
                }
                .await,
            )?;
            let page = ListPage {
                nav: Nav::plain(&admin, "keys"),
                rows: rows.into_iter().map(Row::from).collect(),
                token: None,
                name,
                error: Some(message),
            };
            match crate::admin::console::shell::render(&page) {
                Ok(html) => Ok(axum::response::IntoResponse::into_response((
                    axum::http::StatusCode::BAD_REQUEST,
                    html,
                ))),
                Err(e) => Err(crate::admin::console::shell::page_error(e).into()),
            }
        }
        Err(e) => Err(crate::admin::console::shell::page_error(e).into()),
    }
}

async fn revoke(Path(id): Path<String>, Posted { state, admin, .. }: Posted) -> PageResult {
    let r = async {
        let id = uuid_param(&id)?.to_string();
        workstations::revoke(&state.store, state.clock.as_ref(), &admin.actor(), &id).await
    }
    .await;
    let flash = match r {
        Ok(w) => Flash::notice(format!("Workstation {} revoked.", w.name)),
        Err(e @ (Error::Conflict { .. } | Error::NotFound(_) | Error::Validation { .. })) => {
            Flash::error(e.to_string())
        }
        Err(e) => return Err(crate::admin::console::shell::page_error(e).into()),
    };
    Ok(done(&state, &admin, "/admin/workstations", flash))
}
