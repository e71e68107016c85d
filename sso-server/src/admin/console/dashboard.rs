//! The dashboard: per domain, the last sync run (counts, errors); employees, phones and keys.

use askama::Template;

use super::shell::{or_page, page, Console, Nav, PageResult};
use crate::directory::http::console::sync::RunCard;
use crate::error::Error;

pub struct DomainCard {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub last_run: Option<RunCard>,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct Dashboard {
    nav: Nav,
    domains: Vec<DomainCard>,
    employees: i64,
    phones: i64,
    keys: Vec<(&'static str, i64)>,
    keys_total: i64,
}

pub async fn show(Console { state, admin, jar }: Console) -> PageResult {
    let gathered = async {
        let mut conn = state.store.conn().await?;
        let mut domains = Vec::new();
        for d in crate::directory::store::list_domains(&mut conn).await? {
            let mut last = crate::directory::store::list_runs(&mut conn, Some(&d.id), 1)
                .await?
                .into_iter()
                .next();
            // A refused run's report lists the removals it holds (the list has no reports).
            if let Some(r) = last
                .as_ref()
                .filter(|r| r.state() == Some(crate::directory::run_state::RunState::Refused))
            {
                last = crate::directory::store::get_run(&mut conn, &r.id)
                    .await?
                    .or(last);
            }
            domains.push(DomainCard {
                last_run: last.map(|r| RunCard::new(&state, r, &d.name)),
                id: d.id,
                name: d.name,
                enabled: d.enabled != 0,
            });
        }
        let employees = crate::employees::store::count(&mut conn).await?;
        let phones = crate::push::store::count_active_devices(&mut conn).await?;
        let keys = crate::keys::http::console::counts(&mut conn).await?;
        Ok::<_, Error>((domains, employees, phones, keys))
    }
    .await;
    let (domains, employees, phones, keys) = or_page(gathered)?;
    let (nav, _, jar) = Nav::new(&state, &admin, jar, "dashboard");
    page(
        jar,
        &Dashboard {
            nav,
            domains,
            employees,
            phones,
            keys_total: keys.iter().map(|(_, n)| n).sum(),
            keys,
        },
    )
}
