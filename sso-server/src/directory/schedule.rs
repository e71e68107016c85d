//! The schedule: every domain is synced every `directory.sync_interval_minutes` (hourly by
//! default), delta when possible, full at least every `full_sync_interval_hours`. Every instance
//! may run the schedule; the domain lease makes sure only one of them runs each sync.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::sync::{RunOptions, SyncMode, Syncer, Trigger};
use crate::audit::Actor;
use crate::error::{Error, Result};

/// How often the schedule looks for due domains (real time; due-ness is by the injected clock).
const TICK: Duration = Duration::from_secs(30);

/// One pass: fails runs orphaned by a stopped process, then starts the syncs that are due.
/// Returns the ids of the runs started.
pub async fn tick(state: &Syncer) -> Result<Vec<String>> {
    let now = state.clock.now_ms();
    let interval = i64::from(state.config.directory.sync_interval_minutes) * 60_000;
    let domains = {
        let mut conn = state.store.conn().await?;
        crate::directory::store::fail_orphaned_runs(&mut conn, now, &state.instance.owner())
            .await?;
        let mut due = Vec::new();
        for d in crate::directory::store::list_domains(&mut conn).await? {
            if d.enabled == 0 {
                continue;
            }
            let last = crate::directory::store::last_run_started(&mut conn, &d.id).await?;
            if last.is_none_or(|t| now - t >= interval) {
                due.push(d);
            }
        }
        due
    };
    let syncer = state;
    let mut started = Vec::new();
    for d in domains {
        let options = RunOptions {
            mode: SyncMode::Auto,
            dry_run: false,
            force: false,
            trigger: Trigger::Schedule,
            actor: Actor::System {
                name: "directory schedule".into(),
            },
        };
        match syncer.start(&d.id, options).await {
            Ok(id) => started.push(id),
            // Another instance (or an admin) is syncing this domain right now.
            Err(Error::Conflict { .. }) => {}
            Err(e) => tracing::warn!(domain = %d.name, error = %e, "scheduled sync not started"),
        }
    }
    Ok(started)
}

/// Runs the schedule until the task is aborted.
pub fn spawn(state: Syncer) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = tick(&state).await {
                tracing::warn!(error = %e, "directory schedule pass failed");
            }
        }
    })
}
