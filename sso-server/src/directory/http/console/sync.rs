//! "Sync with Active Directory": a confirmation with "Sync now", the live progress of the runs
//! it started (the page polls the API's run status with a little JS; without JS it refreshes
//! itself), and the run report.

use crate::directory::run_state::RunState;
use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::routing::get;
use axum::Router;

use askama::Template;

use crate::admin::api::params::uuid_param;
use crate::admin::console::shell::{
    done, or_page, page, when, Console, Flash, Nav, PageResult, Posted,
};
use crate::app::AppState;
use crate::directory::http::api::run_view;
use crate::directory::report::{Change, Counts, ObjectError};
use crate::directory::store::RunRow;
use crate::directory::sync::{Phase, RunOptions, SyncMode, Trigger};
use crate::error::{Error, Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/sync", get(confirm).post(start))
        .route("/admin/sync/progress", get(progress))
        .route("/admin/sync/runs/{id}", get(report))
}

/// A run as the console shows it (dashboard, progress, report).
pub struct RunCard {
    pub id: String,
    pub domain: String,
    pub kind: String,
    pub state: String,
    pub state_text: &'static str,
    pub dry_run: bool,
    pub started: String,
    pub finished: Option<String>,
    pub counts: Counts,
    pub message: Option<String>,
    pub progress: String,
    /// Removals the removal guard held (a refused run): who stays active until forced.
    pub held: Vec<String>,
}

impl RunCard {
    pub fn new(state: &AppState, r: RunRow, domain: &str) -> Self {
        let live = state.live_runs.of(&r);
        let held = serde_json::from_str::<crate::directory::report::RunReport>(&r.report)
            .map(|rep| rep.held.into_iter().map(|c| c.display_name).collect())
            .unwrap_or_default();
        let v = run_view(r, false);
        let state = RunState::parse(&v.state);
        let state_text = match state {
            Some(RunState::Running) => "Running",
            Some(RunState::Succeeded) => "Succeeded",
            Some(RunState::Failed) => "Failed",
            Some(RunState::Refused) => "Refused by the removal guard",
            None => "Unknown",
        };
        let progress = match (state, live) {
            (Some(RunState::Running), Some(p)) => progress_text(p.phase, p.read),
            (Some(RunState::Running), None) => "Running on another server instance…".to_owned(),
            _ => String::new(),
        };
        Self {
            id: v.id,
            domain: domain.to_owned(),
            kind: v.kind,
            state: v.state,
            state_text,
            dry_run: v.dry_run,
            started: when(crate::clock::to_ms(v.started_at)),
            finished: v.finished_at.map(|t| when(crate::clock::to_ms(t))),
            counts: v.counts,
            message: v.message,
            progress,
            held,
        }
    }
}

/// The same words console.js shows from the API's `progress`.
fn progress_text(phase: Phase, read: u64) -> String {
    match phase {
        Phase::Connecting => "Connecting to the domain controller…".to_owned(),
        Phase::Reading => format!("Reading the sync group: {read} accounts read…"),
        Phase::Planning => format!("Comparing {read} accounts with the employee list…"),
        Phase::Applying => "Saving the changes…".to_owned(),
        Phase::Done => "Finishing…".to_owned(),
    }
}

pub struct DomainOption {
    pub id: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "console/sync.html")]
struct ConfirmPage {
    nav: Nav,
    domains: Vec<DomainOption>,
    recent: Vec<RunCard>,
}

async fn domain_names(conn: &mut crate::store::Conn) -> Result<HashMap<String, String>> {
    Ok(crate::directory::store::list_domains(conn)
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect())
}

async fn confirm(Console { state, admin, jar }: Console) -> PageResult {
    let gathered = async {
        let mut conn = state.store.conn().await?;
        let rows = crate::directory::store::list_domains(&mut conn).await?;
        let names: HashMap<String, String> = rows
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect();
        let domains = rows
            .into_iter()
            .filter(|d| d.enabled != 0)
            .map(|d| DomainOption {
                id: d.id,
                name: d.name,
            })
            .collect();
        let recent = crate::directory::store::list_runs(&mut conn, None, 10)
            .await?
            .into_iter()
            .map(|r| {
                let name = names.get(&r.domain_id).cloned().unwrap_or_default();
                RunCard::new(&state, r, &name)
            })
            .collect();
        Ok::<_, Error>((domains, recent))
    }
    .await;
    let (domains, recent) = or_page(gathered)?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "sync");
    page(
        jar,
        &ConfirmPage {
            nav,
            domains,
            recent,
        },
    )
}

