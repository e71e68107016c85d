//! A sync run of one domain: claim the domain's lease (one run per domain, also across server
//! instances sharing a database), open the domain's directory source (the first DC that answers,
//! or Microsoft Graph), read the members of the sync group (all of them, or only what changed
//! since the last run), plan, check the removal guard, and apply everything in one transaction
//! together with the run's report. The same for every kind of directory: sources only read.
//!
//! Anything that goes wrong before the apply (an unreachable DC or Graph, a wrong password or
//! secret, a missing permission, a search error, a timeout, a partial result) fails the run and
//! changes nothing: nobody is removed because the directory could not be read.

use super::run_state::{Outcome, RunState};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::domain::{Domain, Domains};
use super::plan::{self, Guard, Plan, PlanInput};
use super::report::RunReport;
use super::source::{self, Cursor, Read, ReadRequest};
use super::DirectoryError;
use crate::audit::{self, Actor, Target};
use crate::directory::store::RunRow;
use crate::employees::lifecycle::{self, Reason};
use crate::employees::State;
use crate::error::{Error, Result};
use crate::store;

/// How long a run's lease lasts without renewal: a crashed instance frees the domain after this.
const LEASE_TTL_MS: i64 = 5 * 60_000;
const LEASE_RENEW_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Read every member.
    #[default]
    Full,
    /// Read only accounts changed since the last run (uSNChanged on the same DC); falls back to
    /// full when there is no usable cursor.
    Delta,
    /// Delta when a cursor exists and the last full sync is recent enough, else full.
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Api,
    Schedule,
    Cli,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Schedule => "schedule",
            Self::Cli => "cli",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: SyncMode,
    pub dry_run: bool,
    /// Proceed even when the removal guard trips.
    pub force: bool,
    pub trigger: Trigger,
    pub actor: Actor,
}

/// Where a run is, for a progress bar or the console's live view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct Progress {
    pub phase: Phase,
    /// Directory accounts read so far.
    pub read: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Connecting,
    Reading,
    Planning,
    Applying,
    Done,
}

pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The progress of runs in progress in this process.
#[derive(Default)]
pub struct LiveRuns {
    runs: Mutex<HashMap<String, Progress>>,
}

impl LiveRuns {
    fn set(&self, run_id: &str, p: Progress) {
        if let Ok(mut m) = self.runs.lock() {
            if p.phase == Phase::Done {
                m.remove(run_id);
            } else {
                m.insert(run_id.to_owned(), p);
            }
        }
    }

    pub fn get(&self, run_id: &str) -> Option<Progress> {
        self.runs.lock().ok().and_then(|m| m.get(run_id).cloned())
    }

    /// The progress of a running run: this process's own if it runs here, else what the
    /// instance running it last wrote to the database.
    pub fn of(&self, row: &RunRow) -> Option<Progress> {
        if row.state() != Some(RunState::Running) {
            return None;
        }
        self.get(&row.id).or_else(|| {
            row.progress
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok())
        })
    }
}

/// How often a run's progress is written for the other instances, at most.
const PROGRESS_WRITE_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StartedRun {
    pub domain_id: String,
    pub domain: String,
    pub run_id: String,
}

/// The runs a request started.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Started {
    pub runs: Vec<StartedRun>,
    /// Domains not started because a run of them is in progress.
    pub busy: Vec<String>,
}

/// A run that holds its domain's lease and has its row, ready to execute.
pub struct Claimed {
    pub run_id: String,
    domain: Domain,
    options: RunOptions,
    lease: String,
}

/// Runs directory syncs. Holds only what a run uses; the app builds one (`AppState::syncer`).
#[derive(Clone)]
pub struct Syncer {
    pub store: crate::store::Store,
    pub cipher: std::sync::Arc<crate::crypto::Cipher>,
    pub clock: crate::clock::SharedClock,
    pub config: std::sync::Arc<crate::config::Config>,
    pub mailer: std::sync::Arc<crate::mail::Mailer>,
    pub instance: std::sync::Arc<crate::instance::Instance>,
    pub live_runs: std::sync::Arc<LiveRuns>,
}

