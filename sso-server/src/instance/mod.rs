//! This process among the instances sharing the database: a name that survives restarts, a life
//! (`boot`, one per process) and a heartbeat. Leases record the life that took them, so work held
//! by a process that died (SIGKILL, a crash, a restart) is free again at once when the same
//! instance restarts, and after `instance.dead_after_seconds` for the other instances; a run it
//! left `running` is marked interrupted. Heartbeats are wall-clock time, not the injected clock:
//! they say whether a process is alive, which business time does not change.

pub mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::store::Store;

/// Who takes a lease, and what proves another life still alive (see `store::directory`).
#[derive(Debug, Clone, Copy)]
pub struct LeaseOwner<'a> {
    pub instance: &'a str,
    /// `None` for a process that serves nothing (a command-line run): its leases expire by time
    /// only, as no heartbeat vouches for it.
    pub boot: Option<&'a str>,
    /// Wall-clock ms: a heartbeat after this proves a life alive.
    pub alive_after_ms: i64,
}

#[derive(Debug)]
pub struct Instance {
    name: std::sync::OnceLock<String>,
    configured: Option<String>,
    boot: String,
    dead_after: Duration,
    serving: AtomicBool,
    draining: AtomicBool,
}

pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Instance {
    pub fn new(config: &crate::config::InstanceConfig) -> Self {
        Self {
            name: std::sync::OnceLock::new(),
            configured: config.name.clone(),
            boot: uuid::Uuid::new_v4().to_string(),
            dead_after: Duration::from_secs(u64::from(config.dead_after_seconds)),
            serving: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }

    /// The instance's name (before it serves: a name of its own, shared with nobody).
    pub fn name(&self) -> &str {
        self.name
            .get()
            .map_or_else(|| self.boot.as_str(), String::as_str)
    }

    pub fn owner(&self) -> LeaseOwner<'_> {
        LeaseOwner {
            instance: self.name(),
            boot: self
                .serving
                .load(Ordering::Acquire)
                .then_some(self.boot.as_str()),
            alive_after_ms: wall_ms() - i64::try_from(self.dead_after.as_millis()).unwrap_or(0),
        }
    }

    /// Called once by `serve`, listening on `port`: records this life (which ends every lease of
    /// this instance's previous life) and returns the heartbeat task.
    pub async fn start_serving(
        self: &std::sync::Arc<Self>,
        store: &Store,
        port: u16,
    ) -> Result<tokio::task::JoinHandle<()>> {
        let name = self
            .name
            .get_or_init(|| {
                self.configured
                    .clone()
                    .unwrap_or_else(|| format!("{}:{port}", host_name()))
            })
            .clone();
        let mut conn = store.conn().await?;
        crate::instance::store::put_instance(&mut conn, &name, &self.boot, wall_ms()).await?;
        self.serving.store(true, Ordering::Release);
        drop(conn);
        let store = store.clone();
        let this = self.clone();
        let every = self.dead_after / 3;
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let beat = async {
                    let mut conn = store.conn().await?;
                    crate::instance::store::beat(&mut conn, &name, &this.boot, wall_ms()).await
                };
                if let Err(e) = beat.await {
                    tracing::warn!(error = %e, "instance heartbeat failed");
                }
            }
        }))
    }

    /// The stop began: `/readyz` answers 503 so the load balancer sends nothing new.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// At a graceful stop: this life ends now, its leases with it.
    pub async fn stop_serving(&self, store: &Store) {
        if !self.serving.swap(false, Ordering::AcqRel) {
            return;
        }
        let gone = async {
            let mut conn = store.conn().await?;
            crate::instance::store::remove_instance(&mut conn, self.name(), &self.boot).await
        };
        if let Err(e) = gone.await {
            tracing::warn!(error = %e, "could not deregister this instance");
        }
    }
}