async fn start(Posted { state, admin, form }: Posted) -> PageResult {
    let domain = form.opt("domain");
    let options = RunOptions {
        mode: SyncMode::Full,
        dry_run: form.checked("dry_run"),
        force: form.checked("force"),
        trigger: Trigger::Api,
        actor: admin.actor(),
    };
    match state
        .syncer()
        .start_selected(domain.as_deref(), &options)
        .await
    {
        Ok(started) if started.runs.is_empty() => Ok(done(
            &state,
            &admin,
            "/admin/sync",
            Flash::error(if started.busy.is_empty() {
                "No enabled domain to sync.".to_owned()
            } else {
                format!("Already syncing: {}.", started.busy.join(", "))
            }),
        )),
        Ok(started) => {
            let ids: Vec<String> = started.runs.into_iter().map(|r| r.run_id).collect();
            let notice = if started.busy.is_empty() {
                "Sync started.".to_owned()
            } else {
                format!(
                    "Sync started; already syncing: {}.",
                    started.busy.join(", ")
                )
            };
            Ok(done(
                &state,
                &admin,
                &format!("/admin/sync/progress?runs={}", ids.join(",")),
                Flash::notice(notice),
            ))
        }
        Err(e @ (Error::Conflict { .. } | Error::NotFound(_))) => Ok(done(
            &state,
            &admin,
            "/admin/sync",
            Flash::error(e.to_string()),
        )),
        Err(e) => Err(crate::admin::console::shell::page_error(e).into()),
    }
}

#[derive(Template)]
#[template(path = "console/progress.html")]
struct ProgressPage {
    nav: Nav,
    runs: Vec<RunCard>,
    running: bool,
}

async fn progress(
    Console { state, admin, jar }: Console,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let ids = params
        .get("runs")
        .map(|s| {
            s.split(',')
                .filter(|s| !s.is_empty())
                .take(50)
                .map(|s| uuid_param(s).map(|u| u.to_string()))
                .collect::<Result<Vec<_>>>()
        })
        .transpose();
    let ids = or_page(ids)?.unwrap_or_default();
    let runs = or_page(
        async {
            let mut conn = state.store.conn().await?;
            let names = domain_names(&mut conn).await?;
            let mut runs = Vec::new();
            for id in &ids {
                let r = crate::directory::store::get_run(&mut conn, id)
                    .await?
                    .ok_or(Error::NotFound("sync run"))?;
                let name = names.get(&r.domain_id).cloned().unwrap_or_default();
                runs.push(RunCard::new(&state, r, &name));
            }
            Ok::<_, Error>(runs)
        }
        .await,
    )?;
    let running = runs
        .iter()
        .any(|r| RunState::parse(&r.state) == Some(RunState::Running));
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "sync");
    page(jar, &ProgressPage { nav, runs, running })
}

#[derive(Template)]
#[template(path = "console/report.html")]
struct ReportPage {
    nav: Nav,
    run: RunCard,
    members: u64,
    changes: Vec<Change>,
    errors: Vec<ObjectError>,
    notes: Vec<crate::directory::report::PersonNote>,
    running: bool,
}

impl ReportPage {
    fn kind_text(c: &Change) -> String {
        serde_json::to_value(c.kind)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default()
    }
}

async fn report(Console { state, admin, jar }: Console, Path(id): Path<String>) -> PageResult {
    let id = or_page(uuid_param(&id))?.to_string();
    let (run, report) = or_page(
        async {
            let mut conn = state.store.conn().await?;
            let names = domain_names(&mut conn).await?;
            let r = crate::directory::store::get_run(&mut conn, &id)
                .await?
                .ok_or(Error::NotFound("sync run"))?;
            let report = run_view(r.clone(), true).report.unwrap_or_default();
            let name = names.get(&r.domain_id).cloned().unwrap_or_default();
            Ok::<_, Error>((RunCard::new(&state, r, &name), report))
        }
        .await,
    )?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "sync");
    page(
        jar,
        &ReportPage {
            nav,
            running: RunState::parse(&run.state) == Some(RunState::Running),
            run,
            members: report.members,
            changes: report.changes,
            errors: report.errors,
            notes: report.notes,
        },
    )
}