fn lease_name(domain_id: &str) -> String {
    format!("directory-sync:{domain_id}")
}

impl Syncer {
    /// Invitations sent by an import, through the same service as an admin's.
    fn invitations(&self) -> crate::enrol::invitations::Invitations {
        crate::enrol::invitations::Invitations {
            store: self.store.clone(),
            cipher: self.cipher.clone(),
            clock: self.clock.clone(),
            config: self.config.clone(),
            mailer: self.mailer.clone(),
        }
    }

    /// Claims the domain (409 if a run of it is in progress anywhere) and records the run.
    pub async fn claim(&self, domain: &str, options: RunOptions) -> Result<Claimed> {
        let mut conn = self.store.conn().await?;
        let domain = Domains {
            store: &self.store,
            cipher: &self.cipher,
        }
        .load(&mut conn, domain)
        .await?;
        let run_id = Uuid::new_v4().to_string();
        let lease = lease_name(domain.id());
        let now = self.clock.now_ms();
        let owner = self.instance.owner();
        if !crate::instance::store::try_lease(&mut conn, &lease, &run_id, &owner, now, LEASE_TTL_MS)
            .await?
        {
            let holder =
                crate::instance::store::lease_holder(&mut conn, &lease, &owner, now).await?;
            return Err(Error::conflict(
                None,
                format!(
                    "a sync of domain {} is already running (run {})",
                    domain.row.name,
                    holder.unwrap_or_default()
                ),
            ));
        }
        // The lease was free: a run that held it before and died is interrupted, not running.
        crate::directory::store::fail_orphaned_runs(&mut conn, now, &owner).await?;
        let row = RunRow {
            id: run_id.clone(),
            domain_id: domain.id().to_owned(),
            kind: match options.mode {
                SyncMode::Delta => "delta",
                _ => "full",
            }
            .into(),
            trigger: options.trigger.as_str().into(),
            dry_run: i64::from(options.dry_run),
            forced: i64::from(options.force),
            state: RunState::Running.as_str().into(),
            started_at: now,
            report: "{}".into(),
            ..RunRow::default()
        };
        if let Err(e) = crate::directory::store::insert_run(&mut conn, &row).await {
            let _ = crate::instance::store::release_lease(&mut conn, &lease, &run_id).await;
            return Err(e);
        }
        Ok(Claimed {
            run_id,
            domain,
            options,
            lease,
        })
    }

    /// Claims and runs in the background; returns the run id at once.
    pub async fn start(&self, domain: &str, options: RunOptions) -> Result<String> {
        let claimed = self.claim(domain, options).await?;
        let run_id = claimed.run_id.clone();
        let this = self.clone();
        tokio::spawn(async move {
            this.execute(claimed, None).await;
        });
        Ok(run_id)
    }

