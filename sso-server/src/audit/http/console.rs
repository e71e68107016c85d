//! The audit log with filters (action, object), newest first, paged back in time.

use std::collections::HashMap;

use axum::extract::Query;

use askama::Template;

use crate::admin::api::params::int_param;
use crate::admin::console::shell::{or_page, page, when, Console, Nav, PageResult};
use crate::audit::store::{AuditFilter, AuditRow};

const PER_PAGE: i64 = 50;

/// One line of the audit log as the console shows it (here and on the employee page).
pub struct Row {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

pub fn row(r: AuditRow) -> Row {
    let actor = match (r.actor_kind.as_str(), r.ip) {
        ("admin", Some(ip)) => format!("{} ({ip})", r.actor_name),
        (_, Some(ip)) if r.actor_name.is_empty() => ip,
        _ => r.actor_name,
    };
    Row {
        at: when(r.at),
        actor,
        action: r.action,
        detail: if r.detail == "{}" {
            String::new()
        } else {
            r.detail
        },
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    nav: Nav,
    action: String,
    target_id: String,
    rows: Vec<Row>,
    targets: Vec<String>,
    older: Option<String>,
}

pub async fn show(
    Console { state, admin, jar }: Console,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let before = match params.get("before").filter(|s| !s.is_empty()) {
        Some(_) => Some(or_page(int_param(
            "before",
            params.get("before"),
            0,
            1,
            i64::MAX,
        ))?),
        None => None,
    };
    let action = params
        .get("action")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let target_id = params
        .get("target_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let filter = AuditFilter {
        action: (!action.is_empty()).then(|| action.clone()),
        target_id: (!target_id.is_empty()).then(|| target_id.clone()),
    };
    let rows = or_page(
        async {
            let mut conn = state.store.conn().await?;
            crate::audit::store::list(&mut conn, &filter, before, PER_PAGE).await
        }
        .await,
    )?;
    let older = (rows.len() as i64 == PER_PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|id| {
            let mut u = url::form_urlencoded::Serializer::new(String::new());
            if !action.is_empty() {
                u.append_pair("action", &action);
            }
            if !target_id.is_empty() {
                u.append_pair("target_id", &target_id);
            }
            u.append_pair("before", &id.to_string());
            format!("/admin/audit?{}", u.finish())
        });
    let targets = rows
        .iter()
        .map(|r| match (&r.target_kind, &r.target_id) {
            (Some(k), Some(id)) => format!("{k} {id}"),
            _ => String::new(),
        })
        .collect();
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "audit");
    page(
        jar,
        &AuditPage {
            nav,
            action,
            target_id,
            rows: rows.into_iter().map(row).collect(),
            targets,
            older,
        },
    )
}
