//! Wake-ups across instances. A long poll waits on a topic (`device:<id>`: a challenge for a
//! phone; `challenge:<id>`: an answer to a sign-in; `oidc-keys`: the signing keys changed);
//! whoever changes the thing publishes the topic after committing. On PostgreSQL a publication is
//! a `NOTIFY sso_wake` that every instance `LISTEN`s to, so a phone's answer landing on one
//! instance wakes the sign-in page held by another; on SQLite (one instance) it stays in the
//! process. Waiters re-read the database after a wake-up and at their deadline: a lost
//! notification (the listener reconnecting) costs latency, never correctness.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::store::{Backend, Store};

/// The PostgreSQL channel.
const CHANNEL: &str = "sso_wake";
/// The OIDC signing keys changed: drop the cached key ring.
pub const OIDC_KEYS: &str = "oidc-keys";

pub fn device(id: &str) -> String {
    format!("device:{id}")
}

pub fn challenge(id: &str) -> String {
    format!("challenge:{id}")
}

type Handler = Box<dyn Fn() + Send + Sync>;

pub struct Wakeups {
    store: Store,
    topics: Mutex<HashMap<String, Arc<Notify>>>,
    /// Called for topics that are not waits but invalidations (`oidc-keys`).
    on_topic: Mutex<Vec<(String, Handler)>>,
    /// Set when the instance stops: every wait returns at once.
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups").finish_non_exhaustive()
    }
}

impl Wakeups {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            topics: Mutex::default(),
            on_topic: Mutex::default(),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The instance is stopping: wakes every waiter, and later waits return at once, so long
    /// polls answer now and their clients poll again (through the load balancer, elsewhere).
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        if let Ok(m) = self.topics.lock() {
            for n in m.values() {
                n.notify_waiters();
                n.notify_one();
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    fn notify_of(&self, topic: &str) -> Option<Arc<Notify>> {
        let mut m = self.topics.lock().ok()?;
        Some(m.entry(topic.to_owned()).or_default().clone())
    }

    /// Runs `f` whenever `topic` is published, here or on another instance.
    pub fn on(&self, topic: &str, f: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut v) = self.on_topic.lock() {
            v.push((topic.to_owned(), Box::new(f)));
        }
    }

    /// Wakes this process's waiters on `topic`.
    fn wake_here(&self, topic: &str) {
        if let Ok(v) = self.on_topic.lock() {
            for (t, f) in v.iter() {
                if t == topic {
                    f();
                }
            }
        }
        let n = self.topics.lock().ok().and_then(|m| m.get(topic).cloned());
        if let Some(n) = n {
            n.notify_waiters();
            // A waiter that is between its database read and its wait still wakes.
            n.notify_one();
        }
    }

    /// Wakes the waiters on `topic` in every instance. Call after the change is committed.
    pub async fn publish(&self, topic: &str) {
        self.wake_here(topic);
        if self.store.backend() == Backend::Postgres {
            let sent = async {
                let mut conn = self.store.conn().await?;
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(topic)
                    .execute(&mut *conn)
                    .await?;
                Ok::<_, crate::error::Error>(())
            };
            if let Err(e) = sent.await {
                tracing::warn!(topic, error = %e, "could not notify the other instances");
            }
        }
    }

    /// Waits until `topic` is published or `max` passes.
    pub async fn wait(&self, topic: &str, max: Duration) {
        if self.is_closed() {
            return;
        }
        let Some(n) = self.notify_of(topic) else {
            return;
        };
        let _ = tokio::time::timeout(max, n.notified()).await;
        // Forget the topic when nobody else waits on it (the map holds one reference, we one).
        if let Ok(mut m) = self.topics.lock() {
            if m.get(topic).is_some_and(|n| Arc::strong_count(n) <= 2) {
                m.remove(topic);
            }
        }
    }

    /// On PostgreSQL: listens to the other instances' publications until aborted, reconnecting
    /// after a failure (waiters fall back on their deadlines meanwhile).
    pub fn spawn_listener(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let url = self.store.listen_url()?.to_owned();
        let this = self.clone();
        Some(tokio::spawn(async move {
            loop {
                let listened = async {
                    let mut l = sqlx::postgres::PgListener::connect(&url).await?;
                    l.listen(CHANNEL).await?;
                    loop {
                        let n = l.recv().await?;
                        this.wake_here(n.payload());
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), sqlx::Error>(())
                };
                if let Err(e) = listened.await {
                    tracing::warn!(error = %e, "listening for other instances failed; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }
}