    /// Starts runs of one domain (by id or name) or of every enabled domain, in the background.
    /// One named domain already syncing is a 409; with all domains, busy ones are listed instead.
    /// The API and the console both start syncs through here.
    pub async fn start_selected(
        &self,
        domain: Option<&str>,
        options: &RunOptions,
    ) -> Result<Started> {
        let targets = {
            let mut conn = self.store.conn().await?;
            match domain {
                Some(d) => vec![Domains::find_row(&mut conn, d).await?],
                None => crate::directory::store::list_domains(&mut conn)
                    .await?
                    .into_iter()
                    .filter(|d| d.enabled != 0)
                    .collect(),
            }
        };
        let mut out = Started::default();
        for d in targets {
            match self.start(&d.id, options.clone()).await {
                Ok(run_id) => out.runs.push(StartedRun {
                    domain_id: d.id,
                    domain: d.name,
                    run_id,
                }),
                Err(e @ Error::Conflict { .. }) if domain.is_some() => return Err(e),
                Err(Error::Conflict { .. }) => out.busy.push(d.name),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Claims and runs to the end; returns the finished run.
    pub async fn run(
        &self,
        domain: &str,
        options: RunOptions,
        progress: Option<ProgressFn>,
    ) -> Result<RunRow> {
        let claimed = self.claim(domain, options).await?;
        Ok(self.execute(claimed, progress).await)
    }

    /// Executes a claimed run and records its outcome. Never fails: failures are the run's state.
    pub async fn execute(&self, claimed: Claimed, progress: Option<ProgressFn>) -> RunRow {
        let Claimed {
            run_id,
            domain,
            options,
            lease,
        } = claimed;
        let live = self.live_runs.clone();
        let id_for_progress = run_id.clone();
        // The other instances see the progress through the database: the latest value, written
        // at most every PROGRESS_WRITE_EVERY by a task of its own (the run never waits on it).
        let (shared, mut latest) = tokio::sync::watch::channel::<Option<Progress>>(None);
        let writer = {
            let (store, id) = (self.store.clone(), run_id.clone());
            tokio::spawn(async move {
                while latest.changed().await.is_ok() {
                    let p = latest.borrow_and_update().clone();
                    if let Some(json) = p.and_then(|p| serde_json::to_string(&p).ok()) {
                        if let Ok(mut conn) = store.conn().await {
                            let _ =
                                crate::directory::store::set_run_progress(&mut conn, &id, &json)
                                    .await;
                        }
                    }
                    tokio::time::sleep(PROGRESS_WRITE_EVERY).await;
                }
            })
        };
        let report_progress = move |p: Progress| {
            live.set(&id_for_progress, p.clone());
            let _ = shared.send(Some(p.clone()));
            if let Some(f) = &progress {
                f(&p);
            }
        };

        // Keep the lease while the run lasts.
        let renewer = {
            let (store, clock, lease, holder) = (
                self.store.clone(),
                self.clock.clone(),
                lease.clone(),
                run_id.clone(),
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(LEASE_RENEW_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Ok(mut conn) = store.conn().await {
                        let _ = crate::instance::store::renew_lease(
                            &mut conn,
                            &lease,
                            &holder,
                            clock.now_ms(),
                            LEASE_TTL_MS,
                        )
                        .await;
                    }
                }
            })
        };

        let mut row = RunRow {
            id: run_id.clone(),
            domain_id: domain.id().to_owned(),
            trigger: options.trigger.as_str().into(),
            dry_run: i64::from(options.dry_run),
            forced: i64::from(options.force),
            ..RunRow::default()
        };
        let outcome = self
            .run_inner(&domain, &options, &mut row, &report_progress)
            .await;
        row.finished_at = Some(self.clock.now_ms());
        if let Err(e) = outcome {
            end(&mut row, Outcome::Failed);
            nothing_applied(&mut row);
            row.message = Some(e.to_string());
            tracing::warn!(domain = %domain.row.name, run = %run_id, error = %e, "directory sync failed");
            match self.store.conn().await {
                Ok(mut conn) => {
                    if let Err(e) = crate::directory::store::finish_run(&mut conn, &row).await {
                        tracing::error!(run = %run_id, error = %e, "could not record the failed run");
                    }
                }
                Err(e) => {
                    tracing::error!(run = %run_id, error = %e, "could not record the failed run")
                }
            }
        }
        renewer.abort();
        writer.abort();
        if let Ok(mut conn) = self.store.conn().await {
            let _ = crate::instance::store::release_lease(&mut conn, &lease, &run_id).await;
        }
        report_progress(Progress {
            phase: Phase::Done,
            read: 0,
        });
        row
    }

    async fn run_inner(
        &self,
        domain: &Domain,
        options: &RunOptions,
        row: &mut RunRow,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<()> {
        progress(Progress {
            phase: Phase::Connecting,
            read: 0,
        });
        let mut source = source::open(domain, &self.clock).await.map_err(dir_error)?;
        row.dc_url = Some(source.location().to_owned());
        let read = self
            .read(domain, options, source.as_mut(), row, progress)
            .await;
        source.close().await;
        let Read {
            fetched,
            members,
            cursor,
            ..
        } = read?;

        progress(Progress {
            phase: Phase::Planning,
            read: fetched.len() as u64,
        });
        let now = self.clock.now_ms();
        let (identities, employees) = {
            let mut db = self.store.conn().await?;
            (
                crate::directory::store::all_identities(&mut db).await?,
                crate::employees::store::all(&mut db).await?,
            )
        };
        let input = |members: HashSet<Uuid>| PlanInput {
            domain_id: domain.id(),
            now_ms: now,
            fetched: fetched.clone(),
            members,
            identities: identities.clone(),
            employees: employees.clone(),
        };
        let plan = plan::plan(input(members.clone()));
        let limits = plan::GuardLimits {
            percent: domain.row.max_removal_percent.max(0) as u64,
            count: domain.row.max_removal_count.max(0) as u64,
        };
        let verdict = plan::guard(&plan, limits);
        let hold_all = domain.row.hold_all_when_refused != 0;
        let plan = match verdict {
            Guard::Pass => plan,
            _ if options.force => {
                row.message = Some(format!(
                    "forced past the removal guard: {} of {} synced employees removed",
                    plan.report.counts.removed, plan.synced_before
                ));
                plan
            }
            Guard::EmptyRead => {
                let why = format!(
                    "refused: the sync group read returned no member while the domain has {} \
                     synced employees; nothing was changed. Check the sync group and the bind \
                     user's rights, or run again with force",
                    plan.synced_before
                );
                return self.refuse_all(domain, options, &plan, row, now, why).await;
            }
            Guard::MassRemoval { missing } if hold_all || options.dry_run => {
                let why = format!(
                    "refused: {}; nothing was changed. Review them, or run again with force",
                    held_reason(missing, plan.synced_before, limits)
                );
                return self.refuse_all(domain, options, &plan, row, now, why).await;
            }
            Guard::MassRemoval { missing } => {
                // Hold the removals, apply the rest: plan again as if the missing accounts
                // were still members (the plan is pure, so this is the same computation).
                let mut kept = members.clone();
                kept.extend(plan.missing.iter().map(|m| m.object_guid));
                let mut safe = plan::plan(input(kept));
                safe.report.held = plan.held();
                let why = held_reason(missing, plan.synced_before, limits);
                row.message = Some(format!(
                    "refused: {why}; these removals are held (the employees stay active) and \
                     everything else was applied. Review them, then run again with force"
                ));
                end(row, Outcome::Refused);
                set_counts(row, &safe.report);
                progress(Progress {
                    phase: Phase::Applying,
                    read: safe.report.members,
                });
                self.apply(domain, options, &safe, &cursor, now, row)
                    .await?;
                self.alert_held(domain, row, &safe.report).await;
                return Ok(());
            }
        };
        end(row, Outcome::Applied);
        set_counts(row, &plan.report);
        if options.dry_run {
            row.message = Some("dry run: nothing was changed".into());
            row.finished_at = Some(self.clock.now_ms());
            let mut db = self.store.conn().await?;
            crate::directory::store::finish_run(&mut db, row).await?;
            return Ok(());
        }
        progress(Progress {
            phase: Phase::Applying,
            read: plan.report.members,
        });
        self.apply(domain, options, &plan, &cursor, now, row).await
    }

    /// A refused run that applies nothing: the report shows what would have gone.
    async fn refuse_all(
        &self,
        domain: &Domain,
        options: &RunOptions,
        plan: &Plan,
        row: &mut RunRow,
        now: i64,
        message: String,
    ) -> Result<()> {
        end(row, Outcome::Refused);
        row.message = Some(message);
        let mut report = plan.report.clone();
        report.held = plan.held();
        set_counts(row, &report);
        row.finished_at = Some(self.clock.now_ms());
        let mut tx = self.store.begin().await?;
        finish_or_roll_back(&mut tx, row).await?;
        audit::record(
            &mut tx,
            now,
            &options.actor,
            "directory.sync_refused",
            Some(Target::of("domain", domain.id())),
            json!({ "run": row.id, "would_remove": plan.report.counts.removed, "missing": report.held.len(), "synced": plan.synced_before, "applied": false }),
        )
        .await?;
        tx.commit().await?;
        if !options.dry_run {
            self.alert_held(domain, row, &report).await;
        }
        Ok(())
    }

    /// Tells the admins (`mail.alert_recipients`) that removals are held. Best effort: a mail
    /// failure is logged, the run stands.
    async fn alert_held(&self, domain: &Domain, row: &RunRow, report: &RunReport) {
        let to = &self.config.mail.alert_recipients;
        if to.is_empty() || !self.mailer.configured() {
            return;
        }
        let names: Vec<String> = report
            .held
            .iter()
            .map(|c| match &c.dn {
                Some(dn) => format!("- {} ({dn})", c.display_name),
                None => format!("- {}", c.display_name),
            })
            .collect();
        let text = format!(
            "The directory sync of {} was refused by the removal guard.\n\n{}\n\nHeld removals ({}):\n{}\n\nRun report: {}admin/sync/runs/{}\n",
            domain.row.name,
            row.message.as_deref().unwrap_or_default(),
            names.len(),
            names.join("\n"),
            self.config.public_url,
            row.id,
        );
        let html = format!(
            "<pre>{}</pre>",
            text.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        );
        for addr in to {
            if let Err(e) = self
                .mailer
                .send(
                    addr,
                    &format!("Directory sync of {}: removals held", domain.row.name),
                    text.clone(),
                    html.clone(),
                )
                .await
            {
                tracing::warn!(error = %e, "could not e-mail the held removals");
            }
        }
    }

    /// Reads what the run needs from the directory: accounts to examine, the membership, the
    /// next cursor. Whether to ask for a delta is decided here, alike for every source.
    async fn read(
        &self,
        domain: &Domain,
        options: &RunOptions,
        source: &mut dyn source::DirectorySource,
        row: &mut RunRow,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Read> {
        let now = self.clock.now_ms();
        let full_due = domain.row.last_full_sync_at.is_none_or(|t| {
            now - t >= i64::from(self.config.directory.full_sync_interval_hours) * 3_600_000
        });
        let delta = match options.mode {
            SyncMode::Full => false,
            SyncMode::Delta => true,
            SyncMode::Auto => !full_due,
        };
        let in_scope: HashSet<Uuid> = if delta {
            let mut db = self.store.conn().await?;
            crate::directory::store::in_scope_guids(&mut db, domain.id())
                .await?
                .iter()
                .filter_map(|g| Uuid::parse_str(g).ok())
                .collect()
        } else {
            HashSet::new()
        };
        // What was asked, should the read fail; what was done once it returns.
        row.kind = if delta { "delta" } else { "full" }.into();
        progress(Progress {
            phase: Phase::Reading,
            read: 0,
        });
        let on_read = |n: u64| {
            progress(Progress {
                phase: Phase::Reading,
                read: n,
            })
        };
        let read = source
            .read(ReadRequest {
                delta,
                row: &domain.row,
                in_scope: &in_scope,
                progress: &on_read,
            })
            .await
            .map_err(dir_error)?;
        row.kind = if read.delta { "delta" } else { "full" }.into();
        if options.mode == SyncMode::Delta && !read.delta {
            row.message =
                Some("no usable delta cursor for this directory yet: ran a full sync".into());
        }
        Ok(read)
    }

    async fn apply(
        &self,
        domain: &Domain,
        options: &RunOptions,
        plan: &Plan,
        cursor: &Cursor,
        now: i64,
        row: &mut RunRow,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        // A person another run imported since this plan was made (two domains synced at the
        // same moment, sharing an employee) is merged by e-mail here, in this transaction: the
        // identity joins that employee instead of the run failing on the unique e-mail.
        let inserted =
            crate::employees::store::insert_many_new(&mut tx, &plan.new_employees).await?;
        let mut merged_into: HashMap<String, String> = HashMap::new();
        for e in plan
            .new_employees
            .iter()
            .filter(|e| !inserted.contains(&e.id))
        {
            let existing = match &e.email {
                Some(email) => crate::employees::store::find_by_email(&mut tx, email).await?,
                None => None,
            };
            let existing = existing.ok_or_else(|| {
                Error::Internal(format!(
                    "employee {} was not inserted and has no twin",
                    e.id
                ))
            })?;
            merged_into.insert(e.id.clone(), existing.id);
        }
        let identity_writes: Vec<_> = plan
            .identity_writes
            .iter()
            .map(|i| {
                let mut i = i.clone();
                if let Some(to) = merged_into.get(&i.employee_id) {
                    i.employee_id = to.clone();
                }
                i
            })
            .collect();
        if !merged_into.is_empty() {
            let n = i64::try_from(merged_into.len()).unwrap_or(i64::MAX);
            row.added -= n;
            row.merged += n;
            let note = format!(
                "{n} imported at the same moment by another domain's run: merged by e-mail"
            );
            row.message = Some(match row.message.take() {
                Some(m) => format!("{m}; {note}"),
                None => note,
            });
        }
        let mut invited = 0u64;
        for e in &plan.changed_employees {
            crate::employees::store::update(&mut tx, e).await?;
        }
        crate::directory::store::upsert_identities(&mut tx, &identity_writes).await?;
        let states: HashMap<&str, &str> = plan
            .changed_employees
            .iter()
            .map(|e| (e.id.as_str(), e.state.as_str()))
            .collect();
        for id in &plan.deactivated {
            let reason = if states.get(id.as_str()) == Some(&State::Disabled.as_str()) {
                Reason::Disabled
            } else {
                Reason::RemovedFromSync
            };
            lifecycle::deactivate(&mut tx, now, &options.actor, id, reason).await?;
        }
        for t in &plan.takeovers {
            audit::record(
                &mut tx,
                now,
                &options.actor,
                "employee.taken_over",
                Some(Target::of("employee", &t.employee_id)),
                json!({
                    "display_name": t.display_name,
                    "matched_by": t.matched_by,
                    "domain": domain.row.name,
                    "object_guid": t.object_guid,
                    "dn": t.dn,
                    "run": row.id,
                }),
            )
            .await?;
        }
        // Imported employees are invited to SSO when the domain says so (same transaction).
        // Only active employees are invited: one disabled member must not fail the run; the
        // report says who was not invited, and why.
        let mut not_invited = 0u64;
        let mut notes = Vec::new();
        if domain.row.invite_on_import != 0 {
            for e in plan
                .new_employees
                .iter()
                .filter(|e| e.email.is_some() && inserted.contains(&e.id))
            {
                if e.state != State::Active.as_str() {
                    not_invited += 1;
                    notes.push(crate::directory::report::PersonNote {
                        employee_id: e.id.clone(),
                        display_name: e.display_name.clone(),
                        dn: plan
                            .report
                            .changes
                            .iter()
                            .find(|c| c.employee_id == e.id)
                            .and_then(|c| c.dn.clone()),
                        message: "not invited: the account is disabled in the directory".into(),
                    });
                    continue;
                }
                crate::enrol::invitations::create_in(
                    &self.invitations(),
                    &mut tx,
                    &options.actor,
                    e,
                )
                .await?;
                invited += 1;
            }
        }
        for note in [
            (invited > 0).then(|| format!("{invited} imported employees invited")),
            (not_invited > 0).then(|| {
                format!(
                    "{not_invited} imported employees not invited: their accounts are disabled \
                     in the directory"
                )
            }),
        ]
        .into_iter()
        .flatten()
        {
            row.message = Some(match row.message.take() {
                Some(m) => format!("{m}; {note}"),
                None => note,
            });
        }
        if !notes.is_empty() {
            let mut report: RunReport =
                serde_json::from_str(&row.report).unwrap_or_else(|_| plan.report.clone());
            report.notes.extend(notes);
            row.report = serde_json::to_string(&report).unwrap_or_else(|_| "{}".into());
        }
        let full_at = (row.kind == "full").then_some(now);
        match cursor {
            Cursor::Ldap {
                dc,
                invocation_id,
                usn,
            } => {
                crate::directory::store::set_cursor(
                    &mut tx,
                    domain.id(),
                    dc,
                    invocation_id,
                    *usn,
                    full_at,
                )
                .await?
            }
            Cursor::Graph {
                graph_url,
                delta_link,
            } => {
                crate::directory::store::set_delta_link(
                    &mut tx,
                    domain.id(),
                    graph_url,
                    delta_link,
                    full_at,
                )
                .await?
            }
        }
        row.finished_at = Some(self.clock.now_ms());
        finish_or_roll_back(&mut tx, row).await?;
        audit::record(
            &mut tx,
            now,
            &options.actor,
            "directory.synced",
            Some(Target::of("domain", domain.id())),
            json!({ "run": row.id, "kind": row.kind, "counts": plan.report.counts }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Why removals are held, for people.
fn held_reason(missing: u64, synced: u64, limits: plan::GuardLimits) -> String {
    let share = (missing * 100).checked_div(synced).unwrap_or(100);
    format!(
        "{missing} of the domain's {synced} synced employees ({share}%) are missing from the sync \
         group, more than the limit of {}%{}",
        limits.percent,
        if limits.count > 0 {
            format!(" and more than {} accounts", limits.count)
        } else {
            String::new()
        }
    )
}

fn dir_error(e: DirectoryError) -> Error {
    Error::Directory(e)
}

fn set_counts(row: &mut RunRow, report: &RunReport) {
    let c = report.counts;
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    row.added = n(c.added);
    row.updated = n(c.updated);
    row.unchanged = n(c.unchanged);
    row.removed = n(c.removed);
    row.reactivated = n(c.reactivated);
    row.merged = n(c.merged);
    row.taken_over = n(c.taken_over);
    row.errors = n(c.errors);
    row.report = serde_json::to_string(report).unwrap_or_else(|_| "{}".into());
}

/// A failed run applied nothing (its transaction was dropped): it shows no counts as if applied,
/// only the per-object errors it had met, which stay useful to whoever reads the report.
fn nothing_applied(row: &mut RunRow) {
    let planned: RunReport = serde_json::from_str(&row.report).unwrap_or_default();
    let report = RunReport {
        counts: crate::directory::report::Counts {
            errors: planned.counts.errors,
            ..Default::default()
        },
        members: planned.members,
        errors: planned.errors,
        ..RunReport::default()
    };
    set_counts(row, &report);
}

/// Sets how the run ended (on the row in memory; the store records it with the changes), by the
/// transition table from `running`: an error after a tentative outcome makes it failed.
fn end(row: &mut RunRow, outcome: Outcome) {
    row.state = RunState::Running
        .next(outcome)
        .unwrap_or(RunState::Failed)
        .as_str()
        .into();
}

/// Records the run's end in the transaction that applies its changes; if the run had already
/// ended (marked interrupted because this instance's lease lapsed and another took over), the
/// changes are not applied: the caller's error drops the transaction.
async fn finish_or_roll_back(conn: &mut store::Conn, row: &RunRow) -> Result<()> {
    if crate::directory::store::finish_run(conn, row).await? {
        Ok(())
    } else {
        Err(crate::error::Error::conflict(
            None,
            "the run was marked interrupted before it finished (this instance's lease lapsed); \
             nothing was applied",
        ))
    }
}
